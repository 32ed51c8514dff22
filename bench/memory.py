"""What Redis holds per stored rating, and what the event-id de-duplication window costs.

    .venv/bin/python bench/memory.py          # about 3 minutes; rewrites the results block of
                                              # docs/memory.md
    .venv/bin/python bench/memory.py --print  # the same, printed only

For ml-latest-small and a generated set of 5M ratings (the scale benchmark's,
``generate(out, 30_000, 40_000, 5_000_000, seed=0)``): a private redis-server on a free port,
``import_folder`` as ``movierec import`` runs it, then Redis's own ``used_memory`` minus that of
the empty server, per rating; the split by key family comes from ``MEMORY USAGE`` of every key
(sampled where there are many). The de-duplication window: ``used_memory`` before and after
100,000 events with event ids of 20 characters were applied.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402
from movierec.redis_server import start_private  # noqa: E402
from shared.data.events import Event  # noqa: E402
from shared.data.synthetic import generate  # noqa: E402
from shared.store.catalogue import Catalogue  # noqa: E402
from shared.store.importer import import_folder  # noqa: E402
from shared.store.keys import Keys  # noqa: E402
from shared.store.ratings import RatingStore  # noqa: E402
from tests.conftest import free_port  # noqa: E402

DOC = ROOT / "docs" / "memory.md"
ML_LATEST_SMALL = (ROOT / ".." / "shared" / "data" / "ml-latest-small").resolve()
DEDUPE_EVENTS = 100_000


def family(key: bytes) -> str:
    parts = key.decode().split("}:", 1)[1].split(":")  # the name after its hash tag
    if parts[0] == "u":
        return "users' ratings (one hash a user)" if len(parts) == 2 else "users' last events"
    return ":".join(parts[:1] + ([parts[1]] if parts[0] in ("stats", "inbox") else []))


def measure(name: str, folder: Path, tmp: Path) -> dict:
    handle = start_private(tmp / name, port=free_port())
    try:
        client = redis.Redis.from_url(handle.url)
        empty = client.info("memory")["used_memory"]
        store = RatingStore(client, Keys("movierec"))
        started = time.perf_counter()
        result = import_folder(folder, store, Catalogue(client, Keys("movierec")))
        used = client.info("memory")["used_memory"] - empty
        by_family, counts = defaultdict(int), defaultdict(int)
        for key in client.scan_iter(count=10_000):
            counts[family(key)] += 1
            if counts[family(key)] <= 2000:
                by_family[family(key)] += client.memory_usage(key, samples=0) or 0
        split = {f: by_family[f] / min(counts[f], 2000) * counts[f] for f in counts}
        before = client.info("memory")["used_memory"]
        now = time.time()
        for start in range(0, DEDUPE_EVENTS, 5000):
            store.apply([Event("favourite", 1 + i % 1000, 1, 0, now, f"dedupe-{i:013d}")
                         for i in range(start, start + 5000)])
        dedupe = (client.info("memory")["used_memory"] - before) / DEDUPE_EVENTS
        return {"name": name, "ratings": result.ratings_read, "movies": result.movies,
                "seconds": time.perf_counter() - started, "used": used,
                "per_rating": used / result.ratings_read, "split": split, "dedupe": dedupe}
    finally:
        handle.stop()


def render(info, runs, wall) -> str:
    rows = [[r["name"], f"{r['ratings']:,}", f"{r['used'] / 2**20:,.1f} MiB",
             f"{r['per_rating']:.0f}", f"{r['dedupe']:.0f}"] for r in runs]
    out = [f"Run of {info['date']}: `.venv/bin/python bench/memory.py`, {wall / 60:.1f} min.", "",
           machine_lines(info), "",
           table(["data", "ratings", "Redis memory after import", "bytes per rating",
                  "bytes per event id in the de-duplication window"], rows), ""]
    for r in runs:
        total = sum(r["split"].values())
        out.append(f"Where {r['name']}'s bytes are (MEMORY USAGE of the keys, "
                   f"{total / 2**20:,.1f} MiB in all):")
        out.append("")
        out.append(table(["keys", "MiB", "share"],
                         [[f, f"{b / 2**20:,.1f}", f"{b / total:.0%}"]
                          for f, b in sorted(r["split"].items(), key=lambda kv: -kv[1])[:8]]))
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print only, leave the doc alone")
    args = parser.parse_args(argv)
    started, info = time.perf_counter(), machine_info()
    with tempfile.TemporaryDirectory(prefix="movierec-memory-") as tmp:
        tmp = Path(tmp)
        generated = tmp / "5m"
        generate(generated, 30_000, 40_000, 5_000_000, seed=0, progress=True)
        runs = [measure("ml-latest-small", ML_LATEST_SMALL, tmp),
                measure("generated 5M", generated, tmp)]
    block = render(info, runs, time.perf_counter() - started)
    print(block)
    if not args.print:
        write_results(DOC, "bench/memory.py", block, "Memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
