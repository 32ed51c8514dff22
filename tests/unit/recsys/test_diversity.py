import numpy as np

from shared.recsys.diversity import DIVERSITY_POOL, Diversify, most_marginal
from shared.recsys.filters import Facets

MOVIES = {1: {"genres": ["Comedy"]}, 2: {"genres": ["Comedy"]}, 3: {"genres": ["Comedy"]},
          4: {"genres": ["Horror"]}, 5: {"genres": ["Comedy", "Romance"]},
          6: {"genres": ["Documentary"]}}


def items(*scored):
    return [{"movie_id": movie, "score": score} for movie, score in scored]


def test_no_diversity_is_the_list_as_ranked():
    ranked = items((1, 0.9), (2, 0.8), (4, 0.7))
    assert Diversify(0.0, Facets(MOVIES)).choose(ranked, 2) == ranked[:2]
    assert Diversify(0.0, Facets(MOVIES)).pool(10) == 10


def test_a_slightly_worse_movie_of_other_genres_passes_movies_like_those_above_it():
    ranked = items((1, 1.0), (2, 0.95), (3, 0.9), (4, 0.85), (5, 0.8), (6, 0.0))
    chosen = Diversify(0.6, Facets(MOVIES)).choose(ranked, 4)
    assert [item["movie_id"] for item in chosen] == [1, 4, 5, 2]
    a_little = Diversify(0.05, Facets(MOVIES)).choose(ranked, 4)
    assert [item["movie_id"] for item in a_little] == [1, 2, 3, 4]  # the score still rules
    assert Diversify(0.6, Facets(MOVIES)).pool(10) == DIVERSITY_POOL


def test_a_longer_list_from_the_same_pool_begins_with_the_shorter():
    rng = np.random.default_rng(0)
    scores = np.sort(rng.random(50))[::-1]
    genres = rng.random((50, 8)) < 0.3
    assert most_marginal(scores, genres, 20, 0.7)[:10] == most_marginal(scores, genres, 10, 0.7)
    assert len(set(most_marginal(scores, genres, 50, 1.0))) == 50


def test_scores_that_rise_down_a_filled_list_read_as_no_better_than_those_above():
    # a ranker's scores, then a filler's predicted ratings on another scale
    scores = np.array([0.9, 0.5, 4.5, 4.0])
    genres = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    assert most_marginal(scores, genres, 2, 0.0) == [0, 1]


def test_a_movie_outside_the_catalogue_has_no_genres():
    sets = Facets(MOVIES).genre_sets([5, 99])
    assert sets.shape[0] == 2 and sets[0].sum() == 2 and not sets[1].any()
