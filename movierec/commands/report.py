"""``movierec report``: the pictures a person would rather see than read, and an index.html."""
from __future__ import annotations

import html
import json
from pathlib import Path

import click

from shared.config import Settings, parse_k_range

DEFAULT_MODELS = ("baseline,cluster,kmeans-softmax,svd,truncated-svd,nmf,iterative-svd,item-knn,"
                  "default")
# What the API serves, and the floor any list must beat: without them the rating models' lists
# look like the service's.
DEFAULT_LISTS = "served:personal,most-popular"
FLOOR = "most-popular"


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
              help="Clusters smaller than this are dissolved; their users join the cluster "
                   "that favours most of their favourite movies.")
@click.option("--split", default="random:0.8:0", show_default=True,
              help="Split for the accuracy table (see `movierec evaluate`).")
@click.option("--models", default=DEFAULT_MODELS, show_default=True,
              help="Comma-separated rating models for the accuracy table.")
@click.option("--lists", default=DEFAULT_LISTS, show_default=True,
              help="Comma-separated lists measured beside them: served:STRATEGY is what the API "
                   "serves, fitted as the trainer is configured ($K_RANGE, $MIN_CLUSTER_SIZE, not "
                   "the options above); most-popular is the floor.")
def command(data_dir: Path, out: Path, k_range: tuple[int, int], min_cluster_size: int,
            split: str, models: str, lists: str):
    """Draw the clustering and accuracy of DATA_DIR's ratings: elbow curve with differences and
    boundary, silhouette against k, cluster sizes before and after fixing, a heat map of one
    cluster's most-rated movies, softmax accuracy against k, and the accuracy of the list the API
    serves, the most-popular floor and the rating models (nDCG@10, P@10; RMSE for rating models)."""
    import numpy as np
    from tqdm import tqdm

    from movierec import plots
    from movierec.commands.evaluate import _served_setup
    from shared.data import movielens
    from shared.recsys.evaluation.clustering import cluster_heatmap, softmax_accuracy_by_k
    from shared.recsys.evaluation.harness import check_name, evaluate
    from shared.recsys.evaluation.served import strategy_of
    from shared.recsys.evaluation.split import parse_split
    from shared.recsys.models.clustering import cluster_users
    from shared.recsys.models.features import favourites, taste_vectors
    from shared.recsys.models.registry import make, resolve
    from shared.recsys.ratings import rating_matrix

    try:
        split_spec = parse_split(split)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--split") from None
    names = [m.strip() for m in models.split(",") if m.strip()]
    for name in names:
        try:
            resolve(name)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--models") from None
        if not getattr(make(name), "predicts_ratings", True):
            raise click.BadParameter(f"{name!r} ranks movies and predicts no ratings; --models "
                                     "takes rating models (give lists with --lists)",
                                     param_hint="--models")
    list_names = [m.strip() for m in lists.split(",") if m.strip() and m.strip() not in names]
    for name in list_names:
        try:
            check_name(name)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--lists") from None
    if not names and not list_names:
        raise click.BadParameter("name at least one model or list", param_hint="--models/--lists")
    try:
        data = movielens.load(data_dir, progress=True)
    except movielens.LoadError as exc:
        raise click.ClickException(str(exc)) from None
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
    served = _served_setup(None, None) if any(map(strategy_of, list_names)) else None
    results = _ordered([{**r, "kind": _kind(r["model"])}
                        for r in evaluate(list_names + names, split_spec, data, served=served)])

    pictures = {
        "elbow.png": plots.elbow(scan.ks, scan.wcss, scan.differences, scan.boundary, elbow_k,
                                 out / "elbow.png"),
        "silhouette.png": plots.silhouette(scan.ks, scan.silhouettes, silhouette_k,
                                           out / "silhouette.png"),
        "cluster_sizes.png": plots.cluster_sizes(sizes_before, sizes_after, min_cluster_size,
                                                 out / "cluster_sizes.png"),
        "cluster_heatmap.png": plots.cluster_heatmap(heat, heat_titles, largest,
                                                     out / "cluster_heatmap.png"),
        "softmax_accuracy.png": plots.softmax_accuracy(accuracy.ks, accuracy.accuracy,
                                                       out / "softmax_accuracy.png"),
        "accuracy.png": plots.accuracy([r["model"] for r in results], [r["kind"] for r in results],
                                       [r["ndcg_at_10"] for r in results],
                                       [r["precision_at_10"] for r in results],
                                       [r["rmse"] for r in results], out / "accuracy.png"),
    }
    summary = {"data": str(data_dir), "users": X.shape[0], "movies": X.shape[1],
               "ratings": int(X.nnz),
               "elbow_k": elbow_k, "silhouette_k": silhouette_k,
               "sizes_before": sizes_before.tolist(), "sizes_after": sizes_after.tolist(),
               "softmax_accuracy": dict(zip(map(int, accuracy.ks),
                                            accuracy.accuracy.round(4).tolist())),
               "results": [{k: None if _missing(v) else v for k, v in r.items()} for r in results]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
    (out / "index.html").write_text(_index_html(summary, pictures))
    click.echo(f"wrote {len(pictures)} pictures, summary.json and index.html to {out}/")


KINDS = {"served": "what the API serves", "floor": "floor: the most-rated movies, for everyone",
         "list": "ranking model", "rating": "rating model"}
_COLUMNS = (("nDCG@10", "ndcg_at_10"), ("P@10", "precision_at_10"), ("RMSE", "rmse"),
            ("fit s", "fit_seconds"))


def _kind(name: str) -> str:
    """Which of :data:`KINDS` a model of the table is."""
    from shared.recsys.evaluation.served import strategy_of
    from shared.recsys.models.registry import make

    if strategy_of(name) is not None:
        return "served"
    if name == FLOOR:
        return "floor"
    return "rating" if getattr(make(name), "predicts_ratings", True) else "list"


def _ordered(results: list[dict]) -> list[dict]:
    """What the API serves first, as given; then the rest by nDCG@10, best first."""
    served = [r for r in results if r["kind"] == "served"]
    rest = sorted((r for r in results if r["kind"] != "served"), key=lambda r: -r["ndcg_at_10"])
    return served + rest


def _missing(value) -> bool:
    return isinstance(value, float) and value != value  # NaN: a list has no RMSE


def _cell(value, decimals: int = 4) -> str:
    return "–" if value is None or _missing(value) else f"{value:.{decimals}f}"


def _index_html(summary: dict, pictures: dict) -> str:
    rows = "".join(
        f'<tr{" class=served" if r["kind"] == "served" else ""}><td>{html.escape(r["model"])}</td>'
        f'<td class=kind>{html.escape(KINDS[r["kind"]])}</td>'
        + "".join(f"<td>{_cell(r[key], 2 if key == 'fit_seconds' else 4)}</td>"
                  for _, key in _COLUMNS)
        + "</tr>" for r in summary["results"])
    figures = "".join(f'<figure><img src="{name}" alt="{name}">'
                      f'<figcaption>{name}</figcaption></figure>' for name in pictures)
    split = html.escape(summary["results"][0]["split"]) if summary["results"] else ""
    column_heads = "".join(f"<th>{h}</th>" for h, _ in _COLUMNS)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>movierec report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,td.kind{{text-align:left}}tr.served{{font-weight:bold;background:#e8f5e9}}</style>
</head><body>
<h1>movierec report</h1>
<p>{html.escape(summary['data'])}: {summary['users']:,} users, {summary['movies']:,} movies,
{summary['ratings']:,} ratings. Elbow rule k = {summary['elbow_k']}, silhouette k =
{summary['silhouette_k']}; clusters after fixing: {len(summary['sizes_after'])}.</p>
<h2>Accuracy ({split})</h2>
<p>Each test user's top 10 of the movies they had not rated, against their held-out favourites
(ratings &ge; 4): nDCG@10 and P@10, higher is better. The first row is the list the API serves
(<code>GET /v1/users/&lt;id&gt;/recommendations</code>); <code>{FLOOR}</code> recommends the same
most-rated movies to everyone, the floor a list must beat. RMSE, the error of predicted ratings
(lower is better), is only for the models that predict them.</p>
<table><tr><th>model</th><th>what it is</th>{column_heads}</tr>{rows}</table>
<h2>Pictures</h2>{figures}
</body></html>
"""
