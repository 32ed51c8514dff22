import math

import numpy as np
import pytest
import scipy.sparse as sp

from shared.recsys.evaluation.accuracy import (
    NO_ITEM,
    coverage,
    list_metrics,
    mae,
    mean_popularity_percentile,
    ndcg_at_k,
    popularity_percentiles,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    relevant_items,
    rmse,
    top_k_items,
    top_k_lists,
)


def test_rmse_and_mae_by_hand():
    truth, predicted = [1.0, 2.0, 3.0], [2.0, 2.0, 5.0]
    assert rmse(truth, predicted) == pytest.approx(math.sqrt(5 / 3))
    assert mae(truth, predicted) == pytest.approx(1.0)


def test_top_k_is_best_first_and_skips_excluded():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    assert top_k_items(scores.copy(), 2).tolist() == [[1, 3], [0, 1]]
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 1]]))
    ranked = top_k_items(scores.copy(), 3, exclude=exclude)
    assert ranked[0].tolist() == [3, 2, 0]
    assert ranked[1, :2].tolist() == [1, 2]  # only two candidates; the pad is an excluded item
    assert ranked[1, 2] in (0, 3)


def test_top_k_never_ranks_an_excluded_item_above_a_candidate():
    rng = np.random.default_rng(0)
    scores = rng.random((20, 30))
    exclude = sp.random(20, 30, density=0.5, random_state=1, format="csr")
    ranked = top_k_items(scores.copy(), 10, exclude=exclude)
    dense_exclude = exclude.toarray() != 0
    for row, items in enumerate(ranked):
        assert not dense_exclude[row, items].any()
        best = np.sort(scores[row][~dense_exclude[row]])[::-1][:10]
        np.testing.assert_allclose(scores[row, items], best)


def test_precision_and_recall_by_hand():
    ranked = np.array([[3, 1, 0], [0, 2, 4]])
    relevant = np.zeros((2, 5), dtype=bool)
    relevant[0, [1, 2]] = True
    relevant[1, [0, 2, 4, 1]] = True
    np.testing.assert_allclose(precision_at_k(ranked, relevant, k=3), [1 / 3, 1.0])
    np.testing.assert_allclose(recall_at_k(ranked, relevant, k=3), [1 / 2, 3 / 4])
    np.testing.assert_allclose(precision_at_k(ranked, sp.csr_matrix(relevant), k=2), [1 / 2, 1.0])


def test_ndcg_by_hand():
    ranked = np.array([[0, 1, 2, 3], [1, 3, 0, 2], [0, 2, 1, 3]])
    relevant = np.zeros((3, 4), dtype=bool)
    relevant[:2, [1, 3]] = True
    relevant[2, 3] = True
    expected_first = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    expected_third = (1 / math.log2(5)) / 1.0
    np.testing.assert_allclose(ndcg_at_k(ranked, relevant, k=4),
                               [expected_first, 1.0, expected_third])
    # cut at k=2 the third row's relevant item falls off the list
    assert ndcg_at_k(ranked, relevant, k=2)[2] == 0.0


def test_relevant_items_are_held_out_favourites():
    rel = relevant_items([0, 0, 1], [2, 3, 1], [4.0, 3.5, 5.0], shape=(2, 4))
    assert rel.toarray().tolist() == [[False, False, True, False], [False, True, False, False]]


def test_ranking_metrics_skip_users_without_favourites_and_hide_seen_items():
    truth = np.array([[5.0, 1.0, 4.0, 0.0], [0.0, 0.0, 0.0, 5.0], [3.0, 3.0, 3.0, 3.0]])
    seen = sp.csr_matrix(np.array([[0, 0, 0, 3.0], [2.0, 0, 0, 0], [0, 0, 0, 0]]))
    relevant = sp.csr_matrix(truth >= 4)

    def score_rows(rows):
        scores = truth[rows].copy()
        scores[:, 3] = 100.0  # a seen item scored highest must still not be recommended to row 0
        return scores

    result = ranking_metrics(score_rows, seen, relevant, k=2, batch_size=1)
    assert result["n_users"] == 2
    # row 0: ranked [0, 2] both relevant; row 1: ranked [3, x] one of one relevant
    assert result["precision"] == pytest.approx((1.0 + 0.5) / 2)
    assert result["recall"] == pytest.approx(1.0)
    assert result["ndcg"] == pytest.approx(1.0)


def test_ranking_metrics_do_not_depend_on_batch_size():
    rng = np.random.default_rng(3)
    scores = rng.random((30, 50))
    seen = sp.random(30, 50, density=0.3, random_state=4, format="csr")
    relevant = sp.random(30, 50, density=0.1, random_state=5, format="csr") != 0
    one = ranking_metrics(lambda rows: scores[rows], seen, relevant, k=5, batch_size=1)
    many = ranking_metrics(lambda rows: scores[rows], seen, relevant, k=5, batch_size=64)
    assert one == pytest.approx(many)
    assert 0 < one["n_users"] <= 30


def test_an_empty_rank_is_a_miss():
    ranked = np.array([[1, NO_ITEM, NO_ITEM], [NO_ITEM, NO_ITEM, NO_ITEM]])
    relevant = np.zeros((2, 4), dtype=bool)
    relevant[:, [1, 3]] = True  # the last column must not be read through index -1
    np.testing.assert_allclose(precision_at_k(ranked, relevant, k=3), [1 / 3, 0.0])
    np.testing.assert_allclose(recall_at_k(ranked, relevant, k=3), [1 / 2, 0.0])
    np.testing.assert_allclose(ndcg_at_k(ranked, relevant, k=3), [1 / (1 + 1 / math.log2(3)), 0.0])


def test_top_k_lists_mark_the_ranks_past_the_candidates_as_empty():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    seen = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 1]]))
    ranked = top_k_lists(lambda rows: scores[rows], seen, np.array([0, 1]), k=3, batch_size=1)
    assert ranked.tolist() == [[3, 2, 0], [1, NO_ITEM, NO_ITEM]]


def test_list_metrics_equal_ranking_metrics_on_the_same_lists():
    rng = np.random.default_rng(7)
    scores = rng.random((25, 40))
    seen = sp.random(25, 40, density=0.3, random_state=8, format="csr")
    relevant = sp.csr_matrix(sp.random(25, 40, density=0.1, random_state=9, format="csr") != 0)
    rows = np.flatnonzero(np.diff(relevant.indptr))
    ranked = top_k_lists(lambda r: scores[r], seen, rows, k=5)
    assert list_metrics(ranked, relevant[rows], k=5, batch_size=4) == pytest.approx(
        ranking_metrics(lambda r: scores[r], seen, relevant, k=5))


def test_coverage_is_the_share_of_movies_in_some_list():
    ranked = np.array([[0, 2, NO_ITEM], [2, 3, NO_ITEM]])
    assert coverage(ranked, 10) == pytest.approx(0.3)


def test_popularity_percentile_puts_the_most_rated_movie_at_100():
    # ratings per movie: 3, 1, 1, 0, 2
    train = sp.csr_matrix(np.array([[5, 4, 0, 0, 3], [4, 0, 0, 0, 2], [1, 0, 3, 0, 0.0]]))
    percentiles = popularity_percentiles(train)
    np.testing.assert_allclose(percentiles, [100, 60, 60, 20, 80])
    ranked = np.array([[0, 4], [3, NO_ITEM]])
    assert mean_popularity_percentile(ranked, percentiles) == pytest.approx((100 + 80 + 20) / 3)
    assert math.isnan(mean_popularity_percentile(np.full((1, 2), NO_ITEM), percentiles))
