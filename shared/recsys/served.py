"""A model version as the API and the workers use it.

Every user is scored from their live ratings (``predict_unseen``, a fold-in), so what a user
did a second ago counts even though the model was trained hours ago; the estimators are the
very ones the evaluation harness measures.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from shared.recsys.models.blend import matrix_factorisation_of
from shared.recsys.models.features import taste_vectors
from shared.recsys.models.topn import one_row
from shared.recsys.ratings import RATING_MAX, RATING_MIN, LiveRatings
from shared.recsys.vocabulary import Vocabulary

# The ``because`` of a movie the version's exploration gave the user (:meth:`LiveModel.ranked`).
EXPLORED = "explored"


class LiveModel:
    """A version's estimators and vocabularies, scoring users from their live ratings. Built
    from a bundle that may hold only some estimators (:meth:`ModelStore.load`'s
    ``components``): the classifier alone assigns clusters. The bundle may defer the
    estimators the lists do not read (:func:`shared.recsys.persist.bundle_from_arrays`): the
    rating model and the similar movies are read and built on first use, so a version serves
    lists as soon as the few arrays they need are read."""

    DEFERRABLE = ("recommender", "similar")

    def __init__(self, bundle):
        self.version = bundle.version
        self.manifest = bundle.manifest
        self.users = Vocabulary(bundle.arrays["user_ids"])
        self.movies = Vocabulary(bundle.arrays["movie_ids"])
        self.labels = bundle.arrays["labels"]
        self.baseline = bundle.estimators.get("baseline")
        self._deferred = {name: bundle.estimators.get(name) for name in self.DEFERRABLE}
        self._builds = {name: build for name, build in bundle.deferred.items()
                        if name in self.DEFERRABLE}
        self._building = threading.Lock()
        self.classifier = bundle.estimators.get("softmax")
        self.ranker = bundle.estimators.get("ranker")  # the top-N model, when the version has one
        # movies given to training users in place of others (models/exploration.py), if any
        self.exploration = bundle.estimators.get("exploration")

    def _built(self, name: str):
        """A deferrable estimator (None if the version has none), built on first use."""
        if name in self._builds:
            with self._building:
                if name in self._builds:
                    self._deferred[name] = self._builds[name]()
                    del self._builds[name]
        return self._deferred[name]

    @property
    def recommender(self):
        """The rating model (None if the version has none)."""
        return self._built("recommender")

    @property
    def similar(self):
        """The similar-movies model (None if the version has none)."""
        return self._built("similar")

    @property
    def svd(self):
        """The recommender's matrix factorisation, or the recommender itself."""
        return matrix_factorisation_of(self.recommender) or self.recommender

    def profile(self, ratings: Mapping) -> tuple[np.ndarray, np.ndarray]:
        """A user's live ratings (:class:`LiveRatings` or ``{movie_id: rating}``) in the model's
        terms: the dense indices of the known movies they rated (increasing) and the ratings
        (favourite marks alone left out)."""
        ratings = LiveRatings.of(ratings)
        index = self.movies.index(ratings.movie_ids, missing="negative")
        rated = (index >= 0) & (ratings.ratings > 0)
        movies, values = index[rated], ratings.ratings[rated]
        order = np.argsort(movies)
        return movies[order], values[order]

    def can_rank(self, ratings: Mapping) -> bool:
        """Whether the top-N model can rank a user with these live ratings: the version has
        one, and the user rated a movie it reads (one is enough)."""
        if self.ranker is None:
            return False
        ratings = LiveRatings.of(ratings)
        return self.ranker.can_rank(self.movies.index(ratings.movie_ids, missing="negative"),
                                    ratings.ratings)

    def ranks(self, movie_ids) -> np.ndarray:
        """Whether the top-N model can put each of ``movie_ids`` in a list (a boolean array):
        the movies it scores, which a ranker that keeps a subset (EASE's most rated) names as
        ``candidates_``; none without a ranker. A movie released or first rated since the
        version was trained is never among them."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        if self.ranker is None:
            return np.zeros(len(movie_ids), dtype=bool)
        candidates = getattr(self.ranker, "candidates_", None)
        index = self.movies.index(movie_ids, missing="negative")
        if candidates is None:
            return index >= 0
        return np.isin(index, candidates) & (index >= 0)

    def user_row(self, ratings: Mapping) -> sp.csr_matrix:
        """1 x n_movies CSR of a user's ratings (``{movie_id: rating}``), known movies only."""
        return one_row(*self.profile(ratings), len(self.movies))

    @property
    def clusters(self) -> np.ndarray:
        """The clusters users are in under this version: those of the training users (the
        classifier learned no other)."""
        return np.unique(self.labels)

    def training_cluster(self, user_id: int) -> int | None:
        """The cluster k-means (after fixing) gave a user the model was trained on."""
        index = self.users.index([user_id], missing="negative")[0]
        return None if index < 0 else int(self.labels[index])

    def unseen(self, user_ids) -> np.ndarray:
        """Whether each user of ``user_ids`` is one the clustering did not see (so the
        classifier places them), as a boolean array."""
        return self.users.index(np.asarray(user_ids, dtype=np.int64), missing="negative") < 0

    def assign_cluster(self, ratings: Mapping) -> int:
        """The softmax classifier's cluster for a user from their ratings (seed 000)."""
        return int(self.assign_clusters([ratings])[0])

    def assign_clusters(self, ratings: Sequence[Mapping]) -> np.ndarray:
        """The classifier's cluster for each user of ``ratings``, in one call of the
        classifier on all their rows."""
        if not ratings:
            return np.empty(0, dtype=np.int64)
        profiles = [self.profile(r) for r in ratings]
        lengths = np.fromiter((len(movies) for movies, _ in profiles), dtype=np.int64,
                              count=len(profiles))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        movies = np.concatenate([m for m, _ in profiles])
        values = np.concatenate([v for _, v in profiles]).astype(np.float64)
        rows = sp.csr_matrix((values, movies, indptr), shape=(len(profiles), len(self.movies)))
        return self.classifier.predict(taste_vectors(rows)).astype(np.int64)

    def scores(self, ratings: Mapping) -> np.ndarray:
        """Predicted rating of every movie in the model for a user with these live ratings."""
        return np.asarray(self.recommender.predict_unseen(self.user_row(ratings)))[0]

    def svd_scores(self, ratings: Mapping) -> np.ndarray:
        """Scores from the matrix factorisation alone (seed 004's SVD)."""
        return np.asarray(self.svd.predict_unseen(self.user_row(ratings)))[0]

    def ranked(self, ratings: Mapping, n: int, allowed=None, user_id: int | None = None
               ) -> list[tuple[int, float, tuple[int, float] | None | str]]:
        """The top-N model's ``n`` best movies for a user with these live ratings, best first,
        none they rated or favoured and, with ``allowed`` (:class:`~shared.recsys.filters.
        Allowed`), none it leaves out: ``(movie_id, score, because)``, where ``because`` is the
        rated movie that adds most to the score and the user's rating of it (None when no
        rated movie adds to it).

        For a training user (``user_id``) the version's exploration gave movies to
        (:class:`~shared.recsys.models.exploration.Exploration`), each given movie takes the
        place of the movie it replaces, while that movie is in the list and the given one is
        neither rated nor filtered out; its ``because`` is :data:`EXPLORED` and its score the
        place's."""
        ratings = LiveRatings.of(ratings)
        movie_ids, values = ratings.movie_ids, ratings.ratings
        movies = self.movies.index(movie_ids, missing="negative")
        excluded = movies
        if allowed is not None:
            excluded = np.concatenate([movies, np.flatnonzero(~allowed.mask(self.movies.ids))])
        top, scores, because = self.ranker.top_one(movies, values, excluded, n)
        ids = self.movies.ids
        out: list[tuple[int, float, tuple[int, float] | None | str]] = [
            (int(ids[item]), score, None if j < 0 else (int(movie_ids[j]), float(values[j])))
            for item, score, j in zip(top.tolist(), scores.tolist(), because.tolist())]
        if self.exploration is not None and user_id is not None:
            self._explore(out, top, excluded, user_id)
        return out

    def _explore(self, out: list, top: np.ndarray, excluded: np.ndarray, user_id: int) -> None:
        user = self.users.index([user_id], missing="negative")[0]
        if user < 0:
            return
        given, replaced = self.exploration.for_user(int(user))
        if not len(given):
            return
        places = top.tolist()
        for movie, place in zip(given.tolist(), replaced.tolist()):
            if place in places and movie not in places and not (excluded == movie).any():
                at = places.index(place)
                places[at] = movie
                out[at] = (int(self.movies.ids[movie]), out[at][1], EXPLORED)

    def predict(self, ratings: Mapping, movie_ids) -> list[float | None]:
        scores = self.scores(ratings)
        index = self.movies.index(np.asarray(movie_ids, dtype=np.int64), missing="negative")
        return [None if i < 0 else float(np.clip(scores[i], RATING_MIN, RATING_MAX)) for i in index]

    def similar_movies(self, movie_id: int, n: int, kind: str,
                       allowed=None) -> list[tuple[int, float]]:
        """The ``n`` movies most like ``movie_id`` by ``kind``, of those ``allowed`` lets
        through (:class:`~shared.recsys.filters.Allowed`; None: any)."""
        index = self.movies.index([movie_id], missing="negative")[0]
        if index < 0 or self.similar is None:
            return []
        mask = None if allowed is None else allowed.mask(self.movies.ids)
        indices, scores = self.similar.similar(int(index), n=n, kind=kind, allowed=mask)
        return [(int(m), float(s)) for m, s in zip(self.movies.id_of(indices), scores)]
