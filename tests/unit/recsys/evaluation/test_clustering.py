import numpy as np
import scipy.sparse as sp

from shared.recsys.evaluation.clustering import cluster_heatmap, softmax_accuracy_by_k


def planted(n_per=40, n_groups=3, d=30, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, d)) * 3
    X = np.vstack([centres[g] + rng.normal(size=(n_per, d)) for g in range(n_groups)])
    return sp.csr_matrix(X)


def test_softmax_learns_well_separated_clusters_and_degrades_with_k():
    result = softmax_accuracy_by_k(planted(), [3, 12], train_fraction=0.7, seed=0)
    assert result.accuracy[0] > 0.9
    assert result.accuracy[1] < result.accuracy[0]
    assert np.all(result.train_accuracy >= result.accuracy - 1e-9)


def test_heatmap_takes_the_cluster_members_and_their_most_rated_movies():
    X = sp.csr_matrix(np.array([
        [5, 0, 4, 0], [4, 0, 0, 1], [0, 3, 0, 0], [2, 0, 5, 0]], dtype=float))
    labels = np.array([0, 0, 1, 0])
    ratings, movies = cluster_heatmap(X, labels, cluster=0, n_movies=2, n_users=3)
    assert list(movies) == [0, 2]          # movie 0 rated by 3 members, movie 2 by 2
    assert ratings.shape == (3, 2)
    assert np.isnan(ratings).sum() == 1    # member 1 did not rate movie 2
    assert sorted(ratings[:, 0].tolist()) == [2.0, 4.0, 5.0]
