"""The models a version serves, fitted together: choose k, k-means, cluster fixing, the
rating recommender, the top-N ranker, softmax, similar movies. The trainer runs it on a
snapshot of the ratings store and the evaluation harness on a fold's training part, so what is
measured is what is served."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from shared.recsys.models import registry
from shared.recsys.models.base import fit_with_times, without_training_rows
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.blend import Blend, matrix_factorisation_of
from shared.recsys.models.clustering import cluster_users
from shared.recsys.models.features import taste_vectors
from shared.recsys.models.k_selection import KScan
from shared.recsys.models.softmax import SoftmaxRegression
from shared.recsys.models.svd import BiasedMF
from shared.recsys.persist import ModelBundle, new_version
from shared.recsys.vocabulary import Vocabulary


@dataclass(frozen=True, kw_only=True)
class BundleConfig:
    """What :func:`fit_bundle` fits and how. What the service configures has no default here:
    this layer reads no settings."""

    k_range: tuple[int, int]
    # 'silhouette' (seed 002), 'elbow' (seed 001) or a number. The elbow rule finds no elbow on
    # MovieLens (every WCSS difference stays inside its boundary: docs/scale-benchmark.md) and
    # so always takes the low end of the range; the silhouette does discriminate.
    k_rule: str = "silhouette"
    min_cluster_size: int            # seed 001's fixClusters
    shrink: float = 5.0              # pseudo-ratings pulling cluster means to the movie prior
    model: str = registry.DEFAULT_MODEL
    # the rating model's hyper-parameters beyond the registry's (a refit keeps the blend's
    # weights its measured fit learned: :func:`refit_config`)
    model_params: dict | None = None
    ranker: str | None = registry.DEFAULT_RANKER  # the top-N model of the 'personal' strategy
    # re-chosen on a validation split of the data at hand (None: the registry's defaults)
    ranker_grid: dict | None = field(default_factory=lambda: dict(registry.DEFAULT_RANKER_GRID))
    # the ranker's hyper-parameters where no grid re-chooses them (a refit keeps what its
    # measured fit chose: :func:`refit_config`)
    ranker_params: dict | None = None
    # the share of the rated movies the ranker's lists show together, widened by exploration
    # (models/exploration.py; 0: the ranker's lists as they are)
    exploration_coverage: float = 0.0
    random_state: int = 0


def refit_config(config: BundleConfig, manifest: dict) -> BundleConfig:
    """``config`` with what the fit of ``manifest`` chose kept, not chosen again: its k, its
    ranker's hyper-parameters and its blend's weights. A version measured on held-out ratings
    is then fitted on all of them as it was measured (as a grid search refits its best
    parameters), each member of its blend once."""
    k = int(manifest["k"]["chosen"])
    config = replace(config, k_rule=str(k), k_range=(k, k))
    tuning = manifest.get("ranker_tuning")
    if tuning:
        config = replace(config, ranker_grid=None, ranker_params=dict(tuning["chosen"]))
    blend = manifest.get("rating_model")
    if blend and manifest.get("model") == config.model:
        config = replace(config, model_params={
            **(config.model_params or {}),
            "fixed_weights": [blend["intercept"], *blend["weights"]]})
    return config


def make_rating_model(config: BundleConfig):
    """The unfitted rating model ``config`` names, with its ``model_params``."""
    return registry.make(config.model).set_params(**(config.model_params or {}))


def _matrix_factorisation(recommender, X):
    """The recommender's own factorisation when it has one, so nothing is fitted twice."""
    found = matrix_factorisation_of(recommender)
    return found if found is not None else BiasedMF().fit(X)


def fit_exploration(ranker, X: sp.csr_matrix, F: sp.csr_matrix, coverage: float):
    """The :class:`~shared.recsys.models.exploration.Exploration` of the fitted ``ranker``'s
    lists of every user of the ratings ``X`` and favourites ``F`` (:func:`ranker_lists`)."""
    from shared.recsys.models.exploration import Exploration

    return Exploration(coverage=coverage).fit(X, lists=ranker_lists(ranker, X, F))


def ranker_lists(ranker, X: sp.csr_matrix, F: sp.csr_matrix, score_rows=None,
                 n_jobs: int = -1) -> np.ndarray:
    """The fitted ``ranker``'s list of each user of the ratings ``X`` and favourites ``F``, as
    the users are served now: what they rated or favoured is never in them, and a user the
    ranker cannot rank (no rating of a movie it reads) has none. A ranker that names its
    ``candidates_`` lists no other movie, so only those are ranked. ``score_rows(rows)``: the
    scores of those rows of ``X``, at the candidates when the ranker has them, else of every
    movie (None: the ranker's training users'); ``n_jobs``: the threads ranking them
    (:func:`top_k_lists`)."""
    from shared.recsys.evaluation.accuracy import NO_ITEM, top_k_lists
    from shared.recsys.models.exploration import TOP_N

    X = sp.csr_matrix(X)
    seen = (abs(X) + abs(F)).tocsr()
    rows = np.arange(X.shape[0])
    columns = getattr(ranker, "candidates_", None)
    if columns is None:
        lists = top_k_lists(score_rows or ranker.score_users, seen, rows, TOP_N, n_jobs=n_jobs)
    else:
        ranked = top_k_lists(score_rows or ranker.candidate_scores, seen[:, columns], rows,
                             TOP_N, n_jobs=n_jobs)
        lists = np.where(ranked == NO_ITEM, NO_ITEM, columns[np.maximum(ranked, 0)])
    for user in range(X.shape[0]):
        row = slice(X.indptr[user], X.indptr[user + 1])
        if not ranker.can_rank(X.indices[row], X.data[row]):
            lists[user] = NO_ITEM
    return lists


def fit_bundle(X: sp.csr_matrix, F: sp.csr_matrix, users: Vocabulary, movies: Vocabulary,
               config: BundleConfig, item_text: Sequence[str] | None = None,
               latest_ts: int = 0, progress: bool = True,
               times: sp.csr_matrix | None = None) -> ModelBundle:
    """Fit every model the service needs on the users x movies ratings ``X`` and favourites
    ``F`` (rows and columns are ``users`` and ``movies``).

    ``item_text[i]`` is movie ``i``'s genres and tags for the content similarity (none: the
    similar movies are collaborative only); ``latest_ts`` is the newest event of the data, for
    the manifest; ``times`` the time of each rating of ``X`` (the same entries): with them, the
    ranker's hyper-parameters are chosen on the latest ratings (a temporal validation split),
    as a live service is judged, and a ranker that weighs ratings by age is fitted with
    them."""
    from shared.recsys.models.similarity import SimilarMovies
    from shared.recsys.models.tuning import tune  # imports the evaluation, which imports this

    started = time.time()
    explore = bool(config.ranker) and config.exploration_coverage > 0
    steps = FitSteps(5 + bool(config.ranker) + explore, "training", progress)
    steps.start("baseline")
    baseline = BaselinePredictor().fit(X)
    features = taste_vectors(X)
    steps.done("baseline")

    steps.start("clusters")
    clusters = cluster_users(features, F, config.k_rule, config.k_range,
                             config.min_cluster_size, random_state=config.random_state)
    steps.done("clusters")

    steps.start("recommender")
    recommender = make_rating_model(config).fit(X)
    steps.done("recommender")

    ranker, ranker_tuning = None, None
    if config.ranker:
        steps.start("ranker")
        ranker = registry.make(config.ranker).set_params(**(config.ranker_params or {}))
        if config.ranker_grid:
            chosen, table = tune(ranker, config.ranker_grid, X, seed=config.random_state,
                                 times=times)
            ranker.set_params(**chosen)
            ranker_tuning = {"chosen": chosen, "validation": table,
                             "split": "random" if times is None else "temporal"}
        fit_with_times(ranker, X, times)
        steps.done("ranker")

    exploration = None
    if explore:
        steps.start("exploration")
        exploration = fit_exploration(ranker, X, F, config.exploration_coverage)
        steps.done("exploration")

    steps.start("softmax")
    classifier = SoftmaxRegression().fit(features, clusters.labels)
    accuracy = float(np.mean(classifier.predict(features) == clusters.labels))
    steps.done("softmax")

    steps.start("similar")
    text = [""] * len(movies) if item_text is None else item_text
    similar = SimilarMovies().fit(_matrix_factorisation(recommender, X).item_factors_, text)
    steps.done("similar")
    steps.close()

    clusters_found = FoundClusters(scan=clusters.scan, k=clusters.k,
                                   sizes_before_fixing=clusters.sizes_before_fixing,
                                   labels=clusters.labels)
    return assemble_bundle(
        started, steps.seconds, config, users, movies, X.nnz, F.nnz, latest_ts, clusters_found,
        {"baseline": baseline, "recommender": recommender, "ranker": ranker,
         "exploration": exploration, "softmax": classifier, "similar": similar},
        ranker_tuning, accuracy, engine={"name": "local"})


def blend_weights(recommender) -> dict | None:
    """What a fitted blend learned (or kept): its intercept, its members' weights and, when
    learned, each member's and the blend's RMSE on the ratings it held out; None for a
    rating model that blends nothing."""
    if not isinstance(recommender, Blend):
        return None
    rmse = recommender.holdout_rmse_
    return {"members": [type(m).__name__ for m in recommender.members_],
            "intercept": float(recommender.intercept_),
            "weights": [float(w) for w in recommender.weights_],
            "holdout_rmse": None if rmse is None else [round(float(r), 6) for r in rmse]}


class FitSteps:
    """The steps of a fit: each one's wall seconds (for the manifest) and a progress bar."""

    def __init__(self, total: int, desc: str, progress: bool):
        self.seconds: dict[str, float] = {}
        self._bar = tqdm(total=total, desc=desc, unit="step", disable=not progress)

    def start(self, name: str) -> None:
        self._bar.set_postfix_str(name)
        self.seconds[name] = time.perf_counter()

    def done(self, name: str) -> None:
        self.seconds[name] = round(time.perf_counter() - self.seconds[name], 3)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


@dataclass(frozen=True)
class FoundClusters:
    """What a version keeps of its clustering, whichever engine found it: the scan of k, the
    k chosen, the sizes k-means gave, and each user's cluster after fixing."""

    scan: KScan
    k: int
    sizes_before_fixing: np.ndarray
    labels: np.ndarray


def assemble_bundle(started: float, seconds: dict, config: BundleConfig, users: Vocabulary,
                    movies: Vocabulary, n_ratings: int, n_favourites: int, latest_ts: int,
                    clusters: FoundClusters, estimators: dict, ranker_tuning: dict | None,
                    softmax_accuracy: float, **about) -> ModelBundle:
    """The version of fitted ``estimators`` (None for a component not fitted; their training
    rows dropped: :func:`without_training_rows`) and its manifest; ``about`` adds entries to
    it (the engine that fitted it)."""
    scan, exploration = clusters.scan, estimators.get("exploration")
    manifest = {
        "trained_at": started,
        "data": {"users": len(users), "movies": len(movies), "ratings": int(n_ratings),
                 "favourites": int(n_favourites), "latest_ts": int(latest_ts)},
        "config": asdict(config),
        "model": config.model,
        "rating_model": blend_weights(estimators["recommender"]),
        "ranker": config.ranker,
        "ranker_tuning": ranker_tuning,
        "exploration": None if exploration is None else {
            "coverage_before": round(exploration.coverage_before_, 4),
            "coverage_after": round(exploration.coverage_after_, 4),
            "movies_given": len(exploration.movies_),
            "highest_cost": round(float(exploration.costs_.max(initial=0.0)), 4)},
        "k": {"chosen": clusters.k, "rule": str(config.k_rule), "ks": scan.ks.tolist(),
              "wcss": scan.wcss.tolist(),
              "silhouettes": np.nan_to_num(scan.silhouettes, nan=-1).tolist(),
              "boundary": scan.boundary},
        "clusters": {"before_fixing": np.asarray(clusters.sizes_before_fixing).tolist(),
                     "after_fixing": np.bincount(clusters.labels).tolist()},
        "metrics": {"softmax_training_accuracy": float(softmax_accuracy)},
        "fit_seconds": seconds,
        **about,
    }
    return ModelBundle(
        version=new_version(),
        manifest=manifest,
        estimators={name: without_training_rows(est) for name, est in estimators.items()
                    if est is not None},
        arrays={"user_ids": users.ids, "movie_ids": movies.ids, "labels": clusters.labels},
    )
