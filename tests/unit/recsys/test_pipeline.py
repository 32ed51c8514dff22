"""The pipeline on matrices is the trainer's pipeline: the same bundle from the same data."""
import dataclasses
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from shared.config import Settings
from shared.data import movielens
from shared.recsys.persist import encode
from shared.recsys.pipeline import BundleConfig, fit_bundle
from shared.recsys.ratings import FAVOURITE_RATING, rating_matrix, time_matrix
from shared.recsys.vocabulary import Vocabulary

CONFIG = dict(k_range=(3, 6), min_cluster_size=4,  # tiny_bundle's
              exploration_coverage=Settings.exploration_coverage)


def stored(bundle) -> dict:
    """Every array a bundle saves, estimators' included."""
    arrays = dict(bundle.arrays)
    for name, estimator in bundle.estimators.items():
        arrays.update(encode(estimator, f"{name}/")[1])
    return arrays


def test_matrices_in_give_the_trainers_bundle(tiny_data, tiny_bundle):
    data = movielens.load(tiny_data)
    users = Vocabulary(data.ratings["user_id"].to_numpy())
    movies = Vocabulary(np.concatenate([data.movies["movie_id"], data.ratings["movie_id"]]))
    X, _, _ = rating_matrix(data.ratings, users, movies)
    F = sp.csr_matrix(X >= FAVOURITE_RATING, dtype=np.float64)
    by_id = data.movies.set_index("movie_id")
    text = ((by_id["genres"].fillna("") + "|" + by_id["tags"].fillna(""))
            .reindex(movies.ids).fillna(""))
    bundle = fit_bundle(X, F, users, movies, BundleConfig(**CONFIG), item_text=text.tolist(),
                        latest_ts=int(data.ratings["ts"].max()), progress=False,
                        times=time_matrix(data.ratings, users, movies))

    def comparable(manifest):
        untimed = {k: v for k, v in manifest.items() if k not in ("trained_at", "fit_seconds")}
        untimed["ranker_tuning"] = {**manifest["ranker_tuning"], "validation": [
            {k: v for k, v in row.items() if k != "fit_seconds"}
            for row in manifest["ranker_tuning"]["validation"]]}
        return untimed

    assert comparable(bundle.manifest) == comparable(tiny_bundle.manifest)
    assert list(bundle.manifest["fit_seconds"]) == list(tiny_bundle.manifest["fit_seconds"])
    ours, trainers = stored(bundle), stored(tiny_bundle)
    assert sorted(ours) == sorted(trainers)
    for name in trainers:
        np.testing.assert_array_equal(ours[name], trainers[name], err_msg=name)


def test_without_catalogue_text_similar_movies_are_collaborative_only():
    X = sp.random(40, 30, density=0.3, random_state=0, format="csr")
    X.data = np.ceil(X.data * 10) / 2
    users, movies = Vocabulary(np.arange(40) + 1), Vocabulary(np.arange(30) + 100)
    bundle = fit_bundle(X, sp.csr_matrix(X >= 4.0, dtype=float), users, movies,
                        BundleConfig(k_range=(2, 3), min_cluster_size=2), progress=False)
    similar = bundle.estimators["similar"]
    assert not similar.has_content_.any() and similar.has_collaborative_.any()
    assert bundle.manifest["data"]["latest_ts"] == 0
    assert len(bundle.arrays["labels"]) == 40


def test_the_trainers_config_is_this_one_with_the_service_defaults():
    from trainer.pipeline import TrainerBundleConfig

    assert issubclass(TrainerBundleConfig, BundleConfig)
    config = TrainerBundleConfig()
    assert config.k_range == Settings.k_range
    assert config.min_cluster_size == Settings.min_cluster_size
    assert [f.name for f in dataclasses.fields(TrainerBundleConfig)] == [
        f.name for f in dataclasses.fields(BundleConfig)]
    with pytest.raises(TypeError):
        BundleConfig()  # no service defaults in the pure layer: the caller says


def test_the_ranker_is_chosen_on_a_validation_split_of_the_data_at_hand(tiny_bundle):
    tuning = tiny_bundle.manifest["ranker_tuning"]
    grid = tiny_bundle.manifest["config"]["ranker_grid"]
    assert tuning["split"] == "temporal"  # the trainer's snapshot has the ratings' times
    names = sorted(grid)
    assert {tuple(row[n] for n in names) for row in tuning["validation"]} == set(
        itertools.product(*(grid[n] for n in names)))
    best = max(tuning["validation"], key=lambda row: row["ndcg"])
    assert tuning["chosen"] == {n: best[n] for n in names}
    ranker = tiny_bundle.estimators["ranker"]
    assert {n: getattr(ranker, n) for n in names} == tuning["chosen"]


def test_a_version_keeps_no_training_rows_and_predicts_from_the_users_ratings(tiny_data,
                                                                              tiny_bundle):
    """The ranker's training matrix and item-kNN's residuals are dropped from the version
    (each user is scored from their own ratings): what is left predicts a user's ratings
    from those as the fitted model predicted them for the user it was fitted on."""
    from shared.recsys.evaluation.holdout import predicted_from
    from shared.recsys.models.base import without_training_rows
    from shared.recsys.models.blend import Blend

    ranker, blend = tiny_bundle.estimators["ranker"], tiny_bundle.estimators["recommender"]
    assert ranker.user_feedback_.shape == (0, ranker.n_movies_)
    knn = next(m for m in blend.members_ if hasattr(m, "user_residuals_"))
    assert knn.user_residuals_.shape[0] == 0 and knn.similarity_.nnz > 0
    ratings = movielens.load(tiny_data).ratings
    users = Vocabulary(ratings["user_id"].to_numpy())
    movies = Vocabulary(tiny_bundle.arrays["movie_ids"])
    X, _, _ = rating_matrix(ratings, users, movies)
    fitted = Blend(blend.members, random_state=blend.random_state).fit(X)
    asked = ratings.sample(300, random_state=0)
    expected = fitted.predict(users.index(asked["user_id"].to_numpy()),
                              movies.index(asked["movie_id"].to_numpy()))
    served = without_training_rows(fitted)
    assert served.members_[1].user_residuals_.shape[0] == 0
    np.testing.assert_allclose(predicted_from(served, ratings, asked, movies), expected,
                               atol=1e-9)


def test_ranker_lists_rank_the_candidates_as_a_pass_over_every_movie_does():
    from shared.recsys.evaluation.accuracy import NO_ITEM, top_k_lists
    from shared.recsys.models.ease import EASE
    from shared.recsys.pipeline import ranker_lists
    from tests.unit.recsys.models.synthetic import low_rank_ratings

    X = low_rank_ratings()[0]
    F = sp.csr_matrix((np.ones(3), ([0, 1, 2], [5, 6, 7])), shape=X.shape)
    ranker = EASE(max_items=30, max_candidates=12).fit(X)
    lists = ranker_lists(ranker, X, F)
    every_movie = top_k_lists(ranker.score_users, (abs(X) + abs(F)).tocsr(),
                              np.arange(X.shape[0]), lists.shape[1])
    np.testing.assert_array_equal(lists, every_movie)
    assert set(lists[lists != NO_ITEM].tolist()) <= set(ranker.candidates_.tolist())
    assert (lists == NO_ITEM).any()  # users with fewer unseen candidates than a list's places
