"""How long a rollback takes to serve, at the size of the data, by hand.

    .venv/bin/python bench/rollback.py                 # ml-latest-small, ~1 minute
    .venv/bin/python bench/rollback.py --data /tmp/gen25m --train-sample 1000000
                                                       # 25 M ratings (`movierec generate
                                                       # --users 162000 --movies 62000
                                                       # --ratings 25000000`), ~40 minutes

A private redis-server, ``movierec import`` of the data and a version trained on it (with
``--train-sample``, fitted on a sample of users and published over all of them, as bench.live
does), then a second version published: the same arrays under a new name, so that its counters
are built over every user as a retrain's are. The API runs under gunicorn as deployed and a
retrain worker (``movierec worker --retrains``) takes the rollback job.

The rollback is asked as an operator asks it, ``POST /v1/admin/models/<first>/activate``, and
timed from that request to:
- pointer moved: the active pointer in Redis names the first version (the job started, loaded
  what it needs and flipped);
- served: the end of the first of three rounds in a row in which every one of ``ROUND``
  concurrent list requests (on fresh connections, so that every API process answers some)
  names the first version, when its last answer came (and the slowest answer until then:
  a process loading the version answers late);
- counters whole: the job finished (every user placed in their cluster again). Before, a
  rollback flipped the pointer only then.
The results go into their block of docs/scale-benchmark.md unless ``--no-doc``.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdoc import machine_info, machine_lines, table, write_results  # noqa: E402

from bench.live.http_client import http_request, wait_http  # noqa: E402
from bench.live.processes import (  # noqa: E402
    Stack,
    free_port,
    import_and_train,
    start_redis,
)
from bench.live.settings import API_WORKERS, DEFAULT_DATA, KEYS_ENV, WORKER_CLASS  # noqa: E402

DOC = ROOT / "docs" / "scale-benchmark.md"
SCRIPT = "bench/rollback.py"
ROUND = 12       # concurrent list requests a round: several for each of the API's processes
ROUNDS_IN_A_ROW = 3
GOAL_SECONDS = 2.0
PROBE_TIMEOUT = 300.0  # a list request may wait for its process to load the version


def admin_request(port: int, method: str, path: str) -> tuple[int, dict]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers={"X-API-Key": KEYS_ENV["MOVIEREC_ADMIN_KEYS"]})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def publish_a_copy(stack: Stack) -> tuple[str, str, float]:
    """The active version, a copy of it published under a new name (now active), and the
    seconds the publishing took (its counters built over every user)."""
    import dataclasses

    from shared import config
    from shared.recsys.persist import new_version
    from shared.store.stores import Stores
    from trainer.publish import publish

    stores = Stores.connect(config.load(stack.env))
    first = stores.models.active_version()
    bundle = stores.models.load(first)
    started = time.monotonic()
    second = publish(dataclasses.replace(bundle, version=new_version()), stores,
                     shrink=bundle.manifest.get("config", {}).get("shrink", 5.0),
                     progress=False)
    seconds = time.monotonic() - started
    print(f"published {second} (a copy of {first}) in {seconds:.1f} s", flush=True)
    return first, second, seconds


def versions_served(port: int, users: list[int], pool) -> tuple[set[str], float]:
    """The versions a round of list requests names, and its slowest answer (s): a process
    busy loading the version answers late, and clients feel it."""
    def one(user: int) -> tuple[str, float]:
        started = time.monotonic()
        status, body = http_request(port, "GET", f"/v1/users/{user}/recommendations?n=5",
                                    timeout=PROBE_TIMEOUT)
        took = time.monotonic() - started
        return (json.loads(body)["model_version"] if status == 200 else f"HTTP {status}"), took
    answers = list(pool.map(one, users))
    return {version for version, _ in answers}, max(took for _, took in answers)


def time_rollback(port: int, models, first: str, users: list[int], timeout: float) -> dict:
    with concurrent.futures.ThreadPoolExecutor(ROUND) as pool:
        started = time.monotonic()
        status, body = admin_request(port, "POST", f"/v1/admin/models/{first}/activate")
        if status != 202:
            raise RuntimeError(f"the rollback was refused: {status} {body}")
        job_path = body["status_url"]
        flipped = served = rebuilt = first_round = None
        slowest = 0.0
        in_a_row, rounds = 0, 0
        while time.monotonic() - started < timeout and (served is None or rebuilt is None):
            now = time.monotonic() - started
            if flipped is None and models.active_version() == first:
                flipped = now
            if served is None:
                batch = [users[(rounds * ROUND + i) % len(users)] for i in range(ROUND)]
                rounds += 1
                versions, took = versions_served(port, batch, pool)
                slowest = max(slowest, took)
                if versions == {first}:
                    in_a_row += 1
                    answered = time.monotonic() - started
                    first_round = answered if in_a_row == 1 else first_round
                    if in_a_row == ROUNDS_IN_A_ROW:
                        served = first_round
                else:
                    in_a_row = 0
            if rebuilt is None:
                _, job = admin_request(port, "GET", job_path)
                if job.get("status") == "failed":
                    raise RuntimeError(f"the rollback job failed: {job}")
                if job.get("status") == "finished":
                    rebuilt = time.monotonic() - started
            time.sleep(0.02 if served is None else 0.25)
    return {"flipped_s": flipped, "served_s": served, "counters_whole_s": rebuilt,
            "slowest_answer_s": slowest}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--train-sample", type=int, default=None, metavar="N")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rollbacks timed, back and forth between the two versions")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as tmp:
        stack = Stack(Path(tmp))
        try:
            start_redis(stack)
            imported, model_note = import_and_train(stack, args.data, args.train_sample)
            first, second, published_s = publish_a_copy(stack)
            port = free_port()
            api = stack.start("api", [sys.executable, "-m", "movierec", "serve", "--host",
                                      "127.0.0.1", "--port", str(port), "--workers",
                                      str(API_WORKERS), "--worker-class", WORKER_CLASS])
            stack.start("trainer", [sys.executable, "-m", "movierec", "worker", "--retrains"])
            stack.start("worker", [sys.executable, "-m", "movierec", "worker"])
            wait_http(port, "/readyz", 120, api)
            from shared import config
            from shared.store.stores import Stores

            stores = Stores.connect(config.load(stack.env))
            users = sorted(stores.ratings.iter_user_ids())[:2000]
            n_users = sum(1 for _ in stores.ratings.iter_user_ids())
            runs = []
            for i in range(args.repeats):
                target = first if i % 2 == 0 else second
                time.sleep(2)  # every process settled on the version before
                run = time_rollback(port, stores.models, target, users, timeout=3600)
                print(f"rollback {i + 1}: active pointer moved after {run['flipped_s']:.2f} s, "
                      f"served after {run['served_s']:.2f} s, counters whole "
                      f"after {run['counters_whole_s']:.1f} s", flush=True)
                runs.append(run)
        finally:
            stack.stop()
    block = render(machine_info(), args, imported, model_note, published_s, n_users, runs)
    print(block)
    if not args.no_doc:
        write_results(DOC, SCRIPT, block, "Scale benchmark")
    return 0


def render(info, args, imported, model_note, published_s, n_users, runs) -> str:
    served = [r["served_s"] for r in runs]
    rows = [[str(i + 1), f"{r['flipped_s']:.2f}", f"{r['served_s']:.2f}",
             f"{r['slowest_answer_s']:.2f}", f"{r['counters_whole_s']:.1f}"]
            for i, r in enumerate(runs)]
    verdict = "met" if max(served) <= GOAL_SECONDS else "NOT met"
    return "\n".join([
        f"### Rollback: {args.data.name}, {n_users:,} users", "",
        machine_lines(info).rstrip("\n"), "",
        f"Command: `.venv/bin/python {SCRIPT}"
        + ("" if args.data == DEFAULT_DATA else f" --data {args.data.name}")
        + (f" --train-sample {args.train_sample}" if args.train_sample else "") + "`", "",
        f"- import: {imported.replace(str(args.data), args.data.name)}",
        f"- model: {model_note}",
        f"- publishing a copy of it (its counters built over every user): {published_s:.1f} s",
        f"- API: gunicorn, {API_WORKERS} {WORKER_CLASS} workers; one retrain worker", "",
        table(["rollback", "pointer moved, s", "served, s", "slowest list until served, s",
               "counters whole, s"], rows), "",
        f"Served within {GOAL_SECONDS:g} s of the request every time: {verdict} "
        f"(slowest {max(served):.2f} s).", ""])


if __name__ == "__main__":
    raise SystemExit(main())
