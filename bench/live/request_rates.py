"""Phase 1: requests per second and latency of the hello world, single-event POSTs and
recommendation GETs (cache warm and computed), and of the other lists computed (a genre row,
the home screen's rows, a guest's POST), wrk runs interleaved over rounds."""
from __future__ import annotations

from .http_client import get_recommendations, scrape_metrics
from .lists import write_wrk_files
from .load import COLD_RUNS, WRK_RUNS, connections_of, run_wrk
from .pipeline import delete_matching
from .processes import Context
from .settings import API_WORKERS


def run_once(ctx: Context, name: str, connections: int) -> dict:
    server, mode, _ = WRK_RUNS[name]
    port = ctx.hello_port if server == "hello" else ctx.api_port
    return run_wrk(port, mode, connections, ctx.args.duration, ctx.ids_file,
                   keep_alive=ctx.args.keep_alive)


def phase_rps(ctx: Context) -> None:
    """The wrk runs, interleaved over rounds so that slow spells of the machine hit all."""
    args, conns = ctx.args, ctx.args.connections
    runs = {f"{name}@{c}": [] for name in WRK_RUNS for c in (conns, API_WORKERS)}
    cpu = {name: [] for name in runs}
    drains = []
    write_wrk_files(ctx)  # the genre rows' and guests' requests
    metrics_before = scrape_metrics(ctx.api_port)
    for round_no in range(args.rounds):
        print(f"  round {round_no + 1}: one GET per user ({len(ctx.cached_users)}) to warm the "
              f"API's recommendation cache", flush=True)
        for user in ctx.cached_users:
            get_recommendations(ctx.api_port, user)
        for name in WRK_RUNS:
            for c in connections_of(name, conns, API_WORKERS):
                print(f"  round {round_no + 1}: wrk {name}, {c} connections, {args.duration} s",
                      flush=True)
                finished_before = ctx.pipeline.finished_ids() if name == "event" else set()
                if name in COLD_RUNS:  # starts cold
                    for partition in range(ctx.keys.partitions):
                        delete_matching(ctx.client, ctx.keys.partition_templates(partition)[
                            "recommendations_cache"] % "*")
                ctx.meter.start()
                result = run_once(ctx, name, c)
                cpu[f"{name}@{c}"].append(ctx.meter.stop())
                runs[f"{name}@{c}"].append(result)
                if name == "event":
                    waiting = ctx.pipeline.backlog()
                    drained = ctx.pipeline.wait_idle(args.drain_timeout)
                    jobs = len(ctx.pipeline.finished_ids() - finished_before)
                    drains.append({"events": result["requests"], "waiting": waiting,
                                   "drain_s": drained, "jobs": jobs})
    ctx.results["rps"] = {"runs": runs, "cpu": cpu, "event_drains": drains,
                          "metrics": metrics_moved(metrics_before, scrape_metrics(ctx.api_port))}


# what GET /metrics shows of the runs: (label, sample name, labels, kind) ("delta": how much it
# moved over the runs; "now": its value at the end)
WATCHED = (
    ("POST /v1/events answered 202", "movierec_http_requests_total",
     {"endpoint": "events.post_events", "method": "POST", "status": "202"}, "delta"),
    ("GET recommendations answered 200", "movierec_http_requests_total",
     {"endpoint": "users.recommendations", "method": "GET", "status": "200"}, "delta"),
    ("GET rows answered 200", "movierec_http_requests_total",
     {"endpoint": "users.rows", "method": "GET", "status": "200"}, "delta"),
    ("POST recommendations (guest) answered 200", "movierec_http_requests_total",
     {"endpoint": "guests.guest_recommendations", "method": "POST", "status": "200"}, "delta"),
    ("events accepted", "movierec_events_accepted_total", {}, "delta"),
    ("events applied", "movierec_events_applied_total", {}, "delta"),
    ("batches applied (drain histogram)", "movierec_drain_batch_seconds_count", {}, "delta"),
    ("seconds spent applying them", "movierec_drain_batch_seconds_sum", {}, "delta"),
    ("events waiting at the end", "movierec_inbox_events", {}, "now"),
    ("age of the oldest waiting event, s", "movierec_inbox_oldest_event_age_seconds", {}, "now"),
    ("workers alive", "movierec_workers_alive", {}, "now"),
)


def metrics_moved(before: dict, after: dict) -> list[tuple[str, str, float]]:
    """The WATCHED figures: (label, kind, value)."""
    out = []
    for label, name, labels, kind in WATCHED:
        key = (name, tuple(sorted(labels.items())))
        value = after.get(key, 0.0) - (before.get(key, 0.0) if kind == "delta" else 0.0)
        out.append((label, kind, value))
    return out
