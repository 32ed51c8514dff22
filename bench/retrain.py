"""A whole scheduled retrain at the size of the data, by hand: what ops wait for.

    .venv/bin/python bench/retrain.py                  # ml-latest-small, ~1 minute
    .venv/bin/python bench/retrain.py --data /tmp/gen25m --split random
                                                       # 25 M ratings (`movierec generate
                                                       # --users 162000 --movies 62000
                                                       # --ratings 25000000`), ~20 minutes

A private redis-server and ``movierec import`` of the data, then ``movierec train`` (``--engine``,
the held-out split as ``MOVIEREC_HOLDOUT_SPLIT``) timed from its start to its exit, as the
scheduler runs it: the snapshot read from Redis, the fit, the held-out measures and the gate,
with the ``temporal`` split the fit again on the whole snapshot, then publishing (the
version's counters built over every user) and the flip. Its peak memory is that of the
process and its descendants summed (sampled every 0.2 s), Redis not included; the stages' times
and the steps of the fit are the ones the version's manifest records. The results go into the
block of their split in docs/scale-benchmark.md unless ``--no-doc``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402
from engines import communicate_sampling  # noqa: E402

from bench.live.processes import Stack, run_cli, start_redis  # noqa: E402
from bench.live.settings import DEFAULT_DATA  # noqa: E402

DOC = ROOT / "docs" / "scale-benchmark.md"
SCRIPT = "bench/retrain.py"
GOAL_SECONDS, GOAL_GB = 600.0, 8.0
LIMIT_SECONDS = 3 * 3600
STAGES = ("sweeping dead runs", "snapshot", "fitting", "evaluating on the held-out ratings",
          "fitting on the whole snapshot", "publishing")  # in the order they run


def timed_train(stack: Stack, engine: str, split: str) -> dict:
    """Run ``movierec train`` on the stack; its wall seconds and peak memory (MB)."""
    env = dict(stack.env, MOVIEREC_HOLDOUT_SPLIT=split)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "movierec", "train", "--engine", engine],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err, peak_mb = communicate_sampling(proc, LIMIT_SECONDS)
    if out is None:
        raise RuntimeError(f"movierec train was killed after {LIMIT_SECONDS} s")
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"movierec train failed:\n{err[-2000:]}")
    return {"seconds": seconds, "peak_mb": peak_mb, "printed": out.strip()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--engine", choices=("local", "spark"), default="local")
    parser.add_argument("--split", choices=("temporal", "random"), default="temporal",
                        help="MOVIEREC_HOLDOUT_SPLIT (temporal, the default, fits twice)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        stack = Stack(Path(tmp))
        try:
            start_redis(stack)
            out = run_cli(stack, ["import", str(args.data)], timeout=1800)
            if out.returncode != 0:
                raise RuntimeError(f"movierec import failed:\n{out.stderr[-2000:]}")
            imported = out.stdout.strip()
            print(f"import: {imported}", flush=True)
            run = timed_train(stack, args.engine, args.split)
            print(f"train: {run['printed']} ({run['seconds']:.1f} s, {run['peak_mb']:,.0f} MB)",
                  flush=True)
            from shared import config
            from shared.store.stores import Stores

            models = Stores.connect(config.load(stack.env)).models
            manifest = models.manifest(models.active_version())
        finally:
            stack.stop()
    block = render(machine_info(), args, imported, run, manifest)
    print(block)
    if not args.no_doc:  # a block for each split
        key = SCRIPT + ("" if args.split == "temporal" else f" --split {args.split}")
        write_results(DOC, key, block, "Scale benchmark")
    return 0


def render(info, args, imported, run, manifest) -> str:
    stages = manifest.get("stage_seconds", {})
    holdout = manifest.get("holdout", {})
    met = run["seconds"] < GOAL_SECONDS and run["peak_mb"] < GOAL_GB * 1024
    command = (f".venv/bin/python {SCRIPT}"
               + ("" if args.data == DEFAULT_DATA else f" --data {args.data.name}")
               + ("" if args.engine == "local" else f" --engine {args.engine}")
               + ("" if args.split == "temporal" else f" --split {args.split}"))
    return "\n".join([
        f"### A whole retrain: {args.data.name}, the {args.engine} engine, "
        f"the {args.split} split", "",
        machine_lines(info).rstrip("\n"), "",
        f"Command: `{command}`", "",
        f"- import: {imported.replace(str(args.data), args.data.name)}",
        f"- `movierec train`: **{run['seconds']:.0f} s**, peak **{run['peak_mb']:,.0f} MB** "
        f"(the process and its descendants; Redis not included)",
        f"- held out ({holdout.get('users_listed', 0):,} users listed): nDCG@10 "
        f"{_metric(holdout, 'ndcg_at_10')}, P@10 {_metric(holdout, 'precision_at_10')}, "
        f"RMSE {_metric(holdout, 'rmse')}", "",
        table(["stage", "s"], [[name, f"{stages[name]:.1f}"] for name in
                               sorted(stages, key=lambda n: STAGES.index(n)
                                      if n in STAGES else len(STAGES))]),
        "",
        "The steps of the fit of the version served (s): " + ", ".join(
            f"{name} {seconds:.1f}" for name, seconds in manifest.get("fit_seconds", {}).items()),
        "",
        f"Under {GOAL_SECONDS / 60:.0f} minutes and {GOAL_GB:g} GiB: "
        f"{'met' if met else 'NOT met'}.", ""])


def _metric(holdout: dict, name: str) -> str:
    value = holdout.get(name)
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
