"""Model names -> fresh estimators, so the trainer and the evaluation harness build the same thing.

Factories import their module on first use: ``available()`` and a name check never pay for (or
depend on) every estimator module.
"""
from __future__ import annotations

from collections.abc import Callable

from shared.recsys.models.base import RatingPredictor
from shared.recsys.models.topn import TopNRecommender

# The registry entry the trainer serves and ``default`` stands for: whichever measures best.
DEFAULT_MODEL = "blend"
# The top-N model a version ranks with (the 'personal' strategy): the best validation nDCG@10
# (docs/topn-tuning.md).
DEFAULT_RANKER = "ease"
# What the trainer re-chooses for it on each snapshot (its validation split): the penalty, the
# one parameter whose best value moves with the amount of data, how fast old ratings fade
# from what it learns, read on a temporal split only (None first: without times, every
# half-life fits the same model and the first of equals wins; docs/topn-tuning.md), and how
# much a movie's popularity discounts its score (varied without fitting again).
DEFAULT_RANKER_GRID = {"l2": [50.0, 100.0, 200.0, 400.0],
                       "half_life": [None, 1825.0, 730.0, 365.0, 180.0],
                       "popularity_exponent": [0.0, 0.1, 0.2]}


def _baseline():
    from shared.recsys.models.baseline import BaselinePredictor

    return BaselinePredictor()


def _cluster():
    from shared.recsys.models.cluster import ClusterMeans

    return ClusterMeans(random_state=0)


def _kmeans_softmax():
    # Seed 000's method, averaged over three k-means seeds: one clustering's RMSE swings
    # with its seed (docs/accuracy-benchmark.md); the average is both steadier and better.
    from shared.recsys.models.kmeans_softmax import KMeansSoftmax, KMeansSoftmaxEnsemble

    return KMeansSoftmaxEnsemble(KMeansSoftmax(), n_members=3, random_state=0)


def _svd():
    from shared.recsys.models.svd import BiasedMF

    return BiasedMF()


def _truncated_svd():
    from shared.recsys.models.factorization import TruncatedSVDPredictor

    return TruncatedSVDPredictor()


def _nmf():
    from shared.recsys.models.factorization import NMFPredictor

    return NMFPredictor()


def _iterative_svd():
    from shared.recsys.models.factorization import IterativeSVD

    return IterativeSVD()


def _item_knn():
    from shared.recsys.models.item_knn import ItemKNN

    return ItemKNN()


def _blend():
    from shared.recsys.models.blend import Blend

    return Blend([_svd(), _item_knn(), _baseline()])


def _most_popular():
    from shared.recsys.models.topn import MostPopular

    return MostPopular()


def _ease():
    from shared.recsys.models.ease import EASE

    return EASE()


def _ials():
    from shared.recsys.models.ials import ImplicitALS

    return ImplicitALS()


FACTORIES: dict[str, Callable[[], RatingPredictor | TopNRecommender]] = {
    "baseline": _baseline,
    "cluster": _cluster,
    "kmeans-softmax": _kmeans_softmax,
    "svd": _svd,
    "truncated-svd": _truncated_svd,
    "nmf": _nmf,
    "iterative-svd": _iterative_svd,
    "item-knn": _item_knn,
    "blend": _blend,
    "most-popular": _most_popular,
    "ease": _ease,
    "ials": _ials,
}


def available() -> list[str]:
    """Every name :func:`make` accepts, ``default`` included."""
    return [*FACTORIES, "default"]


def resolve(name: str) -> str:
    """The registry entry ``name`` stands for (``default`` -> :data:`DEFAULT_MODEL`)."""
    key = name.strip().lower()
    key = DEFAULT_MODEL if key == "default" else key
    if key not in FACTORIES:
        raise KeyError(f"unknown model {name!r}; choose from: {', '.join(available())}")
    return key


def make(name: str) -> RatingPredictor | TopNRecommender:
    """A fresh, unfitted estimator for ``name``; ``KeyError`` listing the names if unknown."""
    return FACTORIES[resolve(name)]()
