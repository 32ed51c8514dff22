import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys.models.similarity import (
    SimilarMovies,
    content_terms,
    item_factors_by_svd,
    movie_text,
)
from shared.recsys.ratings import rating_matrix
from shared.recsys.vocabulary import Vocabulary

# Movie 0 and 3 share genres and tags; 1 and 4 share theirs; 5 has no ratings; 6 has no text.
GENRES = ["Animation|Children", "Horror|Thriller", "Drama", "Animation|Children",
          "Horror|Thriller", "Drama|Romance", "(no genres listed)"]
TAGS = ["pixar|Pixar|based on a toy", "gore", "", "pixar|based on a toy", "gore|slasher", None, ""]
FACTORS = np.array([
    [1.0, 0.0, 0.0],
    [0.0, 1.0, 0.0],
    [0.9, 0.1, 0.0],   # collaboratively closest to movie 0
    [0.0, 0.2, 1.0],
    [0.1, 1.0, 0.1],
    [0.0, 0.0, 0.0],   # never rated
    [0.95, 0.0, 0.05],
])


@pytest.fixture
def model():
    return SimilarMovies().fit(FACTORS, movie_text(GENRES, TAGS))


def test_content_terms_keep_multi_word_tags_whole():
    assert content_terms("Sci-Fi|Based  on a Book| pixar |(no genres listed)|") == [
        "sci-fi", "based on a book", "pixar"]
    assert movie_text(["A|B", "C", None], ["x", None, "y"]) == ["A|B|x", "C", "y"]


def test_most_similar_by_content_shares_genres_and_tags(model):
    indices, scores = model.similar(0, n=1, kind="content")
    assert indices.tolist() == [3]
    assert model.similar(1, n=1, kind="content")[0].tolist() == [4]
    assert scores[0] > 0.5


def test_collaborative_similarity_is_the_cosine_of_factors(model):
    indices, scores = model.similar(0, n=3, kind="collaborative")
    cosines = FACTORS @ FACTORS[0] / np.maximum(np.linalg.norm(FACTORS, axis=1), 1e-300)
    assert indices.tolist() == [6, 2, 4]  # cosines 0.999, 0.994, 0.099
    np.testing.assert_allclose(scores, cosines[[6, 2, 4]], rtol=1e-6)


def test_hybrid_is_the_mean_of_both_over_movies_having_both(model):
    content = model.scores(0, "content")
    collaborative = model.scores(0, "collaborative")
    hybrid = model.scores(0, "hybrid")
    both = model.has_collaborative_ & model.has_content_
    np.testing.assert_allclose(hybrid[both], (content[both] + collaborative[both]) / 2, rtol=1e-6)
    assert np.all(np.isnan(hybrid[~both]))
    indices, _ = model.similar(0, n=10, kind="hybrid")
    assert 5 not in indices and 6 not in indices


def test_self_is_excluded_and_n_is_respected(model):
    for kind in ("collaborative", "content", "hybrid"):
        for n in (1, 2, 3):
            indices, scores = model.similar(3, n=n, kind=kind)
            assert len(indices) == len(scores) == n
            assert 3 not in indices
    assert len(model.similar(3, n=100, kind="collaborative")[0]) == 5  # 7 minus self and 5
    assert len(model.similar(3, n=0)[0]) == 0


def test_movies_without_factors_fall_back_to_content(model):
    assert not model.has_collaborative_[5]
    np.testing.assert_array_equal(model.scores(5, "collaborative"), model.scores(5, "content"))
    np.testing.assert_array_equal(model.scores(5, "hybrid"), model.scores(5, "content"))
    assert 2 in model.similar(5, n=1, kind="collaborative")[0]  # Drama|Romance ~ Drama
    assert 5 not in model.similar(0, n=10, kind="collaborative")[0]


def test_movies_without_text_fall_back_to_collaborative(model):
    assert not model.has_content_[6]
    np.testing.assert_array_equal(model.scores(6, "content"), model.scores(6, "collaborative"))
    assert 6 not in model.similar(0, n=10, kind="content")[0]


def test_embeddings_are_unit_float32_and_rebuild_the_model(model):
    for emb, has in ((model.collaborative_embeddings_, model.has_collaborative_),
                     (model.content_embeddings_, model.has_content_)):
        assert emb.dtype == np.float32 and len(emb) == len(GENRES)
        np.testing.assert_allclose(np.linalg.norm(emb[has], axis=1), 1.0, rtol=1e-6)
        assert not emb[~has].any()
    served = SimilarMovies.from_embeddings(model.collaborative_embeddings_,
                                           model.content_embeddings_)
    for kind in ("collaborative", "content", "hybrid"):
        np.testing.assert_array_equal(served.similar(0, 4, kind)[0], model.similar(0, 4, kind)[0])


def test_content_is_reduced_only_when_the_vocabulary_is_large():
    text = movie_text(GENRES, TAGS)
    small = SimilarMovies(n_content_components=200).fit(FACTORS, text)
    assert small.content_embeddings_.shape[1] == small.n_content_terms_
    reduced = SimilarMovies(n_content_components=2).fit(np.tile(FACTORS, (2, 1)), text * 2)
    assert reduced.content_embeddings_.shape[1] == 2


def test_bad_arguments_are_refused(model):
    with pytest.raises(ValueError, match="kind"):
        model.similar(0, kind="popular")
    with pytest.raises(IndexError):
        model.similar(len(GENRES))
    with pytest.raises(ValueError, match="one row per text"):
        SimilarMovies().fit(FACTORS[:3], movie_text(GENRES, TAGS))


def test_sklearn_conventions_and_determinism():
    text = movie_text(GENRES, TAGS) * 3
    factors = np.tile(FACTORS, (3, 1))
    est = SimilarMovies(n_content_components=3, random_state=1)
    assert est.fit(factors, text) is est
    assert clone(est).get_params() == est.get_params()
    again = SimilarMovies(n_content_components=3, random_state=1).fit(factors, text)
    np.testing.assert_array_equal(est.content_embeddings_, again.content_embeddings_)


def test_item_factors_by_svd_is_a_truncated_svd_of_the_movie_columns():
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((30, 12)) < 0.5, rng.integers(1, 11, (30, 12)) / 2, 0)
    dense[:, 11] = 0
    X = sp.csr_matrix(dense)
    factors = item_factors_by_svd(X, n_components=4)
    assert factors.shape == (12, 4)
    assert not factors[11].any()
    _, s, Vt = np.linalg.svd(X.toarray(), full_matrices=False)
    np.testing.assert_allclose(np.abs(factors), np.abs(Vt[:4].T * s[:4]), atol=1e-8)


@pytest.mark.slow
def test_ml_latest_small_toy_story_is_content_similar_to_toy_story_2(ml_latest_small):
    movies = pd.read_csv(ml_latest_small / "movies.csv")
    tags = pd.read_csv(ml_latest_small / "tags.csv").groupby("movieId")["tag"].agg("|".join)
    ratings = pd.read_csv(ml_latest_small / "ratings.csv").rename(
        columns={"userId": "user_id", "movieId": "movie_id", "timestamp": "ts"})
    vocabulary = Vocabulary(movies["movieId"])
    X, _, _ = rating_matrix(ratings, movies=vocabulary)
    text = movie_text(movies["genres"].tolist(), movies["movieId"].map(tags).tolist())
    model = SimilarMovies().fit(item_factors_by_svd(X, 100), text)
    toy_story, toy_story_2 = vocabulary.index([1, 3114])
    for kind in ("content", "collaborative", "hybrid"):
        assert toy_story_2 in model.similar(toy_story, n=10, kind=kind)[0]
