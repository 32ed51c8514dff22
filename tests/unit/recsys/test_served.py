"""The served model (shared/recsys/served.py) on the tiny fitted bundle."""
import numpy as np
import pytest

from shared.recsys.models.features import taste_vectors
from shared.recsys.ratings import LiveRatings
from shared.recsys.served import EXPLORED, LiveModel


def test_users_placed_together_get_the_clusters_each_gets_alone(tiny_bundle):
    model = LiveModel(tiny_bundle)
    rng = np.random.default_rng(3)
    ids = model.movies.ids
    users = [LiveRatings(rng.choice(ids, size=k, replace=False), rng.integers(1, 11, k) / 2)
             for k in (5, 1, 40, 12, 7, 150)]
    users += [LiveRatings([10**9, 10**9 + 1], [4.0, 3.0]),  # no movie the model knows
              LiveRatings(ids[:3], [0.0, 0.0, 4.5])]        # two only favoured
    alone = [int(model.classifier.predict(taste_vectors(model.user_row(r)))[0]) for r in users]
    together = model.assign_clusters(users)
    assert together.tolist() == alone and len(set(alone)) > 1
    assert [model.assign_cluster(r) for r in users] == alone
    assert model.assign_clusters([]).tolist() == []


def test_the_movies_a_version_ranks_are_its_rankers_candidates(tiny_bundle):
    model = LiveModel(tiny_bundle)
    candidates = model.movies.ids[model.ranker.candidates_]
    others = np.setdiff1d(model.movies.ids, candidates)
    assert model.ranks(candidates).all() and not model.ranks([10**9]).any()
    assert not model.ranks(others).any()
    bare = LiveModel(tiny_bundle)
    bare.ranker = None
    assert not bare.ranks(candidates).any()


def test_a_deferred_recommender_is_built_once_and_only_when_a_prediction_needs_it(tiny_bundle):
    from shared.recsys import persist

    blob, manifest = persist.bundle_to_npz(tiny_bundle)
    deferred = persist.bundle_from_npz("v", blob, manifest, deferred=LiveModel.DEFERRABLE)
    assert "recommender" not in deferred.estimators
    builds = []
    build = deferred.deferred["recommender"]
    deferred.deferred["recommender"] = lambda: builds.append(1) or build()
    model, eager = LiveModel(deferred), LiveModel(persist.bundle_from_npz("v", blob, manifest))
    ids = model.movies.ids
    ratings = LiveRatings(ids[:6], [4.0, 3.5, 5.0, 2.0, 4.5, 1.0])
    assert model.ranked(ratings, 10) == eager.ranked(ratings, 10)
    assert model.assign_cluster(ratings) == eager.assign_cluster(ratings)
    assert builds == []  # lists and clusters read no rating model
    assert model.predict(ratings, ids[6:20]) == eager.predict(ratings, ids[6:20])
    np.testing.assert_array_equal(model.svd_scores(ratings), eager.svd_scores(ratings))
    assert builds == [1]


@pytest.fixture(scope="module")
def explored_bundle(tiny_data):
    """The pipeline on ``tiny_data`` with an exploration that gives movies to many users."""
    from shared.data import movielens
    from trainer.pipeline import TrainerBundleConfig, fit_pipeline

    data = movielens.load(tiny_data)
    return data, fit_pipeline(data.ratings, data.movies,
                              TrainerBundleConfig(k_range=(3, 4), min_cluster_size=4,
                                                  exploration_coverage=0.5), progress=False)


class Excluding:
    """A filter (``Allowed``'s ``mask``) that leaves out ``movies``."""

    def __init__(self, movies):
        self.movies = movies

    def mask(self, movie_ids):
        return ~np.isin(movie_ids, self.movies)


def test_a_training_user_sees_the_movies_given_them_in_the_places_they_replace(explored_bundle):
    data, bundle = explored_bundle
    model = LiveModel(bundle)
    exploration = model.exploration
    assert bundle.manifest["exploration"]["movies_given"] == len(exploration.movies_) > 0
    user = int(np.flatnonzero(np.diff(exploration.indptr_))[0])
    user_id = int(model.users.ids[user])
    mine = data.ratings[data.ratings["user_id"] == user_id]
    ratings = LiveRatings(mine["movie_id"].to_numpy(), mine["rating"].to_numpy())
    given, replaced = (model.movies.ids[m] for m in exploration.for_user(user))
    plain = model.ranked(ratings, 10)
    served = model.ranked(ratings, 10, user_id=user_id)
    for movie, place in zip(given.tolist(), replaced.tolist()):
        at = [entry[0] for entry in plain].index(place)
        assert served[at] == (movie, plain[at][1], EXPLORED)
    assert [e for e in served if e[0] not in set(given.tolist())] == \
        [e for e in plain if e[0] not in set(replaced.tolist())]
    # a guest, or a user the version has not seen, is given nothing
    assert model.ranked(ratings, 10, user_id=10**9) == plain
    # a given movie the user has rated since, or a filter leaves out, does not take a place
    first = int(given[0])
    rated = LiveRatings(np.r_[ratings.movie_ids, first], np.r_[ratings.ratings, 4.0])
    assert first not in [e[0] for e in model.ranked(rated, 10, user_id=user_id)]
    filtered = model.ranked(ratings, 10, Excluding([first]), user_id=user_id)
    assert first not in [e[0] for e in filtered]
    assert int(replaced[0]) in [e[0] for e in filtered]
