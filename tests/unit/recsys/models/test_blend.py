import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys import persist
from shared.recsys.models.base import RatingPredictor
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.blend import Blend
from shared.recsys.models.item_knn import ItemKNN
from shared.recsys.models.svd import BiasedMF


def low_rank_truth(n_users=150, n_items=100, rank=3, seed=0):
    rng = np.random.default_rng(seed)
    P, Q = rng.normal(0, 0.6, (n_users, rank)), rng.normal(0, 0.6, (n_items, rank))
    truth = 3.4 + rng.normal(0, 0.4, (n_users, 1)) + rng.normal(0, 0.4, (1, n_items)) + P @ Q.T
    return np.clip(truth, 0.5, 5.0)


def split(ratings, density=0.35, seed=0):
    """Observe a random ``density`` of ``ratings``; 80% train (CSR), 20% test pairs."""
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random(ratings.shape) < density)
    train = rng.random(len(users)) < 0.8
    X = sp.csr_matrix((ratings[users[train], items[train]], (users[train], items[train])),
                      shape=ratings.shape)
    return X, (users[~train], items[~train], ratings[users[~train], items[~train]])


def noisy(truth, noise=0.2, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(np.round(2 * (truth + rng.normal(0, noise, truth.shape))) / 2, 0.5, 5.0)


def rmse(model, test):
    users, items, ratings = test
    return float(np.sqrt(np.mean((model.predict(users, items) - ratings) ** 2)))


class Oracle(RatingPredictor):
    """Knows every rating."""

    def __init__(self, truth=None):
        self.truth = truth

    def fit(self, X, y=None):
        self.n_seen_ = X.nnz
        return self

    def score_users(self, users):
        return self.truth[np.asarray(users)]


@pytest.fixture(scope="module")
def data():
    return split(noisy(low_rank_truth()))


@pytest.fixture(scope="module")
def fitted(data):
    return Blend([BiasedMF(n_factors=8), ItemKNN(), BaselinePredictor()]).fit(data[0])


def test_a_perfect_member_gets_the_weight():
    truth = low_rank_truth()
    X, test = split(truth)
    model = Blend([BaselinePredictor(), Oracle(truth)], alpha=1e-3).fit(X)
    assert model.weights_[1] > 0.95 and abs(model.weights_[0]) < 0.05
    assert rmse(model, test) < 0.05 * rmse(BaselinePredictor().fit(X), test)
    assert model.holdout_rmse_[1] == 0 and model.holdout_rmse_[2] < model.holdout_rmse_[0]


def test_blend_is_at_least_as_good_as_its_best_member(data, fitted):
    X, test = data
    members = [rmse(m, test) for m in fitted.members_]
    assert rmse(fitted, test) <= 1.02 * min(members)
    assert rmse(fitted, test) < 0.85 * rmse(BaselinePredictor().fit(X), test)


def test_fit_returns_self_refits_clones_and_leaves_members_alone(data):
    members = [BaselinePredictor(), ItemKNN()]
    model = Blend(members, holdout=0.2)
    assert model.fit(data[0]) is model
    assert not hasattr(members[0], "user_bias_") and not hasattr(members[1], "similarity_")
    assert all(m is not f for m, f in zip(members, model.members_))
    assert model.members_[0].user_bias_.shape == (data[0].shape[0],)
    assert model.weights_.shape == (2,) and np.isfinite(model.intercept_)
    assert model.holdout_rmse_.shape == (3,)


def test_members_fitted_for_serving_see_every_training_rating():
    truth = low_rank_truth()
    X, _ = split(truth)
    model = Blend([Oracle(truth), BaselinePredictor()], holdout=0.3).fit(X)
    assert model.members_[0].n_seen_ == X.nnz


def test_weights_learned_on_a_sample_of_users_come_from_their_ratings_only(data):
    X = data[0]
    per_user = np.diff(X.indptr)
    model = Blend([BaselinePredictor(), ItemKNN()], weight_ratings=X.nnz // 4)
    chosen = model.weight_users(per_user)
    assert X.nnz // 4 <= per_user[chosen].sum() < X.nnz // 4 + per_user.max()
    assert 0 < chosen.sum() < len(per_user) // 2
    assert Blend([], weight_ratings=X.nnz).weight_users(per_user) is None
    model.fit(X)
    # the same weights as members fitted by hand on the chosen users' kept ratings
    rows = np.repeat(np.arange(X.shape[0]), per_user)
    held = model.held_out(0, X.nnz)
    mine = chosen[rows]
    kept, held = mine & ~held, mine & held
    X_rest = sp.csr_matrix((X.data[kept], (rows[kept], X.indices[kept])), shape=X.shape)
    features = np.column_stack([clone(m).fit(X_rest).predict(rows[held], X.indices[held])
                                for m in model.members])
    by_hand = clone(model).fit_weights(features, X.data[held])
    np.testing.assert_allclose(model.weights_, by_hand.weights_, atol=1e-12)
    assert not np.allclose(model.weights_, Blend(model.members).fit(X).weights_)
    assert model.members_[1].user_residuals_.nnz == X.nnz  # served members see every rating


def test_fixed_weights_fit_each_member_once_on_every_rating(data, fitted):
    X = data[0]
    kept = [fitted.intercept_, *fitted.weights_]
    truth = low_rank_truth()
    model = Blend([Oracle(truth), BaselinePredictor()], fixed_weights=[0.1, 0.7, 0.2]).fit(X)
    assert model.members_[0].n_seen_ == X.nnz and len(model.members_) == 2
    assert model.intercept_ == 0.1 and model.holdout_rmse_ is None
    np.testing.assert_array_equal(model.weights_, [0.7, 0.2])
    users, items = np.array([0, 3, 7]), np.array([5, 1, 9])
    expected = 0.1 + 0.7 * truth[users, items] + 0.2 * model.members_[1].predict(users, items)
    np.testing.assert_allclose(model.predict(users, items), np.clip(expected, 0.5, 5.0))
    # refitted with the weights a fit learned, a blend predicts as that fit does
    again = clone(fitted).set_params(fixed_weights=kept).fit(X)
    np.testing.assert_allclose(again.predict(users, items), fitted.predict(users, items),
                               atol=1e-12)


def test_params_round_trip_through_clone(fitted):
    copy = clone(fitted)
    assert [type(m) for m in copy.members] == [type(m) for m in fitted.members]
    assert copy.get_params()["holdout"] == fitted.holdout
    assert not hasattr(copy, "weights_")


def test_same_random_state_same_weights(data, fitted):
    again = Blend([BiasedMF(n_factors=8), ItemKNN(), BaselinePredictor()]).fit(data[0])
    np.testing.assert_array_equal(again.weights_, fitted.weights_)
    other = Blend([BiasedMF(n_factors=8), ItemKNN(), BaselinePredictor()],
                  random_state=1).fit(data[0])
    assert not np.array_equal(other.weights_, fitted.weights_)


def test_predict_equals_score_users_at_the_same_pairs(data, fitted):
    users, items, _ = data[1]
    scores = fitted.score_users(np.arange(data[0].shape[0]))
    pred = fitted.predict(users, items)
    assert pred.min() >= 0.5 and pred.max() <= 5.0
    np.testing.assert_allclose(pred, np.clip(scores[users, items], 0.5, 5.0), atol=1e-9)


def test_new_user_with_a_training_users_ratings_scores_alike(data, fitted):
    users = np.array([0, 7, 42])
    np.testing.assert_allclose(fitted.predict_unseen(data[0][users]), fitted.score_users(users),
                               atol=1e-7)


@pytest.mark.parametrize("which", ["blend", 0, 1, 2])
def test_predict_unseen_at_pairs_is_predict_of_the_same_ratings(data, fitted, which):
    """Every member and the blend: a fitted user's ratings given as an unseen user's predict
    as ``predict`` does at the same pairs, and as ``predict_unseen`` does."""
    model = fitted if which == "blend" else fitted.members_[which]
    users, items, _ = data[1]
    order = np.unique(users)
    rows = np.searchsorted(order, users)
    at_pairs = model.predict_unseen_at(data[0][order], rows, items)
    np.testing.assert_allclose(at_pairs, model.predict(users, items), atol=1e-7)
    dense = np.clip(model.predict_unseen(data[0][order])[rows, items], 0.5, 5.0)
    np.testing.assert_allclose(at_pairs, dense, atol=1e-9)


def test_the_generic_predict_unseen_at_reads_predict_unseen(data):
    model = BiasedMF(n_factors=4).fit(data[0])
    rows, items = np.array([2, 0, 2]), np.array([5, 9, 1])
    np.testing.assert_allclose(RatingPredictor.predict_unseen_at(model, data[0][:3], rows, items),
                               model.predict_unseen_at(data[0][:3], rows, items), atol=1e-12)


def test_bad_settings_are_refused(data):
    with pytest.raises(ValueError, match="holdout"):
        Blend([BaselinePredictor()], holdout=1.0).fit(data[0])
    with pytest.raises(ValueError, match="member"):
        Blend([]).fit(data[0])
    with pytest.raises(ValueError, match="fixed_weights must be 3 finite numbers"):
        Blend([BaselinePredictor(), ItemKNN()], fixed_weights=[0.0, 1.0]).fit(data[0])
    with pytest.raises(ValueError, match="fixed_weights"):
        Blend([BaselinePredictor()], fixed_weights=[0.0, np.nan]).fit(data[0])


def test_persisted_model_predicts_the_same(data, fitted):
    spec, arrays = persist.encode(fitted)
    back = persist.decode(spec, arrays)
    users, items, _ = data[1]
    np.testing.assert_array_equal(back.predict(users, items), fitted.predict(users, items))
