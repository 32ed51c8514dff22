"""New movies before a retrain: which surface shows a movie first rated after the version was
trained, and how soon. A prequential replay of ml-latest-small's latest ratings.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/new_movies.py [--data DIR] [--step-hours 24]
        # about 3-5 minutes on 2 cores; rewrites the results block of docs/new-movies.md

1. Cut the ratings at ``--fraction`` of them by time. The catalogue is the movies rated before
   the cut (and tags before it); fit a version on that part (``trainer.pipeline.
   fit_pipeline``), start a private redis-server, import the part, publish the version, then
   add the rest of movies.csv to the catalogue, as movies released after the version.
2. Replay the ratings after the cut in steps of ``--step-hours`` of event time. At the start of
   each step, for every user the store holds who rates a movie 4 or more in the step (and a
   panel of ``--panel`` training users, for the first-show times), GET through the Flask test
   client the personal list (n=10), the cluster list (``strategy=cluster``, n=10) and the rows
   screen; read the trending 7d and 24h top 10. Then push the step's events
   (``Inbox.push``) and apply them (``worker.jobs.drain_events``, in this process).

A "hit" is a rating >= 4 whose movie the surface showed the user just before it. A movie is
"new" when its first rating is after the cut, "known" otherwise.

The clock. ``ratings.lua`` counts an event toward trending only while its bucket is inside a
window at the drain's wall clock, so 2016-2018 events would never count. The replayed events
are therefore moved a whole number of days into the future (the buckets stay aligned), and
every ``now`` is the moved event time. The app's ``TrendingCache`` reads the windows at the
wall clock, so the app gets a reader at the step's event time instead (``EventTimeTrending``).
Lists are not cached (``recommendation_ttl=0``): steps are farther apart than the TTL.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.benchdoc import code_version, table, write_results  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ml-latest-small"
DOC = ROOT / "docs" / "new-movies.md"
SCRIPT = "bench/new_movies.py"
PREFIX = "newmovies"
API_KEY = "bench-new-movies-key"
DAY = 86400
SURFACES = [("personal", "personal list (n=10)"), ("cluster", "cluster list (strategy=cluster)"),
            ("trend7d", "trending 7d, top 10"), ("trend24h", "trending 24h, top 10"),
            ("rows", "rows screen, any row")]
ROW_KINDS = ("personal", "genre", "because", "trending", "popular", "rising")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EventTimeTrending:
    """Stands in for the app's ``TrendingCache``: each window's head at the replay's clock."""

    def __init__(self, counters, depth: int = 1000):
        self.counters, self.depth, self.now, self.lists = counters, depth, 0.0, {}

    def at(self, now: float) -> None:
        self.now, self.lists = now, {}

    def get(self, window: str):
        if window not in self.lists:
            self.lists[window] = self.counters.trending(window, self.now, self.depth)
        return self.lists[window]


def cut(data: Path, fraction: float, folder: Path):
    ratings = pd.read_csv(data / "ratings.csv").sort_values(
        ["timestamp", "userId", "movieId"], kind="stable")
    cut_ts = int(ratings["timestamp"].iloc[int(len(ratings) * fraction)])
    train, test = ratings[ratings["timestamp"] < cut_ts], ratings[ratings["timestamp"] >= cut_ts]
    folder.mkdir(parents=True)
    train.to_csv(folder / "ratings.csv", index=False)
    movies = pd.read_csv(data / "movies.csv")
    movies[movies["movieId"].isin(train["movieId"])].to_csv(folder / "movies.csv", index=False)
    tags = pd.read_csv(data / "tags.csv")
    tags[tags["timestamp"] < cut_ts].to_csv(folder / "tags.csv", index=False)
    return cut_ts, train, test.reset_index(drop=True)


def replay(args, tmp: Path) -> dict:
    from api import create_app
    from movierec.redis_server import start_private
    from shared.config import Settings
    from shared.data import movielens
    from shared.data.events import Event
    from shared.recsys.served import LiveModel
    from shared.store.client import client_for
    from shared.store.importer import import_folder
    from shared.store.stores import Stores
    from trainer.pipeline import TrainerBundleConfig, fit_pipeline
    from trainer.publish import publish
    from worker import jobs

    started, timings = time.perf_counter(), {}
    cut_ts, train, test = cut(args.data, args.fraction, tmp / "train")
    data = movielens.load(tmp / "train")
    bundle = fit_pipeline(data.ratings.assign(favourite=data.ratings["rating"] >= 4),
                          data.movies, TrainerBundleConfig(), progress=False)
    timings["fit"] = time.perf_counter() - started
    live = LiveModel(bundle)
    known = set(train["movieId"].tolist())
    new = set(test["movieId"].tolist()) - known
    print(f"cut: {len(train):,} ratings before, {len(test):,} after, {len(new)} new movies; "
          f"fitted {bundle.version} in {timings['fit']:.0f} s", flush=True)

    handle = start_private(tmp / "redis", port=free_port())
    env = {"REDIS_URL": handle.url, "MOVIEREC_QUEUE_URL": handle.url,
           "MOVIEREC_PREFIX": PREFIX, "MOVIEREC_QUEUE": PREFIX,
           "MOVIEREC_MODEL_DIR": str(tmp / "models"), "RECOMMENDATION_TTL": "0"}
    os.environ.update(env)  # worker.jobs reads its settings from the environment
    try:
        settings = Settings(redis_url=handle.url, queue_url=handle.url, key_prefix=PREFIX,
                            queue_name=PREFIX, model_dir=None, recommendation_ttl=0,
                            write_keys=(API_KEY,), rate_limit_per_key="1000000/second",
                            rate_limit_per_address="1000000/second", access_log=False)
        client = client_for(settings)
        stores = Stores(client, settings)
        t0 = time.perf_counter()
        import_folder(tmp / "train", stores.ratings, stores.catalogue, progress=False)
        publish(bundle, stores, shrink=5.0, progress=False)
        everything = movielens.load(args.data).movies
        stores.catalogue.put_movies(everything[~everything["movie_id"].isin(known)])
        timings["import+publish"] = time.perf_counter() - t0
        ranked = {int(m) for m, r in zip(everything["movie_id"],
                                         live.ranks(everything["movie_id"].to_numpy())) if r}

        app = create_app(settings, redis_client=client)
        trending_at = EventTimeTrending(stores.counters)
        app.extensions["movierec"].trending = trending_at
        http = app.test_client()
        http.environ_base["HTTP_X_API_KEY"] = API_KEY

        def get(path: str) -> dict:
            reply = http.get(path)
            assert reply.status_code == 200, (path, reply.status_code, reply.data[:300])
            return json.loads(reply.data)

        shift = (math.ceil((time.time() - cut_ts) / DAY) + 2) * DAY
        step, start = args.step_hours * 3600, cut_ts + shift
        test = test.assign(ts=test["timestamp"] + shift)
        test = test.assign(step=((test["ts"] - start) // step).astype(int))
        first_rated = test.groupby("movieId")["ts"].min().to_dict()
        train_users = sorted(set(train["userId"].tolist()))
        panel = set(np.random.default_rng(5).choice(train_users, args.panel, replace=False)
                    .tolist()) if args.panel else set()
        in_store, records, probes = set(train_users), [], 0
        first_show = defaultdict(dict)  # surface -> movie -> (moved) time first shown
        timings["probe"] = timings["replay"] = 0.0
        by_step = dict(iter(test.groupby("step")))
        steps = sorted(by_step)[:args.max_steps or None]
        for k, s in enumerate(steps):
            events, now = by_step[s], start + s * step
            t0 = time.perf_counter()
            trending_at.at(now)
            global_top = {f"trend{w}": {m for m, _ in stores.counters.trending(w, now, 10)}
                          for w in ("7d", "24h")}
            for surface, movies in global_top.items():
                for m in movies:
                    first_show[surface].setdefault(m, now)
            liked = events[(events["rating"] >= 4) & events["userId"].isin(in_store)]
            shown = {}
            for u in sorted(set(liked["userId"].tolist()) | panel):
                rows = get(f"/v1/users/{u}/rows")["rows"]
                seen = {"personal": get(f"/v1/users/{u}/recommendations?n=10")["items"],
                        "cluster": get(f"/v1/users/{u}/recommendations?n=10&strategy=cluster")
                        ["items"]}
                seen = {key: {item["movie_id"] for item in items} for key, items in seen.items()}
                seen["rows"] = {}
                for row in rows:
                    for item in row["items"]:
                        seen["rows"].setdefault(item["movie_id"], row["kind"])
                shown[u] = seen
                probes += 1
                for surface in ("personal", "cluster"):
                    for m in seen[surface]:
                        first_show[surface].setdefault(m, now)
                for m, kind in seen["rows"].items():
                    first_show["rows"].setdefault(m, now)
                    first_show[f"row:{kind}"].setdefault(m, now)
            for r in liked.itertuples():
                seen, m = shown[r.userId], int(r.movieId)
                records.append({"new": m in new, "ranked": m in ranked,
                                "personal": m in seen["personal"],
                                "cluster": m in seen["cluster"],
                                **{key: m in movies for key, movies in global_top.items()},
                                "rows": m in seen["rows"], "row": seen["rows"].get(m)})
            t1 = time.perf_counter()
            batch = [Event("rating", int(r.userId), int(r.movieId), int(round(r.rating * 2)),
                           float(r.ts)) for r in events.itertuples()]
            for i in range(0, len(batch), 1000):
                stores.inbox.push(batch[i:i + 1000])
            while stores.inbox.length():
                jobs.drain_events()
            in_store.update(events["userId"].tolist())
            timings["probe"] += t1 - t0
            timings["replay"] += time.perf_counter() - t1
            if k % 50 == 0 or k == len(steps) - 1:
                print(f"  step {k + 1}/{len(steps)}: {len(records)} ratings >= 4 probed, "
                      f"{probes} users probed", flush=True)
        applied = stores.ratings.events_applied() - len(train)
    finally:
        handle.stop()
        for name in env:
            os.environ.pop(name, None)
    timings["total"] = time.perf_counter() - started
    new_first = {m: t for m, t in first_rated.items() if m in new}
    days = {surface: [(shown[m] - t) / DAY for m, t in new_first.items() if m in shown]
            for surface, shown in first_show.items()}
    return {"records": records, "days": days, "new_movies": len(new), "steps": len(steps),
            "probes": probes, "applied": applied, "timings": timings, "cut": cut_ts,
            "known_movies": len(known), "ranked": len(ranked)}


def rate(records: list[dict], key) -> str:
    hits = sum(bool(key(r)) for r in records)
    return f"{100 * hits / len(records):.1f} % ({hits}/{len(records)})" if records else "–"


def render(res: dict, args) -> str:
    recs = res["records"]
    groups = [[r for r in recs if r["new"]], [r for r in recs if not r["new"]],
              [r for r in recs if not r["new"] and not r["ranked"]]]
    header = ["surface", "new movie", "known movie", "known, the ranker cannot list it"]
    hits = [[label, *(rate(g, lambda r, k=key: r[k]) for g in groups)] for key, label in SURFACES]
    kinds = [[f"rows screen, `{kind}` row", *(rate(g, lambda r, k=kind: r["row"] == k)
                                              for g in groups)] for kind in ROW_KINDS]
    first = []
    for key, label in SURFACES + [(f"row:{kind}", f"rows screen, `{kind}` row")
                                  for kind in ROW_KINDS]:
        days = res["days"].get(key, [])
        after = sorted(d for d in days if d >= 0)
        spread = "–" if not after else (f"{statistics.median(after):.1f}" + (
            " ({:.1f}–{:.1f})".format(*statistics.quantiles(after, n=4, method="inclusive")[::2])
            if len(after) > 1 else ""))
        first.append([label, len(days), sum(d < 0 for d in days), spread])
    t = res["timings"]
    return (
        f"Run of {time.strftime('%Y-%m-%d', time.gmtime())} at commit {code_version()}: "
        f"`OPENBLAS_NUM_THREADS=1 .venv/bin/python {SCRIPT} --step-hours {args.step_hours:g}`; "
        f"{os.cpu_count()} cores. Cut at "
        f"{pd.to_datetime(res['cut'], unit='s'):%Y-%m-%d} ({args.fraction:g} of the ratings "
        f"before it): {res['known_movies']:,} known movies ({res['ranked']:,} the version's "
        f"ranker can list), {res['new_movies']:,} new; {res['steps']} steps of "
        f"{args.step_hours:g} h, {res['applied']:,} ratings replayed, {res['probes']:,} users "
        f"probed (3 GETs each), {len(recs):,} ratings >= 4 probed.\n\n"
        "#### Hit rate: the rated movie was on the surface just before the rating\n\n"
        + table(header, hits + kinds)
        + f"\n#### New movies: first appearance after the first rating ({res['new_movies']:,} "
        "new movies)\n\n"
        + table(["surface", "new movies ever shown", "of them before their first rating",
                 "days to first appearance, median (p25–p75)"], first)
        + f"\nRun time: {t['total']:.0f} s (fit {t['fit']:.0f} s, import and publish "
        f"{t['import+publish']:.0f} s, probes {t['probe']:.0f} s, replay {t['replay']:.0f} s)."
        + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--fraction", type=float, default=0.8,
                        help="share of the ratings (by time) the version is trained on")
    parser.add_argument("--step-hours", type=float, default=24.0)
    parser.add_argument("--panel", type=int, default=10,
                        help="training users probed at every step besides the raters")
    parser.add_argument("--max-steps", type=int, default=0, help="0: all (a short run prints "
                                                                 "only, no document)")
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"no data folder at {args.data}")
    with tempfile.TemporaryDirectory(prefix="new-movies-") as tmp:
        res = replay(args, Path(tmp))
    block = render(res, args)
    print("\n" + block)
    if not args.max_steps:
        write_results(DOC, SCRIPT, block, "New movies before a retrain")
        print(f"results written to {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
