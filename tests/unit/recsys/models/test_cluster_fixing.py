import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.models.cluster_fixing import favourite_counts, fix_small_clusters
from shared.recsys.models.features import favourites


def favourites_of(lists, n_movies=6):
    rows = [u for u, movies in enumerate(lists) for _ in movies]
    cols = [m for movies in lists for m in movies]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(lists), n_movies))


# Worked example, min_cluster_size = 3.
#   cluster 0: users 0, 1, 2     favourites {0,1} {0,2} {1}        -> movie list {0,1,2}, size 3
#   cluster 1: user 3            favourites {0,2,4}                -> dissolved
#   cluster 2: users 4, 5, 6, 7  favourites {3,4} {4} {3,5} {}     -> movie list {3,4,5}, size 4
#   cluster 3: user 8            favourites {}                     -> dissolved
#   cluster 4: user 9            favourites {1,3}                  -> dissolved
#   cluster 5: user 10           favourites {0,1,5}                -> dissolved
# Survivors 0 and 2 become 0 and 1. Moved users:
#   user 3:  {0,2} of 3 in list 0 (2/3), {4} in list 2 (1/3)        -> cluster 0 -> new 0
#   user 8:  no favourites, every share 0 -> the larger cluster 2  -> new 1
#   user 9:  {1} in list 0 (1/2), {3} in list 2 (1/2), a tie       -> larger cluster 2 -> new 1
#   user 10: {0,1} in list 0 (2/3), {5} in list 2 (1/3)             -> cluster 0 -> new 0
# New cluster 0 = users 0,1,2,3,10: movie 0 by users 0,1,3,10 (4); movie 1 by 0,2,10 (3);
#   movie 2 by 1,3 (2); movie 3 by none; movie 4 by 3 (1); movie 5 by 10 (1).
# New cluster 1 = users 4..9: movie 1 by 9 (1); movie 3 by 4,6,9 (3); movie 4 by 4,5 (2);
#   movie 5 by 6 (1).
LABELS = [0, 0, 0, 1, 2, 2, 2, 2, 3, 4, 5]
FAVOURITES = [{0, 1}, {0, 2}, {1}, {0, 2, 4}, {3, 4}, {4}, {3, 5}, set(), set(), {1, 3}, {0, 1, 5}]


def test_worked_example():
    fixed = fix_small_clusters(LABELS, favourites_of(FAVOURITES), min_cluster_size=3)
    np.testing.assert_array_equal(fixed.labels, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(fixed.mapping, [0, -1, 1, -1, -1, -1])
    np.testing.assert_array_equal(fixed.moved, [3, 8, 9, 10])
    assert sp.issparse(fixed.favourite_counts)
    np.testing.assert_array_equal(fixed.favourite_counts.toarray(),
                                  [[4, 3, 2, 0, 1, 1],
                                   [0, 1, 0, 3, 2, 1]])


def test_nothing_to_fix_keeps_labels_and_counts():
    F = favourites_of(FAVOURITES)
    fixed = fix_small_clusters(LABELS, F, min_cluster_size=1)
    np.testing.assert_array_equal(fixed.labels, LABELS)
    np.testing.assert_array_equal(fixed.mapping, np.arange(6))
    assert len(fixed.moved) == 0
    np.testing.assert_array_equal(fixed.favourite_counts.toarray(),
                                  favourite_counts(LABELS, F).toarray())


def test_survivors_keep_their_order_when_renumbered():
    # clusters 0 and 2 are small; 1 and 3 survive as 0 and 1
    labels = [1, 1, 3, 3, 0, 2]
    F = favourites_of([{0}, {0}, {1}, {1}, {1}, {0}], n_movies=2)
    fixed = fix_small_clusters(labels, F, min_cluster_size=2)
    np.testing.assert_array_equal(fixed.mapping, [-1, 0, -1, 1])
    # user 4 likes movie 1 (cluster 3's) and user 5 movie 0 (cluster 1's)
    np.testing.assert_array_equal(fixed.labels, [0, 0, 1, 1, 1, 0])


def test_when_every_cluster_is_small_the_largest_survives():
    F = favourites_of([{0}, {0}, {1}, {2}], n_movies=3)
    fixed = fix_small_clusters([0, 0, 1, 2], F, min_cluster_size=10)
    np.testing.assert_array_equal(fixed.labels, [0, 0, 0, 0])
    np.testing.assert_array_equal(fixed.mapping, [0, -1, -1])
    np.testing.assert_array_equal(fixed.favourite_counts.toarray(), [[2, 1, 1]])


def test_from_ratings_through_favourites():
    X = sp.csr_matrix(np.array([[5.0, 3.0], [4.0, 0.0], [2.0, 4.5]]))
    fixed = fix_small_clusters([0, 0, 1], favourites(X), min_cluster_size=2)
    # user 2 favourites movie 1 only, which cluster 0 does not have: share 0, joins cluster 0 anyway
    np.testing.assert_array_equal(fixed.labels, [0, 0, 0])
    np.testing.assert_array_equal(fixed.favourite_counts.toarray(), [[2, 1]])


def test_label_count_must_match_users():
    with pytest.raises(ValueError):
        fix_small_clusters([0, 1], favourites_of([{0}, {1}, {2}]), min_cluster_size=1)
