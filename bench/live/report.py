"""The results as markdown: one row per target against its goal and reference, then the
figures behind them."""
from __future__ import annotations

import math

from .load import WRK_RUNS
from .settings import API_WORKERS, MODULE, RQ_WORKERS, USER_COPIES, VARIED_N, WORKER_CLASS
from .stats import median, pct


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _median_of(runs: list[dict], key: str) -> float:
    return median(r[key] for r in runs)


def _cores(used: dict | None) -> str:
    if not used:
        return "—"
    names = ("api", "hello", "workers", "redis", "client", "loadgen", "other")
    return ", ".join(f"{n} {used[n]:.2f}" for n in names if used.get(n, 0) >= 0.005)


def _spread(values: list[float], scale: float = 1000) -> str:
    return f"p50 {pct(values, 50) * scale:.1f}, p95 {pct(values, 95) * scale:.1f}, " \
           f"p99 {pct(values, 99) * scale:.1f}"


def summarise(results: dict) -> list[dict]:
    """One row per target: what was measured, the reference, the ratio, pass or fail, and the
    cores other programs took meanwhile (``other``)."""
    rows = []
    fresh, conns = results["freshness"], results["args"]["connections"]
    cpu = results["rps"]["cpu"]

    def other(*runs):
        return max(median(u["other"] for u in cpu[run]) for run in runs)

    times = [p["fresh"] for p in fresh["probes"] if p["fresh"] is not None]
    censored = times + [math.inf] * (len(fresh["probes"]) - len(times))  # never seen = too late
    load_rate = fresh["load"].get("rate", math.nan)
    p95 = pct(censored, 95)
    rows.append({"target": "1. freshness under 5,000 events/s (p95)", "goal": "≤ 1 s",
                 "measured": f"p50 {_ms(pct(censored, 50))}, p95 {_ms(p95)}, p99 "
                             f"{_ms(pct(censored, 99))} ({len(fresh['probes'])} probes, "
                             f"{len(censored) - len(times)} not seen in time)",
                 "reference": f"background load kept {load_rate:,.0f} events/s",
                 "ratio": f"{p95:.2f} of the limit", "other": fresh["cpu"]["other"],
                 "pass": p95 <= 1.0 and load_rate >= 0.95 * results["args"]["rate"]})
    ing = results["ingest"]
    rate = ing["accepted"] / ing["end_to_end_seconds"]
    complete = ing["drained"] and not ing["failed"] and not ing["errors"]
    rows.append({"target": "2. batched ingest, HTTP in to applied", "goal": "≥ 20,000 events/s",
                 "measured": f"{rate:,.0f} events/s "
                             f"({ing['accepted'] / ing['http_seconds']:,.0f}/s accepted by HTTP)",
                 "reference": "Gorse ~16,000/s (batches of 1,000); Metarank 1,000–3,000/s",
                 "ratio": f"{rate / 20000:.2f} × the goal", "other": ing["cpu"]["other"],
                 "pass": complete and rate >= 20000})
    runs = results["rps"]["runs"]
    hello = _median_of(runs[f"hello@{conns}"], "rps")
    for name, label in (("event", "3a. single-event POST, req/s"),
                        ("cached", "3b. recommendation GET, req/s, cache warm"),
                        ("computed", "3b′. recommendation GET, req/s, computed")):
        value = _median_of(runs[f"{name}@{conns}"], "rps")
        errors = sum(r["errors"] for r in runs[f"{name}@{conns}"])
        rows.append({"target": label, "goal": "≥ ½ hello world",
                     "measured": f"{value:,.0f} req/s" + (f" ({errors} errors)" if errors else ""),
                     "reference": f"hello world {hello:,.0f} req/s",
                     "ratio": f"{value / hello:.3f}",
                     "other": other(f"hello@{conns}", f"{name}@{conns}"),
                     "pass": value >= hello / 2 and not errors})
    hello_p99 = _median_of(runs[f"hello@{API_WORKERS}"], "p99_us") / 1000
    for name, label in (("cached", "3c. recommendation p99, cache warm"),
                        ("computed", "3c′. recommendation p99, computed")):
        p99 = _median_of(runs[f"{name}@{API_WORKERS}"], "p99_us") / 1000
        p50 = _median_of(runs[f"{name}@{API_WORKERS}"], "p50_us") / 1000
        rows.append({"target": label, "goal": "< 20 ms",
                     "measured": f"p99 {p99:.1f} ms (p50 {p50:.1f} ms)",
                     "reference": f"hello world p99 {hello_p99:.1f} ms",
                     "ratio": f"{p99 / 20:.2f} of the limit",
                     "other": other(f"hello@{API_WORKERS}", f"{name}@{API_WORKERS}"),
                     "pass": p99 < 20})
    return rows


def rps_table(results: dict) -> list[str]:
    """The wrk runs as markdown lines, with each run's req/s against the hello world's."""
    runs, cpu, conns = results["rps"]["runs"], results["rps"]["cpu"], results["args"]["connections"]
    how = ("HTTP keep-alive" if results["args"].get("keep_alive")
           else "a new connection for each request (`Connection: close`)")
    out = [f"**wrk runs** (1 thread, {how}; "
           "req/s of every round, median latencies; CPU in cores, median round):", "",
           "| run | connections | req/s per round | p50 ms | p99 ms | errors | CPU, cores |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, (_, _, label) in WRK_RUNS.items():
        for c in (conns, API_WORKERS):
            rs, used = runs.get(f"{name}@{c}", []), cpu.get(f"{name}@{c}", [])
            if not rs:
                continue
            middle = sorted(used, key=lambda u: u["wall_s"])[len(used) // 2] if used else None
            per_round = ", ".join(f"{r['rps']:,.0f}" for r in rs)
            out.append(f"| {label} | {c} | {per_round} | "
                       f"{_median_of(rs, 'p50_us') / 1000:.1f} | "
                       f"{_median_of(rs, 'p99_us') / 1000:.1f} | "
                       f"{sum(r['errors'] for r in rs)} | {_cores(middle)} |")
    hello = _median_of(runs[f"hello@{conns}"], "rps")
    per = {}
    for name in ("hello", "event", "cached", "computed"):
        group = "hello" if name == "hello" else "api"
        per[name] = median(u[group] * u["wall_s"] / r["requests"] * 1000
                           for u, r in zip(cpu[f"{name}@{conns}"], runs[f"{name}@{conns}"]))
    out += ["", "- gunicorn CPU per request (ratios less sensitive to other programs' load than "
            f"req/s): hello world {per['hello']:.2f} ms; single-event POST {per['event']:.2f} ms "
            f"(hello/POST {per['hello'] / per['event']:.2f}); recommendation, cache warm "
            f"{per['cached']:.2f} ms ({per['hello'] / per['cached']:.2f}); computed "
            f"{per['computed']:.2f} ms ({per['hello'] / per['computed']:.3f})"]
    copies = results.get("user_copies", USER_COPIES)
    combos = len(results["data_users"]) * (1 + copies) * (VARIED_N[1] - VARIED_N[0] + 1)
    most = max(r["requests"] for name, rs in runs.items() if name.startswith("computed@")
               for r in rs)
    out.append(f"- a computed run starts with the cache emptied and asks for each of {combos:,} "
               f"(user, n) pairs once, in a shuffled order (the data's users"
               f"{f' and {copies} copies of each' if copies else ''}); the longest run made "
               f"{most:,} requests, "
               + ("so none was answered from the cache" if most <= combos else
                  f"so {most - combos:,} of them repeated a pair and may have been cached"))
    for d in results["rps"]["event_drains"]:
        drained = f"{d['drain_s']:.2f} s later" if d["drain_s"] is not None else "NOT in time"
        out.append(f"- single-event POST run: {d['events']:,} events applied by {d['jobs']:,} RQ "
                   f"jobs; {d['waiting']:,} events/jobs still waiting when wrk stopped, all "
                   f"applied {drained}")
    out.append("- req/s against the hello world's: " + ", ".join(
        f"{name} {_median_of(runs[f'{name}@{conns}'], 'rps') / hello:.3f}"
        for name in ("event", "cached", "computed")))
    out += list_run_lines(results)
    moved = results["rps"].get("metrics")
    if moved:
        out.append("- `GET /metrics` over the runs: " + "; ".join(
            f"{label} {'+' if kind == 'delta' else ''}{value:,.{3 if value % 1 else 0}f}"
            for label, kind, value in moved))
    return out


LIST_RUNS = (("genre", "genre row"), ("rows", "home screen rows"), ("guest", "guest POST"))


def list_run_lines(results: dict) -> list[str]:
    """The other lists' wrk runs (computed genre rows, home screens and guest POSTs) beside the
    unfiltered computed list's at the same connections."""
    runs, cpu, conns = results["rps"]["runs"], results["rps"]["cpu"], results["args"]["connections"]
    made = [(name, label) for name, label in LIST_RUNS if runs.get(f"{name}@{conns}")]
    if not made:
        return []

    def gunicorn_ms(name):
        return median(u["api"] * u["wall_s"] / r["requests"] * 1000
                      for u, r in zip(cpu[f"{name}@{conns}"], runs[f"{name}@{conns}"]))

    computed = runs[f"computed@{conns}"]
    rps, p99 = _median_of(computed, "rps"), _median_of(computed, "p99_us")
    out = [f"- the other lists (at {conns} connections only, each run started with the cache "
           f"emptied) beside the unfiltered computed list at "
           f"{conns} ({rps:,.0f} req/s, p99 {p99 / 1000:.1f} ms, gunicorn CPU "
           f"{gunicorn_ms('computed'):.2f} ms a request): " + "; ".join(
               f"{label} {_median_of(runs[f'{name}@{conns}'], 'rps'):,.0f} req/s "
               f"(× {_median_of(runs[f'{name}@{conns}'], 'rps') / rps:.2f}), p99 "
               f"{_median_of(runs[f'{name}@{conns}'], 'p99_us') / 1000:.1f} ms "
               f"(× {_median_of(runs[f'{name}@{conns}'], 'p99_us') / p99:.2f}), gunicorn CPU "
               f"{gunicorn_ms(name):.2f} ms a request"
               for name, label in made)]
    info = results.get("wrk_lists")
    if info:
        copies = results.get("user_copies", USER_COPIES)
        rows_pairs = len(results["data_users"]) * (1 + copies) * (VARIED_N[1] - VARIED_N[0] + 1)
        pairs = {"genre": info["genre_pairs"], "rows": rows_pairs}
        most = {name: max((r["requests"] for r in runs.get(f"{name}@{conns}", [])), default=0)
                for name in pairs}
        out.append("- the genre-row and home-screen runs ask, like the computed ones, for each "
                   "(user, n) pair once in a shuffled order: " + "; ".join(
                       f"{what} {pairs[name]:,} pairs, the longest run {most[name]:,} requests"
                       + ("" if most[name] <= pairs[name] else
                          f" ({most[name] - pairs[name]:,} repeated a pair and may have been "
                          f"cached)")
                       for name, what in (("genre", f"genre row (each of {info['genre_users']:,} "
                                                    f"users with their most-rated genre)"),
                                          ("rows", "home screen")))
                   + f". A guest POST carries the ratings of one of {info['guest_bodies']:,} "
                     f"data users, drawn at random (the latest {info['guest_limit']} of the "
                     f"{info['guest_capped']} with more: the API takes no more)")
    return out


def freshness_lines(fresh: dict) -> list[str]:
    probes, load = fresh["probes"], fresh["load"]
    out = ["", f"**Freshness**: {len(probes)} probes. Background load {load.get('accepted', 0):,} "
           f"events at {load.get('rate', math.nan):,.0f}/s ({load.get('requests', 0)} POSTs, "
           f"{load.get('errors', 0)} errors, POST p50 {_ms(load.get('post_p50', math.nan))}, p99 "
           f"{_ms(load.get('post_p99', math.nan))}, at most {_ms(load.get('late_max', 0))} behind "
           f"schedule); waiting events/jobs when a probe started: median "
           f"{pct(fresh['backlog'], 50):.0f}, max {max(fresh['backlog'] or [0])}. Milliseconds "
           f"from sending the probe's POST until:"]
    for key, name in (("post", "its 202 arrived"), ("applied", "the rating was in Redis"),
                      ("count", "the cluster's favourite count had moved"),
                      ("list", "a GET no longer listed the movie"),
                      ("fresh", "both (the figure in the table)")):
        values = [p[key] for p in probes if p.get(key) is not None]
        out.append(f"- {name}: {_spread(values)}")
    if fresh["lua_calls"]:
        out.append(f"- Redis ran the ratings script {fresh['lua_calls']:,} times, "
                   f"{fresh['lua_usec'] / fresh['lua_calls'] / 1000:.2f} ms a call on average")
    out.append(f"- CPU while probing, cores: {_cores(fresh['cpu'])}")
    return out


def ingest_lines(ing: dict) -> list[str]:
    out = ["", f"**Batched ingest**: {ing['requests']} POSTs of 1,000 events ({ing['errors']} "
           f"errors), {ing['accepted']:,} accepted in {ing['http_seconds']:.2f} s; "
           f"{ing['waiting_after_http']:,} events still waiting then; all applied "
           f"{ing['end_to_end_seconds']:.2f} s after the first POST. Jobs' results: "
           f"{ing['applied']:,} applied, {ing['skipped']:,} skipped as no change, over "
           f"{ing['jobs']} jobs; {ing['failed']} failed.",
           f"- POST of 1,000 events: p50 {_ms(ing['post_p50'])}, p99 {_ms(ing['post_p99'])}"]
    if ing["lua_calls"]:
        per_event = ing["lua_usec"] / max(ing["accepted"], 1)
        out.append(f"- Redis ran the ratings script for {per_event:.1f} µs an event (push and "
                   f"apply together): one Redis thread, so at most {1e6 / per_event:,.0f} "
                   f"events/s from the script alone")
    out.append(f"- CPU over the ingest, cores: {_cores(ing['cpu'])}")
    return out


def profile_lines(prof: dict) -> list[str]:
    out = ["", f"**One recommendation of the default strategy, in process** (services idle, "
           f"before the phases that add ratings; every one of the {prof['users']} users once, "
           f"n=10, through Flask's test client for the whole GETs; ranker {prof['ranker']}; the "
           f"last column is the share of the time taken by the {prof['heavy_users']} users with "
           f"500 ratings or more):", "",
           "| part | mean ms | p50 ms | p99 ms | max ms | users with ≥ 500 ratings |",
           "| --- | --- | --- | --- | --- | --- |"]
    for row in prof["recommendation"]:
        out.append(f"| {row['part']} | {row['mean']:.2f} | {row['p50']:.2f} | {row['p99']:.2f} | "
                   f"{row['max']:.1f} | {row['heavy_share']:.0%} |")
    out += ["", "**One single-event POST, in process** (mean ms): " + "; ".join(
        f"{name} {ms:.3f}" for name, ms in prof["post"].items())]
    if prof.get("lists"):
        out += list_profile_lines(prof["lists"])
    return out


ROWS_P99_GOAL_MS = 15  # the home screen's p99 in process, on ml-latest-small


def list_profile_lines(lists: dict) -> list[str]:
    """The other lists in process, each beside the unfiltered list computed in the same loop."""
    rows = lists["rows"]
    first = next(row for row in rows if row["key"] == "list")
    out = ["", f"**The other lists, in process** (after the figures above, same process and "
           f"services; every one of the {lists['users']} users once, each list in turn, every "
           f"request timed whole through Flask's test client, a computed one with the user's "
           f"cached lists deleted first; the guest sends the user's ratings, the latest "
           f"{lists['guest_limit']} of the {lists['guest_capped']} users with more; the "
           f"trending movies are read from Redis at most once a second per process):", "",
           "| request | mean ms | p50 ms | p99 ms | max ms | p99 ÷ unfiltered list's | "
           "answers not 200 |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        out.append(f"| {row['part']} | {row['mean']:.2f} | {row['p50']:.2f} | {row['p99']:.2f} | "
                   f"{row['max']:.1f} | {row['p99'] / first['p99']:.2f} | {row['failed']} |")
    screen = next(row for row in rows if row["key"] == "rows")
    ok = screen["p99"] <= ROWS_P99_GOAL_MS and not screen["failed"]
    out += ["", f"- goal: the home screen's p99 ≤ {ROWS_P99_GOAL_MS} ms in process on "
                f"ml-latest-small: {screen['p99']:.1f} ms, {'PASS' if ok else 'FAIL'}"]
    return out


def new_user_lines(new: dict) -> list[str]:
    """The rounds of new users, each with its figures beside the first round's."""
    rounds = new["rounds"]
    first = rounds[0]
    out = ["", f"**New users between retrains**: {len(rounds)} rounds of "
           f"{new['events_per_round']:,} ratings by {new['users']:,} users the model has not "
           f"seen, at random, in POSTs of 1,000; each round timed from its first POST until "
           f"every event is applied.", "",
           "| round | applied events/s | × round 1 | Redis CPU ms per 1,000 events | × round 1 "
           "| script calls | users classified | users moved |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rounds:
        out.append(f"| {row['round']} | {row['events_per_second']:,.0f} | "
                   f"{row['events_per_second'] / first['events_per_second']:.2f} | "
                   f"{row['redis_cpu_ms_per_1000']:.0f} | "
                   f"{row['redis_cpu_ms_per_1000'] / first['redis_cpu_ms_per_1000']:.2f} | "
                   f"{row['script_calls']:,} | {row.get('users_classified', 0):,} | "
                   f"{row['users_assigned']:,} |")
    return out


def render(results: dict) -> str:
    """The results block of docs/live-benchmark.md."""
    info = results["machine"]
    lines = [f"Run of {results['when']} UTC: `.venv/bin/python -m {MODULE}"
             f"{''.join(' ' + a for a in results['argv'])}`, {results['seconds']:.0f} s.", "",
             f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Linux "
             f"{info['kernel']}; Python {info['python']}, {info['redis']}, {info['wrk']}, "
             f"gunicorn {info['gunicorn']} ({WORKER_CLASS}, {API_WORKERS} workers), "
             f"rq {info['rq']} ({RQ_WORKERS} workers), redis-py {info['redis_py']} with the "
             f"{info['redis_parser']} parser. Other programs used "
             f"{info['other_cores_before']:.2f} of the {info['cores']} cores just before the run "
             f"(load average {info['loadavg_before']}). "
             f"Data: {results['data']}. Model: {results['model']}.", "",
             "| target | goal | measured | reference, same run | ratio | result | other "
             "programs, cores |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    rows = summarise(results)
    for row in rows:
        lines.append(f"| {row['target']} | {row['goal']} | {row['measured']} | "
                     f"{row['reference']} | {row['ratio']} | {'PASS' if row['pass'] else 'FAIL'} "
                     f"| {row['other']:.2f} |")
    noisy = [row["target"].split(" ")[0].rstrip(".") for row in rows if row["other"] >= 0.25]
    if noisy:
        lines += ["", f"Other programs took a quarter of a core or more while measuring "
                      f"{', '.join(noisy)}: those figures understate this machine; run again "
                      f"when it is quiet."]
    details = (rps_table(results) + freshness_lines(results["freshness"])
               + ingest_lines(results["ingest"]) + new_user_lines(results["new_users"])
               + profile_lines(results["profile"]))
    return "\n".join(lines + [""] + details) + "\n"
