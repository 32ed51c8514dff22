"""The pictures of ``movierec report``: plain arrays in, a PNG file out (matplotlib, no I/O
beyond the file written)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def elbow(ks, wcss, differences, boundary: float, chosen: int, path: Path) -> Path:
    """Seed 001's two panels: WCSS against k, and consecutive differences against ±boundary."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.plot(ks, wcss, "o-")
    left.axvline(chosen, color="tab:red", ls="--", label=f"chosen k = {chosen}")
    left.set(title="Elbow method: within-cluster sum of squares", xlabel="k", ylabel="WCSS")
    left.legend()
    left.grid(True, alpha=0.3)
    right.plot(ks[:-1], differences, "o-", label="WCSS(k) - WCSS(k+1)")
    right.axhline(boundary, color="tab:red", label=f"boundary ±{boundary:.3g}")
    right.axhline(-boundary, color="tab:red")
    right.set(title="Differences between consecutive k", xlabel="k", ylabel="difference")
    right.legend()
    right.grid(True, alpha=0.3)
    return _save(fig, path)


def silhouette(ks, scores, chosen: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ks, scores, "o-")
    ax.axvline(chosen, color="tab:red", ls="--", label=f"best k = {chosen}")
    ax.set(title="Silhouette score against k (higher is better)", xlabel="k",
           ylabel="silhouette score")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def cluster_sizes(before, after, min_size: int, path: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    left.bar(np.arange(len(before)), before, color=["tab:red" if s < min_size else "tab:blue" for s in before])
    left.axhline(min_size, color="tab:red", ls="--", label=f"min_cluster_size = {min_size}")
    left.set(title=f"Users per cluster before fixing (k = {len(before)})", xlabel="cluster", ylabel="users")
    left.legend()
    right.bar(np.arange(len(after)), after)
    right.set(title=f"After fixing small clusters (k' = {len(after)})", xlabel="cluster")
    return _save(fig, path)


def cluster_heatmap(ratings, movie_titles, cluster: int, path: Path) -> Path:
    """Seed 002's heat map: users (rows) x the cluster's most-rated movies (columns), blank
    where unrated."""
    ratings = np.asarray(ratings, dtype=float)
    fig, ax = plt.subplots(figsize=(max(8, 0.3 * ratings.shape[1]), max(5, 0.12 * ratings.shape[0] + 3)))
    masked = np.ma.masked_invalid(ratings)
    image = ax.imshow(masked, aspect="auto", cmap="viridis", vmin=0.5, vmax=5, interpolation="nearest")
    ax.set_xticks(np.arange(len(movie_titles)))
    ax.set_xticklabels([t[:28] for t in movie_titles], rotation=90, fontsize=7)
    ax.set_yticks([])
    ax.set(title=f"Cluster {cluster}: {ratings.shape[0]} users x its {ratings.shape[1]} most-rated movies",
           ylabel="users")
    fig.colorbar(image, ax=ax, label="rating")
    return _save(fig, path)


def softmax_accuracy(ks, accuracy, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ks, accuracy, "o-")
    ax.set(title="Softmax classifier: accuracy of held-out users' clusters against k (seed 000)",
           xlabel="k", ylabel="accuracy", ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def rmse_bars(models, rmse, path: Path) -> Path:
    order = np.argsort(rmse)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(models) + 1.5))
    ax.barh(np.asarray(models)[order], np.asarray(rmse)[order])
    for y, value in enumerate(np.asarray(rmse)[order]):
        ax.text(value, y, f" {value:.4f}", va="center")
    ax.set(title="RMSE on the held-out ratings (lower is better)", xlabel="RMSE",
           xlim=(min(rmse) * 0.95, max(rmse) * 1.05))
    ax.invert_yaxis()
    return _save(fig, path)
