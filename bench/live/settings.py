"""Where the benchmark finds things and how it sets the services up: paths, the API's gunicorn
worker class and count (also the hello world's), the RQ workers and their queue."""
from __future__ import annotations

from pathlib import Path

from shared.config import load as load_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_DATA = (ROOT / ".." / "shared" / "data" / "ml-latest-small").resolve()
DOC = ROOT / "docs" / "live-benchmark.md"
MODULE = "bench.live"  # run as python -m bench.live
RQ_WORKERS = 2
QUEUE = "bench-live-events"
VARIED_N = (6, 15)  # wrk.lua's "computed" mode draws n from this range (keep them in step)
# Computed runs also ask for copies of every data user (their ratings under new ids, which the
# model folds in like anyone's): (1 + copies) x 610 users x 10 values of n = 30,500 distinct
# requests, more than an 8 s run makes, so that none is answered from the cache. With
# --train-sample (large data) only as many copies as make COMPUTED_PAIRS (processes.py).
USER_COPIES = 4
COMPUTED_PAIRS = 30_500
COPY_ID_STEP = 1_000_000  # copy k of user u is user u + k * COPY_ID_STEP
# The cache-warm and POST runs ask for users drawn from at most this many of the data's (all
# 610 of ml-latest-small), each warmed with one GET before every round: on 162,000 users the
# warming alone took 9 minutes a round.
CACHED_USERS = 20_000

# The API runs as deployed: every request carries a key (read keys are set, so even the GETs
# need one), and is counted by the rate limiter, whose limit is set above what the runs ask
API_KEY = "bench-live-write-key-0123456789"
KEYS_ENV = {"MOVIEREC_WRITE_KEYS": API_KEY,
            "MOVIEREC_ADMIN_KEYS": "bench-live-admin-key-0123456789",
            "MOVIEREC_READ_KEYS": "bench-live-read-key-0123456789",
            "MOVIEREC_RATE_LIMIT_PER_KEY": "100000000/minute"}

# the API's own defaults, or $API_WORKERS and $API_WORKER_CLASS
SETTINGS = load_settings()
API_WORKERS, WORKER_CLASS = SETTINGS.api_workers, SETTINGS.api_worker_class
