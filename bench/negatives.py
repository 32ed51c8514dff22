"""Whether a low rating read as a negative signal helps the served ranker on held-out data: the
question behind an explicit "dislike" event.

    .venv/bin/python bench/negatives.py      # about a minute; prints a table

EASE (the served ranker, at its defaults but the scheme) is measured under ``movierec
evaluate``'s protocol on the three splits, its ratings read as ``signed`` (ratings below 3
count negative: what a dislike would add), ``liked`` (a low rating a weak positive, never a
negative) and ``binary`` (every rating the same). A dislike event would be one more signal of
the ``signed`` kind; where ``signed`` does not beat ``liked``, the event would not either.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "ml-latest-small"
sys.path.insert(0, str(ROOT))

from shared.data import movielens  # noqa: E402
from shared.recsys.evaluation.harness import measure  # noqa: E402
from shared.recsys.evaluation.split import parse_split  # noqa: E402
from shared.recsys.models.ease import EASE  # noqa: E402

SPLITS = ("random:0.8:0", "users:0.7:0", "temporal:0.8")
SCHEMES = ("signed", "liked", "binary")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    ratings = movielens.load(args.data).ratings
    print("| split | scheme | nDCG@10 | P@10 | held-out ratings |")
    print("| --- | --- | ---: | ---: | ---: |")
    for spec in SPLITS:
        fold = next(iter(parse_split(spec).folds(ratings)))
        for scheme in SCHEMES:
            run = measure(EASE(scheme=scheme), fold)
            print(f"| `{spec}` | `{scheme}` | {run['ndcg_at_10']:.4f} | "
                  f"{run['precision_at_10']:.4f} | {run['n_test']:,} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
