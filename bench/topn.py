"""The top-10 lists of every served strategy against EASE and implicit's ALS.

    .venv/bin/pip install -e '.[bench]'      # implicit, once
    .venv/bin/python bench/topn.py           # about 5 minutes on 2 cores; rewrites the results
                                             # block of docs/topn-benchmark.md
    .venv/bin/python bench/topn.py --quick   # no implicit grid (one fixed point), no users
                                             # split (genre rows and the coverage trade-off
                                             # kept), prints only

One run measures, with the protocol of ``movierec evaluate`` (relevant = held-out ratings >= 4,
candidates = every movie the user has not rated in the training part, binary-gain nDCG):

- on ``random:0.8:0`` of ml-latest-small: every served strategy (``served:<name>``, the lists
  ``strategies.recommend`` serves from a version the trainer's pipeline fits on the training
  part, with the configuration ``movierec evaluate`` reads), our registry models, the
  reference EASE as usually configured (λ = 500, binary, every movie), and implicit's ALS at
  the best point of a grid chosen on a validation split carved from the training part
  (``shared.recsys.models.tuning.tune``);
- on the same fold (bench/topn_rows.py), **genre rows**: for each of the 6 genres of the most
  movies, the served personal list filtered to the genre (``strategies.recommend`` with an
  ``Allowed``, as ``?genre=`` asks the API) against the genre's most rated movies, relevant =
  held-out ratings >= 4 of movies of the genre (users without one not measured for it);
  nDCG@10 and P@10 per genre and their mean; the time of ``recommend`` with and without the
  filter (mean ms per user);
- on the same fold, the **coverage trade-off**: the served ranker (``EASE`` with the version's
  chosen parameters, fitted on the training part) re-ranked with a popularity penalty,
  ``score - beta * max(the user's scores) * log1p(n_i) / log1p(max n)`` for beta in 0..0.5,
  at the served candidates (750) and at 2,000: nDCG@10, P@10, coverage@10, popularity and
  intra-list genre diversity, against the goal coverage@10 >= 15 % with nDCG@10 >= 0.98 x
  0.321 (the personal list's on this split when the goal was set; reported, not one of the
  targets that set the exit status);
- on the same fold, the **exploration**: the served personal list for each coverage asked of
  the version's exploration (``MOVIEREC_EXPLORATION_COVERAGE``), against the same goal;
- on the same fold, the served personal list at each ``diversity`` a request may ask;
- on ``users:0.7:0`` (the new-user protocol): the served strategies and the ranking
  models, new users folded in from their shown ratings (``predict_unseen``);
- on ``temporal:0.7`` to ``temporal:0.9`` (train on the first part of time, test on the
  rest): the served personal list, its hyper-parameters chosen on a temporal validation split,
  against ``ease``, ``ials`` and ``most-popular``; the targets read ``temporal:0.8``.

Each protocol's served version is tuned on a validation split of its own kind: temporal for
the temporal splits (as the trainer tunes on its snapshot), a random share otherwise.

Every fit runs with the same number of threads (``--threads``): BLAS limited by threadpoolctl,
implicit's ``num_threads``. Fit seconds are one fit each; a served row's is the whole version
(the pipeline and its counters), shared by the served rows.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-latest-small"
DOC = ROOT / "docs" / "topn-benchmark.md"
SCRIPT = "bench/topn.py"
sys.path.insert(0, str(ROOT))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402
from topn_implicit import (  # noqa: E402
    QUICK_POINT,
    ImplicitALSReference,
    choose,
    recommend_agreement,
)
from topn_rows import (  # noqa: E402
    BETAS,
    COVERAGE_GOAL,
    NDCG_BOUND,
    NDCG_KEPT,
    NDCG_REFERENCE,
    WIDE_CANDIDATES,
    coverage_caps,
    coverage_tradeoff,
    diversity_rows,
    diversity_table,
    exploration_rows,
    exploration_table,
    facets_of,
    genre_matrix,
    genre_rows,
    genre_table,
    ranker_params,
    timing_line,
    top_genres,
    tradeoff_table,
    tradeoff_verdict,
)

from shared.recsys.diversity import DIVERSITY_POOL  # noqa: E402
from shared.recsys.evaluation.harness import TOP_N, measure, measure_served  # noqa: E402
from shared.recsys.evaluation.served import (  # noqa: E402
    PublishedVersion,
    ServedSetup,
    served_names,
    strategy_of,
)
from shared.recsys.evaluation.split import parse_split  # noqa: E402
from shared.recsys.models.ease import EASE  # noqa: E402
from shared.recsys.models.registry import make, resolve  # noqa: E402
from shared.recsys.pipeline import BundleConfig  # noqa: E402
from shared.recsys.strategies import DEFAULT_STRATEGY  # noqa: E402

SPLIT = "random:0.8:0"
USER_SPLIT = "users:0.7:0"
REGISTRY_MODELS = ("ease", "ials", "most-popular", "default")
USER_SPLIT_MODELS = ("most-popular", "ease", "ials")
TEMPORAL_CUTS = (0.7, 0.75, 0.8, 0.85, 0.9)  # temporal:0.8 is the target; the others its spread
TEMPORAL_TARGET = 0.8
TEMPORAL_MODELS = ("ease", "ials", "most-popular")
TEMPORAL_GAIN, POPULAR_GAIN = 1.05, 1.2  # over the best of ease and ials; over most-popular
EASE_LABEL = "EASE, reference (l2=500, binary, every movie)"
IMPLICIT_LABEL = "implicit ALS (validation's best grid point)"
EASE_GAIN = 1.05
# the coverages asked of the exploration in its table (and the configured one)
EXPLORATION_ASKED = (0.0, 0.1, 0.15, 0.16, 0.2)
GRID_ROWS_SHOWN = 15
P, R, NDCG = f"precision_at_{TOP_N}", f"recall_at_{TOP_N}", f"ndcg_at_{TOP_N}"
COV, POP = f"coverage_at_{TOP_N}", f"popularity_percentile_at_{TOP_N}"


def reference_ease() -> EASE:
    return EASE(l2=500.0, scheme="binary", max_items=100_000, max_candidates=100_000)


def served_setup() -> ServedSetup:
    """The trainer's pipeline and the workers' placing of new users as ``movierec evaluate``
    reads them."""
    from shared import config

    settings = config.load()
    return ServedSetup(BundleConfig(k_range=settings.k_range,
                                    min_cluster_size=settings.min_cluster_size,
                                    exploration_coverage=settings.exploration_coverage),
                       settings.placement)


def served_rows(fold, setup: ServedSetup, log) -> tuple[dict, PublishedVersion]:
    version = PublishedVersion(fold, setup)
    log(f"  served version fitted in {version.fit_seconds:.1f} s")
    rows = {}
    for name in served_names():
        rows[name] = {"model": name, **measure_served(strategy_of(name), version)}
        log(line(rows[name]))
    return rows, version


def measured(label: str, model, fold, log) -> dict:
    row = {"model": label, **measure(model, fold)}
    log(line(row))
    return row


def line(r: dict) -> str:
    return (f"  {r['model'][:50]:50s} P@10 {r[P]:.4f} nDCG@10 {r[NDCG]:.4f} "
            f"cov {r[COV]:.3f} pop {r[POP]:.1f} fit {r['fit_seconds']:.2f} s")


def random_split(data, setup, threads, quick, log) -> tuple[dict, dict]:
    fold = next(parse_split(SPLIT).folds(data))
    info = {"train": int(fold.train.nnz), "test": fold.n_test, "dropped": fold.dropped}
    log(f"{SPLIT}: {info}")
    rows, version = served_rows(fold, setup, log)
    for name in REGISTRY_MODELS:
        label = name if resolve(name) == name else f"{name} (= {resolve(name)})"
        rows[name] = measured(label, make(name), fold, log)
    rows["ease-reference"] = measured(EASE_LABEL, reference_ease(), fold, log)
    if quick:
        best, grid, label = dict(QUICK_POINT), [], "implicit ALS (--quick: a fixed point)"
    else:
        (best, grid), label = choose(fold.train, threads, log), IMPLICIT_LABEL
    reference = ImplicitALSReference(**best, num_threads=threads)
    rows["implicit"] = measured(label, reference, fold, log)
    info.update(implicit_best=best, implicit_grid=grid,
                recommend_agreement=recommend_agreement(reference, fold))
    log(f"  implicit recommend() agrees with the harness's lists for "
        f"{100 * info['recommend_agreement']:.1f} % of the users")
    genres = top_genres(data.movies)
    log(f"  genre rows of the served personal list: {', '.join(genres)}")
    info["genre_rows"] = genre_rows(version, facets_of(data.movies), genres, TOP_N, log)
    G = genre_matrix(data.movies, fold)
    log("  the served personal list at each diversity a request may ask")
    info["diversity"] = diversity_rows(version, facets_of(data.movies), G, TOP_N, log)
    params = ranker_params(version)
    log(f"  coverage trade-off, EASE {params}")
    info["tradeoff"] = coverage_tradeoff(fold, params, G, TOP_N, log)
    asked = sorted({*EXPLORATION_ASKED, setup.pipeline.exploration_coverage})
    log(f"  the served personal list at each exploration coverage asked: {asked}")
    info["exploration"] = exploration_rows(version, asked, G, TOP_N, log)
    return rows, info


def users_split(data, setup, threads, best, log) -> tuple[dict, dict]:
    fold = next(parse_split(USER_SPLIT).folds(data))
    info = {"train": int(fold.train.nnz), "known": int(fold.known.nnz), "test": fold.n_test,
            "new_users": int(fold.known.shape[0]), "dropped": fold.dropped}
    log(f"{USER_SPLIT}: {info}")
    rows, _ = served_rows(fold, setup, log)
    temporal = PublishedVersion(fold, setup, temporal_validation=True)
    label = f"served:{DEFAULT_STRATEGY}, tuned on a temporal split"
    rows["temporal-tuned"] = {"model": label, **measure_served(DEFAULT_STRATEGY, temporal)}
    log(line(rows["temporal-tuned"]) + f" {temporal.model.manifest['ranker_tuning']['chosen']}")
    for name in USER_SPLIT_MODELS:
        rows[name] = measured(name, make(name), fold, log)
    rows["implicit"] = measured(IMPLICIT_LABEL, ImplicitALSReference(**best, num_threads=threads),
                                fold, log)
    return rows, info


def temporal_splits(data, setup, log) -> dict:
    """nDCG@10 of the served personal list (its hyper-parameters chosen on a temporal
    validation split of each cut's training part) and of the registry's rankers, on the
    temporal split at each of ``TEMPORAL_CUTS``; with the users each measures."""
    served = f"served:{DEFAULT_STRATEGY}"
    out = {}
    for cut in TEMPORAL_CUTS:
        fold = next(parse_split(f"temporal:{cut:g}").folds(data))
        version = PublishedVersion(fold, setup)
        row = {served: measure_served(strategy_of(served), version)[NDCG]}
        for name in TEMPORAL_MODELS:
            row[name] = measure(make(name), fold)[NDCG]
        row["users"] = int(len(np.unique(fold.test_users[fold.test_ratings >= 4.0])))
        row["chosen"] = version.model.manifest["ranker_tuning"]["chosen"]
        out[cut] = row
        log(f"  temporal:{cut:g}: " + " ".join(f"{k} {v:.4f}" for k, v in row.items()
                                               if isinstance(v, float)) + f" {row['chosen']}")
    return out


def temporal_table(result: dict) -> str:
    served = f"served:{DEFAULT_STRATEGY}"
    names = (served, *TEMPORAL_MODELS)
    return table(["split", "users measured", *[f"`{n}`" for n in names],
                  "served ÷ best of ease, ials", "served ÷ most-popular",
                  "served: chosen on validation"],
                 [[f"`temporal:{cut:g}`", row["users"], *[f"{row[n]:.4f}" for n in names],
                   f"{row[served] / max(row['ease'], row['ials']):.2f}",
                   f"{row[served] / row['most-popular']:.2f}",
                   ", ".join(f"{k} {v:g}" if v is not None else f"{k} none"
                             for k, v in row["chosen"].items())]
                  for cut, row in result.items()])


def targets(rows: dict, users: dict | None, temporal: dict | None = None) -> list[dict]:
    served = f"served:{DEFAULT_STRATEGY}"
    ours, ease, als = rows[served], rows["ease-reference"], rows["implicit"]
    goals = []
    for key, label in ((NDCG, f"nDCG@{TOP_N}"), (P, f"P@{TOP_N}")):
        goals.append({"target": f"{SPLIT}: {served} {label} >= {EASE_GAIN} x reference EASE",
                      "ok": ours[key] >= EASE_GAIN * ease[key],
                      "figures": f"{ours[key]:.4f} vs {EASE_GAIN} x {ease[key]:.4f} = "
                                 f"{EASE_GAIN * ease[key]:.4f} ({ours[key] / ease[key]:.3f} x)"})
        goals.append({"target": f"{SPLIT}: {served} {label} >= implicit ALS",
                      "ok": ours[key] >= als[key],
                      "figures": f"{ours[key]:.4f} vs {als[key]:.4f} "
                                 f"({ours[key] / als[key]:.3f} x)"})
    if users is not None:
        a, b = users[served][NDCG], users["most-popular"][NDCG]
        goals.append({"target": f"{USER_SPLIT}: {served} nDCG@{TOP_N} > most-popular",
                      "ok": a > b, "figures": f"{a:.4f} vs {b:.4f} ({a / b:.3f} x)"})
    if temporal is not None:
        row = temporal[TEMPORAL_TARGET]
        ours, rival = row[served], max(row["ease"], row["ials"])
        goals.append({"target": f"temporal:{TEMPORAL_TARGET:g}: {served} nDCG@{TOP_N} >= "
                                f"{TEMPORAL_GAIN} x the best of ease and ials",
                      "ok": ours >= TEMPORAL_GAIN * rival,
                      "figures": f"{ours:.4f} vs {TEMPORAL_GAIN} x {rival:.4f} = "
                                 f"{TEMPORAL_GAIN * rival:.4f} ({ours / rival:.3f} x)"})
        floor = row["most-popular"]
        goals.append({"target": f"temporal:{TEMPORAL_TARGET:g}: {served} nDCG@{TOP_N} >= "
                                f"{POPULAR_GAIN} x most-popular",
                      "ok": ours >= POPULAR_GAIN * floor,
                      "figures": f"{ours:.4f} vs {POPULAR_GAIN} x {floor:.4f} = "
                                 f"{POPULAR_GAIN * floor:.4f} ({ours / floor:.3f} x)"})
    return goals


def result_table(rows: dict) -> str:
    def num(value, digits):
        return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"

    body = [[f"`{r['model']}`", num(r[P], 4), num(r[R], 4), num(r[NDCG], 4), num(r[COV], 4),
             num(r[POP], 1), num(r["rmse"], 4), num(r["fit_seconds"], 2)] for r in rows.values()]
    body.sort(key=lambda row: -float(row[3]))
    return table(["model", f"P@{TOP_N}", f"R@{TOP_N}", f"nDCG@{TOP_N}", f"coverage@{TOP_N}",
                  f"popularity pct@{TOP_N}", "RMSE", "fit s"], body)


def grid_table(rows: list[dict], best: dict, limit: int) -> str:
    """The ``limit`` best points of one stage, only the parameters the stage varied."""
    varied = [n for n in best if len({repr(r[n]) for r in rows}) > 1]
    shown = sorted(rows, key=lambda r: -r["ndcg"])[:limit]
    return table([*varied, "val nDCG@10", "val P@10", "fit s"],
                 [[*(r[n] for n in varied),
                   f"{r['ndcg']:.4f}" + (" **chosen**" if all(r[n] == best[n] for n in best)
                                         else ""),
                   f"{r['precision']:.4f}", f"{r['fit_seconds']:.2f}"] for r in shown])


def rows_sections(served: dict, fold_info: dict) -> list[str]:
    """The genre rows and the coverage trade-off, measured on the ``SPLIT`` fold."""
    rows, trade = fold_info["genre_rows"], fold_info["tradeoff"]
    personal = f"served:{DEFAULT_STRATEGY}"
    base, wide = trade["rows"][0], trade["rows"][len(BETAS)]
    ease = ", ".join(f"{key}={value!r}" for key, value in trade["params"].items())
    return [
        f"\n### Genre rows on `{SPLIT}`\n\n"
        f"The {len(rows['genres'])} genres of the most movies of the catalogue. For each, every "
        f"user with a held-out rating >= 4 of a movie of the genre (\"users\"; the others are "
        f"not measured for it) is served the `{personal}` list filtered to the genre "
        "(`strategies.recommend` with `Allowed(ListFilter(genres={genre}))`, their training "
        "ratings as their live ratings), against the genre's movies by number of training "
        "ratings, their training movies left out. Relevant = their held-out ratings >= 4 of "
        "movies of the genre. \"Rows filled\": rows the ranker's candidates could not make 10 "
        "long, completed by `strategies.fill` (items so added).\n\n",
        genre_table(rows, TOP_N),
        "\n" + timing_line(rows["timing"]),
        f"\n### Coverage trade-off on `{SPLIT}`\n\n"
        f"The served ranker's lists cover {100 * base['coverage']:.1f} % of the catalogue "
        f"(coverage@{TOP_N}) before the exploration. The served ranker, `EASE({ease})` "
        "(the version's chosen parameters), fitted on the training part and re-ranked: "
        "score' = score - beta x max(the user's scores) x log1p(n_i) / log1p(max n), n_i the "
        "movie's training ratings, the max over the movies the user may be recommended; with "
        f"the served candidates and with `max_candidates={WIDE_CANDIDATES}` (as many as its "
        f"inputs). {trade['users']} users, the protocol above; coverage is of the "
        f"{trade['n_movies']:,} movies with a training rating, and cannot exceed the "
        f"candidates' share of them ({coverage_caps(trade)}). Genre diversity: mean over the "
        "users of the mean pairwise Jaccard distance of the genre sets of their 10 movies. "
        f"Beta 0 at the served candidates is `{personal}`'s list before the exploration "
        f"(nDCG@{TOP_N} {base['ndcg']:.4f}, coverage {base['coverage']:.4f}; with it, "
        f"{served[NDCG]:.4f} and {served[COV]:.4f} in the table above); at "
        f"{WIDE_CANDIDATES:,} candidates {wide['ndcg']:.4f}, {wide['coverage']:.4f}.\n\n",
        tradeoff_table(trade, TOP_N),
        "\n" + tradeoff_verdict(trade, TOP_N),
        *exploration_section(fold_info["exploration"]),
        f"\n### Diversity on request, on `{SPLIT}`\n\n"
        f"`GET /v1/users/<id>/recommendations?diversity=d` (and the guest list) chooses the "
        f"list from the strategy's best {DIVERSITY_POOL} by maximal marginal relevance over "
        "genres (`shared/recsys/diversity.py`): `strategies.recommend` with a `Diversify`, "
        f"for the {fold_info['diversity']['users']} users above, their training ratings as "
        "their live ratings. Diversity 0 is the list as served. \"ms per list\": the mean "
        "time of `strategies.recommend`, interleaved user by user.\n\n",
        diversity_table(fold_info["diversity"], TOP_N),
        "\nA request's diversity varies one list's genres; it does not widen the catalogue the "
        "lists cover, which is a property of every user's list together.\n"]


def exploration_section(result: dict) -> list[str]:
    """The exploration table: the served personal list at each coverage asked."""
    from shared import config

    default = config.Settings.exploration_coverage
    return [
        f"\n### Exploration on `{SPLIT}`\n\n"
        "At each retrain the version may give users movies no list shows, each in the place "
        "of a movie other lists show too (`shared/recsys/models/exploration.py`), until the "
        "lists of every training user show the coverage asked "
        "(`MOVIEREC_EXPLORATION_COVERAGE`). Here the exploration is fitted on the training "
        f"part as the trainer fits it, for each coverage asked, and the `served:"
        f"{DEFAULT_STRATEGY}` lists of the {result['users']} users measured above are "
        "computed again (`PublishedVersion.lists`, the users' training ratings as their live "
        "ratings). \"Reached\" is the coverage of all "
        f"{result['training_users']} training users' lists, which the exploration aims at; "
        f"coverage@{TOP_N} is of the lists measured. Highest cost: the largest normalised "
        "gap a movie was given at (how far below the user's tenth, in units of the spread of "
        "their top ten). \"Fit s\": the exploration alone.\n\n",
        exploration_table(result, TOP_N, default),
        "\n" + exploration_verdict(result)]


def exploration_verdict(result: dict) -> str:
    rows = result["rows"]
    meeting = [e for e in rows if e["meets_goal"]]
    within = [e for e in rows if e["ndcg_ratio"] >= NDCG_KEPT]
    widest = max(within, key=lambda e: e["coverage"])
    text = (f"Goal: coverage@{TOP_N} >= {100 * COVERAGE_GOAL:.0f} % with nDCG@{TOP_N} >= "
            f"{NDCG_BOUND:.4f}, as above. Within {NDCG_KEPT} x this run's list without "
            f"exploration ({rows[0]['ndcg']:.4f}), the widest coverage@{TOP_N} is "
            f"{widest['coverage']:.4f} (asking {widest['asked']:g}). ")
    if meeting:
        text += "**The goal is met** asking " + ", ".join(
            f"{e['asked']:g} (coverage {e['coverage']:.4f}, nDCG@{TOP_N} {e['ndcg']:.4f}, "
            f"{e['ndcg'] / NDCG_REFERENCE:.3f} x {NDCG_REFERENCE})" for e in meeting) + ".\n"
    else:
        text += "**No coverage asked meets the goal.**\n"
    return text


def render(info, setup, threads, rows, fold_info, users, users_info, goals, wall,
           temporal=None) -> str:
    config = setup.pipeline
    out = [f"Run of {info['date']}: `.venv/bin/python {SCRIPT}`, wall time {wall / 60:.1f} min; "
           f"{threads} thread(s) for every fit (BLAS and implicit's `num_threads`).\n\n"
           "### Machine\n\n", machine_lines(info),
           f"\nServed version: pipeline model `{config.model}`, ranker "
           f"`{getattr(config, 'ranker', None)}`, k over {config.k_range[0]}..{config.k_range[1]}, "
           f"smallest cluster {config.min_cluster_size}, new users placed at "
           f"{setup.placement.min_ratings} ratings, again at each {setup.placement.growth:g}x; "
           f"default strategy `{DEFAULT_STRATEGY}`.\n",
           f"\n### `{SPLIT}` on ml-latest-small\n\n"
           f"{fold_info['train']:,} training ratings, {fold_info['test']:,} held-out ratings "
           f"({fold_info['dropped']} dropped: movie unseen in training). Sorted by nDCG@10; "
           "popularity pct: mean percentile of the recommended movies' training rating counts "
           "(100 = the most rated).\n\n", result_table(rows),
           f"\nimplicit ALS: chosen `{fold_info['implicit_best']}`; its scores are the dot "
           "products of its factors ranked by our harness; implicit's own `recommend(userids, "
           "user_items, N=10, filter_already_liked_items=True)` returns the same top 10 for "
           f"{100 * fold_info['recommend_agreement']:.1f} % of the users.\n",
           *rows_sections(rows[f"served:{DEFAULT_STRATEGY}"], fold_info)]
    if users is not None:
        out += [f"\n### `{USER_SPLIT}` (the new-user protocol: new users, half their ratings "
                "shown)\n\n"
                f"{users_info['new_users']} new users with {users_info['known']:,} shown ratings; "
                f"{users_info['test']:,} held-out ratings; {users_info['train']:,} training "
                "ratings of the other users.\n\n", result_table(users)]
    if temporal is not None:
        out += ["\n### `temporal:FRACTION` (train on the first part of time, test on the rest)\n\n"
                "The served version's hyper-parameters (EASE's penalty and the half-life of its "
                "ratings' weights) are chosen on a temporal validation split of each cut's "
                "training part (its latest fifth held out); the other models are at their "
                "defaults. Held-out ratings of users or movies the training part does not have "
                "are dropped, so few users are measured: a difference of 0.02 is within the "
                "noise of one cut.\n\n", temporal_table(temporal)]
    out += ["\n### Targets\n\n",
            table(["target", "result", "figures"],
                  [[g["target"], "**PASS**" if g["ok"] else "**FAIL**", g["figures"]]
                   for g in goals])]
    for stage, rows in enumerate(fold_info["implicit_grid"], 1):
        shown = min(len(rows), GRID_ROWS_SHOWN)
        out += [f"\n### implicit ALS on the validation split of `{SPLIT}`'s training part, "
                f"stage {stage} (best {shown} of {len(rows)} points)\n\n",
                grid_table(rows, fold_info["implicit_best"], GRID_ROWS_SHOWN)]
    return "".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=1, help="threads of every fit")
    parser.add_argument("--quick", action="store_true",
                        help="no implicit grid, no users split, print only (no document)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"no data folder at {args.data}")
    import implicit
    from threadpoolctl import threadpool_limits

    from shared.data.movielens import load

    started = time.perf_counter()
    log = lambda text: print(text, flush=True)  # noqa: E731
    setup = served_setup()
    data = load(args.data)
    users = users_info = None
    with threadpool_limits(limits=args.threads, user_api="blas"):
        info = {**machine_info(), "implicit": implicit.__version__}
        log(machine_lines(info))
        rows, fold_info = random_split(data, setup, args.threads, args.quick, log)
        temporal = None
        if not args.quick:
            users, users_info = users_split(data, setup, args.threads,
                                            fold_info["implicit_best"], log)
            temporal = temporal_splits(data, setup, log)
    wall = time.perf_counter() - started
    goals = targets(rows, users, temporal)
    for g in goals:
        log(f"{'PASS' if g['ok'] else 'FAIL'}  {g['target']}: {g['figures']}")
    log(f"wall time {wall:.0f} s")
    block = render(info, setup, args.threads, rows, fold_info, users, users_info, goals, wall,
                   temporal)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "random": rows, "random_info": fold_info,
                                         "users": users, "users_info": users_info,
                                         "temporal": temporal,
                                         "targets": goals, "wall_seconds": wall}, indent=1))
    if args.quick:
        log("\n" + block)
    else:
        write_results(DOC, SCRIPT, block, "Top-N benchmark")
        log(f"results written to {DOC.relative_to(ROOT)}")
    return 0 if all(g["ok"] for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
