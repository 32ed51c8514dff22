"""The served model (shared/recsys/served.py) on the tiny fitted bundle."""
import numpy as np

from shared.recsys.models.features import taste_vectors
from shared.recsys.ratings import LiveRatings
from shared.recsys.served import LiveModel


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
