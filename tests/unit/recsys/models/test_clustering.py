import numpy as np
import scipy.sparse as sp

from shared.recsys.models.clustering import cluster_users


def planted_users(sizes=(25, 25, 25, 3), seed=0):
    """Users in groups of ``sizes`` (the last one too small to keep), each group around its own
    centre; each user's favourites are their group's five movies."""
    rng = np.random.default_rng(seed)
    centres = 20.0 * np.eye(len(sizes), 4)
    group = np.repeat(np.arange(len(sizes)), sizes)
    features = centres[group] + rng.normal(size=(len(group), 4))
    favourites = sp.csr_matrix((np.ones(5 * len(group)),
                                (np.repeat(np.arange(len(group)), 5),
                                 (5 * group[:, None] + np.arange(5)).ravel())),
                               shape=(len(group), 5 * len(sizes)))
    return features, favourites, group


def test_silhouette_finds_the_groups_and_the_small_one_is_dissolved():
    features, favourites, group = planted_users()
    clusters = cluster_users(features, favourites, "silhouette", (2, 6), min_cluster_size=5)
    assert clusters.k == 4 and clusters.kmeans is clusters.scan.model_for(4)
    np.testing.assert_array_equal(clusters.scan.ks, np.arange(2, 7))
    assert sorted(clusters.sizes_before_fixing) == [3, 25, 25, 25]
    np.testing.assert_array_equal(clusters.sizes_after_fixing, np.bincount(clusters.labels))
    assert len(clusters.sizes_after_fixing) == 3 and clusters.sizes_after_fixing.min() >= 5
    for g in range(3):  # the big groups stay whole and apart
        assert len(set(clusters.labels[group == g])) == 1
    assert len(set(clusters.labels[group < 3])) == 3
    np.testing.assert_array_equal(clusters.fixed.moved, np.flatnonzero(group == 3))


def test_a_numbered_rule_outside_the_range_is_fitted_and_the_range_fits_the_users():
    features, favourites, _ = planted_users(sizes=(3, 3))
    clusters = cluster_users(features, favourites, "3", (2, 20), min_cluster_size=1)
    np.testing.assert_array_equal(clusters.scan.ks, np.arange(2, 6))  # at most n_users - 1
    assert clusters.k == 3 and clusters.kmeans.n_clusters == 3
    assert clusters.sizes_before_fixing.sum() == 6
    below = cluster_users(features, favourites, 2, (4, 9), min_cluster_size=1)
    np.testing.assert_array_equal(below.scan.ks, [4, 5])
    assert below.k == 2 and below.kmeans.n_clusters == 2
    assert all(model is not below.kmeans for model in below.scan.models)


def test_the_same_random_state_clusters_alike():
    features, favourites, _ = planted_users(seed=3)
    a = cluster_users(features, favourites, "elbow", (2, 5), 5, random_state=1)
    b = cluster_users(features, favourites, "elbow", (2, 5), 5, random_state=1)
    assert a.k == b.k
    np.testing.assert_array_equal(a.labels, b.labels)


def test_many_users_scan_k_on_a_sample_and_the_chosen_k_is_fitted_on_all(monkeypatch):
    monkeypatch.setattr("shared.recsys.models.clustering.K_SCAN_USERS", 60)
    features, favourites, group = planted_users(sizes=(40, 40, 40))
    clusters = cluster_users(features, favourites, "silhouette", (2, 5), min_cluster_size=5)
    assert all(len(model.labels_) == 60 for model in clusters.scan.models)
    assert clusters.k == 3 and len(clusters.kmeans.labels_) == 120
    assert clusters.kmeans is not clusters.scan.model_for(3)
    for g in range(3):
        assert len(set(clusters.labels[group == g])) == 1
