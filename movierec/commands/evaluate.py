"""``movierec evaluate``: measure models offline on a MovieLens folder, as a table or JSON lines."""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import click

from shared import config
from shared.config import parse_k_range
from shared.recsys.evaluation import harness
from shared.recsys.evaluation.harness import RESULT_KEYS, evaluate
from shared.recsys.evaluation.served import ServedSetup, strategy_of
from shared.recsys.evaluation.split import PredefinedFolds, parse_split
from shared.recsys.pipeline import BundleConfig

DEFAULT_SPLIT = "random:0.8:0"
DEFAULT_MODELS = "baseline,svd,default"
_DECIMALS = {"rmse": 4, "mae": 4, "precision_at_10": 4, "recall_at_10": 4, "ndcg_at_10": 4,
             "coverage_at_10": 4, "popularity_percentile_at_10": 1, "fit_seconds": 3}
_HEADERS = {"model": "model", "split": "split", "folds": "folds", "rmse": "RMSE", "mae": "MAE",
            "precision_at_10": "P@10", "recall_at_10": "R@10", "ndcg_at_10": "nDCG@10",
            "coverage_at_10": "cov@10", "popularity_percentile_at_10": "pop%@10",
            "fit_seconds": "fit s", "n_test": "n_test"}


class SplitSpec(click.ParamType):
    """A ``--split`` string, parsed by :func:`shared.recsys.evaluation.split.parse_split`."""

    name = "split"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return parse_split(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def _model_names(ctx, param, values) -> list[str]:
    """Comma-separated and/or repeated ``--models``, checked against the registry and the served
    strategies, in order, once each."""
    names = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if name and name not in names:
                names.append(name)
    if not names:
        raise click.BadParameter("name at least one model", ctx, param)
    for name in names:
        try:
            harness.check_name(name)
        except KeyError as err:
            raise click.BadParameter(err.args[0], ctx, param) from None
    return names


def _k_range(ctx, param, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        return parse_k_range(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _served_setup(k_range: tuple[int, int] | None, min_cluster_size: int | None) -> ServedSetup:
    """The trainer's pipeline and the workers' placing of new users as configured ($K_RANGE,
    $MIN_CLUSTER_SIZE, $MIN_RATINGS_TO_ASSIGN, $MOVIEREC_PLACEMENT_GROWTH), with the options'
    overrides."""
    settings = config.load()
    pipeline = BundleConfig(k_range=k_range or settings.k_range,
                            min_cluster_size=min_cluster_size or settings.min_cluster_size,
                            exploration_coverage=settings.exploration_coverage)
    return ServedSetup(pipeline, settings.placement)


def _rounded(result: dict) -> dict:
    out = {}
    for key in RESULT_KEYS:
        value = result[key]
        if isinstance(value, float):
            value = None if math.isnan(value) else round(value, _DECIMALS.get(key, 4))
        out[key] = value
    return out


def _table(results: list[dict]) -> str:
    cells = [[_HEADERS[key] for key in RESULT_KEYS]]
    for result in results:
        cells.append(["-" if value is None else f"{value:.{_DECIMALS[key]}f}" if key in _DECIMALS
                      else str(value) for key, value in _rounded(result).items()])
    widths = [max(len(row[i]) for row in cells) for i in range(len(RESULT_KEYS))]
    text_columns = {0, 1}
    lines = ["  ".join(cell.ljust(w) if i in text_columns else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@click.command("evaluate")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", "split", type=SplitSpec(), default=DEFAULT_SPLIT, show_default=True,
              help="u1-u5 (ml-100k folds), random:FRACTION:SEED, users:FRACTION:SEED or "
                   "temporal:FRACTION; FRACTION is the training share.")
@click.option("--models", "models", multiple=True, default=[DEFAULT_MODELS], show_default=True,
              callback=_model_names,
              help=f"Comma-separated model names (repeatable): {', '.join(harness.available())}.")
@click.option("--k-range", callback=_k_range, default=None,
              help="served: models: the k values the pipeline scans, as LOW-HIGH "
                   "[default: $K_RANGE, else the trainer's].")
@click.option("--min-cluster-size", type=click.IntRange(min=1), default=None,
              help="served: models: clusters smaller than this are dissolved "
                   "[default: $MIN_CLUSTER_SIZE, else the trainer's].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model per line.")
def command(data_dir: Path, split, models: list[str], k_range, min_cluster_size, as_json: bool):
    """Fit MODELS on the training part of DATA_DIR (a MovieLens folder) and measure them on the
    rest.

    Reports RMSE and MAE of the held-out ratings (- for a model that only ranks), precision,
    recall and nDCG at 10 of held-out favourites (ratings >= 4), the share of the movies that
    appear in some top 10 (cov@10), the mean popularity percentile of the recommended movies
    (pop%@10: 100 = the most rated) and fit time, averaged over folds. served:STRATEGY is the
    list the API serves with that strategy, fitted by the trainer's pipeline. Progress goes to
    stderr.
    """
    from shared.data.movielens import LoadError, load_ratings, ml100k_fold

    try:
        if isinstance(split, PredefinedFolds):
            data = functools.partial(ml100k_fold, data_dir)
        else:
            data = load_ratings(data_dir, progress=True)
        served = (_served_setup(k_range, min_cluster_size)
                  if any(strategy_of(name) for name in models) else None)
        results = evaluate(models, split, data, progress=True, served=served)
    except (LoadError, FileNotFoundError) as err:
        raise click.ClickException(f"cannot read {data_dir}: {err}") from None
    except NotImplementedError as err:
        raise click.ClickException(f"{err} (needed by --split {split})") from None
    if as_json:
        for result in results:
            click.echo(json.dumps(_rounded(result)))
    else:
        click.echo(_table(results))
