"""RQ job functions. Arguments and results are JSON; effects are idempotent (at-least-once)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from rq import get_current_job

from shared import config
from shared.recsys.placement import Placement
from shared.store.inbox import BatchFailed, Inbox
from shared.store.live import ModelCache
from shared.store.queue import enqueue_drain
from shared.store.rq_workers import stop_requested
from shared.store.stores import Stores

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a job works with: the stores on its Redis connection, and the active model (its
    classifier: a worker assigns clusters), which outlives the job."""
    stores: Stores
    model: ModelCache

    @classmethod
    def on(cls, client, settings: config.Settings) -> Context:
        return cls.of(Stores(client, settings))

    @classmethod
    def of(cls, stores: Stores) -> Context:
        return cls(stores, ModelCache(stores.models, components=CLASSIFIER))


_contexts: dict[tuple, Context] = {}  # by Redis and the job's connection pool


def current_context() -> Context:
    """The context of the running job, on the stores of its connection
    (:meth:`Stores.for_job`)."""
    settings = config.load()
    job = get_current_job()
    connection = job.connection if job is not None else None
    key = (settings.redis_url, None if connection is None else id(connection.connection_pool))
    if key not in _contexts:
        _contexts[key] = Context.of(Stores.for_job(settings, connection))
    return _contexts[key]


def assign_new_users(context: Context, changed: dict[int, tuple[int, int]],
                     placement: Placement) -> tuple[int, int]:
    """Give the users of a batch the clustering has not seen a cluster from the active softmax
    classifier when ``placement`` says it is due: ``changed`` holds each user's number of
    ratings before and after the batch. A user who qualifies but has no cluster under the
    version (their worker died between the batch and placing them) is placed too. Their
    clusters and ratings are read in a round trip each, the classifier is called once for all
    of them, and only the users whose cluster changes are moved. Returns the users classified
    and the users moved."""
    model, stores = context.model.get(), context.stores
    if model is None or not changed:
        return 0, 0
    users = np.fromiter(changed, dtype=np.int64, count=len(changed))
    after = np.fromiter((count for _, count in changed.values()), dtype=np.int64,
                        count=len(changed))
    qualifying = users[(after >= placement.min_ratings) & model.unseen(users)].tolist()
    if not qualifying:
        return 0, 0
    placed = dict(zip(qualifying, stores.counters.clusters_of(model.version, qualifying)))
    candidates = [user for user in qualifying
                  if placed[user] is None or placement.due(*changed[user])]
    if not candidates:
        return 0, 0
    clusters = model.assign_clusters(stores.ratings.live_ratings_many(candidates))
    moves = {user: cluster for user, cluster in zip(candidates, clusters.tolist())
             if cluster != placed[user]}
    if not moves:
        return len(candidates), 0
    moved = stores.ratings.assign(model.version, moves)  # -1: the version changed meanwhile,
    return len(candidates), max(moved, 0)                 # and the new one places them


CLASSIFIER = ("softmax",)  # all of a model version a worker uses: it assigns clusters
DRAIN_BATCH = 1000
POISON_ATTEMPTS = 3  # an inbox item the script fails on this often goes to the dead letters
DRAIN_SWEEP_SECONDS = 0.2
DRAIN_SECONDS = 5.0  # then hand over to a fresh job, so no job runs long (nor holds up a
                     # forking worker's stop: its work horse is told of a stop only by signal)
LINGER_SECONDS = 0.1  # keep the claim this long after the inbox empties: a steady stream
                      # of single events then rides one job instead of a job per few events
CLAIM_RENEW_SECONDS = 0.25  # a drain renews its claim (DRAIN_CLAIM_MS) this often


def drain_events(lane: int = 0) -> dict:
    """Apply the inbox of the partitions of ``lane`` in rounds until it is empty, placing new
    users as they qualify: a round takes a batch of each partition that holds events, in one
    round trip, and folds their deltas into the counters over all users in another. An item
    the ratings script keeps failing on is found by halving its partition's batch and goes,
    after POISON_ATTEMPTS failures, to the dead letters; the items behind it, and the other
    partitions, flow on. After DRAIN_SECONDS, or when the worker is asked to stop, the drain
    hands the lane over to a new job between two rounds: each batch is applied whole by one
    script call, so nothing is lost or applied twice."""
    settings = config.load()
    context = current_context()
    stores, inbox = context.stores, context.stores.inbox
    started = renewed = time.monotonic()
    stores.ratings.trim_applied(max_ids=settings.dedupe_max_ids)  # the de-duplication window
    totals = {"applied": 0, "skipped": 0, "users_classified": 0, "users_assigned": 0,
              "batches": 0, "dead_lettered": 0}
    inbox.renew_drain_claim(lane)  # the push's claim may have aged in the queue
    partitions = inbox.partitions(lane)
    most = batch_per_partition(len(partitions))
    batch, failures = dict.fromkeys(partitions, most), dict.fromkeys(partitions, 0)
    idle_since, busy = None, partitions  # the first round also folds what a dead drain left
    while True:
        round_started = time.perf_counter()
        results = inbox.drain({partition: batch[partition] for partition in busy}) if busy else {}
        applied = skipped = left = 0
        changed: dict[int, tuple[int, int]] = {}
        for partition, result in results.items():
            if isinstance(result, BatchFailed):
                # (when Redis refuses work for now, the job fails instead, and a sweep retries)
                batch[partition], failures[partition] = _narrow_down(
                    inbox, partition, batch[partition], failures[partition], most, totals)
                left += 1
                continue
            batch[partition], failures[partition] = min(most, batch[partition] * 2), 0
            applied, skipped = applied + result.applied, skipped + result.skipped
            left += result.left
            changed.update(result.changed)
        totals["applied"] += applied
        totals["skipped"] += skipped
        classified, moved = assign_new_users(context, changed, settings.placement)
        totals["users_classified"] += classified
        totals["users_assigned"] += moved
        totals["batches"] += 1
        if applied or skipped:
            stores.operations.record_drain_batch(time.perf_counter() - round_started)
        now = time.monotonic()
        if left:
            idle_since = None
        elif idle_since is None or applied or skipped:
            idle_since = now
        elif now - idle_since > LINGER_SECONDS:
            if inbox.release_drain(lane):
                return totals  # the next push enqueues a new job
            idle_since = None  # events came meanwhile: the lane is ours again
        if now - started > DRAIN_SECONDS or stop_requested():
            inbox.forget_merged()
            inbox.renew_drain_claim(lane)
            enqueue_drain(stores.events_queue, lane)  # the claim is still ours
            return totals
        if now - renewed > CLAIM_RENEW_SECONDS:
            inbox.renew_drain_claim(lane)
            renewed = now
        if not left:
            time.sleep(0.01)
        # the next round: the partitions with events (or a failed batch to narrow down)
        busy = sorted(set(inbox.waiting(partitions)) | {p for p in partitions if failures[p]}
                      | {p for p, r in results.items() if isinstance(r, BatchFailed)})


def batch_per_partition(partitions: int) -> int:
    """The most events a round takes from one partition: a quarter of DRAIN_BATCH (calls big
    enough that their fixed cost stays small, rounds short enough for the claim), or more
    with fewer than four partitions to a lane."""
    return max(DRAIN_BATCH // 4, -(-DRAIN_BATCH // partitions))


def _narrow_down(inbox: Inbox, partition: int, batch: int, failures: int, most: int,
                 totals: dict) -> tuple[int, int]:
    """After a failed batch of ``partition``: half the batch, down to the one item at the head;
    that item, once it failed POISON_ATTEMPTS times, goes to the dead letters. The next
    (batch, failures); ``most`` is the partition's batch once the item is set aside."""
    if batch > 1:
        return batch // 2, 0
    failures += 1
    time.sleep(0.05 * failures)  # a failure of the moment may pass
    if failures < POISON_ATTEMPTS - 1:
        return 1, failures
    # The item to set aside is read before a last attempt on it: should a drain beside this
    # one have moved it meanwhile, the attempt meets a good item and succeeds, and only an item
    # that failed is ever set aside.
    head = inbox.head(partition)
    result = inbox.drain({partition: 1}, log=True)[partition]
    if isinstance(result, BatchFailed):
        if head is not None and inbox.dead_letter(partition, head, str(result), POISON_ATTEMPTS):
            totals["dead_lettered"] += 1
            log.error("an inbox item failed %d times (%s): moved to the dead letters",
                      POISON_ATTEMPTS, result)
    else:
        totals["applied"] += result.applied
        totals["skipped"] += result.skipped
    return most, 0


def sweep_inbox(stores: Stores) -> list[int]:
    """Enqueue a drain for each lane where events (or unmerged deltas) wait and no drain holds
    it (one died): any worker calls this every DRAIN_SWEEP_SECONDS, so a dead drain's events
    wait at most about the claim's expiry plus one sweep. The lanes it enqueued one for."""
    enqueued = []
    for lane in range(stores.inbox.lanes):
        if stores.inbox.claim_drain(lane):
            enqueue_drain(stores.events_queue, lane)
            enqueued.append(lane)
    return enqueued
