"""``GET /metrics`` in the Prometheus text format.

Request counts and latencies are kept by each gunicorn process; with ``PROMETHEUS_MULTIPROC_DIR``
set (``movierec serve`` sets it) prometheus-client adds them up over the processes. What the
workers and the trainer do is read from Redis at scrape time, so it is right whichever
process, on whichever machine, did it: events applied, the inbox and its oldest event's age,
how long batches take to apply, live workers, the dead letters, the active version and the last
retrain's numbers.
"""
from __future__ import annotations

import os

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from api.services import services

bp = Blueprint("metrics", __name__)

REQUESTS = Counter("movierec_http_requests", "HTTP requests answered, by endpoint and status",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("movierec_http_request_seconds", "Time to answer an HTTP request",
                    ["endpoint", "method"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
EVENTS_ACCEPTED = Counter("movierec_events_accepted", "Events accepted by POST /v1/events (202)")
EVENTS_REJECTED = Counter("movierec_events_rejected",
                          "Requests to POST /v1/events refused as invalid (400)")


# (endpoint, method, status) -> its request counter and latency histogram, found once: the
# labels lookup is a lock and a dictionary of its own in prometheus-client
_SERIES: dict[tuple[str, str, int], tuple] = {}


def observe(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count and time a request (a step of :class:`api.hooks.RequestHooks`), unless it is a
    scrape."""
    if endpoint == "metrics.metrics":
        return
    labels = (endpoint, method, status)
    series = _SERIES.get(labels)
    if series is None:
        series = _SERIES[labels] = (REQUESTS.labels(endpoint, method, str(status)),
                                    LATENCY.labels(endpoint, method))
    series[0].inc()
    series[1].observe(seconds)


class StoreCollector:
    """The figures that live in Redis, read when Prometheus scrapes."""

    def __init__(self, svc):
        self.svc = svc

    def collect(self):
        svc = self.svc
        yield GaugeMetricFamily("movierec_inbox_events", "Events accepted and not yet applied",
                                value=svc.inbox.length())
        yield GaugeMetricFamily("movierec_inbox_oldest_event_age_seconds",
                                "How long the oldest event in the inbox has waited",
                                value=svc.inbox.oldest_waiting_seconds())
        yield CounterMetricFamily("movierec_events_applied", "Events the workers applied",
                                  value=svc.ratings.events_applied())
        buckets, total = svc.operations.drain_histogram()
        yield HistogramMetricFamily("movierec_drain_batch_seconds",
                                    "Time a worker takes to apply one batch from the inbox",
                                    buckets=buckets, sum_value=total)
        yield GaugeMetricFamily("movierec_workers_alive",
                                "Event workers that sent a heartbeat in the last seconds",
                                value=len(svc.operations.live_workers()))
        yield GaugeMetricFamily("movierec_dead_letter_items",
                                "Inbox items set aside after failing (movierec events dead-letter)",
                                value=svc.inbox.dead_letter_count())
        models = svc.models.store
        active = models.active_version()
        info = GaugeMetricFamily("movierec_active_model", "The active model version (value 1)",
                                 labels=["version"])
        if active:
            info.add_metric([active], 1)
        yield info
        manifest = (models.manifest(active) or {}) if active else {}
        trained = GaugeMetricFamily("movierec_model_trained_timestamp_seconds",
                                    "When the active version was trained")
        if isinstance(manifest.get("trained_at"), (int, float)):
            trained.add_metric([], float(manifest["trained_at"]))
        yield trained
        held_out = GaugeMetricFamily("movierec_model_holdout",
                                     "The active version's numbers on its held-out ratings",
                                     labels=["metric"])
        for name, value in (manifest.get("holdout") or {}).items():
            if isinstance(value, (int, float)):
                held_out.add_metric([name], float(value))
        yield held_out


@bp.get("/metrics")
def metrics():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    store = CollectorRegistry()
    store.register(StoreCollector(services()))
    return Response(generate_latest(processes) + generate_latest(store),
                    mimetype=CONTENT_TYPE_LATEST)
