"""The pipeline's models fitted on Spark: the same components as
:func:`shared.recsys.pipeline.fit_bundle`, each computed where it is cheapest.

On the executors, over blocks of whole users (:mod:`trainer.spark.blocks`): the movie counts,
the baseline's alternating sums, the taste vectors, the Gram matrix of the ranker's modelled
movies, the residuals; with MLlib: k-means for every k of the range and its silhouette
(``ClusteringEvaluator``), the softmax classifier (multinomial ``LogisticRegression``) and the
factorisation (``ALS``). On the driver: what is left from those, with the local estimators
(EASE's inverse, cluster fixing from the clusters' favourite counts, the similar movies from
the movie factors).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm

from shared.recsys.models import registry
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.cluster_fixing import closest_survivors, dissolve_small_clusters
from shared.recsys.models.ease import EASE, age_weights, gram_matrix
from shared.recsys.models.features import taste_vectors
from shared.recsys.models.k_selection import KScan
from shared.recsys.models.similarity import SimilarMovies
from shared.recsys.models.softmax import SoftmaxRegression
from shared.recsys.models.svd import BiasedMF
from shared.recsys.models.topn import confidence
from shared.recsys.persist import ModelBundle
from shared.recsys.pipeline import BundleConfig, FoundClusters, assemble_bundle
from shared.recsys.vocabulary import Vocabulary
from trainer.spark.blocks import over_blocks, per_user, summed

# MLlib's ALS on the baseline's residuals: its penalty grows with each user's and movie's
# number of ratings (ALS-WR), so the served fold-in is given the same (reg_exponent 1).
ALS_RANK = 32
ALS_REG = 0.1
ALS_ITERATIONS = 10
KMEANS_ITERATIONS = 100
VECTOR_SCHEMA = "u long, indices array<int>, values array<double>"


def fit_bundle_on_spark(spark, snapshot, movies: pd.DataFrame, config: BundleConfig,
                        master: str, progress: bool = True) -> ModelBundle:
    """Every model the service needs, fitted on the Spark DataFrame ``snapshot`` (whole users
    in each partition: :func:`trainer.spark.blocks.read_snapshot`) and the catalogue
    ``movies`` (with genres and tags for the similar movies)."""
    started = time.time()
    seconds: dict[str, float] = {}
    steps = tqdm(total=7, desc="training on spark", unit="step", disable=not progress)

    def step(name):
        steps.set_postfix_str(name)
        seconds[name] = time.perf_counter()

    def done(name):
        seconds[name] = round(time.perf_counter() - seconds[name], 3)
        steps.update(1)

    step("vocabularies")
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
    done("vocabularies")

    step("baseline")
    baseline = _baseline(over, summed(counted, "sum")[0] / max(n_ratings, 1), counts,
                         len(users))
    done("baseline")

    step("clusters")
    vectors = _taste_vectors(spark, snapshot, users, movie_vocab)
    clusters = _clusters(spark, vectors, over, config, len(users))
    done("clusters")

    step("recommender")
    recommender = _factorisation(spark, snapshot, over, baseline, users, movie_vocab)
    done("recommender")

    ranker = None
    if config.ranker:
        step("ranker")
        ranker = _ease(over, counts, latest_ts, registry.make(config.ranker))
        done("ranker")

    step("softmax")
    classifier, accuracy = _softmax(spark, vectors, clusters.labels, len(movie_vocab))
    vectors.unpersist()
    done("softmax")

    step("similar")
    by_id = movies.set_index("movie_id")
    text = (by_id["genres"].fillna("") + "|" + by_id["tags"].fillna("")).to_dict()
    similar = SimilarMovies().fit(recommender.item_factors_,
                                  [text.get(int(m), "") for m in movie_vocab.ids])
    done("similar")
    steps.close()
    return assemble_bundle(
        started, seconds, config, users, movie_vocab, n_ratings,
        int(summed(counted, "favourites")[0]), latest_ts, clusters,
        {"baseline": baseline, "recommender": recommender, "ranker": ranker,
         "softmax": classifier, "similar": similar},
        None, accuracy, engine={"name": "spark", "master": master,
                                "not_on_this_engine": _not_on_spark(config)})


def _not_on_spark(config: BundleConfig) -> list[str]:
    """What a local retrain of ``config`` does that this engine does not do yet."""
    missing = []
    if config.model != "svd":
        missing.append(f"the rating model is biased ALS, not {config.model!r}")
    if config.ranker and config.ranker_grid:
        missing.append("the ranker's hyper-parameters are the registry's, not re-chosen")
    if config.ranker and config.exploration_coverage > 0:
        missing.append("no exploration")
    return missing


def _ids(snapshot, column: str) -> np.ndarray:
    rows = snapshot.select(column).distinct().toPandas()
    return np.sort(rows[column].to_numpy().astype(np.int64))


def _baseline(over, mean: float, counts: np.ndarray, n_users: int) -> BaselinePredictor:
    """:class:`BaselinePredictor`'s alternating sweeps, a pass over the blocks each: a block
    computes its users' biases from the movie biases of the last pass and sends back its
    share of the movies' sums."""
    model = BaselinePredictor()
    reg_user, reg_item = model.reg_user, model.reg_item
    item_bias = None

    def user_bias(block, item_bias):
        X = block.X
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        if item_bias is None:
            return np.zeros(X.shape[0]), rows
        resid = X.data - mean - item_bias[X.indices]
        return (np.bincount(rows, resid, minlength=X.shape[0])
                / (reg_user + np.diff(X.indptr))), rows

    for _ in range(model.n_iter):
        def item_sums(block, item_bias=item_bias):
            b_u, rows = user_bias(block, item_bias)
            X = block.X
            return {"sums": np.bincount(X.indices, X.data - mean - b_u[rows],
                                        minlength=X.shape[1])}
        item_bias = summed(over(item_sums), "sums") / (reg_item + counts)
    final = over(lambda block: {"bias": user_bias(block, item_bias)[0]})
    model.global_mean_ = float(mean) if counts.sum() else 3.5
    model.user_bias_ = per_user(final, "bias", n_users)
    model.item_bias_ = item_bias
    return model


def _taste_vectors(spark, snapshot, users: Vocabulary, movies: Vocabulary):
    """(u, features): each user's :func:`taste_vectors` row as an MLlib sparse vector,
    cached."""
    from pyspark.ml.linalg import SparseVector, VectorUDT
    from pyspark.sql import functions as F

    ids, n_movies = movies.ids, len(movies)

    def task(batches):
        from trainer.spark.blocks import block_of

        rows = [batch for batch in batches if len(batch)]
        if not rows:
            return
        block = block_of(pd.concat(rows, ignore_index=True), users.ids, Vocabulary(ids))
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
    clusters' favourite counts and the moved users' favourites reach the driver."""
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator

    lo, hi = config.k_range
    hi = min(hi, n_users - 1)
    lo = min(lo, hi)
    evaluator = ClusteringEvaluator(metricName="silhouette", distanceMeasure="squaredEuclidean")
    ks, wcss, silhouettes, fitted = [], [], [], {}
    for k in range(lo, hi + 1):
        model = KMeans(k=k, seed=config.random_state + k, maxIter=KMEANS_ITERATIONS).fit(vectors)
        ks.append(k)
        wcss.append(model.summary.trainingCost)
        predictions = model.transform(vectors)
        silhouettes.append(evaluator.evaluate(predictions) if k > 1 else np.nan)
        fitted[k] = model
    wcss_array = np.array(wcss)
    scan = KScan(ks=np.array(ks), wcss=wcss_array, differences=-np.diff(wcss_array),
                 boundary=float(0.01 * wcss_array[0]), silhouettes=np.array(silhouettes),
                 models=())
    rule = str(config.k_rule)
    k = int(rule) if rule.isdigit() else scan.choose_k(rule)
    model = fitted.get(k) or KMeans(k=k, seed=config.random_state + k,
                                    maxIter=KMEANS_ITERATIONS).fit(vectors)
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


def _factorisation(spark, snapshot, over, baseline: BaselinePredictor, users: Vocabulary,
                   movies: Vocabulary) -> BiasedMF:
    """MLlib's ALS on what the baseline leaves, as a :class:`BiasedMF` (the baseline's
    biases, ALS's factors)."""
    from pyspark.ml.recommendation import ALS

    mean, user_bias, item_bias = baseline.global_mean_, baseline.user_bias_, baseline.item_bias_
    ids = movies.ids

    def residuals(batches):
        from trainer.spark.blocks import block_of

        rows = [batch for batch in batches if len(batch)]
        if not rows:
            return
        block = block_of(pd.concat(rows, ignore_index=True), users.ids, Vocabulary(ids))
        X = block.X.tocoo()
        u = block.users[X.row]
        yield pd.DataFrame({"u": u.astype(np.int32), "i": X.col.astype(np.int32),
                            "r": X.data - mean - user_bias[u] - item_bias[X.col]})

    data = snapshot.mapInPandas(residuals, "u int, i int, r double")
    als = ALS(rank=ALS_RANK, maxIter=ALS_ITERATIONS, regParam=ALS_REG, userCol="u",
              itemCol="i", ratingCol="r", seed=0, nonnegative=False, implicitPrefs=False)
    model = als.fit(data)
    model_mf = BiasedMF(n_factors=ALS_RANK, reg=ALS_REG, reg_bias=ALS_REG, reg_exponent=1.0,
                        n_iter=ALS_ITERATIONS)
    model_mf.global_mean_ = float(mean)
    model_mf.user_bias_, model_mf.item_bias_ = user_bias, item_bias
    model_mf.user_factors_ = _factors(model.userFactors, len(users))
    model_mf.item_factors_ = _factors(model.itemFactors, len(movies))
    return model_mf


def _factors(frame, n: int) -> np.ndarray:
    """ALS's (id, features) rows as an n x rank array (zeros for an id it never saw)."""
    rows = frame.toPandas()
    out = np.zeros((n, ALS_RANK))
    if len(rows):
        out[rows["id"].to_numpy()] = np.vstack(rows["features"].to_numpy())
    return out


def _ease(over, counts: np.ndarray, latest_ts: int, ranker: EASE) -> EASE:
    """EASE from the Gram matrix of its modelled movies, summed over the blocks (each block's
    :func:`gram_matrix`, weighted by age from the newest rating of all when the ranker has a
    half-life), then inverted on the driver."""
    ranker.choose_items(counts)
    items, scheme, half_life = ranker.items_, ranker.scheme, ranker.half_life

    def gram(block):
        C = confidence(block.X, scheme)
        if half_life is not None and C.nnz:
            C.data *= age_weights(block.T.data - 1.0, latest_ts, half_life)
        return {"gram": gram_matrix(C[:, items].astype(np.float32))}

    ranker.fit_gram(summed(over(gram), "gram"))
    # the training matrix stays with Spark: a version fitted here scores live ratings only
    ranker.user_feedback_ = sp.csr_matrix((0, ranker.n_movies_))
    return ranker
