"""The contract of the estimators that rank movies (top-N lists) instead of predicting ratings,
explicit ratings turned into implicit feedback, and the most-popular floor.

A ranking estimator takes the same input as every estimator here (users x movies CSR of explicit
ratings 0.5..5, see :mod:`shared.recsys.models.base`) and returns scores whose only meaning is
their order within a user's row: higher is better, and a score is not a rating.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from shared.recsys.models.base import as_ratings
from shared.recsys.ratings import FAVOURITE_RATING, RATING_MAX

# How the ratings become implicit feedback; see :func:`confidence`.
SCHEMES = ("binary", "rating", "liked", "signed")
# "liked"/"signed": what a watched but not liked movie counts, against a favourite's 1.
WEAK_POSITIVE = 0.5
# "signed": ratings below this say "not for me" and count NEGATIVE.
DISLIKED_BELOW = 3.0
NEGATIVE = -0.5


def confidence(X, scheme: str = "binary") -> sp.csr_matrix:
    r"""Explicit ratings ``X`` as implicit feedback: a CSR matrix with the same stored entries,
    whose sign is the preference (positive: the user wants such movies; negative: does not)
    and whose magnitude is the confidence in it (:func:`confidence_values` of each rating).
    """
    X = as_ratings(X)
    return sp.csr_matrix((confidence_values(X.data, scheme), X.indices.copy(), X.indptr.copy()),
                         shape=X.shape)


def confidence_values(ratings: np.ndarray, scheme: str = "binary") -> np.ndarray:
    r"""The implicit feedback of each of the explicit ``ratings`` (0.5..5):

    ============  ==========================================================================
    ``binary``    every rating is 1: having rated a movie is the signal, its value is not
    ``rating``    :math:`r / 5`: a 5 counts 1, a 3 counts 0.6, a half star 0.1
    ``liked``     a favourite (:math:`r \ge 4`) counts 1, any lower rating ``WEAK_POSITIVE``
    ``signed``    as ``liked``, but ratings below ``DISLIKED_BELOW`` count ``NEGATIVE``
    ============  ==========================================================================
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    r = np.asarray(ratings, dtype=np.float64)
    if scheme == "binary":
        return np.ones_like(r)
    if scheme == "rating":
        return r / RATING_MAX
    values = np.where(r >= FAVOURITE_RATING, 1.0, WEAK_POSITIVE)
    if scheme == "signed":
        values[r < DISLIKED_BELOW] = NEGATIVE
    return values


def one_row(movies: np.ndarray, ratings: np.ndarray, n_movies: int) -> sp.csr_matrix:
    """One user's ratings as the 1 x ``n_movies`` CSR the estimators take (``movies``: distinct
    dense indices, increasing; ``ratings``: theirs)."""
    return sp.csr_matrix((np.asarray(ratings, dtype=np.float64), np.asarray(movies),
                          [0, len(movies)]), shape=(1, n_movies))


def best(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest ``scores``, highest first, leaving out ``-inf`` (what may
    not be recommended): one partial sort, then a sort of the few at or above the ``n``-th.
    Ties go by index, so the first ``n`` are the first ``n`` of any longer list (pages)."""
    take = min(len(scores), n)
    if take <= 0:
        return np.empty(0, dtype=np.int64)
    nth = np.partition(scores, len(scores) - take)[len(scores) - take]
    top = np.flatnonzero(scores >= nth)
    top = top[np.lexsort((top, -scores[top]))][:take]
    return top[scores[top] > -np.inf]


def strongest(contributions: np.ndarray) -> np.ndarray:
    """For each row of ``contributions`` (items x rated movies), the column that adds most, or
    -1 when none adds anything."""
    if contributions.size == 0:
        return np.full(len(contributions), -1, dtype=np.int64)
    columns = contributions.argmax(axis=1)
    added = contributions[np.arange(len(columns)), columns]
    return np.where(added > 0, columns, -1)


class TopNRecommender(BaseEstimator):
    """Base class of the estimators that rank movies for a user.

    Subclasses implement ``fit(X)``, ``score_users(users)`` and ``predict_unseen(X_new)``.
    There is deliberately no ``predict(users, items)``: the scores are not ratings, so an
    RMSE of them would mean nothing; rating predictions come from
    :class:`shared.recsys.models.base.RatingPredictor` estimators. ``predicts_ratings`` says
    so to the evaluation harness.
    """

    predicts_ratings = False

    def fit(self, X, y=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def score_users(self, users) -> np.ndarray:
        """Ranking scores of every movie for the fitted users ``users``: (len(users), n_movies)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def predict_unseen(self, X_new) -> np.ndarray:
        """Ranking scores of every movie for users from their current ratings ``X_new``
        (rows x n_movies CSR), without refitting: (rows, n_movies)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def score_one(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """One user's ``predict_unseen`` row, from the dense indices of the movies they rated
        (distinct, increasing) and their ratings: the request path, which subclasses make
        cheaper than a sparse matrix of one row."""
        return np.asarray(self.predict_unseen(one_row(movies, ratings, self.n_movies_)))[0]

    def top_one(self, movies: np.ndarray, ratings: np.ndarray, excluded: np.ndarray,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One user's ``n`` best movies, best first: what a request ranks.

        The user is given as they are live: ``movies``, the dense indices of every movie they
        rated or favoured (distinct; -1 for a movie outside the model), and ``ratings``, the
        rating of each (0 for a movie only favoured: no input). Returns their dense indices,
        never one of ``excluded`` (dense indices, -1 ignored: what the user rated or
        favoured) nor one scored ``-inf`` (outside the model); their scores; and for each,
        the position in ``movies`` of the rated movie that adds most to its score (-1 when
        none adds to it; a negative signal, a movie rated low, never does), which explains it
        ("because you rated ..."). Subclasses make it cheaper than scoring every movie."""
        rated = np.flatnonzero((movies >= 0) & (ratings > 0))
        rated = rated[np.argsort(movies[rated])]  # score_one and contributions take them so
        scores = self.score_one(movies[rated], ratings[rated])
        scores[excluded[excluded >= 0]] = -np.inf
        top = best(scores, n)
        because = strongest(self.contributions(movies[rated], ratings[rated], top))
        return top, scores[top], np.append(rated, -1)[because]  # (-1 reads the appended -1)

    def can_rank(self, movies: np.ndarray, ratings: np.ndarray) -> bool:
        """Whether a user given as :meth:`top_one` takes them rated a movie the model reads:
        without one, their scores say nothing of them."""
        return bool(((movies >= 0) & (ratings > 0)).any())

    def contributions(self, movies: np.ndarray, ratings: np.ndarray, items) -> np.ndarray:
        """How much each movie one user rated adds to the scores of ``items``: an array
        (len(items), len(movies)), the user given as in :meth:`score_one`. It explains a list
        ("because you rated ...")."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _check_movies(self, X_new, n_movies: int) -> sp.csr_matrix:
        X_new = as_ratings(X_new)
        if X_new.shape[1] != n_movies:
            raise ValueError(f"X_new has {X_new.shape[1]} movies, the model {n_movies}")
        return X_new


class MostPopular(TopNRecommender):
    r"""The same list for everyone: movies by their total implicit feedback in training,

    .. math:: s_{ui} = \sum_v c_{vi}

    with :math:`c` from :func:`confidence`; with ``scheme='binary'`` (the default) a movie's
    score is its number of ratings. The floor any personal ranking must beat.

    Parameters
    ----------
    scheme : {'binary', 'rating', 'liked', 'signed'}
        How a rating counts, as in :func:`confidence`.

    Attributes
    ----------
    popularity_ : ndarray (n_movies,), the scores
    """

    def __init__(self, scheme: str = "binary"):
        self.scheme = scheme

    def fit(self, X, y=None):
        C = confidence(X, self.scheme)
        self.popularity_ = np.asarray(C.sum(axis=0), dtype=np.float64).ravel()
        return self

    @property
    def n_movies_(self) -> int:
        return len(self.popularity_)

    def score_users(self, users) -> np.ndarray:
        n = len(np.atleast_1d(users))
        return np.tile(self.popularity_, (n, 1))

    def predict_unseen(self, X_new) -> np.ndarray:
        X_new = self._check_movies(X_new, len(self.popularity_))
        return np.tile(self.popularity_, (X_new.shape[0], 1))

    def score_one(self, movies: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        return self.popularity_.copy()

    def contributions(self, movies: np.ndarray, ratings: np.ndarray, items) -> np.ndarray:
        """Nothing the user rated changes a popularity score."""
        return np.zeros((len(items), len(movies)))
