import numpy as np
import pytest

from shared.recsys.models.k_selection import KScan, elbow_k, scan_k

KS = np.arange(1, 9)
# differences 400, 300, 200, 10, 8, 6, 5: the last one outside +-15 is the third (k=3 -> 4),
# so every step after k=4 stays inside the boundary and the rule picks k=4
WCSS = np.array([1000.0, 600.0, 300.0, 100.0, 90.0, 82.0, 76.0, 71.0])


def test_elbow_rule_on_a_known_curve():
    assert elbow_k(KS, WCSS, boundary=15.0) == 4
    # a boundary below 5 leaves even the last difference outside: elbow beyond the range
    assert elbow_k(KS, WCSS, boundary=4.0) == 8
    # a boundary above every difference: nothing to gain past the first k
    assert elbow_k(KS, WCSS, boundary=500.0) == 1


def test_elbow_rule_counts_rises_too():
    # k-means can end worse at a larger k; a jump of -50 is outside +-15 like a drop would be
    wcss = np.array([1000.0, 600.0, 590.0, 640.0, 635.0, 630.0])
    assert elbow_k(np.arange(2, 8), wcss, boundary=15.0) == 5


def make_blobs(n_per_blob=25, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [20, 0, 0], [0, 20, 0], [0, 0, 20]], dtype=float)
    X = np.vstack([c + rng.normal(size=(n_per_blob, 3)) for c in centres])
    return X, np.repeat(np.arange(4), n_per_blob)


def test_scan_finds_four_planted_blobs_by_both_rules():
    X, _ = make_blobs()
    scan = scan_k(X, range(1, 9), boundary=0.01, random_state=0)
    assert isinstance(scan, KScan)
    np.testing.assert_array_equal(scan.ks, np.arange(1, 9))
    np.testing.assert_allclose(scan.differences, scan.wcss[:-1] - scan.wcss[1:])
    assert scan.boundary == pytest.approx(0.01 * scan.wcss[0])
    assert np.isnan(scan.silhouettes[0]) and np.all(np.isfinite(scan.silhouettes[1:]))
    assert scan.choose_k("elbow") == 4
    assert scan.choose_k("silhouette") == 4
    assert scan.model_for(4).n_clusters == 4
    assert scan.model_for(4).inertia_ == pytest.approx(scan.wcss[3])


def test_absolute_boundary_and_no_silhouette():
    X, _ = make_blobs(seed=1)
    scan = scan_k(X, [2, 3, 4, 5, 6], boundary=50.0, relative=False, silhouette=False,
                  random_state=0)
    assert scan.boundary == 50.0
    assert scan.choose_k("elbow") == 4
    assert np.all(np.isnan(scan.silhouettes))
    with pytest.raises(ValueError):
        scan.choose_k("silhouette")
    with pytest.raises(ValueError):
        scan.choose_k("gap")


def test_scan_is_deterministic_and_sampled_silhouette_works():
    X, _ = make_blobs(seed=2)
    a = scan_k(X, range(2, 6), silhouette_sample_size=60, random_state=3)
    b = scan_k(X, range(2, 6), silhouette_sample_size=60, random_state=3)
    np.testing.assert_array_equal(a.wcss, b.wcss)
    np.testing.assert_array_equal(a.silhouettes, b.silhouettes)
    assert a.choose_k("silhouette") == 4


def test_empty_k_range_is_an_error():
    with pytest.raises(ValueError):
        scan_k(np.eye(4), [])
