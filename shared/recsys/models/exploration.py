"""Widening what the whole population is shown: aggregate diversity, chosen at retrain time.

One user's list cannot know which movies no other list shows; a pass over every user's list
can. This is the offline re-ranking of Adomavicius and Kwon ("Improving aggregate
recommendation diversity using ranking-based techniques", IEEE TKDE 2012, and its
graph-theoretic sequel, 2011), solved greedily: each movie no list shows is given to the user
for whom it costs least, in place of a movie other lists still show.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator

from shared.recsys.models.ease import EASE
from shared.recsys.models.topn import confidence

TOP_N = 10
# Users scored at once: bounds the dense (users x movies) block of scores.
_USERS_PER_BLOCK = 2048


class Exploration(BaseEstimator):
    r"""For each user, a few movies that no list shows, each in place of one their list
    shares with other lists: the population's lists then name more of the catalogue, at the
    least cost to each list's quality.

    The lists explored are the served ranker's top ``TOP_N`` for every user of the training
    matrix (``fit(X, lists=...)``). An explorer, :class:`EASE` over the ``max_items`` most
    rated movies (every one of them a candidate), scores each user; its scores are divided by
    :math:`n_i^{\alpha}`, :math:`n_i` movie :math:`i`'s number of ratings and :math:`\alpha`
    ``popularity_exponent``, so that a movie few people rated can outrank a popular one of
    the same fit. A movie :math:`i` at rank :math:`r \le` ``window`` of user :math:`u`'s
    explored scores :math:`e_u` costs

    .. math::
        c_{ui} = \frac{e_{u,(10)} - e_{ui}}{e_{u,(1)} - e_{u,(10)}}

    (:math:`e_{u,(k)}` the user's :math:`k`-th best): how far below their tenth it falls, in
    units of the spread of their top ten; negative for a movie the explorer puts in their top
    ten that the ranker did not. In increasing cost, each movie no list shows yet is given to
    its user, in the place of the lowest of the user's last ``max_per_user`` places that is
    not given yet and whose movie another list also shows (so nothing leaves the screens);
    until the lists show ``coverage`` of the movies with a rating, or no pair is left.

    Parameters
    ----------
    coverage : float
        The share of the rated movies the lists should show together (coverage@10); 0 turns
        exploration off. On ml-latest-small 0.1 doubles it at no measured cost to nDCG@10,
        0.16 triples it for 2 % (docs/topn-benchmark.md, "Exploration").
    max_per_user : int
        The most places of one list that may be given (its last ones).
    window : int
        The explored ranks of a user a movie may be given from.
    l2, max_items, scheme
        The explorer's :class:`EASE`. A larger penalty than the ranker's and more movies:
        chosen on ml-latest-small for the least nDCG lost per movie shown.
    popularity_exponent : float
        :math:`\alpha` above: 0 explores the popular movies first, larger values the rarer.
    n_jobs : int
        Threads scoring blocks of users in :meth:`candidates` (-1: one per core); the result
        does not depend on it.

    Attributes
    ----------
    indptr_ : ndarray (n_users + 1,), user ``u``'s pairs at ``indptr_[u]:indptr_[u + 1]``
    movies_ : ndarray, int32, the movies given, in the order given
    replaces_ : ndarray, int32, the movie of the list each one replaces
    costs_ : ndarray, float32, :math:`c_{ui}` of each
    coverage_before_, coverage_after_ : float, the lists' coverage without and with them
    """

    def __init__(self, coverage: float = 0.1, max_per_user: int = 5, window: int = 100,
                 l2: float = 200.0, max_items: int = 4000, scheme: str = "signed",
                 popularity_exponent: float = 0.25, n_jobs: int = -1):
        self.coverage = coverage
        self.max_per_user = max_per_user
        self.window = window
        self.l2 = l2
        self.max_items = max_items
        self.scheme = scheme
        self.popularity_exponent = popularity_exponent
        self.n_jobs = n_jobs

    def fit(self, X, y=None, lists=None):
        """``lists``: (n_users, ``TOP_N``) the served ranker's list of each user of ``X``, as
        movie indices, -1 past the end of a shorter one."""
        self._check()
        X = sp.csr_matrix(X)
        lists = np.asarray(lists, dtype=np.int64)
        if lists.shape != (X.shape[0], TOP_N):
            raise ValueError(f"lists must be (n_users, {TOP_N}), got {lists.shape}")
        rated = np.bincount(confidence(X, self.scheme).indices, minlength=X.shape[1])
        shown = np.bincount(lists[lists >= 0], minlength=X.shape[1])
        candidates = None
        if self.falls_short(shown, rated):
            explorer = self.explorer().fit(X)
            candidates = self.candidates(explorer, X, np.arange(X.shape[0]), shown, rated)
        return self.fit_candidates(lists, rated, candidates)

    def explorer(self) -> EASE:
        """The unfitted explorer (its Gram matrix may be computed elsewhere: on Spark)."""
        return EASE(l2=self.l2, scheme=self.scheme, max_items=self.max_items,
                    max_candidates=self.max_items)

    def fit_candidates(self, lists: np.ndarray, rated: np.ndarray,
                       candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                       ) -> Exploration:
        """The second half of :meth:`fit`, for an engine that found the candidates elsewhere
        (:meth:`candidates` of blocks of users): every user's ``lists``, each movie's number
        of ratings ``rated``, and the (user, movie, cost) ``candidates`` (None: none
        needed)."""
        self._check()
        lists = np.asarray(lists, dtype=np.int64)
        n_rated = int(np.count_nonzero(rated))
        shown = np.bincount(lists[lists >= 0], minlength=len(rated))
        self.coverage_before_ = float(np.count_nonzero(shown)) / max(n_rated, 1)
        pairs = np.empty((0, 4))
        if candidates is not None and self.falls_short(shown, rated):
            pairs = self._give(lists, shown.copy(), candidates,
                               int(np.ceil(self.coverage * n_rated)))
        users = pairs[:, 0].astype(np.int64)
        order = np.argsort(users, kind="stable")
        self.indptr_ = np.concatenate([[0], np.cumsum(np.bincount(users,
                                                                  minlength=len(lists)))])
        self.movies_ = pairs[order, 1].astype(np.int32)
        self.replaces_ = pairs[order, 2].astype(np.int32)
        self.costs_ = pairs[order, 3].astype(np.float32)
        self.coverage_after_ = (float(np.count_nonzero(shown)) + len(pairs)) / max(n_rated, 1)
        return self

    def for_user(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(movies given, the movies they replace) of the training user at index ``user``."""
        lo, hi = self.indptr_[user], self.indptr_[user + 1]
        return self.movies_[lo:hi], self.replaces_[lo:hi]

    def _check(self) -> None:
        if not 0.0 <= self.coverage < 1.0:
            raise ValueError(f"coverage must be in [0, 1), got {self.coverage}")
        if not 1 <= self.max_per_user <= TOP_N:
            raise ValueError(f"max_per_user must be 1 to {TOP_N}, got {self.max_per_user}")
        if self.window <= TOP_N:
            raise ValueError(f"window must exceed {TOP_N}, got {self.window}")

    def falls_short(self, shown: np.ndarray, rated: np.ndarray) -> bool:
        """Whether lists showing each movie ``shown`` times cover less than ``coverage`` of
        the movies rated (``rated``: each movie's number of ratings)."""
        n_rated = int(np.count_nonzero(rated))
        return n_rated > 0 and self.coverage > float(np.count_nonzero(shown)) / n_rated

    def _give(self, lists: np.ndarray, shown: np.ndarray, candidates, target: int
              ) -> np.ndarray:
        """(user, movie, replaced movie, cost) of each place given, in the order given."""
        users, movies, costs = candidates
        listed = (lists[users] >= 0).any(axis=1)  # a user without a list has no place to give
        users, movies, costs = users[listed], movies[listed], costs[listed]
        lists = lists.copy()
        given = np.zeros(lists.shape, dtype=bool)
        lowest = TOP_N - self.max_per_user
        n_shown = int(np.count_nonzero(shown))
        out = []
        for j in np.argsort(costs, kind="stable"):
            if n_shown >= target:
                break
            u, i = users[j], movies[j]
            if shown[i]:
                continue
            for place in range(TOP_N - 1, lowest - 1, -1):
                if not given[u, place] and lists[u, place] >= 0 and shown[lists[u, place]] >= 2:
                    break
            else:
                continue
            replaced = lists[u, place]
            shown[replaced] -= 1
            shown[i] += 1
            lists[u, place] = i
            given[u, place] = True
            n_shown += 1
            out.append((u, i, replaced, costs[j]))
        return np.array(out, dtype=np.float64).reshape(-1, 4)

    def candidates(self, explorer: EASE, X: sp.csr_matrix, users: np.ndarray,
                   shown: np.ndarray, rated: np.ndarray):
        """(user, movie, cost) of every movie no list shows in the explored ``window`` of the
        users whose rows of the training matrix ``X`` are ``X`` (numbered ``users``), by the
        fitted ``explorer`` (scoring those rows, not its own)."""
        X = sp.csr_matrix(X)
        scale = np.maximum(rated, 1).astype(np.float64) ** -self.popularity_exponent
        columns = explorer.candidates_
        window = min(self.window, len(columns))
        C = confidence(X, explorer.scheme)

        def block_candidates(lo: int):
            block = np.arange(lo, min(lo + _USERS_PER_BLOCK, X.shape[0]))
            scores = explorer.candidate_scores_of(C[block]).astype(np.float64)
            scores *= scale[columns]
            seen = X[block][:, columns]
            scores[seen.nonzero()] = -np.inf
            top = np.argpartition(-scores, window - 1, axis=1)[:, :window]
            values = np.take_along_axis(scores, top, axis=1)
            ranked = np.sort(values, axis=1)[:, ::-1]
            tenth = ranked[:, min(TOP_N, window) - 1]
            spread = np.maximum(ranked[:, 0] - tenth, 1e-12)
            cost = (tenth[:, None] - values) / spread[:, None]
            keep = np.isfinite(cost) & (shown[columns[top]] == 0)
            rows, cols = np.nonzero(keep)
            return np.asarray(users)[block[rows]], columns[top[rows, cols]], cost[rows, cols]

        found = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(block_candidates)(lo) for lo in range(0, X.shape[0], _USERS_PER_BLOCK))
        if not found:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
        parts = tuple(zip(*found))
        users_out, movies, costs = (np.concatenate(p) for p in parts)
        return users_out, movies, costs
