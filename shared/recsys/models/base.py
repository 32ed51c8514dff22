"""The contract every rating estimator in ``shared.recsys.models`` follows.

Input is always a users x movies ``scipy.sparse.csr_matrix`` of explicit ratings on the
0.5..5 scale, where a stored entry is a rating and an absent entry is "not rated"
(ratings are never 0, so there is no ambiguity). Row and column numbers are the dense
indices of :class:`shared.recsys.vocabulary.Vocabulary`; estimators never see external ids.

Estimators follow scikit-learn: hyper-parameters in ``__init__`` (stored unchanged),
``fit`` returns ``self``, learned state in attributes ending in ``_``, no I/O inside.
"""
from __future__ import annotations

import inspect

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from shared.recsys.ratings import RATING_MAX, RATING_MIN


def fit_with_times(estimator, X, times: sp.csr_matrix | None):
    """``estimator.fit(X)``, with the ratings' ``times`` (the same entries as ``X``) when there
    are some and its ``fit`` takes them (the estimators whose hyper-parameters weigh ratings by
    age); returns what ``fit`` returns."""
    if times is not None and "times" in inspect.signature(estimator.fit).parameters:
        return estimator.fit(X, times=times)
    return estimator.fit(X)


def without_training_rows(estimator):
    """``estimator`` (and a blend's members) with the per-user training matrices it keeps
    for ``score_users`` of its fitted users (its class's ``training_rows``) emptied: a served
    version scores every user from their live ratings, so those would be the size of the
    data, in every process that loads the version, for nothing."""
    for est in [estimator, *getattr(estimator, "members_", [])]:
        for name in getattr(est, "training_rows", ()):
            matrix = getattr(est, name, None)
            if matrix is not None:
                setattr(est, name, sp.csr_matrix((0, matrix.shape[1]), dtype=matrix.dtype))
    return estimator


def as_ratings(X) -> sp.csr_matrix:
    """Return ``X`` as a float64 CSR matrix with sorted indices and no stored zeros."""
    X = sp.csr_matrix(X, dtype=np.float64)
    X.eliminate_zeros()
    X.sort_indices()
    return X


class RatingPredictor(BaseEstimator):
    """Base class of the estimators that predict ratings.

    Subclasses implement ``fit(X)`` and ``score_users(users)``; ``predict`` and
    ``predict_unseen`` have generic fall-backs that subclasses may make faster.
    """

    def fit(self, X, y=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def score_users(self, users) -> np.ndarray:
        """Predicted ratings of every movie for the fitted users ``users``:
        (len(users), n_movies)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for the pairs (users[j], items[j]), clipped to 0.5..5."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.empty(len(users), dtype=np.float64)
        for u in np.unique(users):
            mask = users == u
            out[mask] = self.score_users([u])[0, items[mask]]
        return np.clip(out, RATING_MIN, RATING_MAX)

    def predict_unseen(self, X_new) -> np.ndarray:
        """Predicted ratings of every movie for users not seen in ``fit``, from their known
        ratings ``X_new`` (rows x n_movies CSR). Used by the ``users:`` protocol and for new
        users online."""
        raise NotImplementedError(f"{type(self).__name__} cannot score unseen users")

    def predict_unseen_at(self, X_new, rows, items) -> np.ndarray:
        """Predicted ratings at the pairs (rows[j], items[j]) for users not seen in ``fit``
        (row ``rows[j]`` of ``X_new`` holds their known ratings), clipped to 0.5..5: what
        ``predict`` gives a fitted user, for users whose ratings live elsewhere (an engine's
        executors, the live store)."""
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.empty(len(rows), dtype=np.float64)
        X_new = as_ratings(X_new)
        for row in np.unique(rows):
            mask = rows == row
            out[mask] = np.asarray(self.predict_unseen(X_new[row]))[0, items[mask]]
        return np.clip(out, RATING_MIN, RATING_MAX)
