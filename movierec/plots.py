"""The pictures of ``movierec report``: plain arrays in, a PNG file out (matplotlib, no I/O
beyond the file written)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch


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
    left.bar(np.arange(len(before)), before,
             color=["tab:red" if s < min_size else "tab:blue" for s in before])
    left.axhline(min_size, color="tab:red", ls="--", label=f"min_cluster_size = {min_size}")
    left.set(title=f"Users per cluster before fixing (k = {len(before)})", xlabel="cluster",
             ylabel="users")
    left.legend()
    right.bar(np.arange(len(after)), after)
    right.set(title=f"After fixing small clusters (k' = {len(after)})", xlabel="cluster")
    return _save(fig, path)


def cluster_heatmap(ratings, movie_titles, cluster: int, path: Path) -> Path:
    """Seed 002's heat map: users (rows) x the cluster's most-rated movies (columns), blank
    where unrated."""
    ratings = np.asarray(ratings, dtype=float)
    fig, ax = plt.subplots(figsize=(max(8, 0.3 * ratings.shape[1]),
                                    max(5, 0.12 * ratings.shape[0] + 3)))
    masked = np.ma.masked_invalid(ratings)
    image = ax.imshow(masked, aspect="auto", cmap="viridis", vmin=0.5, vmax=5,
                      interpolation="nearest")
    ax.set_xticks(np.arange(len(movie_titles)))
    ax.set_xticklabels([t[:28] for t in movie_titles], rotation=90, fontsize=7)
    ax.set_yticks([])
    ax.set(title=f"Cluster {cluster}: {ratings.shape[0]} users x its {ratings.shape[1]} "
                 "most-rated movies", ylabel="users")
    fig.colorbar(image, ax=ax, label="rating")
    return _save(fig, path)


def softmax_accuracy(ks, accuracy, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(ks, accuracy, "o-")
    ax.set(title="Softmax classifier: accuracy of held-out users' clusters against k",
           xlabel="k", ylabel="accuracy", ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


_KIND_COLOURS = {"served": "tab:green", "floor": "tab:gray", "list": "tab:purple",
                 "rating": "tab:blue"}
_KIND_LABELS = {"served": "what the API serves", "floor": "floor (most-popular)",
                "list": "ranking model", "rating": "rating model"}


def accuracy(models, kinds, ndcg, precision, rmse, path: Path) -> Path:
    """Every model's top-10 list (nDCG@10 and P@10), the one the API serves marked and the floor
    drawn across, beside the RMSE of the rating models: RMSE alone hides that the rating models'
    lists are not what is served. ``kinds`` are "served", "floor", "list" or "rating" (the
    rows' order is kept, top down); RMSE is NaN where there is none."""
    kinds, rmse = list(kinds), np.asarray(rmse, dtype=float)
    labels = [f"{m}\n(what the API serves)" if k == "served" else m for m, k in zip(models, kinds)]
    colours = [_KIND_COLOURS[k] for k in kinds]
    rated = ~np.isnan(rmse)
    height = max(4.5, 0.5 * len(models) + 1.8)
    if rated.any():
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, height), width_ratios=(3, 2))
    else:
        fig, left = plt.subplots(figsize=(8, height))
    y = np.arange(len(models))
    left.barh(y - 0.2, ndcg, 0.4, color=colours)
    left.barh(y + 0.2, precision, 0.4, color=colours, alpha=0.45, hatch="//")
    for row, (n, p) in enumerate(zip(ndcg, precision)):
        left.text(n, row - 0.2, f" {n:.3f}", va="center", fontsize=8)
        left.text(p, row + 0.2, f" {p:.3f}", va="center", fontsize=8)
    legend = [Patch(facecolor="white", edgecolor="black", label="nDCG@10"),
              Patch(facecolor="white", edgecolor="black", hatch="//", label="P@10")]
    legend += [Patch(color=_KIND_COLOURS[k], label=_KIND_LABELS[k])
               for k in _KIND_COLOURS if k in kinds]
    if "floor" in kinds:
        floor = ndcg[kinds.index("floor")]
        legend.append(left.axvline(floor, color="tab:gray", ls="--", lw=1,
                                   label=f"floor's nDCG@10 = {floor:.3f}"))
    left.set_yticks(y, labels)
    for tick, kind in zip(left.get_yticklabels(), kinds):
        if kind == "served":
            tick.set_fontweight("bold")
    left.set(title="Top-10 lists against held-out favourites\n(higher is better)",
             xlabel="nDCG@10 (solid), P@10 (hatched)",
             xlim=(0, max(max(ndcg), max(precision)) * 1.2))
    left.invert_yaxis()
    left.legend(handles=legend, loc="best", fontsize=8)
    if rated.any():
        order = np.argsort(rmse[rated])
        names, values = np.asarray(models)[rated][order], rmse[rated][order]
        right.barh(names, values, color=_KIND_COLOURS["rating"])
        for row, value in enumerate(values):
            right.text(value, row, f" {value:.4f}", va="center", fontsize=8)
        right.set(title="Predicted ratings: RMSE, rating models only\n(lower is better)",
                  xlabel="RMSE", xlim=(values.min() * 0.95, values.max() * 1.05))
        right.invert_yaxis()
    return _save(fig, path)
