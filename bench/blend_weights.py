"""What learning the blend's weights on a sample of users costs and saves, by hand.

    .venv/bin/python bench/blend_weights.py --data /tmp/gen25m     # ~12 minutes at 25 M
    .venv/bin/python bench/blend_weights.py --data DIR --weight-ratings 2000000,5000000,none

The registry's blend (biased MF, item-kNN, baseline) is fitted on a random 90 % of the ratings
of ``--data`` (a MovieLens-format folder; seeded, the same split for every variant) with each
``weight_ratings`` in turn (``none``: the weights learned from members fitted on every user),
and measured on the other 10 %: the fit's wall seconds, the RMSE, the weights. One process,
the variants one after the other. Results go into their block of docs/scale-benchmark.md
unless ``--no-doc``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402

DOC = ROOT / "docs" / "scale-benchmark.md"
SCRIPT = "bench/blend_weights.py"
HELD_OUT, SEED = 0.1, 7


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="a MovieLens-format folder (`movierec generate` makes one)")
    parser.add_argument("--weight-ratings", default="5000000,none",
                        help="comma-separated: numbers of ratings, or none")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    from shared.data.ratings_reader import load_ratings
    from shared.recsys.models import registry
    from shared.recsys.ratings import rating_matrix

    ratings = load_ratings(args.data)
    X, _, _ = rating_matrix(ratings)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    test = np.random.default_rng(SEED).random(X.nnz) < HELD_OUT
    train = sp.csr_matrix((X.data[~test], (rows[~test], X.indices[~test])), shape=X.shape)
    users, items, truth = rows[test], X.indices[test], X.data[test]
    results = []
    for value in args.weight_ratings.split(","):
        weight_ratings = None if value.strip() == "none" else int(value)
        model = registry.make("blend").set_params(weight_ratings=weight_ratings)
        started = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - started
        rmse = float(np.sqrt(np.mean((model.predict(users, items) - truth) ** 2)))
        results.append({"weight_ratings": weight_ratings, "seconds": seconds, "rmse": rmse,
                        "weights": model.weights_.tolist(), "intercept": model.intercept_})
        print(results[-1], flush=True)
    block = render(machine_info(), args, X, results)
    print(block)
    if not args.no_doc:
        write_results(DOC, SCRIPT, block, "Scale benchmark")
    return 0


def render(info, args, X, results) -> str:
    every = next((r for r in results if r["weight_ratings"] is None), None)
    rows = []
    for r in results:
        versus = "" if every is None or r is every else f"{r['rmse'] / every['rmse'] - 1:+.2%}"
        rows.append(["every user" if r["weight_ratings"] is None else f"{r['weight_ratings']:,}",
                     f"{r['seconds']:.0f}", f"{r['rmse']:.4f}", versus,
                     ", ".join(f"{w:.3f}" for w in r["weights"]), f"{r['intercept']:.3f}"])
    return "\n".join([
        f"### The blend's weights on a sample of users: {args.data.name}", "",
        machine_lines(info).rstrip("\n"), "",
        f"Command: `.venv/bin/python {SCRIPT} --data {args.data.name} "
        f"--weight-ratings {args.weight_ratings}`", "",
        f"{X.nnz:,} ratings, {X.shape[0]:,} users, {X.shape[1]:,} movies; fitted on a random "
        f"{1 - HELD_OUT:.0%}, measured on the rest.", "",
        table(["weights learned on", "fit, s", "RMSE", "RMSE vs every user",
               "weights (biased MF, item-kNN, baseline)", "intercept"], rows), ""])


if __name__ == "__main__":
    raise SystemExit(main())
