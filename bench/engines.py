"""The retrain's two engines side by side, by hand: the local pipeline and Spark ``local[2]``
fit the same training part of the same snapshot, and the versions are measured on the same
held-out ratings, as a retrain measures them.

    .venv/bin/python bench/engines.py                          # ml-latest-small and 1M: ~25 min
    .venv/bin/python bench/engines.py --sizes 100k --no-doc    # parity only
    .venv/bin/python bench/engines.py --sizes 5m,25m --data-dir /tmp/scale-data
    .venv/bin/python bench/engines.py --sizes 25m --engines local --no-doc

Data sets as bench/scale.py makes them (100k is ml-latest-small; 1M, 5M generated; 25M
generated like ml-25m: 162,000 users x 62,000 movies). The held-out share is the trainer's:
the latest 10 % of the ratings (``MOVIEREC_HOLDOUT_SPLIT=temporal``), with the trainer's
configuration (``TrainerBundleConfig()``: its rating model, ranker grid and exploration).

Each fit runs in a fresh child process; the parent samples the resident memory of the child's
whole process tree (the Python driver, Spark's JVM and its Python workers) every 0.2 s and
keeps the largest sum. Spark reads the training part from Parquet files written beforehand
(its executors read them in parallel, as they read the store's partitions from Redis in a
retrain); the local engine loads it as arrays. Results go into their block of
docs/scale-benchmark.md unless ``--no-doc``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402

from bench.scale import DEFAULT_DATA, prepare  # noqa: E402

DOC = ROOT / "docs" / "scale-benchmark.md"
SCRIPT = "bench/engines.py"
RESULT = "ENGINE-RESULT "
ENGINES = ("local", "spark")
SPARK_MASTER = "local[2]"
HOLDOUT_SHARE = 0.1
# the trainer's held-out share (the latest ratings); on ml-latest-small it lists only 25
# users, so the parity is also measured on a hash-chosen share (about 560 users listed)
SPLITS = {"100k": ("temporal", "random")}
SIZES = {"100k": None, "1m": (6_000, 20_000, 1_000_000), "5m": (30_000, 40_000, 5_000_000),
         "25m": (162_000, 62_000, 25_000_000)}
PARITY_LISTS, PARITY_RMSE = 0.03, 0.02
DEFAULT_ARGUMENTS = ["--sizes", "100k,1m"]


# ---------------------------------------------------------------- the child: one engine

def child(engine_name: str, prepared: Path, split: str) -> None:
    import numpy as np
    import pandas as pd

    from shared.config import Settings
    from shared.data.movielens import load_movies
    from shared.recsys.evaluation.holdout import split_snapshot
    from trainer.engines import engine_for
    from trainer.pipeline import TrainerBundleConfig

    with np.load(prepared / "snapshot.npz", allow_pickle=False) as cols:
        snapshot = pd.DataFrame({name: cols[name] for name in cols.files})
    movies = load_movies(Path((prepared / "source.txt").read_text().strip()))
    train, held = split_snapshot(snapshot, HOLDOUT_SHARE, split)
    settings = Settings(spark_master=SPARK_MASTER)
    with engine_for(settings, engine_name) as engine:
        started = time.perf_counter()
        if engine_name == "spark":
            train_data = engine.spark.read.parquet(str(prepared / f"train-{split}.parquet")) \
                .repartition(2 * (os.cpu_count() or 2), "user_id").cache()
            held_data = engine.spark.createDataFrame(held)
        else:
            train_data, held_data = train, held
        read = time.perf_counter() - started
        bundle = engine.fit(train_data, movies, TrainerBundleConfig(), progress=False)
        fitted = time.perf_counter() - started - read
        metrics = engine.measure(bundle, train_data, held_data)
    print(RESULT + json.dumps({
        "read_seconds": read, "fit_seconds": fitted, "steps": bundle.manifest["fit_seconds"],
        "ndcg": metrics.get("ndcg_at_10"), "precision": metrics.get("precision_at_10"),
        "rmse": metrics.get("rmse"), "users_listed": metrics.get("users_listed"),
        "k": bundle.manifest["k"]["chosen"], "engine": bundle.manifest["engine"],
        "chosen": (bundle.manifest.get("ranker_tuning") or {}).get("chosen")}), flush=True)


# ---------------------------------------------------------------- the parent

def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").split()[0]), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 1024


def communicate_sampling(proc: subprocess.Popen, limit: float) -> tuple[str | None, str, float]:
    """``proc``'s output, and the peak of its process tree's resident memory (MB, sampled every
    0.2 s); the output None when it was killed after ``limit`` seconds."""
    peak, done = [0.0], threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = None, proc.communicate()[1]
    finally:
        done.set()
        sampler.join()
    return out, err, peak[0]


def run(engine: str, prepared: Path, split: str, limit: float) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", engine, str(prepared), split],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err, peak_mb = communicate_sampling(proc, limit)
    if out is None:
        return {"failed": f"killed after {limit:.0f} s", "peak_mb": peak_mb}
    line = next((x for x in out.splitlines() if x.startswith(RESULT)), None)
    if proc.returncode != 0 or line is None:
        log = prepared / f"{engine}-{split}.stderr"
        log.write_text(err)
        print(f"{engine} failed; its error output is in {log}", flush=True)
        return {"failed": failure(err), "peak_mb": peak_mb}
    return {**json.loads(line[len(RESULT):]), "peak_mb": peak_mb}


def failure(err: str) -> str:
    """What a failed child's error output says: the step it was in (its progress bar) and
    the first line naming an error (a JVM's stack trace ends in lines that name none)."""
    lines = [x.strip() for x in err.replace("\r", "\n").splitlines() if x.strip()]
    steps = [x.rsplit(", ", 1)[-1].rstrip("]") for x in lines if x.startswith("training")]
    named = [x for x in lines if re.search(r"[A-Za-z](Error|Exception)\b", x)
             and not x.startswith("at ")]
    what = (named or lines or ["?"])[0][:200]
    return f"in {steps[-1]}: {what}" if steps else what


def write_parquet(prepared: Path, split: str) -> None:
    """The training part as Parquet, for Spark's executors to read."""
    import numpy as np
    import pandas as pd

    from shared.recsys.evaluation.holdout import split_snapshot

    target = prepared / f"train-{split}.parquet"
    if target.exists():
        return
    with np.load(prepared / "snapshot.npz", allow_pickle=False) as cols:
        snapshot = pd.DataFrame({name: cols[name] for name in cols.files})
    train, _ = split_snapshot(snapshot, HOLDOUT_SHARE, split)
    target.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(train)), 8)):
        train.iloc[part].to_parquet(target / f"part-{i}.parquet", index=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_ARGUMENTS[1])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--limit", type=float, default=3600.0, help="seconds per fit")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help="which of local,spark to run (default both)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"--engines: unknown {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(ENGINES)}")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    import bench.scale as scale

    scale.SIZES.update(SIZES)
    results, shapes = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        for size in sizes:
            prepared, shapes[size] = prepare(size, data_dir, DEFAULT_DATA)
            for split in SPLITS.get(size, ("temporal",)):
                write_parquet(prepared, split)
                for engine in engines:
                    print(f"[{size} {split}] {engine} ...", flush=True)
                    result = run(engine, prepared, split, args.limit)
                    results[(size, split, engine)] = result
                    print(f"[{size} {split}] {engine}: {json.dumps(result)}", flush=True)
    arguments = ["--sizes", ",".join(sizes)]
    if engines != list(ENGINES):
        arguments += ["--engines", ",".join(engines)]
    block = render(machine_info(), arguments, shapes, results)
    print(block)
    if not args.no_doc:  # a block for the default sizes, and one for each other choice
        key = SCRIPT if arguments == DEFAULT_ARGUMENTS else " ".join([SCRIPT, *arguments])
        write_results(DOC, key, block, "Scale benchmark")
    return 0


def _ratio(a, b) -> str:
    return f"{a / b:.3f}" if a is not None and b else "-"


def render(info, arguments, shapes, results) -> str:
    rows, parity = [], []
    for size, split, engine in results:
        r = results[(size, split, engine)]
        where = f"{size}, {split}"
        if "failed" in r:
            rows.append([where, engine, f"failed: {r['failed']}", "", "", "", "", "",
                         f"{r['peak_mb']:,.0f}", ""])
            continue
        steps = ", ".join(f"{name} {seconds:.0f}" for name, seconds in r["steps"].items())
        rows.append([where, engine, f"{r['read_seconds']:.1f}", f"{r['fit_seconds']:.1f}",
                     f"{r['ndcg']:.4f}" if r["ndcg"] is not None else "-",
                     f"{r['precision']:.4f}" if r["precision"] is not None else "-",
                     f"{r['rmse']:.4f}" if r["rmse"] is not None else "-",
                     str(r["users_listed"]), f"{r['peak_mb']:,.0f}", steps])
        if engine != "spark" or "failed" in results.get((size, split, "local"), {"failed": 1}):
            continue
        local, spark = results[(size, split, "local")], r
        lists = [_ratio(spark["ndcg"], local["ndcg"]),
                 _ratio(spark["precision"], local["precision"])]
        error = _ratio(spark["rmse"], local["rmse"])
        met = (all(x != "-" and abs(float(x) - 1) <= PARITY_LISTS for x in lists)
               and error != "-" and float(error) <= 1 + PARITY_RMSE)
        parity.append([where, *lists, error, "met" if met else "NOT met"])
    shape_lines = [f"- {size}: {s['users']:,} users x {s['movies']:,} movies, "
                   f"{s['ratings']:,} ratings ({s['source']})" for size, s in shapes.items()]
    return "\n".join([
        "### The two engines" + ("" if arguments == DEFAULT_ARGUMENTS
                                 else ": " + ", ".join(shapes)), "",
        machine_lines(info).rstrip("\n"), "",
        f"Command: `.venv/bin/python {' '.join([SCRIPT, *arguments])}`", "", *shape_lines, "",
        "Wall seconds (reading the training part, fitting the version), the version's "
        "held-out nDCG@10, P@10 and RMSE (10 % of the ratings held out: the latest, as a "
        "retrain holds out, or hash-chosen pairs), the users listed, peak resident memory of "
        "the whole process tree (MB), and the fit's steps (s):", "",
        table(["data, held out", "engine", "read, s", "fit, s", "nDCG@10", "P@10", "RMSE",
               "users listed", "peak MB", "steps, s"], rows), "",
        f"Parity (Spark / local; goal: lists within {PARITY_LISTS:.0%}, RMSE within "
        f"{PARITY_RMSE:.0%}):", "",
        table(["data, held out", "nDCG@10", "P@10", "RMSE", "goal"], parity), ""])


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(main())
