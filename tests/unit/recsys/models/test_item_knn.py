import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys import persist
from shared.recsys.models import item_knn
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.item_knn import ItemKNN
from tests.unit.recsys.models.synthetic import low_rank_ratings, rmse


def brute_force_scores(model, X):
    """The documented model, computed with dense arrays and loops: all (user, movie) scores."""
    b = model.baseline_
    dense = X.toarray()
    rated = dense > 0
    base = b.global_mean_ + b.user_bias_[:, None] + b.item_bias_[None, :]
    E = np.where(rated, dense - base, 0.0)
    co_raters = rated.T.astype(float) @ rated
    norms = np.sqrt((E ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        S = np.nan_to_num(E.T @ E / np.outer(norms, norms))
    S *= co_raters / (co_raters + model.shrinkage)
    inactive = rated.sum(axis=0) < model.min_item_ratings
    S[inactive, :] = 0
    S[:, inactive] = 0
    np.fill_diagonal(S, 0)
    S = S.astype(np.float32)
    n_users, n_items = dense.shape
    kept = [[j for j in np.argsort(-S[i], kind="stable")[:model.max_neighbors] if S[i, j] > 0]
            for i in range(n_items)]
    scores = base.copy()
    for u in range(n_users):
        for i in range(n_items):
            near = sorted((j for j in kept[i] if rated[u, j]), key=lambda j: (-S[i, j], j))
            near = near[:model.k]
            if len(near) >= max(model.min_k, 1):
                s = S[i, near].astype(float)
                scores[u, i] += (s @ E[u, near]) / (s.sum() + model.damping)
    return S, kept, scores


@pytest.fixture(scope="module")
def data():
    return low_rank_ratings()


@pytest.fixture(scope="module")
def fitted(data):
    return ItemKNN().fit(data[0])


def test_hand_computed_example():
    # Ratings average 3 and the baselines are damped to ~0, so residuals are r - 3:
    # movie 0 (1, -1, 1), movie 1 (1, -1, .), movie 2 (-1, 1, -1) over users 0..2.
    X = sp.csr_matrix(np.array([[4.0, 4.0, 2.0], [2.0, 2.0, 4.0], [4.0, 0.0, 2.0]]))
    flat = BaselinePredictor(reg_user=1e12, reg_item=1e12)
    model = ItemKNN(shrinkage=2.0, damping=0.5, min_item_ratings=1, baseline=flat).fit(X)
    s01 = 2 / np.sqrt(6) * 2 / (2 + 2.0)  # cosine 2/(sqrt 3 sqrt 2), shrunk by n/(n + 2), n = 2
    assert model.similarity_[0, 1] == pytest.approx(s01, rel=1e-6)
    assert model.similarity_[1, 0] == pytest.approx(s01, rel=1e-6)
    assert model.similarity_[0, 2] == 0 and model.similarity_[1, 2] == 0  # negative: not kept
    # User 2 has not rated movie 1; its one positive neighbour among her ratings is movie 0
    # (residual +1); movie 2 is negatively similar and ignored.
    expected = 3 + s01 * 1 / (s01 + 0.5)
    assert model.predict([2], [1])[0] == pytest.approx(expected, rel=1e-6)
    assert model.score_users([2])[0, 1] == pytest.approx(expected, rel=1e-6)
    undamped = ItemKNN(shrinkage=2.0, damping=0.0, min_item_ratings=1, baseline=flat).fit(X)
    assert undamped.predict([2], [1])[0] == pytest.approx(4.0, rel=1e-6)


def test_pearson_baseline_uses_co_raters_only():
    X = sp.csr_matrix(np.array([[4.0, 4.0, 2.0], [2.0, 2.0, 4.0], [4.0, 0.0, 2.0]]))
    flat = BaselinePredictor(reg_user=1e12, reg_item=1e12)
    model = ItemKNN(similarity="pearson_baseline", shrinkage=0.0, min_item_ratings=1,
                    baseline=flat).fit(X)
    # Over the co-raters (users 0, 1) movies 0 and 1 have identical residuals (1, -1).
    assert model.similarity_[0, 1] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("ranked_share", [0.0, 1e9], ids=["ranked-pass", "sorted-candidates"])
def test_matches_a_brute_force_computation_of_the_formula(ranked_share, monkeypatch):
    monkeypatch.setattr(item_knn, "_RANKED_SHARE", ranked_share)
    X = low_rank_ratings(n_users=40, n_items=30, density=0.4, seed=5)[0].tolil()
    X[2:, 0] = 0  # movie 0 keeps at most 2 ratings: too few to have or be a neighbour
    X = X.tocsr()
    X.eliminate_zeros()
    model = ItemKNN(k=3, max_neighbors=6, shrinkage=5.0, damping=0.1, min_k=2,
                    min_item_ratings=3).fit(X)
    S, kept, expected = brute_force_scores(model, X)
    assert model.similarity_[0].nnz == 0 and model.similarity_[:, 0].nnz == 0
    for i in range(X.shape[1]):
        row = model.similarity_[i]
        assert sorted(row.indices) == sorted(kept[i])
        np.testing.assert_allclose(row.data, S[i, row.indices], rtol=1e-5)
    np.testing.assert_allclose(model.score_users(np.arange(X.shape[0])), expected, atol=1e-5)


def test_fit_returns_self_and_sets_learned_attributes(data):
    X = data[0]
    model = ItemKNN(max_neighbors=10)
    assert model.fit(X) is model
    assert model.similarity_.shape == (X.shape[1], X.shape[1])
    assert np.diff(model.similarity_.indptr).max() <= 10
    assert (model.similarity_.data > 0).all() and model.similarity_.diagonal().max() == 0
    assert model.user_residuals_.shape == X.shape
    assert isinstance(model.baseline_, BaselinePredictor)


def test_recovers_structure_beyond_the_baseline(data, fitted):
    X, test = data
    assert rmse(fitted, test) < 0.9 * rmse(BaselinePredictor().fit(X), test)


def test_predictions_are_clipped_to_the_rating_scale(data):
    X = data[0].copy()
    X.data = np.where(X.data > 3, 5.0, 0.5)  # extreme residuals push scores off the scale
    model = ItemKNN(damping=0.0).fit(X)
    raw = model.score_users(np.arange(X.shape[0]))
    assert raw.max() > 5.0 or raw.min() < 0.5
    users, items = np.nonzero(np.ones(X.shape))
    pred = model.predict(users, items)
    assert pred.min() >= 0.5 and pred.max() <= 5.0
    np.testing.assert_allclose(pred, np.clip(raw[users, items], 0.5, 5.0), atol=1e-9)


def test_params_round_trip_through_clone(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "similarity_")
    with pytest.raises(ValueError, match="similarity"):
        ItemKNN(similarity="jaccard").fit(sp.csr_matrix(np.eye(3) * 4))


def test_fits_are_deterministic(data, fitted):
    again = ItemKNN().fit(data[0])
    assert (again.similarity_ != fitted.similarity_).nnz == 0


def test_predict_equals_score_users_at_the_same_pairs(data, fitted):
    users, items, _ = data[1]
    scores = fitted.score_users(np.arange(data[0].shape[0]))
    np.testing.assert_allclose(fitted.predict(users, items),
                               np.clip(scores[users, items], 0.5, 5.0), atol=1e-9)


def test_new_user_with_a_training_users_ratings_scores_alike(data, fitted):
    users = np.array([0, 7, 42])
    np.testing.assert_allclose(fitted.predict_unseen(data[0][users]), fitted.score_users(users),
                               atol=1e-9)
    empty = sp.csr_matrix((1, data[0].shape[1]))
    b = fitted.baseline_
    np.testing.assert_allclose(fitted.predict_unseen(empty)[0], b.global_mean_ + b.item_bias_)


def test_heavy_and_light_users_score_alike_on_either_path(data, fitted, monkeypatch):
    users = np.arange(data[0].shape[0])
    by_candidates = fitted.predict_unseen(data[0])
    monkeypatch.setattr(item_knn, "_RANKED_SHARE", 0.0)
    np.testing.assert_allclose(fitted.predict_unseen(data[0]), by_candidates, atol=1e-12)
    S = fitted.similarity_
    candidates = np.bincount(np.repeat(users, np.diff(data[0].indptr)),
                             np.diff(S.tocsc().indptr)[data[0].indices])
    median_share = np.median(candidates) / S.nnz  # half the users each way, in one batch
    monkeypatch.setattr(item_knn, "_RANKED_SHARE", median_share)
    np.testing.assert_allclose(fitted.score_users(users), by_candidates, atol=1e-12)


@pytest.mark.parametrize("pairs_share", [0.0, 1.0], ids=["dense-blocks", "co-rated-pairs"])
@pytest.mark.parametrize("similarity", ["cosine", "pearson_baseline"])
def test_sparse_and_dense_similarity_paths_agree(data, monkeypatch, pairs_share, similarity):
    """Sparse products ranked in dense blocks or as their co-rated pairs keep what dense
    products keep."""
    fitted = ItemKNN(similarity=similarity).fit(data[0])
    monkeypatch.setattr(item_knn, "_SPARSE_SHARE", pairs_share)
    monkeypatch.setattr(item_knn, "_DENSE_ELEMENTS", 0)
    monkeypatch.setattr(item_knn, "_BLOCK_ELEMENTS", 1000)  # several blocks and batches too
    sparse_fit = ItemKNN(similarity=similarity).fit(data[0])
    assert fitted.similarity_.nnz > 1000
    assert abs(sparse_fit.similarity_ - fitted.similarity_).max() < 1e-5
    np.testing.assert_allclose(sparse_fit.score_users([3, 4]), fitted.score_users([3, 4]),
                               atol=1e-5)


@pytest.mark.parametrize("pairs_share", [0.0, 1.0], ids=["dense-blocks", "co-rated-pairs"])
def test_sparse_sums_recover_counts_and_residual_products_exactly_enough(monkeypatch,
                                                                         pairs_share):
    """The one complex product gives each co-rater count exactly and each residual sum to
    float32 precision, with many co-raters and residuals far from zero."""
    monkeypatch.setattr(item_knn, "_SPARSE_SHARE", pairs_share)
    monkeypatch.setattr(item_knn, "_DENSE_ELEMENTS", 0)
    rng = np.random.default_rng(3)
    rated = rng.random((20_000, 6)) < 0.7
    E = sp.csr_matrix(np.where(rated, rng.uniform(-4.5, 4.5, rated.shape), 0.0))
    rows, cols, sums = item_knn.GramBlocks(E, over_co_raters=False).sums(0, 6)
    if rows is not None:  # at the co-rated pairs: put them in blocks to compare
        for name, values in sums.items():
            block = np.zeros((6, 6), np.float32)
            block[rows, cols] = values
            sums[name] = block
    dense = E.toarray()
    np.testing.assert_array_equal(sums["co_raters"], rated.T.astype(int) @ rated)
    np.testing.assert_allclose(sums["dots"], dense.T @ dense, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("pairs_share", [0.0, 1.0], ids=["dense-blocks", "co-rated-pairs"])
def test_threads_find_the_same_neighbours(data, monkeypatch, pairs_share):
    monkeypatch.setattr(item_knn, "_SPARSE_SHARE", pairs_share)
    monkeypatch.setattr(item_knn, "_DENSE_ELEMENTS", 0)
    monkeypatch.setattr(item_knn, "_BLOCK_ELEMENTS", 1000)
    one, two = ItemKNN(n_jobs=1).fit(data[0]), ItemKNN(n_jobs=2).fit(data[0])
    assert one.similarity_.nnz > 1000
    assert (one.similarity_ != two.similarity_).nnz == 0
    users, items, _ = data[1]
    np.testing.assert_array_equal(one.predict(users, items), two.predict(users, items))


def test_persisted_model_predicts_the_same(data, fitted):
    spec, arrays = persist.encode(fitted)
    back = persist.decode(spec, arrays)
    users, items, _ = data[1]
    np.testing.assert_array_equal(back.predict(users, items), fitted.predict(users, items))
    np.testing.assert_array_equal(back.score_users([1, 2]), fitted.score_users([1, 2]))


def fingerprint(value):
    """Everything an attribute holds, by content and identity: equal fingerprints mean nothing
    was set, replaced or written into."""
    if isinstance(value, np.ndarray):
        return ("array", id(value), value.dtype.str, value.shape, value.tobytes())
    if sp.issparse(value):
        return ("sparse", id(value), value.format, value.shape,
                *(fingerprint(getattr(value, part)) for part in ("data", "indices", "indptr")
                  if hasattr(value, part)))
    if hasattr(value, "get_params"):
        return ("estimator", id(value), {k: fingerprint(v) for k, v in vars(value).items()})
    return ("value", id(value), repr(value))


@pytest.mark.parametrize("ranked_share", [0.0, 1e9], ids=["ranked-pass", "sorted-candidates"])
def test_scoring_leaves_the_estimator_unchanged(data, ranked_share, monkeypatch):
    monkeypatch.setattr(item_knn, "_RANKED_SHARE", ranked_share)
    X, (users, items, _) = data
    model = ItemKNN().fit(X)
    before = {name: fingerprint(value) for name, value in vars(model).items()}
    model.predict_unseen(X[:5])
    model.predict_unseen(sp.csr_matrix(np.full((1, X.shape[1]), 3.0)))  # rated every movie
    model.score_users([0, 1])
    model.predict(users, items)
    assert {name: fingerprint(value) for name, value in vars(model).items()} == before


def test_decoded_model_scores_identically_on_every_path(data, fitted, monkeypatch):
    spec, arrays = persist.encode(fitted)
    assert not any(name.startswith("_") for name in spec["sparse"] + spec["arrays"])
    back = persist.decode(spec, persist.from_npz_bytes(persist.to_npz_bytes(arrays)))
    X = data[0]
    heavy = sp.csr_matrix(np.where(np.arange(X.shape[1]) % 2 == 0, 4.0, 0.0))
    for ranked_share in (0.0, 1e9):
        monkeypatch.setattr(item_knn, "_RANKED_SHARE", ranked_share)
        for rows in (X[:20], heavy):
            np.testing.assert_array_equal(back.predict_unseen(rows), fitted.predict_unseen(rows))
        np.testing.assert_array_equal(back.score_users([0, 9]), fitted.score_users([0, 9]))
