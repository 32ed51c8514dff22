"""Live events and recommendations, benchmarked on one machine, by hand.

    .venv/bin/python -m bench.live            # about 6-7 minutes; rewrites the results block
                                              # of docs/live-benchmark.md
    .venv/bin/python -m bench.live --quick    # a short smoke run; prints only
    API_WORKER_CLASS=sync .venv/bin/python -m bench.live --only-rps   # the wrk runs under
                                              # another configuration (API and hello world)
    .venv/bin/python -m bench.live --only-rps --data /tmp/gen25m --train-sample 1000000
                                              # 25 M ratings (`movierec generate`): the model
                                              # fitted on a sample of users, the store holds all

Sets up everything itself and tears it down at the end (also on Ctrl-C or SIGTERM): a private
redis-server on a free loopback port in a temporary folder, ``movierec import`` of
ml-latest-small, ``movierec train`` (``--model svd`` when the default model cannot be trained),
``movierec serve`` (gunicorn, the API's worker class and count), Flask's hello world under the
same gunicorn options (bench/live/hello.py), and two ``movierec worker`` processes. All
traffic goes to 127.0.0.1. With ``--train-sample N`` and more than N ratings in the data, the
model is fitted in this process instead, on the ratings of users drawn at random until about N
(as bench/cluster.py does), then published on the whole imported store, its counters over
every user; the computed runs then need no copies of the data's users once they are many.

Measures, in this order:
  1. requests per second of the hello world, single-event POSTs and recommendation GETs
     (wrk, 1 thread, bench/live/wrk.lua), interleaved over rounds; recommendations both as a
     client revisiting gets them (the API's cache warm) and computed on every request; and,
     at the req/s connections only, the other lists computed on every request beside them: a
     genre row (the user's most-rated genre), the home screen (``/v1/users/<id>/rows``) and a
     guest's ``POST /v1/recommendations`` with a data user's ratings (bench/live/lists.py
     writes the files wrk reads them from);
  2. in process, what one recommendation and one single-event POST spend their time on; then
     every user's unfiltered list, genre row, page 2 and home screen computed, their guest
     list and the trending movies, each timed whole (mean, p50, p99, max) beside the
     unfiltered list, against the goal of a home screen's p99 within 15 ms;
  3. freshness: while a background process posts 5,000 events/s, probes rate a user's top
     recommendation 5 stars and time until it has left that user's list and the cluster's
     favourite count has moved;
  4. batched ingest end to end: batches of 1,000 posted as fast as the API takes them, timed
     until every event is applied (nothing waiting in Redis, no job running);
  5. rounds of ratings by 50,000 users the model has not seen (sign-ups between two retrains),
     each round's applied events/s and Redis CPU per event beside the first round's
     (``--only-new-users`` runs this one alone).
Each phase records the CPU every process group used (from /proc), so the report says where
the time went and how much other programs on the machine took. Needs Debian's ``wrk``.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.benchdoc import write_results

from .freshness import phase_freshness
from .in_process import phase_profile
from .ingest import phase_ingest
from .machine import machine_info
from .new_users import phase_new_users
from .processes import Stack, set_up
from .report import new_user_lines, render, rps_table
from .request_rates import phase_rps
from .settings import API_WORKERS, DEFAULT_DATA, DOC, MODULE, ROOT

# the profile comes before the phases that add ratings to the data set's users
PHASES = (("requests per second (wrk)", phase_rps),
          ("one recommendation and one POST, in process", phase_profile),
          ("freshness under background load", phase_freshness),
          ("batched ingest", phase_ingest),
          ("new users between retrains", phase_new_users))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="MovieLens folder (default: ml-latest-small in the shared data folder "
                             "beside the checkout)")
    parser.add_argument("--duration", type=int, default=8, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the wrk runs")
    parser.add_argument("--connections", type=int, default=8,
                        help=f"wrk connections of the req/s runs (the latency runs use "
                             f"{API_WORKERS}, one per gunicorn worker)")
    parser.add_argument("--rate", type=int, default=5000, help="background events/s (freshness)")
    parser.add_argument("--background-batch", type=int, default=500)
    parser.add_argument("--probes", type=int, default=120)
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--freshness-seconds", type=float, default=150.0,
                        help="at most this long probing")
    parser.add_argument("--ingest-events", type=int, default=300_000)
    parser.add_argument("--ingest-threads", type=int, default=4)
    parser.add_argument("--ingest-timeout", type=float, default=120.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--new-user-rounds", type=int, default=10,
                        help="rounds of 60,000 ratings by 50,000 users the model has not seen")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s wrk runs, 1 round, 20 probes, 20,000 events; "
                             "leaves the doc alone")
    parser.add_argument("--only-rps", action="store_true",
                        help="only the wrk runs; print their table and leave the doc alone")
    parser.add_argument("--cluster", type=int, default=0, metavar="MASTERS",
                        help="run against a local Redis Cluster of MASTERS masters, the queues "
                             "on a Redis beside it (results printed, not written)")
    parser.add_argument("--only-new-users", action="store_true",
                        help="only the rounds of new users; print their table and leave the doc "
                             "alone")
    parser.add_argument("--keep-alive", action="store_true",
                        help="wrk keeps its connections open (HTTP keep-alive, as real clients "
                             "do) instead of one connection per request")
    parser.add_argument("--train-sample", type=int, default=None, metavar="N",
                        help="when the data holds more than N ratings, fit the model in this "
                             "process on the ratings of users drawn at random until about N "
                             "instead of `movierec train` on everything (which large data sets "
                             "make far too long), and publish it on the full store; the data "
                             "users are then not copied once they make enough distinct "
                             "computed requests (default: train on everything)")
    parser.add_argument("--no-doc", action="store_true",
                        help=f"do not rewrite the results block of {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.probes, args.ingest_events = 2, 1, 20, 20_000
        args.new_user_rounds = 3
    args.no_doc = (args.no_doc or args.quick or args.only_rps or args.only_new_users
                   or bool(args.cluster))
    return args


def check_prerequisites(args) -> str | None:
    """What is missing to run at all, as a message; None when nothing is."""
    if shutil.which("wrk") is None:
        return (f"python -m {MODULE} needs wrk, the HTTP load generator, which is not "
                f"installed.\nInstall Debian's package, then run again:  apt-get install -y wrk")
    if not (args.data / "ratings.csv").exists() and not any(args.data.glob("*.dat")) \
            and not (args.data / "u.data").exists():
        return f"no MovieLens data at {args.data} (give --data DIR)"
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    problem = check_prerequisites(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    started, when = time.monotonic(), datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    tmp = Path(tempfile.mkdtemp(prefix="movierec-bench-live-"))
    stack = Stack(tmp)
    try:
        results = {"machine": machine_info(), "argv": argv, "when": when,
                   "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
        ctx = set_up(stack, args)
        results["data_users"] = ctx.users
        phases = (PHASES[:1] if args.only_rps else PHASES[-1:] if args.only_new_users
                  else PHASES)
        for number, (title, phase) in enumerate(phases, 1):
            print(f"{number}/{len(phases)} {title}", flush=True)
            phase(ctx)
        results.update(ctx.results)
        if args.only_rps:
            print("\n".join(rps_table(results)))
            return 0
        if args.only_new_users:
            print("\n".join(new_user_lines(results["new_users"])))
            return 0
        results["seconds"] = time.monotonic() - started
        block = render(results)
        print("\n" + block)
        if not args.no_doc:
            write_results(DOC, f"python -m {MODULE}", block, "Live benchmark")
            print(f"results written to {DOC.relative_to(ROOT)}")
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
