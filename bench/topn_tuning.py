"""The top-N estimators' hyper-parameters chosen on validation, then measured on test.

    .venv/bin/python bench/topn_tuning.py          # about 5 minutes on 2 cores; rewrites the
                                                   # results block of docs/topn-tuning.md
    .venv/bin/python bench/topn_tuning.py --print  # the same, printed only

The split ``random:0.8:0`` of ml-latest-small is built by ``parse_split``. Every grid runs on a
validation split carved from its training part only (``shared.recsys.models.tuning.tune``: 20 % of
the training ratings held out, seed 0); the test part is used once, to measure the estimators at
their defaults (which are the validation winners) with the protocol of ``movierec evaluate``:
relevant = test ratings >= 4, candidates = every movie the user did not rate in training,
binary-gain nDCG@10 and P@10. Grids run in stages (each stage starts from the previous
winners), as Rendle et al. 2021 advise for iALS. Stages whose parameters buy cost (EASE's
catalogue size, iALS's epochs, conjugate-gradient steps and dimension) choose the fastest fit
within 1 % of the best validation nDCG; EASE's candidates, whose cost is paid on every request,
the fewest within 1 %; the others the best nDCG.

Fold-in: iALS fitted at its defaults on all ratings, then each of the 610 users' vector solved
from their current ratings (``user_vectors``) and every movie scored (``predict_unseen``), one
user per call on one BLAS thread, as the API does; p50/p99 over the users.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-latest-small"
DOC = ROOT / "docs" / "topn-tuning.md"
SCRIPT = "bench/topn_tuning.py"
sys.path.insert(0, str(ROOT))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402

from shared.data.movielens import load  # noqa: E402
from shared.recsys.blas import one_blas_thread  # noqa: E402
from shared.recsys.evaluation.accuracy import ranking_metrics, relevant_items  # noqa: E402
from shared.recsys.evaluation.split import parse_split  # noqa: E402
from shared.recsys.models.ease import EASE  # noqa: E402
from shared.recsys.models.ials import ImplicitALS  # noqa: E402
from shared.recsys.models.topn import SCHEMES, MostPopular  # noqa: E402
from shared.recsys.models.tuning import tune  # noqa: E402
from shared.recsys.ratings import rating_matrix  # noqa: E402

SPLIT = "random:0.8:0"
# Stages whose parameters buy cost take the fastest fit within this (relative) of the best.
COST_TOLERANCE = 0.01
# (grid, tolerance[, cost: the column the tolerance minimises, the fit's seconds by default])
EASE_STAGES = (
    ({"l2": [25.0, 50.0, 100.0, 200.0, 500.0, 1000.0], "scheme": list(SCHEMES),
      "max_items": [4000]}, 0.0),
    ({"max_items": [1000, 2000, 4000, 10_000]}, COST_TOLERANCE),
    ({"max_candidates": [250, 500, 750, 1000, 1500, 2000]}, COST_TOLERANCE, "max_candidates"),
)
# Where the stages start: the reference EASE as usually configured (every movie a candidate),
# and iALS on the binary matrix.
EASE_START = EASE(l2=500.0, scheme="binary", max_items=4000, max_candidates=100_000)
IALS_START = ImplicitALS(n_factors=64, reg=0.01, unobserved_weight=0.1, n_iter=15, cg_steps=3,
                         scheme="binary")
IALS_STAGES = (
    ({"reg": [0.003, 0.01, 0.03], "unobserved_weight": [0.03, 0.1, 0.3, 1.0]}, 0.0),
    ({"scheme": list(SCHEMES)}, 0.0),
    ({"n_iter": [8, 15, 25], "cg_steps": [3, 6]}, COST_TOLERANCE),
    ({"n_factors": [32, 64, 128]}, COST_TOLERANCE),
)


def staged(estimator, stages, X, log):
    """Tune stage after stage, each stage's grid around the winners so far."""
    chosen, tables = {}, []
    for grid, tolerance, *cost in stages:
        grid = {**{name: [value] for name, value in chosen.items() if name not in grid}, **grid}
        cost = cost[0] if cost else "fit_seconds"
        best, rows = tune(estimator, grid, X, tolerance=tolerance, cost=cost)
        chosen.update(best)
        tables.append((list(grid), rows, best, tolerance, cost))
        log(f"  stage {len(tables)}: best {best}")
    return chosen, tables


def tuning_table(names, rows, best) -> str:
    varied = [n for n in names if len({repr(r[n]) for r in rows}) > 1]
    mark = lambda r: " **chosen**" if all(r[n] == best[n] for n in best) else ""  # noqa: E731
    out = [[*(r[n] for n in varied), f"{r['ndcg']:.4f}{mark(r)}", f"{r['precision']:.4f}",
            f"{r['fit_seconds']:.2f}"] for r in rows]
    out.sort(key=lambda row: -float(row[len(varied)].split()[0]))
    return table([*varied, "val nDCG@10", "val P@10", "fit s"], out)


def test_row(name, model, fold, relevant):
    start = time.perf_counter()
    model.fit(fold.train)
    fit_seconds = time.perf_counter() - start
    m = ranking_metrics(model.score_users, fold.train, relevant)
    return [name, f"{m['precision']:.4f}", f"{m['ndcg']:.4f}", f"{fit_seconds:.2f}"]


def fold_in_times(X) -> dict:
    model = ImplicitALS().fit(X)
    vector, full = [], []
    with one_blas_thread():
        for user in range(X.shape[0]):
            row = X[user]
            start = time.perf_counter()
            model.user_vectors(row)
            vector.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.predict_unseen(row)
            full.append(time.perf_counter() - start)
    ms = lambda values, q: f"{1000 * np.percentile(values, q):.3f}"  # noqa: E731
    return {"users": X.shape[0], "vector_p50": ms(vector, 50), "vector_p99": ms(vector, 99),
            "scores_p50": ms(full, 50), "scores_p99": ms(full, 99),
            "ratings_max": int(np.diff(X.indptr).max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--print", action="store_true", help="print only, do not rewrite the doc")
    args = parser.parse_args(argv)
    info = machine_info()
    data = load(args.data)
    fold = next(parse_split(SPLIT).folds(data))
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings, fold.train.shape)
    log = lambda text: print(text, flush=True)  # noqa: E731

    log("EASE")
    ease_best, ease_tables = staged(EASE_START, EASE_STAGES, fold.train, log)
    log("iALS")
    ials_best, ials_tables = staged(IALS_START, IALS_STAGES, fold.train, log)

    log("test part")
    rows = [test_row("most-popular", MostPopular(), fold, relevant),
            test_row("ease, reference (l2=500, binary, every movie)",
                     EASE(l2=500.0, scheme="binary", max_items=10_000,
                          max_candidates=10_000), fold, relevant),
            test_row("ease (defaults)", EASE(), fold, relevant),
            test_row("ials (defaults)", ImplicitALS(), fold, relevant)]
    notes = []
    for name, default, best in (("ease", EASE(), ease_best), ("ials", ImplicitALS(), ials_best)):
        differ = {key: value for key, value in best.items() if default.get_params()[key] != value}
        if differ:
            notes.append(f"{name}: the defaults differ from the validation winners in {differ}.\n")
            rows.append(test_row(f"{name} (validation winner)", clone(default).set_params(**best),
                                 fold, relevant))
        else:
            notes.append(f"{name}: the defaults are the validation winners.\n")
    X_all, _, _ = rating_matrix(data.ratings)
    fold_in = fold_in_times(X_all)

    block = [f"Split `{SPLIT}` of {Path(args.data).resolve().name}: {fold.train.nnz} training "
             f"ratings, {fold.n_test} test ratings. Command: `.venv/bin/python {SCRIPT}`.\n\n",
             "### Test part (relevant = test ratings >= 4, training items excluded)\n\n",
             table(["model", "P@10", "nDCG@10", "fit s"], rows), "\n",
             f"Validation winners: EASE `{ease_best}`; iALS `{ials_best}`.\n\n", *notes, "\n",
             f"iALS fold-in, one user per call over all {fold_in['users']} users of the full data "
             f"(most ratings of one user: {fold_in['ratings_max']}), one BLAS thread: "
             f"`user_vectors` p50 {fold_in['vector_p50']} ms, p99 {fold_in['vector_p99']} ms; "
             f"`predict_unseen` (vector and every movie's score) p50 {fold_in['scores_p50']} ms, "
             f"p99 {fold_in['scores_p99']} ms.\n\n"]
    for title, tables in (("EASE", ease_tables), ("iALS", ials_tables)):
        for stage, (names, stage_rows, best, tolerance, cost) in enumerate(tables, 1):
            fixed = {n: stage_rows[0][n] for n in names
                     if len({repr(r[n]) for r in stage_rows}) == 1}
            cheapest = "the fastest fit" if cost == "fit_seconds" else f"the lowest {cost}"
            rule = (f"{cheapest} within {tolerance:.0%} of the best nDCG" if tolerance
                    else "the best nDCG")
            block += [f"### Validation, {title} stage {stage} (fixed: `{fixed}`; chosen: {rule})"
                      "\n\n", tuning_table(names, stage_rows, best), "\n"]
    block += ["Machine:\n\n", machine_lines(info)]
    text = "".join(block)
    print(text)
    if not args.print:
        write_results(DOC, SCRIPT, text, "Top-N estimators: validation and test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
