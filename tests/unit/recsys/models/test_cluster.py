import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.cluster import ClusterMeans, cluster_sums


def quiz_ratings():
    """Seed 002's quiz. Movies: 0 = popular (five 4.5s), 1 = obscure (a single 5), 2 and 3 fillers.
    Users 0-4 rated the popular movie, user 5 the obscure one, user 6 neither."""
    R = np.zeros((7, 4))
    R[:5, 0] = 4.5
    R[5, 1] = 5.0
    R[:, 2] = 3.0
    R[:, 3] = 3.5
    return sp.csr_matrix(R)


def test_seed_002_quiz_a_single_five_star_rating_does_not_top_the_list():
    X = quiz_ratings()
    dense = X.toarray()
    plain_mean = [dense[dense[:, i] > 0, i].mean() for i in range(2)]
    assert plain_mean[1] > plain_mean[0]  # the plain cluster mean ranks the obscure movie first
    model = ClusterMeans(shrinkage=5.0).fit(X, labels=np.zeros(7, dtype=int))
    scores = model.score_users([6])[0]
    assert scores[0] > scores[1]
    # the single rating moves the obscure movie by (5 - b_5,1) / (1 + lambda) only
    b = model.baseline_
    b_51 = b.global_mean_ + b.user_bias_[5] + b.item_bias_[1]
    assert scores[1] - (b.global_mean_ + b.user_bias_[6] + b.item_bias_[1]) == pytest.approx(
        (5.0 - b_51) / 6.0)


def random_ratings(n_users=12, n_movies=8, density=0.5, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_movies)) < density
    mask[:, 0] = True  # nobody without ratings
    return sp.csr_matrix(np.where(mask, rng.integers(1, 11, (n_users, n_movies)) / 2.0, 0.0))


def test_predictions_follow_the_formula_loop_by_loop():
    X = random_ratings()
    labels = np.arange(12) % 3
    model = ClusterMeans(shrinkage=2.5, baseline=BaselinePredictor(reg_user=1.0, reg_item=2.0))
    model.fit(X, labels=labels)
    b = model.baseline_
    dense = X.toarray()
    base = b.global_mean_ + b.user_bias_[:, None] + b.item_bias_[None, :]
    expected = np.empty_like(dense)
    for u in range(12):
        for i in range(8):
            raters = [v for v in range(12) if labels[v] == labels[u] and dense[v, i] > 0]
            residual = sum(dense[v, i] - base[v, i] for v in raters)
            expected[u, i] = base[u, i] + residual / (len(raters) + 2.5)
    np.testing.assert_allclose(model.score_users(np.arange(12)), expected)
    assert model.baseline_ is not model.baseline  # the template is cloned, not fitted


def test_cluster_arrays_by_hand():
    X = sp.csr_matrix(np.array([[5.0, 0.0, 2.0], [4.0, 3.0, 0.0], [0.0, 4.5, 1.0]]))
    model = ClusterMeans().fit(X, labels=[0, 0, 1])
    np.testing.assert_array_equal(model.cluster_counts_, [[2, 1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(model.cluster_favourites_, [[2, 0, 0], [0, 1, 0]])
    assert model.cluster_sums_.shape == (2, 3)
    assert model.cluster_sums_[1, 0] == 0.0
    expected = model.cluster_sums_ / (model.cluster_counts_ + 10.0)  # default shrinkage 10
    np.testing.assert_allclose(model.offsets(), expected)


def test_cluster_sums_keep_stored_zeros_as_ratings():
    centred = sp.csr_matrix((np.array([0.0, 1.5, -0.5]), np.array([0, 0, 1]),
                             np.array([0, 1, 3])), shape=(2, 2))
    sums, counts = cluster_sums(centred, [0, 0], 1)
    np.testing.assert_allclose(sums, [[1.5, -0.5]])
    np.testing.assert_array_equal(counts, [[2, 1]])


def taste_groups(n_per_group=8, seed=0):
    """Group 0 loves movies 0-9 and hates 10-19; group 1 the reverse."""
    rng = np.random.default_rng(seed)
    R = np.zeros((2 * n_per_group, 20))
    R[:n_per_group, :10], R[:n_per_group, 10:] = 5.0, 1.0
    R[n_per_group:, :10], R[n_per_group:, 10:] = 1.0, 5.0
    R[rng.random(R.shape) < 0.3] = 0.0
    return sp.csr_matrix(R), np.repeat([0, 1], n_per_group)


def test_internal_kmeans_and_assignment_of_new_users():
    X, truth = taste_groups()
    model = ClusterMeans(n_clusters=2, shrinkage=1.0, random_state=0).fit(X)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    new = sp.csr_matrix(np.r_[[5.0] * 5, [0.0] * 5, [1.0] * 5, [0.0] * 5][None, :])
    label = model.assign(new)
    assert label[0] == model.labels_[0]  # a group-0 taste
    scores = model.predict_unseen(new)[0]
    assert scores[5:10].min() > scores[15:20].max()
    np.testing.assert_allclose(model.predict_unseen(new, labels=label), model.predict_unseen(new))


def test_clone_and_label_count_check():
    model = ClusterMeans(n_clusters=3, shrinkage=4.0, random_state=1)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(ValueError):
        model.fit(random_ratings(), labels=[0, 1])
