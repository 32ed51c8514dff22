"""Events lost when a Redis Cluster master dies, with and without waiting for a replica.

    .venv/bin/python bench/failover.py     # about 1 minute; prints a table (docs/scaling.md)

For each MOVIEREC_WRITE_REPLICAS (0: the API answers 202 once the primary holds the events; 1:
once a replica does too), a fresh local cluster of three masters with a replica each. Four
threads post batches of 100 ratings (each event a distinct user) to the API in this process,
as fast as it answers (each batch spans every partition, so every master); after 3 s the
master holding partition 0's inbox is SIGKILLed, after 8 s more it is restarted (it rejoins as
a replica), and posting stops 6 s later. No worker runs, so the partitions' inboxes then hold
every event that survived: an acknowledged event missing from them is lost.
POST latency is measured before the kill.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api import create_app  # noqa: E402
from movierec.redis_cluster import start_cluster  # noqa: E402
from movierec.redis_server import start_private  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.store.client import client_for  # noqa: E402
from tests.conftest import free_cluster_ports, free_port  # noqa: E402
from tests.keys import keyed, with_keys  # noqa: E402

THREADS, BATCH = 4, 100
KILL_AT, RESTART_AFTER, STOP_AFTER = 3.0, 8.0, 6.0


def run(write_replicas: int, folder: Path) -> dict:
    queue = start_private(folder / "queue", port=free_port())
    cluster = start_cluster(folder / "cluster", free_cluster_ports(6), masters=3, replicas=1,
                            password="bench-password")
    try:
        settings = Settings(redis_url=cluster.url, queue_url=queue.url, key_prefix="fo",
                            queue_name="fo", model_dir=None, write_replicas=write_replicas,
                            write_replica_timeout_ms=200)
        app = create_app(with_keys(settings))
        client = client_for(settings)
        keys = app.extensions["movierec"].keys
        master = client.get_node_from_key(keys.inbox(0)).port
        accepted: list[int] = []
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock, stop = threading.Lock(), threading.Event()
        killed = threading.Event()
        next_user = iter(range(10_000_000, 10**9, BATCH))

        def post():
            api = keyed(app.test_client())
            while not stop.is_set():
                with lock:
                    first = next(next_user)
                body = [{"type": "rating", "user_id": u, "movie_id": 1, "rating": 4.0}
                        for u in range(first, first + BATCH)]
                started = time.perf_counter()
                status = api.post("/v1/events", json=body).status_code
                took = time.perf_counter() - started
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 202:
                        accepted.extend(range(first, first + BATCH))
                    if not killed.is_set():
                        latencies.append(took)
                if status != 202:
                    time.sleep(0.05)

        threads = [threading.Thread(target=post) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(KILL_AT)
        killed.set()
        os.kill(cluster.processes[cluster.ports.index(master)].pid, signal.SIGKILL)
        time.sleep(RESTART_AFTER)
        cluster.restart(master)
        time.sleep(STOP_AFTER)
        stop.set()
        for thread in threads:
            thread.join()
        held = {json.loads(item)[1] for partition in range(keys.partitions)
                for item in client.lrange(keys.inbox(partition), 0, -1)}
        lost = sum(1 for user in accepted if str(user) not in held)
        latencies.sort()
        return {"write_replicas": write_replicas, "acknowledged": len(accepted), "lost": lost,
                "statuses": statuses, "posts_before_kill": len(latencies),
                "p50_ms": 1000 * statistics.median(latencies),
                "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}
    finally:
        cluster.stop()
        queue.stop()


def main() -> int:
    rows = []
    for write_replicas in (0, 1):
        with tempfile.TemporaryDirectory() as folder:
            row = run(write_replicas, Path(folder))
        rows.append(row)
        print(row, flush=True)
    print("\n| MOVIEREC_WRITE_REPLICAS | events acknowledged | lost | POST of 100 p50 / p99 "
          "before the kill | answers |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['write_replicas']} | {r['acknowledged']:,} | {r['lost']:,} | "
              f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms | "
              + ", ".join(f"{n:,} × {s}" for s, n in sorted(r["statuses"].items())) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
