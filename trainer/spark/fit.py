"""The pipeline's models fitted on Spark: the same components as
:func:`shared.recsys.pipeline.fit_bundle`, each computed where it is cheapest.

On the executors, over blocks of whole users (:mod:`trainer.spark.blocks`): the movie counts,
the taste vectors, the Gram matrix of the ranker's modelled movies, the rating model's sums
and half-sweeps (:mod:`trainer.spark.rating_model`); with MLlib: k-means for every k of the
range and its silhouette (``ClusteringEvaluator``) and the softmax classifier (multinomial
``LogisticRegression``). On the driver: what is left from those, with the local estimators
(EASE's inverse, cluster fixing from the clusters' favourite counts, the blend's weights, the
similar movies from the movie factors).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shared.recsys.models import registry
from shared.recsys.models.blend import matrix_factorisation_of
from shared.recsys.models.cluster_fixing import closest_survivors, dissolve_small_clusters
from shared.recsys.models.clustering import scan_sample
from shared.recsys.models.ease import (
    EASE,
    age_weights,
    gram_matrix,
    newest_rank,
    reference_time,
)
from shared.recsys.models.features import taste_vectors
from shared.recsys.models.k_selection import KScan
from shared.recsys.models.similarity import SimilarMovies
from shared.recsys.models.softmax import SoftmaxRegression
from shared.recsys.models.svd import BiasedMF
from shared.recsys.models.topn import confidence
from shared.recsys.persist import ModelBundle
from shared.recsys.pipeline import (
    BundleConfig,
    FitSteps,
    FoundClusters,
    assemble_bundle,
    make_rating_model,
)
from shared.recsys.vocabulary import Vocabulary
from trainer.pipeline import item_text
from trainer.spark.blocks import nth_smallest, over_blocks, partition_block, per_user, summed
from trainer.spark.rating_model import Ratings, check_fitted_on_spark, fit_rating_model

# The validation users a ranker's hyper-parameters are chosen on, at most (drawn at random
# from those with a held-out rating of 4 or more): their ratings come to the driver.
MAX_VALIDATION_USERS = 5000
# The hyper-parameters chosen from Gram matrices computed once for each half-life
CHOSEN_ON_SPARK = ("l2", "half_life", "popularity_exponent")
# The users of each movie no list shows that the exploration hears of, the cheapest: its
# greedy gives the movie to the first of them with a place left, and a user runs out of places
# only after max_per_user (5) movies given.
CANDIDATES_PER_MOVIE = 50
KMEANS_ITERATIONS = 100
VECTOR_SCHEMA = "u long, indices array<int>, values array<double>"


def fit_bundle_on_spark(spark, snapshot, movies: pd.DataFrame, config: BundleConfig,
                        master: str, progress: bool = True) -> ModelBundle:
    """Every model the service needs, fitted on the Spark DataFrame ``snapshot`` (whole users
    in each partition: :func:`trainer.spark.blocks.read_snapshot`) and the catalogue
    ``movies`` (with genres and tags for the similar movies)."""
    started = time.time()
    explore = bool(config.ranker) and config.exploration_coverage > 0
    steps = FitSteps(7 + explore, "training on spark", progress)
    steps.start("vocabularies")
    users = Vocabulary(_ids(snapshot, "user_id"))
    movie_vocab = Vocabulary(np.concatenate([movies["movie_id"].to_numpy(),
                                             _ids(snapshot, "movie_id")]))

    def over(fn):
        return over_blocks(snapshot, fn, users.ids, movie_vocab)

    counted = over(lambda b: {"counts": np.bincount(b.X.indices, minlength=b.X.shape[1]),
                              "sum": np.array([b.X.data.sum()]), "n": np.array([b.X.nnz]),
                              "favourites": np.array([b.F.nnz]),
                              "latest": np.array([b.T.data.max(initial=1.0) - 1.0])})
    counts, n_ratings = summed(counted, "counts"), int(summed(counted, "n")[0])
    latest_ts = int(max(part["latest"][0] for part in counted))
    steps.done("vocabularies")

    ratings = Ratings(snapshot, users.ids, movie_vocab)
    recommender_model = make_rating_model(config)
    check_fitted_on_spark(recommender_model)
    steps.start("baseline")
    baseline = ratings.baseline()
    steps.done("baseline")

    steps.start("clusters")
    vectors = _taste_vectors(spark, snapshot, users, movie_vocab)
    clusters = _clusters(spark, vectors, over, config, len(users))
    steps.done("clusters")

    steps.start("recommender")
    recommender = fit_rating_model(ratings, recommender_model)
    steps.done("recommender")

    ranker, ranker_tuning = None, None
    if config.ranker:
        steps.start("ranker")
        ranker = registry.make(config.ranker).set_params(**(config.ranker_params or {}))
        if config.ranker_grid:
            chosen, table, n_users = _choose_ease(snapshot, over, ranker, config.ranker_grid,
                                                  config.random_state, n_ratings)
            ranker.set_params(**chosen)
            ranker_tuning = {"chosen": chosen, "validation": table, "split": "temporal",
                             "users_sampled": n_users}
        ranker = _ease(over, counts, n_ratings, ranker)
        steps.done("ranker")

    exploration = None
    if ranker is not None and config.exploration_coverage > 0:
        steps.start("exploration")
        exploration = _exploration(over, ranker, counts, config.exploration_coverage,
                                   len(users))
        steps.done("exploration")

    steps.start("softmax")
    classifier, accuracy = _softmax(spark, vectors, clusters.labels, len(movie_vocab))
    vectors.unpersist()
    steps.done("softmax")

    steps.start("similar")
    similar = SimilarMovies().fit(_matrix_factorisation(ratings, recommender).item_factors_,
                                  item_text(movies, movie_vocab))
    steps.done("similar")
    steps.close()
    return assemble_bundle(
        started, steps.seconds, config, users, movie_vocab, n_ratings,
        int(summed(counted, "favourites")[0]), latest_ts, clusters,
        {"baseline": baseline, "recommender": recommender, "ranker": ranker,
         "exploration": exploration, "softmax": classifier, "similar": similar},
        ranker_tuning, accuracy, engine={"name": "spark", "master": master})


def _matrix_factorisation(ratings: Ratings, recommender):
    """The recommender's own factorisation when it has one (the similar movies' factors),
    else a :class:`BiasedMF` fitted here: :func:`shared.recsys.pipeline.fit_bundle`'s
    choice."""
    found = matrix_factorisation_of(recommender)
    return found if found is not None else fit_rating_model(ratings, BiasedMF())


def _ids(snapshot, column: str) -> np.ndarray:
    rows = snapshot.select(column).distinct().toPandas()
    return np.sort(rows[column].to_numpy().astype(np.int64))


def _taste_vectors(spark, snapshot, users: Vocabulary, movies: Vocabulary):
    """(u, features): each user's :func:`taste_vectors` row as an MLlib sparse vector,
    cached."""
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql import functions as F

    ids, n_movies = movies.ids, len(movies)

    def task(batches):
        block = partition_block(batches, users.ids, ids)
        if block is None:
            return
        V = taste_vectors(block.X)
        yield pd.DataFrame({"u": block.users,
                            "indices": np.split(V.indices.astype(np.int32), V.indptr[1:-1]),
                            "values": np.split(V.data, V.indptr[1:-1])})

    to_vector = F.udf(lambda i, v: SparseVector(n_movies, i, v), VectorUDT())
    return (snapshot.mapInPandas(task, VECTOR_SCHEMA)
            .select("u", to_vector("indices", "values").alias("features")).cache())


def _clusters(spark, vectors, over, config: BundleConfig, n_users: int) -> FoundClusters:
    """k scanned over the range with MLlib's k-means, chosen by the silhouette
    (``ClusteringEvaluator``) or the elbow, then the small clusters dissolved: only the
    clusters' favourite counts and the moved users' favourites reach the driver. As locally,
    the scan runs on at most ``K_SCAN_USERS`` users (:func:`scan_sample`) and the chosen k is
    then fitted on all."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.sql import functions as F

    lo, hi = config.k_range
    hi = min(hi, n_users - 1)
    lo = min(lo, hi)
    sample = scan_sample(n_users, config.random_state)
    scanned = vectors if sample is None else vectors.join(
        F.broadcast(spark.createDataFrame(pd.DataFrame({"u": sample}))), "u").cache()
    evaluator = ClusteringEvaluator(metricName="silhouette", distanceMeasure="squaredEuclidean")
    ks, wcss, silhouettes, fitted = [], [], [], {}
    for k in range(lo, hi + 1):
        model = KMeans(k=k, seed=config.random_state + k, maxIter=KMEANS_ITERATIONS).fit(scanned)
        ks.append(k)
        wcss.append(model.summary.trainingCost)
        predictions = model.transform(scanned)
        silhouettes.append(evaluator.evaluate(predictions) if k > 1 else np.nan)
        fitted[k] = model
    wcss_array = np.array(wcss)
    scan = KScan(ks=np.array(ks), wcss=wcss_array, differences=-np.diff(wcss_array),
                 boundary=float(0.01 * wcss_array[0]), silhouettes=np.array(silhouettes),
                 models=())
    rule = str(config.k_rule)
    k = int(rule) if rule.isdigit() else scan.choose_k(rule)
    if sample is not None:
        scanned.unpersist()
    model = (fitted.get(k) if sample is None else None) or KMeans(
        k=k, seed=config.random_state + k, maxIter=KMEANS_ITERATIONS).fit(vectors)
    assigned = model.transform(vectors).select("u", "prediction").toPandas()
    found = np.zeros(n_users, dtype=np.int64)
    found[assigned["u"].to_numpy()] = assigned["prediction"].to_numpy()
    mapping, moved = dissolve_small_clusters(found, config.min_cluster_size, k)
    labels = mapping[found]
    if len(moved):
        moving = np.isin(np.arange(n_users), moved)

        def favourites(block):
            clusters = found[block.users]
            counts = np.zeros((k, block.F.shape[1]))
            np.add.at(counts, (np.repeat(clusters, np.diff(block.F.indptr)), block.F.indices),
                      1.0)
            mine = moving[block.users]
            return {"counts": counts, "moved": block.users[mine],
                    "moved_favourites": block.F[mine].toarray()}

        parts = over(favourites)
        survivors = np.flatnonzero(mapping >= 0)
        rows = np.concatenate([part["moved"] for part in parts])
        chosen = closest_survivors(np.vstack([part["moved_favourites"] for part in parts]),
                                   summed(parts, "counts")[survivors],
                                   np.bincount(found, minlength=k)[survivors])
        labels[rows] = chosen
    return FoundClusters(scan=scan, k=k, sizes_before_fixing=np.bincount(found, minlength=k),
                         labels=labels)


def _softmax(spark, vectors, labels: np.ndarray, n_movies: int
             ) -> tuple[SoftmaxRegression, float]:
    """MLlib's multinomial logistic regression on the taste vectors, as the local
    :class:`SoftmaxRegression` (the same cost: mean log-loss plus l2/2 of the squared
    weights, intercepts not penalised)."""
    from pyspark.ml.classification import LogisticRegression

    classifier = SoftmaxRegression()
    classes = np.unique(labels)
    classifier.classes_ = classes
    classifier.n_features_in_ = n_movies
    if len(classes) == 1:
        classifier.coef_, classifier.intercept_ = np.zeros((1, n_movies)), np.zeros(1)
        classifier.n_iter_ = 0
        return classifier, 1.0
    frame = spark.createDataFrame(pd.DataFrame({"u": np.arange(len(labels)),
                                                "label": labels.astype(np.float64)}))
    data = vectors.join(frame, "u")
    model = LogisticRegression(family="multinomial", regParam=classifier.l2, elasticNetParam=0.0,
                               standardization=False, maxIter=classifier.max_iter,
                               tol=classifier.tol, fitIntercept=True).fit(data)
    classifier.coef_ = model.coefficientMatrix.toArray()
    classifier.intercept_ = model.interceptVector.toArray()
    classifier.n_iter_ = int(model.summary.totalIterations)
    return classifier, float(model.summary.accuracy)


def _ease(over, counts: np.ndarray, n_ratings: int, ranker: EASE) -> EASE:
    """EASE from the Gram matrix of its modelled movies, summed over the blocks (each block's
    :func:`gram_matrix`, weighted by age from the newest ratings of all when the ranker has a
    half-life: :func:`reference_time`), then inverted on the driver."""
    ranker.choose_items(counts)
    items, scheme, half_life = ranker.items_, ranker.scheme, ranker.half_life
    if half_life is not None:
        newest = _reference_time(over, n_ratings, lambda block: block.T.data - 1.0)

    def gram(block):
        C = confidence(block.X, scheme)
        if half_life is not None and C.nnz:
            C.data *= age_weights(block.T.data - 1.0, newest, half_life)
        return {"gram": gram_matrix(C[:, items].astype(np.float32))}

    ranker.fit_gram(summed(over(gram), "gram"))
    return ranker


def _reference_time(over, n_ratings: int, times_of) -> float:
    """:func:`reference_time` of the ``times_of(block)`` of every block, of which there are
    at most ``n_ratings``: each block sends only its newest."""
    k = newest_rank(n_ratings)

    def newest(block):
        times = times_of(block)
        return {"newest": np.sort(times)[-k:], "n": np.array([len(times)])}

    parts = over(newest)
    return reference_time(np.concatenate([part["newest"] for part in parts]),
                          int(summed(parts, "n")[0]))


def _choose_ease(snapshot, over, ranker: EASE, grid: dict, seed: int, n_ratings: int
                 ) -> tuple[dict, list[dict], int]:
    """:func:`shared.recsys.models.tuning.tune` of ``ranker`` over ``grid`` on the temporal
    validation split a local retrain makes (the latest ``VALIDATION_SHARE`` of the ratings):
    one Gram matrix of the earlier ratings per half-life, summed over the blocks, and the
    lists of at most ``MAX_VALIDATION_USERS`` validation users scored on the driver."""
    from shared.recsys.models.tuning import VALIDATION_SHARE, Validation, choose

    unknown = set(grid) - set(CHOSEN_ON_SPARK)
    if unknown:
        raise ValueError(f"the Spark engine chooses only {', '.join(CHOSEN_ON_SPARK)}, "
                         f"not {', '.join(sorted(unknown))}")
    times = snapshot.filter("rating > 0").select("ts")
    n = times.count()
    cut = nth_smallest(times, "ts", min(int(round((1 - VALIDATION_SHARE) * n)), n - 1))

    def split(block):
        X = block.X
        ts = block.T.data - 1.0
        return X, ts, ts < cut, np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))

    def earlier(block):
        X, ts, fit, _ = split(block)
        return {"counts": np.bincount(X.indices[fit], minlength=X.shape[1])}

    counts = summed(over(earlier), "counts")
    def earlier_times(block):
        _, ts, fit, _ = split(block)
        return ts[fit]

    newest = _reference_time(over, n_ratings, earlier_times)
    known_movies = counts > 0
    items = EASE(max_items=ranker.max_items).choose_items(counts).items_
    half_lives = list(grid.get("half_life", [ranker.half_life]))
    scheme = ranker.scheme

    def fit_part(block, weights_of=None):
        X, ts, fit, rows = split(block)
        data = confidence(X, scheme).data[fit]
        if weights_of is not None:
            data = data * weights_of(ts[fit])
        return sp.csr_matrix((data, (rows[fit], X.indices[fit])), shape=X.shape)

    def measured(block):
        X, ts, fit, rows = split(block)
        known_user = np.zeros(X.shape[0], dtype=bool)
        known_user[rows[fit]] = True
        return ~fit & known_user[rows] & known_movies[X.indices] & (X.data >= 4.0), rows

    def grams(block):
        out = {}
        for j, half_life in enumerate(half_lives):
            weights_of = None if half_life is None else (
                lambda t, h=half_life: age_weights(t, newest, h))
            out[f"gram{j}"] = gram_matrix(fit_part(block, weights_of)[:, items]
                                          .astype(np.float32))
        relevant, rows = measured(block)
        out["evaluable"] = block.users[np.unique(rows[relevant])]
        return out

    parts = over(grams)
    all_grams = [summed(parts, f"gram{j}") for j in range(len(half_lives))]
    evaluable = np.sort(np.concatenate([part["evaluable"] for part in parts]))
    if len(evaluable) > MAX_VALIDATION_USERS:
        evaluable = np.sort(np.random.default_rng(seed).choice(
            evaluable, MAX_VALIDATION_USERS, replace=False))

    def rows_of_sample(block):
        mine = np.flatnonzero(np.isin(block.users, evaluable))
        relevant, rows = measured(block)
        R = sp.csr_matrix((np.ones(relevant.sum()), (rows[relevant],
                                                     block.X.indices[relevant])),
                          shape=block.X.shape)
        F, R = fit_part(block)[mine], R[mine]
        return {"sampled": block.users[mine], "fit_indptr": F.indptr, "fit_indices": F.indices,
                "fit_data": F.data, "rel_indptr": R.indptr, "rel_indices": R.indices}

    parts = [part for part in over(rows_of_sample) if len(part["sampled"])]
    order = np.argsort(np.concatenate([part["sampled"] for part in parts]))
    n_movies = len(counts)
    train = sp.vstack([sp.csr_matrix((p["fit_data"], p["fit_indices"], p["fit_indptr"]),
                                     shape=(len(p["sampled"]), n_movies)) for p in parts]
                      ).tocsr()[order]
    relevant = sp.vstack([sp.csr_matrix((np.ones(len(p["rel_indices"])), p["rel_indices"],
                                         p["rel_indptr"]), shape=(len(p["sampled"]), n_movies))
                          for p in parts]).tocsr()[order]

    def fit(model: EASE) -> None:
        model.choose_items(counts)
        model.fit_gram(all_grams[half_lives.index(model.half_life)].copy())
        model.user_feedback_ = train

    chosen, table = choose(ranker, grid, Validation(train, relevant, int(relevant.nnz)),
                           fit=fit)
    return chosen, table, len(evaluable)


def _exploration(over, ranker: EASE, counts: np.ndarray, coverage: float, n_users: int):
    """:func:`shared.recsys.pipeline.fit_exploration` with the users on the executors: each
    block lists its users as they are served and, with the explorer fitted from a Gram
    matrix summed like the ranker's, finds its candidates; the driver hears every user's ten
    movies and each movie's ``CANDIDATES_PER_MOVIE`` cheapest users, and gives the places."""
    from shared.recsys.models.exploration import Exploration
    from shared.recsys.pipeline import ranker_lists

    exploration = Exploration(coverage=coverage, n_jobs=1)  # Spark runs the tasks side by side

    def lists(block):
        C = confidence(block.X, ranker.scheme)
        return {"lists": ranker_lists(ranker, block.X, block.F,
                                      lambda rows: ranker.candidate_scores_of(C[rows]),
                                      n_jobs=1)}

    every_list = per_user(over(lists), "lists", n_users, fill=-1).astype(np.int64)
    shown = np.bincount(every_list[every_list >= 0], minlength=len(counts))
    rated = counts  # the explorer's 'signed' feedback keeps every rating
    if not exploration.falls_short(shown, rated):
        return exploration.fit_candidates(every_list, rated, None)
    explorer = exploration.explorer().choose_items(counts)
    items, scheme = explorer.items_, explorer.scheme
    explorer.fit_gram(summed(over(lambda block: {"gram": gram_matrix(
        confidence(block.X, scheme)[:, items].astype(np.float32))}), "gram"))

    def candidates(block):
        users, movies, costs = exploration.candidates(explorer, block.X, block.users, shown,
                                                      rated)
        keep = _cheapest_per_movie(movies, costs, CANDIDATES_PER_MOVIE)
        return {"users_": users[keep], "movies": movies[keep], "costs": costs[keep]}

    parts = over(candidates)
    users, movies, costs = (np.concatenate([part[name] for part in parts])
                            for name in ("users_", "movies", "costs"))
    keep = _cheapest_per_movie(movies, costs, CANDIDATES_PER_MOVIE)
    return exploration.fit_candidates(every_list, rated, (users[keep], movies[keep], costs[keep]))


def _cheapest_per_movie(movies: np.ndarray, costs: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` cheapest entries of each movie."""
    order = np.lexsort((costs, movies))
    sorted_movies = movies[order]
    first = np.searchsorted(sorted_movies, sorted_movies, side="left")
    return np.sort(order[np.arange(len(order)) - first < m])
