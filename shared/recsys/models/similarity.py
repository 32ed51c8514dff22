"""Movies similar to a movie (seed 004): cosine similarity of collaborative embeddings (item
factors), of content embeddings (TF-IDF of genres and tags reduced by truncated SVD), or their
mean (hybrid).

The fitted state is two L2-normalised float32 arrays (and two masks derived from them), so a
query is one matrix-vector product and a saved model is plain ``.npz`` arrays
(:meth:`SimilarMovies.from_embeddings` serves them). The TF-IDF vocabulary is not kept: new
movies' text is embedded by refitting.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from shared.recsys.blas import one_blas_thread

KINDS = ("collaborative", "content", "hybrid")
TERM_SEPARATOR = "|"
NO_GENRES = "(no genres listed)"


def movie_text(genres: Sequence[str | None], tags: Sequence[str | None]) -> list[str]:
    """Each movie's content as one ``'|'``-separated string of its genres and tags.

    ``genres[i]`` and ``tags[i]`` are ``'|'``-joined (as in MovieLens ``movies.csv``; a tag
    given by several users appears several times, which weighs it). Missing values count as empty.
    """
    if len(genres) != len(tags):
        raise ValueError(f"{len(genres)} genre strings but {len(tags)} tag strings")
    return [TERM_SEPARATOR.join(part for part in (g, t) if isinstance(part, str) and part)
            for g, t in zip(genres, tags)]


def content_terms(text: str) -> list[str]:
    """Split a movie's text into terms: each genre or tag is one term, however many words it
    has ('based on a book', 'sci-fi'), lower-cased with runs of spaces collapsed."""
    terms = (re.sub(r"\s+", " ", part).strip().lower() for part in text.split(TERM_SEPARATOR))
    return [term for term in terms if term and term != NO_GENRES]


def item_factors_by_svd(X, n_components: int = 200, random_state=0) -> np.ndarray:
    r"""Seed 004's collaborative movie vectors: truncated SVD of the movies x users rating
    matrix with unrated cells as 0, :math:`X^\top \approx V \Sigma U^\top`, returning
    :math:`V\Sigma` (n_movies, ``n_components``, fewer if the matrix is smaller). Movies without
    ratings get zero rows."""
    X = sp.csr_matrix(X, dtype=np.float64)
    k = min(n_components, min(X.shape) - 1)
    if k < 1:
        raise ValueError(f"a {X.shape} rating matrix is too small for a truncated SVD")
    # ARPACK's many small vector products, where extra BLAS threads only contend.
    with one_blas_thread():
        return TruncatedSVD(n_components=k, algorithm="arpack", random_state=random_state
                            ).fit_transform(X.T.tocsr())


def _normalised_rows(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0).astype(np.float32)


class SimilarMovies(BaseEstimator):
    r"""Top-n similar movies by cosine similarity of embeddings (seed 004).

    .. math::
        s^{\mathrm{collab}}_{ij} = \cos(q_i, q_j), \qquad
        s^{\mathrm{content}}_{ij} = \cos(c_i, c_j), \qquad
        s^{\mathrm{hybrid}}_{ij} = \tfrac12 (s^{\mathrm{collab}}_{ij} + s^{\mathrm{content}}_{ij})

    with :math:`q_i` the movie's item factors (from any factorisation, e.g. ``BiasedMF
    .item_factors_`` or :func:`item_factors_by_svd`) and :math:`c_i` the truncated SVD of the
    TF-IDF of its genre and tag terms (:func:`content_terms`: a multi-word tag is one term).

    A movie whose vector is zero (no ratings, or no genres and tags) has no similarity of that
    kind: it is never returned for that kind, and a query about it falls back to the other kind.
    Hybrid ranks only movies that have both kinds (seed 004 averages over movies present in both).

    Parameters
    ----------
    n_content_components : int
        Dimensions kept of the TF-IDF space (seed 004: 200). When there are no more terms (or
        movies) than this, the TF-IDF vectors are used as they are: exact cosines, and small.
    sublinear_tf : bool
        Weigh a term repeated ``t`` times (one tag from several users) ``1 + log t``
        instead of ``t``.
    random_state : int or None
        Seeds the truncated SVD.
    """

    def __init__(self, n_content_components: int = 200, sublinear_tf: bool = False, random_state=0):
        self.n_content_components = n_content_components
        self.sublinear_tf = sublinear_tf
        self.random_state = random_state

    def fit(self, item_factors, item_text: Sequence[str]):
        """Learn both embeddings. ``item_factors`` is (n_movies, f); ``item_text[i]`` is movie
        ``i``'s ``'|'``-separated genres and tags (see :func:`movie_text`)."""
        item_factors = np.asarray(item_factors)
        if item_factors.ndim != 2 or item_factors.shape[0] != len(item_text):
            raise ValueError(f"item_factors {item_factors.shape} must have one row per text "
                             f"({len(item_text)})")
        vectorizer = TfidfVectorizer(tokenizer=content_terms, lowercase=False, token_pattern=None,
                                     sublinear_tf=self.sublinear_tf)
        try:
            tfidf = vectorizer.fit_transform(item_text)
        except ValueError:  # no movie has any term
            tfidf = sp.csr_matrix((len(item_text), 0))
        self.n_content_terms_ = tfidf.shape[1]
        if min(tfidf.shape) > self.n_content_components:
            with one_blas_thread():  # tall-skinny work: see above
                content = TruncatedSVD(n_components=self.n_content_components,
                                       random_state=self.random_state).fit_transform(tfidf)
        else:
            content = tfidf.toarray()
        self._set_embeddings(item_factors, content)
        return self

    @classmethod
    def from_embeddings(cls, collaborative_embeddings, content_embeddings) -> SimilarMovies:
        """A fitted instance from saved ``collaborative_embeddings_`` and
        ``content_embeddings_`` (no refit: what the API serves)."""
        model = cls()
        model._set_embeddings(collaborative_embeddings, content_embeddings)
        return model

    def _set_embeddings(self, collaborative, content) -> None:
        collaborative, content = np.asarray(collaborative), np.asarray(content)
        if len(collaborative) != len(content):
            raise ValueError(f"{len(collaborative)} collaborative but {len(content)} content rows")
        self.collaborative_embeddings_ = _normalised_rows(collaborative)
        self.content_embeddings_ = _normalised_rows(content)
        self.has_collaborative_ = np.any(self.collaborative_embeddings_ != 0, axis=1)
        self.has_content_ = np.any(self.content_embeddings_ != 0, axis=1)

    def scores(self, movie_index: int, kind: str = "hybrid") -> np.ndarray:
        """Similarity of every movie to ``movie_index`` (n_movies,), NaN where undefined.

        ``kind`` falls back as described in the class docstring when the movie lacks it."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        n_movies = len(self.collaborative_embeddings_)
        if not 0 <= movie_index < n_movies:
            raise IndexError(f"movie index {movie_index} out of range for {n_movies} movies")
        has = {"collaborative": self.has_collaborative_, "content": self.has_content_}
        if kind == "hybrid":
            if not all(has[k][movie_index] for k in has):
                kind = "collaborative" if has["collaborative"][movie_index] else "content"
        elif not has[kind][movie_index]:
            kind = "content" if kind == "collaborative" else "collaborative"
        out = np.full(n_movies, np.nan)
        if kind == "hybrid":
            defined = self.has_collaborative_ & self.has_content_
            values = 0.5 * (self._cosines(self.collaborative_embeddings_, movie_index)
                            + self._cosines(self.content_embeddings_, movie_index))
        elif has[kind][movie_index]:
            defined = has[kind]
            values = self._cosines(getattr(self, f"{kind}_embeddings_"), movie_index)
        else:  # the movie has neither kind
            return out
        out[defined] = values[defined]
        return out

    @staticmethod
    def _cosines(embeddings: np.ndarray, movie_index: int) -> np.ndarray:
        return (embeddings @ embeddings[movie_index]).astype(np.float64)

    def similar(self, movie_index: int, n: int = 10, kind: str = "hybrid", allowed=None):
        """The ``n`` movies most similar to ``movie_index``, itself excluded: ``(indices, scores)``,
        best first (ties by index, so the first n are the first n of any longer list), fewer
        when fewer movies have a defined similarity.
        ``allowed``: a boolean mask over the movies of those that may be named (None: all)."""
        scores = self.scores(movie_index, kind)
        if allowed is not None:
            scores[~np.asarray(allowed, dtype=bool)] = np.nan
        scores[movie_index] = np.nan
        candidates = np.flatnonzero(~np.isnan(scores))
        if n <= 0 or len(candidates) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(candidates) > n:  # every movie tied with the n-th, so ties go by index
            nth = -np.partition(-scores[candidates], n - 1)[n - 1]
            candidates = candidates[scores[candidates] >= nth]
        order = np.lexsort((candidates, -scores[candidates]))
        best = candidates[order][:n]
        return best.astype(np.int64), scores[best]
