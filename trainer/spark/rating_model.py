"""The rating models fitted on Spark to the state their own ``fit`` reaches locally.

Each fit passes over the blocks of whole users (:mod:`trainer.spark.blocks`) and brings back
only one side's parameters or sums over users:

- :class:`BaselinePredictor`: its alternating sweeps, one pass each;
- :class:`BiasedMF`: its alternating least squares. Each half-sweep is the local
  :class:`RidgeRows` solve: the movies' on a copy of the ratings grouped by movie, the users'
  on the blocks, the other side's factors sent to every task (MLlib's ALS sends blocks of
  factors the same way);
- :class:`ItemKNN`: its similarities by groups of movies, each user's residuals joined to
  the groups of the movies they rated, each group's neighbours found by the local code on
  the users who rated its movies; only the kept neighbours reach the driver;
- :class:`Blend`: its members fitted without the ratings it holds out (the very ratings the
  local fit holds out), their predictions of those made on the blocks, the weights on the
  driver, then the members fitted on all the ratings.

A fitted :class:`ItemKNN` keeps no training residuals here (``user_residuals_`` has no rows),
as a stored version keeps none: a version scores users from their live ratings, and the
engine measures it from the training ratings on the executors
(:meth:`shared.recsys.models.base.RatingPredictor.predict_unseen_at`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from shared.recsys.blas import one_blas_thread
from shared.recsys.models.baseline import BaselinePredictor
from shared.recsys.models.blend import Blend
from shared.recsys.models.item_knn import SIMILARITIES, GramBlocks, ItemKNN
from shared.recsys.models.svd import BiasedMF, RidgeRows, with_unit_column
from shared.recsys.persist import from_npz_bytes, to_npz_bytes
from shared.recsys.ratings import RATING_MAX, RATING_MIN
from shared.recsys.vocabulary import Vocabulary
from trainer.spark.blocks import (
    ARRAYS_SCHEMA,
    Block,
    over_blocks,
    partition_block,
    per_user,
    shipped,
    summed,
)

FITTED_ON_SPARK = (BaselinePredictor, BiasedMF, ItemKNN, Blend)
BY_MOVIE_SCHEMA = "i int, u int, r double"
BY_GROUP_SCHEMA = "g int, u int, i int, e double"


class Ratings:
    """The ratings a fit sees: each block's ``block.X`` (every user's training ratings), or
    the part of it ``part(block)`` keeps, over the snapshot DataFrame ``data``."""

    def __init__(self, data, users: np.ndarray, movies: Vocabulary,
                 part: Callable[[Block], sp.csr_matrix] | None = None):
        self.data, self.users, self.movies = data, users, movies
        self.n_users, self.n_items = len(users), len(movies)
        self.part = part or _all_of
        self._baseline: BaselinePredictor | None = None

    def over(self, fn: Callable[[Block, sp.csr_matrix], dict]) -> list[dict]:
        """``fn(block, ratings)`` of every block, on the driver (:func:`over_blocks`)."""
        part = self.part
        return over_blocks(self.data, lambda block: fn(block, part(block)), self.users,
                           self.movies)

    def frame(self, fn: Callable[[Block, sp.csr_matrix], pd.DataFrame], schema: str):
        """A DataFrame of the rows ``fn(block, ratings)`` makes of every block."""
        part, users, ids = self.part, self.users, self.movies.ids

        def task(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            block = partition_block(batches, users, ids)
            if block is not None:
                yield fn(block, part(block))

        return self.data.mapInPandas(task, schema)

    def without(self, held: Callable[[Block, sp.csr_matrix], np.ndarray]) -> Ratings:
        """These ratings less those ``held`` marks (a mask over each block's entries)."""
        part = self.part

        def rest(block: Block) -> sp.csr_matrix:
            X = part(block)
            return _without(X, held(block, X))

        return Ratings(self.data, self.users, self.movies, rest)

    def baseline(self) -> BaselinePredictor:
        """The default :class:`BaselinePredictor` fitted on these ratings, once."""
        if self._baseline is None:
            self._baseline = fit_baseline(self, BaselinePredictor())
        return self._baseline


def _all_of(block: Block) -> sp.csr_matrix:
    return block.X


def _without(X: sp.csr_matrix, held: np.ndarray) -> sp.csr_matrix:
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    kept = ~held
    return sp.csr_matrix((X.data[kept], (rows[kept], X.indices[kept])), shape=X.shape)


def check_fitted_on_spark(model) -> None:
    """A ``ValueError`` naming the models this engine fits, before any work, when ``model``
    or one of its parts is another."""
    if type(model) not in FITTED_ON_SPARK:
        raise ValueError(f"the Spark engine fits the rating models "
                         f"{', '.join(cls.__name__ for cls in FITTED_ON_SPARK)}, "
                         f"not {type(model).__name__}")
    for part in [*getattr(model, "members", []), getattr(model, "baseline", None)]:
        if part is not None:
            check_fitted_on_spark(part)


def fit_rating_model(ratings: Ratings, model):
    """The unfitted ``model`` fitted on ``ratings``, to the state its own ``fit`` reaches on
    them; a ``ValueError`` naming the models this engine fits for any other."""
    if type(model) is BaselinePredictor:
        if model.get_params() == BaselinePredictor().get_params():
            return ratings.baseline()
        return fit_baseline(ratings, model)
    if type(model) is BiasedMF:
        return fit_biased_mf(ratings, model)
    if type(model) is ItemKNN:
        return fit_item_knn(ratings, model)
    check_fitted_on_spark(model)
    return fit_blend(ratings, model)


def _totals(ratings: Ratings) -> tuple[np.ndarray, int, float]:
    """Every movie's number of ratings, the number of ratings and their sum."""
    parts = ratings.over(lambda block, X: {
        "counts": np.bincount(X.indices, minlength=X.shape[1]),
        "n": np.array([X.nnz]), "sum": np.array([X.data.sum()])})
    return summed(parts, "counts"), int(summed(parts, "n")[0]), float(summed(parts, "sum")[0])


def fit_baseline(ratings: Ratings, model: BaselinePredictor) -> BaselinePredictor:
    """:class:`BaselinePredictor`'s alternating sweeps, a pass over the blocks each: a block
    computes its users' biases from the movie biases of the pass before and sends back its
    share of the movies' sums."""
    counts, n, total = _totals(ratings)
    mean = total / n if n else 3.5
    reg_user, reg_item = model.reg_user, model.reg_item

    def user_bias(X, item_bias):
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        if item_bias is None:
            return np.zeros(X.shape[0]), rows
        resid = X.data - mean - item_bias[X.indices]
        return (np.bincount(rows, resid, minlength=X.shape[0])
                / (reg_user + np.diff(X.indptr))), rows

    item_bias = None
    for _ in range(model.n_iter):
        def item_sums(block, X, item_bias=item_bias):
            b_u, rows = user_bias(X, item_bias)
            return {"sums": np.bincount(X.indices, X.data - mean - b_u[rows],
                                        minlength=X.shape[1])}
        item_bias = summed(ratings.over(item_sums), "sums") / (reg_item + counts)
    if item_bias is None:
        item_bias = np.zeros(ratings.n_items)
    final = item_bias
    model.global_mean_ = mean
    model.user_bias_ = per_user(ratings.over(lambda block, X: {"bias": user_bias(X, final)[0]}),
                                "bias", ratings.n_users)
    model.item_bias_ = item_bias
    return model


def fit_biased_mf(ratings: Ratings, model: BiasedMF) -> BiasedMF:
    """:meth:`BiasedMF.fit`'s sweeps: the movies solved on the ratings grouped by movie with
    every user's factors, then the users on their blocks with every movie's."""
    _, n, total = _totals(ratings)
    mean = total / n if n else (RATING_MIN + RATING_MAX) / 2
    k, n_users, n_items = model.n_factors, ratings.n_users, ratings.n_items
    rng = np.random.default_rng(model.random_state)
    user = np.column_stack([np.zeros(n_users), rng.normal(0.0, model.init_std, (n_users, k))])
    item = np.zeros((n_items, k + 1))

    def by_movie(block, X):
        X = X.tocoo()
        return pd.DataFrame({"i": X.col.astype(np.int32), "u": block.users[X.row].astype(np.int32),
                             "r": X.data})

    grouped = ratings.frame(by_movie, BY_MOVIE_SCHEMA).repartition(
        max(1, ratings.data.rdd.getNumPartitions()), "i").cache()
    try:
        for _ in range(model.n_iter):
            item = _solve_movies(grouped, user, model, mean, n_items)
            user = per_user(ratings.over(_users_solver(item, model, mean)), "solved", n_users)
    finally:
        grouped.unpersist()
    model.global_mean_ = mean
    model.user_bias_, model.user_factors_ = user[:, 0].copy(), np.ascontiguousarray(user[:, 1:])
    model.item_bias_, model.item_factors_ = item[:, 0].copy(), np.ascontiguousarray(item[:, 1:])
    return model


def _users_solver(item: np.ndarray, model: BiasedMF, mean: float):
    """The user half of a sweep on a block: its users' ridge regressions, the movies'
    ``(1, q_i)`` as their design."""
    def solve(block, X):
        with one_blas_thread():
            return {"solved": RidgeRows(X.indptr, X.indices).solve(
                X.data - mean - item[X.indices, 0], with_unit_column(item[:, 1:]),
                model.penalty(np.diff(X.indptr)))}

    return solve


def _solve_movies(grouped, user: np.ndarray, model: BiasedMF, mean: float,
                  n_items: int) -> np.ndarray:
    """The movie half of a sweep: each task solves its movies' ridge regressions, the users'
    ``(1, p_u)`` as their design."""
    def task(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rows = [batch for batch in batches if len(batch)]
        if not rows:
            return
        frame = pd.concat(rows, ignore_index=True).sort_values(["i", "u"], kind="stable")
        i, u, r = (frame[name].to_numpy() for name in ("i", "u", "r"))
        items, starts, counts = np.unique(i, return_index=True, return_counts=True)
        with one_blas_thread():
            solved = RidgeRows(np.append(starts, len(i)), u.astype(np.int64)).solve(
                r - mean - user[u, 0], with_unit_column(user[:, 1:]), model.penalty(counts))
        yield pd.DataFrame({"npz": [to_npz_bytes({"items": items, "solved": solved})]})

    item = np.zeros((n_items, user.shape[1]))
    for row in grouped.mapInPandas(task, ARRAYS_SCHEMA).collect():
        part = from_npz_bytes(row["npz"])
        item[part["items"]] = part["solved"]
    return item


def fit_item_knn(ratings: Ratings, model: ItemKNN) -> ItemKNN:
    """:meth:`ItemKNN.fit`: its baseline, then its similarities by groups of movies. Each
    user's residuals go to every group holding a movie they rated (a join on the movie's
    group: at most as many copies of a rating as there are groups), and the task of a group
    computes its movies' neighbours as the local fit does (:class:`GramBlocks` on the users
    who rated them), with every movie's norm summed over the blocks beforehand. Only the kept
    neighbours reach the driver."""
    if model.similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {model.similarity!r}")
    baseline = (ratings.baseline() if model.baseline is None
                else fit_rating_model(ratings, clone(model.baseline)))
    counts, _, _ = _totals(ratings)
    active = model.active_items(counts)
    n_active = len(active)
    chunks = model.item_chunks(n_active)
    model.baseline_ = baseline
    model.user_residuals_ = sp.csr_matrix((0, ratings.n_items))
    if not chunks:
        model.similarity_ = model.similarity_from([], active, ratings.n_items)
        model._build_derived_state()
        return model
    mean, user_bias, item_bias = baseline.global_mean_, baseline.user_bias_, baseline.item_bias_
    over_co_raters = model.similarity == "pearson_baseline"
    n_groups = max(1, min(len(chunks), ratings.data.rdd.getNumPartitions()))
    groups = np.array_split(np.arange(len(chunks)), n_groups)
    group_of = np.zeros(n_active, dtype=np.int32)
    for g, members in enumerate(groups):
        group_of[chunks[members[0]][0]:chunks[members[-1]][1]] = g

    def residuals(block, X) -> sp.csr_matrix:
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        E = sp.csr_matrix((X.data - mean - user_bias[block.users][rows] - item_bias[X.indices],
                           X.indices, X.indptr), shape=X.shape)
        return E[:, active].tocsr()

    def squares(block, X):
        E = residuals(block, X)
        return {"squares": np.asarray(E.multiply(E).sum(axis=0)).ravel()}

    norms = np.sqrt(summed(ratings.over(squares), "squares")).astype(np.float32)

    def to_groups(block, X) -> pd.DataFrame:
        E = residuals(block, X)
        rows = np.repeat(np.arange(E.shape[0]), np.diff(E.indptr))
        wanted = np.unique(rows.astype(np.int64) * n_groups + group_of[E.indices])
        user, group = wanted // n_groups, wanted % n_groups
        lengths = np.diff(E.indptr)[user]
        entry = np.repeat(E.indptr[user] - np.cumsum(lengths) + lengths, lengths) \
            + np.arange(lengths.sum())
        return pd.DataFrame({"g": np.repeat(group, lengths).astype(np.int32),
                             "u": block.users[np.repeat(user, lengths)].astype(np.int32),
                             "i": E.indices[entry].astype(np.int32), "e": E.data[entry]})

    def neighbours(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rows = [batch for batch in batches if len(batch)]
        if not rows:
            return
        frame = pd.concat(rows, ignore_index=True)
        for g, part in frame.groupby("g", sort=True):
            users = Vocabulary(part["u"].to_numpy())
            E = sp.csr_matrix((part["e"].to_numpy(), (users.index(part["u"].to_numpy()),
                                                      part["i"].to_numpy())),
                              shape=(len(users), n_active))
            products = GramBlocks(E, over_co_raters)
            found = [model.chunk_neighbours(products, norms, lo, hi)
                     for lo, hi in (chunks[c] for c in groups[int(g)])]
            yield pd.DataFrame({"npz": [to_npz_bytes({
                name: np.concatenate([f[j] for f in found])
                for j, name in enumerate(("rows", "cols", "vals"))})]})

    by_group = ratings.frame(to_groups, BY_GROUP_SCHEMA).repartition(n_groups, "g")
    parts = [from_npz_bytes(row["npz"])
             for row in by_group.mapInPandas(neighbours, ARRAYS_SCHEMA).collect()]
    model.similarity_ = model.similarity_from(
        [(part["rows"], part["cols"], part["vals"]) for part in parts], active, ratings.n_items)
    model._build_derived_state()
    return model


def fit_blend(ratings: Ratings, blend: Blend) -> Blend:
    """:meth:`Blend.fit` with its members fitted here: the ratings it holds out are those
    :meth:`Blend.held_out` numbers from each user's first rating in ``X``'s order, of the
    users :meth:`Blend.weight_users` chooses (none with its ``fixed_weights``)."""
    if not blend.keep_fixed_weights():
        _learn_weights(ratings, blend)
    blend.members_ = [fit_rating_model(ratings, clone(member)) for member in blend.members]
    return blend


def _learn_weights(ratings: Ratings, blend: Blend) -> None:
    counts = per_user(ratings.over(lambda block, X: {"n": np.diff(X.indptr)}), "n",
                      ratings.n_users).astype(np.int64)
    first = np.cumsum(counts) - counts
    sample = blend.weight_users(counts)

    def held(block, X) -> np.ndarray:
        per_row = np.diff(X.indptr)
        if not len(per_row):
            return np.zeros(0, dtype=bool)
        mask = np.concatenate([blend.held_out(int(first[u]), int(n))
                               for u, n in zip(block.users, per_row)])
        return mask if sample is None else mask & np.repeat(sample[block.users], per_row)

    def unused(block, X) -> np.ndarray:
        """The held-out ratings and those of the users outside the sample."""
        mask = held(block, X)
        if sample is None or not len(mask):
            return mask
        return mask | ~np.repeat(sample[block.users], np.diff(X.indptr))

    rest = ratings.without(unused)
    fitted = [shipped(fit_rating_model(rest, clone(member))) for member in blend.members]

    def features(block, X):
        mask = held(block, X)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[mask]
        X_rest = _without(X, mask)
        members = [load() for load in fitted]
        with one_blas_thread():
            predicted = [m.predict_unseen_at(X_rest, rows, X.indices[mask]) for m in members]
        return {"features": np.column_stack(predicted) if predicted else np.zeros((0, 0)),
                "ratings": X.data[mask]}

    parts = ratings.over(features)
    blend.fit_weights(np.vstack([part["features"] for part in parts]),
                      np.concatenate([part["ratings"] for part in parts]))
