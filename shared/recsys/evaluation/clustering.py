"""What the report shows about the clustering: k selection, fixing, heat maps, and the softmax
classifier's accuracy against k (seed 000's figure)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from shared.recsys.models.kmeans import UserKMeans
from shared.recsys.models.softmax import SoftmaxRegression


@dataclass(frozen=True)
class SoftmaxAccuracy:
    ks: np.ndarray
    accuracy: np.ndarray       # on held-out users
    train_accuracy: np.ndarray


def softmax_accuracy_by_k(features, ks, train_fraction: float = 0.7, seed: int = 0,
                          progress=None) -> SoftmaxAccuracy:
    """Seed 000's protocol: k-means labels every user; softmax learns the labels of
    ``train_fraction`` of the users and is scored on the others."""
    features = sp.csr_matrix(features)
    rng = np.random.default_rng(seed)
    train = rng.random(features.shape[0]) < train_fraction
    ks = np.asarray(list(ks))
    held, fitted = [], []
    for k in ks:
        labels = UserKMeans(n_clusters=int(k), n_init=4, random_state=seed).fit(features).labels_
        classifier = SoftmaxRegression().fit(features[train], labels[train])
        held.append(float(np.mean(classifier.predict(features[~train]) == labels[~train])))
        fitted.append(float(np.mean(classifier.predict(features[train]) == labels[train])))
        if progress is not None:
            progress.update(1)
    return SoftmaxAccuracy(ks, np.array(held), np.array(fitted))


def cluster_heatmap(X: sp.csr_matrix, labels, cluster: int, n_movies: int = 30,
                    n_users: int = 70):
    """Seed 002's view of one cluster: its members who rated most x the movies its members
    rated most, as a dense array with NaN where unrated; returns (ratings, movie indices)."""
    members = np.flatnonzero(np.asarray(labels) == cluster)
    sub = sp.csr_matrix(X[members])
    movie_counts = np.asarray((sub != 0).sum(axis=0)).ravel()
    movies = np.argsort(-movie_counts, kind="stable")[:n_movies]
    movies = movies[movie_counts[movies] > 0]
    block = sub[:, movies]
    user_counts = np.diff(block.indptr)
    users = np.argsort(-user_counts, kind="stable")[:n_users]
    dense = block[users].toarray()
    dense[dense == 0] = np.nan
    return dense, movies
