"""What placing new users less often costs: the placement policies against "on every change".

    .venv/bin/python bench/placement.py           # about 10 seconds; rewrites the results block
                                                  # of docs/live-benchmark.md
    .venv/bin/python bench/placement.py --print   # prints only

On ``users:0.7:0`` of ml-latest-small (70 % of the users train the version; each other user
shows a random half of their ratings and the other half is held out), with the version the
trainer's pipeline fits, each :class:`~shared.recsys.placement.Placement` policy is measured by

- **agreement at every step**: the user's shown ratings replayed in time order; after each one,
  from the 5th on, whether the cluster the policy gave them (from the ratings it last placed
  them at) is the one "on every change" gives (from all of them so far);
- **agreement at the end**: the same after the last shown rating, where the lists are measured;
- **the lists** of every served strategy that reads the user's cluster (``cluster``,
  ``cluster-ratings``, ``hybrid``), and of ``personal`` (the default, which reads none of it),
  scored on the held-out half as ``movierec evaluate`` scores them: nDCG@10 and P@10;
- **ratings read per rating**: what the placements read of the users' histories, per rating.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-latest-small"
DOC = ROOT / "docs" / "live-benchmark.md"
SCRIPT = "bench/placement.py"
sys.path.insert(0, str(ROOT))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402

from shared.data import movielens  # noqa: E402
from shared.recsys.evaluation.harness import TOP_N, measure_served  # noqa: E402
from shared.recsys.evaluation.served import PublishedVersion, ServedSetup  # noqa: E402
from shared.recsys.evaluation.split import parse_split  # noqa: E402
from shared.recsys.models.features import taste_vectors  # noqa: E402
from shared.recsys.pipeline import BundleConfig  # noqa: E402
from shared.recsys.placement import Placement  # noqa: E402

SPLIT = "users:0.7:0"
MIN_RATINGS = 5
GROWTHS = (1.0, 1.25, 1.5, 2.0, 4.0)
STRATEGIES = ("cluster", "cluster-ratings", "hybrid", "personal")
NDCG, P = f"ndcg_at_{TOP_N}", f"precision_at_{TOP_N}"


def prefix_clusters(version: PublishedVersion, row: int) -> np.ndarray:
    """The classifier's cluster for the first s shown ratings of a test row, in time order,
    for s = 1..n (one classifier call)."""
    fold, model = version.fold, version.model
    shown, stamps = fold.known[row], fold.known_ts[row]
    order = np.argsort(stamps.data, kind="stable")
    movies, values = shown.indices[order], shown.data[order]
    n = len(movies)
    lengths = np.arange(1, n + 1)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    columns = np.concatenate([movies[:s] for s in lengths])
    data = np.concatenate([values[:s] for s in lengths])
    prefixes = sp.csr_matrix((data, columns, indptr), shape=(n, shown.shape[1]))
    prefixes.sort_indices()
    return model.classifier.predict(taste_vectors(prefixes)).astype(np.int64)


def agreement(version: PublishedVersion, progress: bool) -> dict[float, dict]:
    """Per growth: agreement with "on every change" at every step and at the end, and the
    ratings placements read per rating."""
    totals = {g: {"steps": 0, "agree": 0, "ends": 0, "agree_end": 0, "read": 0, "ratings": 0}
              for g in GROWTHS}
    rows = range(version.fold.known.shape[0])
    for row in tqdm(rows, desc="agreement", unit="user", disable=not progress, file=sys.stderr):
        clusters = prefix_clusters(version, row)
        n = len(clusters)
        if n < MIN_RATINGS:
            continue
        for growth in GROWTHS:
            placement, t = Placement(MIN_RATINGS, growth), totals[growth]
            placed = np.array([placement.placed_from(s) for s in range(MIN_RATINGS, n + 1)])
            policy = clusters[placed - 1]
            every = clusters[MIN_RATINGS - 1:]
            t["steps"] += len(every)
            t["agree"] += int((policy == every).sum())
            t["ends"] += 1
            t["agree_end"] += int(policy[-1] == every[-1])
            t["read"] += sum(s for s in range(1, n + 1) if placement.due(s - 1, s))
            t["ratings"] += n
    return totals


def run(data_dir: Path, progress: bool) -> tuple[str, dict]:
    started = time.perf_counter()
    from shared import config

    settings = config.load()
    data = movielens.load(data_dir)
    fold = next(parse_split(SPLIT).folds(data))
    pipeline = BundleConfig(k_range=settings.k_range, min_cluster_size=settings.min_cluster_size)
    version = PublishedVersion(fold, ServedSetup(pipeline, Placement(MIN_RATINGS, 1.0)))
    totals = agreement(version, progress)
    rows = []
    for growth in tqdm(GROWTHS, desc="lists", unit="policy", disable=not progress,
                       file=sys.stderr):
        placed = version.placed(Placement(MIN_RATINGS, growth))
        t = totals[growth]
        row = [f"{growth:g}" + (" (every change)" if growth == 1 else ""),
               f"{t['agree'] / t['steps']:.3f}", f"{t['agree_end'] / t['ends']:.3f}",
               f"{t['read'] / t['ratings']:.2f}"]
        for strategy in STRATEGIES:
            result = measure_served(strategy, placed)
            row.append(f"{result[NDCG]:.4f} / {result[P]:.4f}")
        rows.append(row)
    info = machine_info()
    wall = time.perf_counter() - started
    n_users, n_steps = totals[GROWTHS[0]]["ends"], totals[GROWTHS[0]]["steps"]
    k = len(np.unique(version.model.labels))
    block = (f"Run of {info['date']}: `.venv/bin/python {SCRIPT}`, wall time {wall:.0f} s; "
             f"`{SPLIT}` of ml-latest-small, {n_users} new users with {MIN_RATINGS} or more "
             f"shown ratings ({n_steps:,} steps), k = {k}.\n\n"
             + table(["growth", "agreement, every step", "agreement, at the end",
                      "ratings read per rating",
                      *(f"`{s}` nDCG@10 / P@10" for s in STRATEGIES)], rows)
             + "\n<details><summary>Machine</summary>\n\n" + machine_lines(info)
             + "\n</details>\n\n")
    return block, totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--print", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    block, _ = run(args.data, progress=not args.no_progress)
    print(block)
    if not args.print:
        write_results(DOC, SCRIPT, block, "Live events and recommendations: benchmark")
    return 0


if __name__ == "__main__":
    sys.exit(main())
