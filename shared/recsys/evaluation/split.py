"""Train/test splits of a ratings frame, named by short strings (``random:0.8:0``, ``u1-u5``...).

A split spec turns data into :class:`Fold` objects: the training matrix an estimator is fitted on
and the held-out (user, movie, rating) triples it is measured on, all as dense indices of the
training vocabularies, so every model in a run sees exactly the same folds.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shared.recsys.ratings import rating_matrix, time_matrix
from shared.recsys.vocabulary import Vocabulary

ACCEPTED_FORMS = (
    "'u1-u5' (ml-100k's five predefined folds), 'u1'..'u5', 'ua', 'ub', "
    "'random:FRACTION:SEED', 'users:FRACTION:SEED' or 'temporal:FRACTION' "
    "(FRACTION = training share, strictly between 0 and 1; SEED = integer >= 0)"
)
ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


@dataclass
class Fold:
    """One train/test fold, in the dense indices of the training vocabularies.

    ``test_users`` are rows of ``train``, except under the ``users:`` protocol, where the test
    users are unknown to training: they are then rows of ``known`` (their revealed ratings, one
    row per test user over the training movies), which is what the estimator is shown through
    ``predict_unseen``; ``known_ts`` holds the time of each of those ratings (the same
    entries), for what depends on their order. ``dropped`` counts held-out ratings left out
    because their movie (or, outside ``users:``, their user) does not occur in training.
    """

    name: str
    train: sp.csr_matrix
    users: Vocabulary
    movies: Vocabulary
    test_users: np.ndarray
    test_items: np.ndarray
    test_ratings: np.ndarray
    known: sp.csr_matrix | None = None
    known_users: Vocabulary | None = None
    known_ts: sp.csr_matrix | None = None
    dropped: int = 0
    train_ts: sp.csr_matrix | None = None  # the time of each training rating (same entries)

    @property
    def validation_times(self) -> sp.csr_matrix | None:
        """The times a served version's hyper-parameters are chosen with: the training
        ratings' under the temporal protocol (the latest held out for validation), none under
        the others (a random share), so that each protocol is tuned on a validation split of
        its own kind."""
        return self.train_ts if self.name.startswith("temporal") else None

    @property
    def n_test(self) -> int:
        return len(self.test_ratings)

    @property
    def seen(self) -> sp.csr_matrix:
        """What each test row already rated (and so is never recommended): ``known`` or
        ``train``."""
        return self.train if self.known is None else self.known


def ratings_of(data) -> pd.DataFrame:
    """The ratings frame of ``data``: a frame or an object with ``.ratings`` (a loaded dataset)."""
    if isinstance(data, pd.DataFrame):
        return data
    if not hasattr(data, "ratings"):
        raise ValueError(f"expected a ratings frame or a loaded dataset, got {type(data).__name__}")
    return data.ratings


def _latest_rating_per_pair(ratings: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, movie), the latest by ``ts``, so a pair never sits on both sides."""
    if not ratings.duplicated(["user_id", "movie_id"]).any():
        return ratings.reset_index(drop=True)
    order = ratings.sort_values("ts", kind="stable") if "ts" in ratings else ratings
    return order.drop_duplicates(["user_id", "movie_id"], keep="last").reset_index(drop=True)


def fold_from_frames(name: str, train: pd.DataFrame, test: pd.DataFrame) -> Fold:
    """A fold whose test users are training rows; test pairs with an unknown user or movie are
    dropped."""
    X, users, movies = rating_matrix(train)
    train_ts = time_matrix(train, users, movies) if "ts" in train else None
    u = users.index(test["user_id"].to_numpy(), missing="negative")
    m = movies.index(test["movie_id"].to_numpy(), missing="negative")
    keep = (u >= 0) & (m >= 0)
    return Fold(
        name=name, train=X, users=users, movies=movies,
        test_users=u[keep], test_items=m[keep],
        test_ratings=test["rating"].to_numpy(dtype=np.float64)[keep],
        dropped=int((~keep).sum()), train_ts=train_ts,
    )


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"FRACTION must be strictly between 0 and 1, got {fraction}")


@dataclass(frozen=True)
class PredefinedFolds:
    """ml-100k's own folds (``u1.base``/``u1.test``...); averaged over. Their data is a function
    ``read_fold(name) -> (train, test)`` frames (``shared.data.movielens.ml100k_fold`` bound to the
    folder), so that splitting does no I/O of its own."""

    names: tuple[str, ...]

    @property
    def n_folds(self) -> int:
        return len(self.names)

    def __str__(self) -> str:
        return "u1-u5" if self.names == ML100K_FOLDS[:5] else ",".join(self.names)

    def folds(self, read_fold) -> Iterator[Fold]:
        if not callable(read_fold):
            raise ValueError(f"split {self} needs the ml-100k folder's folds (a function of the "
                             "fold's name), not a ratings frame")
        for name in self.names:
            train, test = read_fold(name)
            yield fold_from_frames(name, train, test)


@dataclass(frozen=True)
class RandomSplit:
    """A uniformly random ``fraction`` of all ratings trains; the rest is held out."""

    fraction: float
    seed: int

    n_folds = 1

    def __str__(self) -> str:
        return f"random:{self.fraction:g}:{self.seed}"

    def folds(self, data) -> Iterator[Fold]:
        ratings = _latest_rating_per_pair(ratings_of(data))
        order = np.random.default_rng(self.seed).permutation(len(ratings))
        n_train = int(round(self.fraction * len(ratings)))
        yield fold_from_frames(str(self), ratings.iloc[order[:n_train]],
                               ratings.iloc[order[n_train:]])


@dataclass(frozen=True)
class TemporalSplit:
    """Everything rated before the ``fraction`` quantile of ``ts`` trains; the latest ratings
    are held out.

    The cut is one global instant, so every held-out rating is strictly later than every training
    rating (ties at the cut all go to the test side).
    """

    fraction: float

    n_folds = 1

    def __str__(self) -> str:
        return f"temporal:{self.fraction:g}"

    def folds(self, data) -> Iterator[Fold]:
        ratings = _latest_rating_per_pair(ratings_of(data))
        ts = ratings["ts"].to_numpy()
        if len(ts) == 0:
            raise ValueError("no ratings to split")
        n_train = int(round(self.fraction * len(ts)))
        cut = np.sort(ts)[min(n_train, len(ts) - 1)]
        is_train = ts < cut
        yield fold_from_frames(str(self), ratings[is_train], ratings[~is_train])


@dataclass(frozen=True)
class UserSplit:
    """Seed 000's protocol: a ``fraction`` of the users train with all their ratings; each other
    user reveals a random half of their ratings (rounded up) and the other half is predicted."""

    fraction: float
    seed: int

    n_folds = 1

    def __str__(self) -> str:
        return f"users:{self.fraction:g}:{self.seed}"

    def folds(self, data) -> Iterator[Fold]:
        ratings = _latest_rating_per_pair(ratings_of(data))
        rng = np.random.default_rng(self.seed)
        all_users = np.unique(ratings["user_id"].to_numpy())
        shuffled = rng.permutation(all_users)
        n_train = int(round(self.fraction * len(all_users)))
        train_users = np.sort(shuffled[:n_train])
        is_train = np.isin(ratings["user_id"].to_numpy(), train_users)
        X, users, movies = rating_matrix(ratings[is_train])
        train_ts = time_matrix(ratings[is_train], users, movies) if "ts" in ratings else None

        held = ratings[~is_train]
        known_users = Vocabulary(held["user_id"].to_numpy())
        rows = known_users.index(held["user_id"].to_numpy())
        is_known = _random_half(rows, rng)
        cols = movies.index(held["movie_id"].to_numpy(), missing="negative")
        in_train = cols >= 0
        values = held["rating"].to_numpy(dtype=np.float64)

        k = is_known & in_train
        known = sp.csr_matrix((values[k], (rows[k], cols[k])),
                              shape=(len(known_users), len(movies)))
        known.sort_indices()
        known_ts = None
        if "ts" in held:
            known_ts = sp.csr_matrix((held["ts"].to_numpy(dtype=np.float64)[k],
                                      (rows[k], cols[k])), shape=known.shape)
            known_ts.sort_indices()
        t = ~is_known & in_train
        yield Fold(
            name=str(self), train=X, users=users, movies=movies,
            test_users=rows[t], test_items=cols[t], test_ratings=values[t],
            known=known, known_users=known_users, known_ts=known_ts,
            dropped=int((~is_known & ~in_train).sum()), train_ts=train_ts,
        )


def _random_half(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mask picking, within each group label, a random ceil(n/2) of its members."""
    order = np.lexsort((rng.random(len(groups)), groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    rank = np.arange(len(groups)) - np.repeat(starts, sizes)
    mask = np.empty(len(groups), dtype=bool)
    mask[order] = rank < np.repeat((sizes + 1) // 2, sizes)
    return mask


Split = PredefinedFolds | RandomSplit | TemporalSplit | UserSplit


def parse_split(text: str) -> Split:
    """The split spec written as ``text``; ``ValueError`` naming the accepted forms otherwise."""
    raw = text.strip().lower()
    if raw == "u1-u5":
        return PredefinedFolds(ML100K_FOLDS[:5])
    if raw in ML100K_FOLDS:
        return PredefinedFolds((raw,))
    kind, _, rest = raw.partition(":")
    parts = rest.split(":") if rest else []
    expected = {"random": 2, "users": 2, "temporal": 1}.get(kind)
    if expected is None or len(parts) != expected:
        raise ValueError(f"unknown split {text!r}; use {ACCEPTED_FORMS}")
    try:
        fraction = float(parts[0])
        seed = int(parts[1]) if expected == 2 else 0
    except ValueError:
        raise ValueError(f"cannot read split {text!r}; use {ACCEPTED_FORMS}") from None
    _check_fraction(fraction)
    if seed < 0:
        raise ValueError(f"SEED must be >= 0, got {seed}")
    if kind == "random":
        return RandomSplit(fraction, seed)
    if kind == "users":
        return UserSplit(fraction, seed)
    return TemporalSplit(fraction)
