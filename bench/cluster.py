"""The partitioned store on one Redis and on a three-master Redis Cluster, side by side.

    .venv/bin/python bench/cluster.py [--data DIR] [--rounds 5]   # DIR: ml-latest-small by default

For each target, a fresh Redis (one private server; a local cluster of three masters) in this
process's temporary folder:

1. **import** the data with ``import_folder`` (what ``movierec import`` runs): ratings/s, Redis
   bytes per rating, and per node the keys and the memory the data took (``used_memory``
   after less before);
2. **publish** one model version (fitted once, before both targets, on a sample of users when
   the data is larger than ``--train-sample`` ratings) and build its counters: per node, the
   memory with it;
3. **ingest** ``--rounds`` rounds of ``--events`` events each, through the API's path
   (``Inbox.push`` in requests of ``--request`` events) and the worker's
   (``worker.jobs.drain_events`` in this process): half are ratings of existing users, half
   come from new users, who are placed as their ratings grow. Per round: applied events/s,
   and Redis CPU (user + system, from ``INFO cpu``) per 1,000 events, in all and per node.

It prints a markdown block (docs/scaling.md). Redis CPU on a 2-core machine is what says how a
cluster would scale on real machines: three masters here share the cores the single Redis had.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.sample import user_sample  # noqa: E402
from movierec.redis_cluster import node_client, start_cluster  # noqa: E402
from movierec.redis_server import start_private  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.data import movielens  # noqa: E402
from shared.data.events import Event  # noqa: E402
from shared.store.client import client_for  # noqa: E402
from shared.store.importer import import_folder  # noqa: E402
from shared.store.stores import Stores  # noqa: E402
from tests.conftest import free_cluster_ports, free_port  # noqa: E402

PASSWORD = "bench-password"
PREFIX = "bench"


def node_stats(clients: dict[int, redis.Redis]) -> dict[int, dict]:
    out = {}
    for port, client in clients.items():
        cpu, memory = client.info("cpu"), client.info("memory")
        out[port] = {"cpu": cpu["used_cpu_user"] + cpu["used_cpu_sys"],
                     "memory": memory["used_memory"], "keys": client.dbsize()}
    return out


def events_for(rng: random.Random, users: list[int], movies: list[int], count: int,
               first_new: int, now: float) -> list[Event]:
    """Half ratings of existing users, half of new users (30 ratings each, in order)."""
    events, new_user, left = [], first_new, 0
    for i in range(count):
        if i % 2 == 0:
            user = rng.choice(users)
        else:
            if left == 0:
                new_user, left = new_user + 1, 30
            user, left = new_user, left - 1
        events.append(Event("rating", user, rng.choice(movies), rng.randint(1, 10),
                            now + i * 1e-4))
    return events


def run(target: str, args, bundle, folder: Path) -> dict:
    from trainer.publish import publish
    from worker import jobs

    queue = start_private(folder / "queue", port=free_port())
    handles = [queue]
    if target == "cluster":
        cluster = start_cluster(folder / "cluster", free_cluster_ports(3), masters=3,
                                password=PASSWORD)
        handles.append(cluster)
        url, nodes = cluster.url, {p: node_client(p, PASSWORD, timeout=30) for p in cluster.ports}
    else:
        url = queue.url
        nodes = {0: redis.Redis.from_url(queue.url, socket_timeout=30)}
    env = {"REDIS_URL": url, "MOVIEREC_QUEUE_URL": queue.url, "MOVIEREC_PREFIX": PREFIX,
           "MOVIEREC_QUEUE": PREFIX, "MOVIEREC_MODEL_DIR": str(folder / "models")}
    os.environ.update(env)
    try:
        settings = Settings(redis_url=url, queue_url=queue.url, key_prefix=PREFIX,
                            queue_name=PREFIX, model_dir=None)
        stores = Stores(client_for(settings), settings)
        before = node_stats(nodes)
        started = time.perf_counter()
        result = import_folder(args.data, stores.ratings, stores.catalogue, progress=False)
        seconds = time.perf_counter() - started
        imported = node_stats(nodes)
        publish(bundle, stores, shrink=5.0, progress=False)
        published = node_stats(nodes)
        users = sorted(stores.ratings.iter_user_ids())
        movies = sorted(stores.catalogue.all_movies())
        rng = random.Random(11)
        rounds, first_new = [], 10_000_000
        for round_no in range(args.rounds):
            events = events_for(rng, users, movies, args.events, first_new, time.time())
            first_new += args.events
            stats0, applied0 = node_stats(nodes), stores.ratings.events_applied()
            t0 = time.perf_counter()
            for start in range(0, len(events), args.request):
                stores.inbox.push(events[start:start + args.request])
            while stores.inbox.length():
                jobs.drain_events()
            took = time.perf_counter() - t0
            stats1, applied = node_stats(nodes), stores.ratings.events_applied() - applied0
            cpu = {p: stats1[p]["cpu"] - stats0[p]["cpu"] for p in nodes}
            rounds.append({"events_s": applied / took, "applied": applied,
                           "cpu_ms_per_1k": 1e6 * sum(cpu.values()) / applied,
                           "cpu_share": {p: c / sum(cpu.values()) for p, c in cpu.items()}})
            print(f"  {target} round {round_no + 1}: {rounds[-1]}", flush=True)
        return {"target": target, "import_rate": result.ratings_read / seconds,
                "ratings": result.ratings_read,
                "keys": {p: imported[p]["keys"] - before[p]["keys"] for p in nodes},
                "memory": {p: imported[p]["memory"] - before[p]["memory"] for p in nodes},
                "published": {p: published[p]["memory"] - before[p]["memory"] for p in nodes},
                "rounds": rounds}
    finally:
        for handle in reversed(handles):
            handle.stop()
        for name in env:
            os.environ.pop(name, None)


def share(values: dict) -> str:
    total = sum(values.values())
    return " / ".join(f"{100 * v / total:.0f} %" for v in values.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=ROOT.parent / "shared" / "data" / "ml-latest-small")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--request", type=int, default=20, help="events per push")
    parser.add_argument("--train-sample", type=int, default=2_000_000,
                        help="fit the model on the ratings of users drawn at random until "
                             "about this many (all of them when the data has fewer): serving "
                             "and ingest cost depend on the store, not on the training set")
    parser.add_argument("--targets", default="single,cluster",
                        help="which of single, cluster to run (single alone also runs on a "
                             "release before the partitioned layout, for an A/B)")
    args = parser.parse_args()
    from trainer.pipeline import TrainerBundleConfig, fit_pipeline

    data = movielens.load(args.data)
    ratings = user_sample(data.ratings, args.train_sample)
    if len(ratings) < len(data.ratings):
        print(f"training on {len(ratings):,} of {len(data.ratings):,} ratings", flush=True)
    snapshot = ratings.assign(favourite=ratings["rating"] >= 4)
    bundle = fit_pipeline(snapshot, data.movies, TrainerBundleConfig(), progress=False)
    results = []
    for target in args.targets.split(","):
        with tempfile.TemporaryDirectory() as folder:
            results.append(run(target, args, bundle, Path(folder)))
    single = results[0]
    print(f"\n{single['ratings']:,} ratings ({args.data.name}); ingest: {args.rounds} rounds of "
          f"{args.events:,} events in requests of {args.request}\n")
    names = {"single": "single Redis", "cluster": "three-master cluster"}
    print("| | " + " | ".join(names[r["target"]] for r in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    rows = [("import, ratings/s", lambda r: f"{r['import_rate']:,.0f}"),
            ("data memory, MB", lambda r: f"{sum(r['memory'].values()) / 1e6:.1f}"),
            ("Redis bytes per rating", lambda r: f"{sum(r['memory'].values()) / r['ratings']:.1f}"),
            ("keys per master", lambda r: share(r["keys"])),
            ("memory per master", lambda r: share(r["memory"])),
            ("memory per master, with a model version", lambda r: share(r["published"]))]
    for i in range(args.rounds):
        rows.append((f"round {i + 1}: applied events/s",
                     lambda r, i=i: f"{r['rounds'][i]['events_s']:,.0f}"))
        rows.append((f"round {i + 1}: Redis CPU ms per 1,000 events",
                     lambda r, i=i: f"{r['rounds'][i]['cpu_ms_per_1k']:.1f}"))
        rows.append((f"round {i + 1}: Redis CPU per master",
                     lambda r, i=i: share(r["rounds"][i]["cpu_share"])))
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
