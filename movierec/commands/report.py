"""``movierec report``: the pictures a person would rather see than read, and an index.html."""
from __future__ import annotations

import html
import json
from pathlib import Path

import click

from shared.config import Settings, parse_k_range

DEFAULT_MODELS = "baseline,cluster,kmeans-softmax,svd,truncated-svd,nmf,iterative-svd,item-knn,default"


def _k_range(ctx, param, value: str) -> tuple[int, int]:
    try:
        return parse_k_range(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@click.command("report")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the PNG files and index.html (created).")
@click.option("--k-range", default="2-20", show_default=True, callback=_k_range,
              help="k values to scan, as LOW-HIGH (2 <= LOW <= HIGH).")
@click.option("--min-cluster-size", type=click.IntRange(min=1),
              default=Settings.min_cluster_size, show_default=True,
              help="Clusters smaller than this are dissolved (seed 001).")
@click.option("--split", default="random:0.8:0", show_default=True,
              help="Split for the RMSE table (see `movierec evaluate`).")
@click.option("--models", default=DEFAULT_MODELS, show_default=True,
              help="Comma-separated models for the RMSE table.")
def command(data_dir: Path, out: Path, k_range: tuple[int, int], min_cluster_size: int,
            split: str, models: str):
    """Draw the clustering and accuracy of DATA_DIR's ratings: elbow curve with differences and
    boundary, silhouette against k, cluster sizes before and after fixing, a heat map of one
    cluster's most-rated movies, softmax accuracy against k, and the RMSE table."""
    import numpy as np
    from tqdm import tqdm

    from movierec import plots
    from shared.data import movielens
    from shared.recsys.evaluation.clustering import cluster_heatmap, softmax_accuracy_by_k
    from shared.recsys.evaluation.harness import evaluate
    from shared.recsys.evaluation.split import parse_split
    from shared.recsys.models.clustering import cluster_users
    from shared.recsys.models.features import favourites, taste_vectors
    from shared.recsys.models.registry import make, resolve
    from shared.recsys.ratings import rating_matrix

    try:
        split_spec = parse_split(split)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--split")
    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in names:
        try:
            resolve(name)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--models")
        if not getattr(make(name), "predicts_ratings", True):
            raise click.BadParameter(f"{name!r} ranks movies and predicts no ratings; the RMSE "
                                     "table takes rating models (lists: movierec evaluate)",
                                     param_hint="--models")
    try:
        data = movielens.load(data_dir, progress=True)
    except movielens.LoadError as exc:
        raise click.ClickException(str(exc))
    out.mkdir(parents=True, exist_ok=True)

    X, users, movie_vocab = rating_matrix(data.ratings)
    features = taste_vectors(X)
    with tqdm(total=1, desc="choosing k", unit="scan") as bar:
        clusters = cluster_users(features, favourites(X), "elbow", k_range, min_cluster_size)
        bar.update(1)
    scan, elbow_k = clusters.scan, clusters.k
    silhouette_k = scan.choose_k("silhouette")
    sizes_before, sizes_after = clusters.sizes_before_fixing, clusters.sizes_after_fixing
    largest = int(np.argmax(sizes_after))
    heat, heat_movies = cluster_heatmap(X, clusters.labels, largest)
    titles = data.movies.set_index("movie_id")["title"].to_dict()
    heat_titles = [str(titles.get(int(m), m)) for m in movie_vocab.id_of(heat_movies)]
    with tqdm(total=len(scan.ks), desc="softmax accuracy", unit="k") as bar:
        accuracy = softmax_accuracy_by_k(features, scan.ks, progress=bar)
    results = evaluate(names, split_spec, data)

    pictures = {
        "elbow.png": plots.elbow(scan.ks, scan.wcss, scan.differences, scan.boundary, elbow_k, out / "elbow.png"),
        "silhouette.png": plots.silhouette(scan.ks, scan.silhouettes, silhouette_k, out / "silhouette.png"),
        "cluster_sizes.png": plots.cluster_sizes(sizes_before, sizes_after, min_cluster_size, out / "cluster_sizes.png"),
        "cluster_heatmap.png": plots.cluster_heatmap(heat, heat_titles, largest, out / "cluster_heatmap.png"),
        "softmax_accuracy.png": plots.softmax_accuracy(accuracy.ks, accuracy.accuracy, out / "softmax_accuracy.png"),
        "rmse.png": plots.rmse_bars([r["model"] for r in results], [r["rmse"] for r in results], out / "rmse.png"),
    }
    summary = {"data": str(data_dir), "users": X.shape[0], "movies": X.shape[1], "ratings": int(X.nnz),
               "elbow_k": elbow_k, "silhouette_k": silhouette_k,
               "sizes_before": sizes_before.tolist(), "sizes_after": sizes_after.tolist(),
               "softmax_accuracy": dict(zip(map(int, accuracy.ks), accuracy.accuracy.round(4).tolist())),
               "results": results}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "index.html").write_text(_index_html(summary, pictures))
    click.echo(f"wrote {len(pictures)} pictures, summary.json and index.html to {out}/")


def _index_html(summary: dict, pictures: dict) -> str:
    columns = ["model", "rmse", "mae", "precision_at_10", "recall_at_10", "ndcg_at_10", "fit_seconds"]
    rows = "".join("<tr>" + "".join(
        f"<td>{html.escape(str(r[c] if not isinstance(r[c], float) else round(r[c], 4)))}</td>"
        for c in columns) + "</tr>" for r in sorted(summary["results"], key=lambda r: r["rmse"]))
    figures = "".join(f'<figure><img src="{name}" alt="{name}"><figcaption>{name}</figcaption></figure>'
                      for name in pictures)
    split = html.escape(summary["results"][0]["split"]) if summary["results"] else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>movierec report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style>
</head><body>
<h1>movierec report</h1>
<p>{html.escape(summary['data'])}: {summary['users']:,} users, {summary['movies']:,} movies,
{summary['ratings']:,} ratings. Elbow rule k = {summary['elbow_k']}, silhouette k =
{summary['silhouette_k']}; clusters after fixing: {len(summary['sizes_after'])}.</p>
<h2>Accuracy ({split})</h2>
<table><tr>{''.join(f'<th>{c}</th>' for c in columns)}</tr>{rows}</table>
<h2>Pictures</h2>{figures}
</body></html>
"""
