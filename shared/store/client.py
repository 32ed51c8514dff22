"""Redis clients, built here so that the services never import redis themselves."""
from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from shared.config import ClusterAddress, Settings

# What a store call raises when Redis is unreachable or refuses the command; on a cluster also
# when no node answers for a slot (during a failover), which redis-py raises outside RedisError.
StoreError = (redis.RedisError, RedisClusterException)
# ... when Redis is out of memory (maxmemory with noeviction): nothing of the refused command
# was written.
StoreFull = redis.exceptions.OutOfMemoryError


def client_for(settings: Settings) -> redis.Redis:
    """A client of the data's Redis: a :class:`RedisCluster` when REDIS_URL names a cluster."""
    if settings.cluster is not None:
        return _cluster_client(settings.cluster)
    return redis.Redis.from_url(settings.redis_url)


def queue_client_for(settings: Settings) -> redis.Redis:
    """A client of the Redis of the RQ queues (MOVIEREC_QUEUE_URL; RQ needs a plain Redis)."""
    return redis.Redis.from_url(settings.queue_url)


def retrying_client(settings: Settings, single: bool = False) -> redis.Redis:
    """A client that reopens a connection Redis closed (a restart, a failover) and sends the
    command once more, so that it costs no request a 503; for callers whose every command is
    safe to send twice (reads, and pushes of events that apply once however often they arrive).
    ``single``: one connection of its own instead of the pool (a cluster client keeps a pool
    per node, and follows the cluster's redirections itself). On a cluster, a node that does
    not answer costs the request a 503 at once, not seconds of backed-off retries: the next
    command reads the cluster's slot map again, and finds the replica once it took over."""
    if settings.cluster is not None:
        return _cluster_client(settings.cluster, socket_timeout=5, health_check_interval=30,
                               retry=Retry(NoBackoff(), 1))
    return redis.Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30,
                                single_connection_client=single,
                                retry=Retry(NoBackoff(), 1,
                                            supported_errors=(redis.ConnectionError,)))


def _cluster_client(cluster: ClusterAddress, **options) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
                        username=cluster.username, password=cluster.password, ssl=cluster.tls,
                        **options)


def readiness(client: redis.Redis, n_movies, active_version) -> tuple[bool, dict]:
    """Whether Redis answers, the catalogue is loaded (``n_movies()``) and a model is active
    (``active_version()``), with a line for each check."""
    checks = {}
    try:
        client.ping()
        checks["redis"] = "ok"
        movies = n_movies()
        checks["data"] = (f"{movies} movies" if movies
                          else "no movies loaded (run `movierec import`)")
        version = active_version()
        checks["model"] = version or "no active model (run `movierec train`)"
        return movies > 0 and version is not None, checks
    except redis.RedisError as exc:
        checks["redis"] = f"unreachable: {exc}"
        return False, checks


def lua_script(client: redis.Redis, name: str):
    """The script ``shared/store/lua/<name>`` registered on ``client`` (sent by its SHA, loaded
    once when Redis does not know it)."""
    return client.register_script(resources.files("shared.store").joinpath("lua", name).read_text())


def script_calls(client: redis.Redis, calls: list[tuple], then: tuple = ()) -> list:
    """Each ``(script, keys, args)`` of ``calls`` (scripts from :func:`lua_script`) in one
    round trip: the replies in order, a failed call's error in its place. The commands
    ``then`` follow on the same connection, their replies after (single Redis only).

    The commands go straight to a connection of the client's pool rather than through a
    redis-py pipeline, whose bookkeeping costs the API tens of microseconds a call. The pool's
    check of the connection before each use (a read that finds nothing) stays: under gevent it
    is the call's turn for the process's other connections. A greenlet whose reads all find
    their data ready never goes back to the event loop, and without the check (a connection
    of the client's own) a computed GET's p99 at 3 keep-alive connections was 16-22 ms
    against 5 ms (docs/topn-benchmark.md). Redis is not asked ``SCRIPT EXISTS``
    first, as redis-py's ``script(client=pipeline)`` does: a script is loaded only after Redis
    answers NOSCRIPT (a restart or ``SCRIPT FLUSH``), and the calls go once more. A connection
    Redis closed is reopened and the calls sent again as the client's retry says, so they must
    be safe to send twice, as for :func:`retrying_client`. On a cluster, the calls go to
    the node of their first key, a round trip per node."""
    if isinstance(client, RedisCluster):
        return _script_calls_by_node(client, calls)
    conn = client.connection_pool.get_connection()
    try:
        for attempt in range(2):
            replies = conn.retry.call_with_retry(lambda: _send_and_read(conn, calls, then),
                                                 lambda error: conn.disconnect())
            unknown = {script for (script, _, _), reply in zip(calls, replies)
                       if isinstance(reply, redis.exceptions.NoScriptError)}
            if not unknown or attempt:
                return replies
            for script in unknown:
                script.sha = client.script_load(script.script)
        raise AssertionError("unreachable: the second attempt returns its replies")
    finally:
        client.connection_pool.release(conn)


def _script_calls_by_node(client: RedisCluster, calls: list[tuple]) -> list:
    """:func:`script_calls` on a cluster. The calls go to the nodes the client's slot map
    names; when a node is gone (a failover) or answers that the slot moved, the map is read
    again from the cluster: the error goes to the caller (a 503), or the calls are sent once
    more to the slot's new node."""
    for attempt in range(2):
        try:
            replies = _send_by_node(client, calls)
        except (redis.ConnectionError, redis.TimeoutError):
            client.nodes_manager.initialize()  # the next call finds the slot's new master
            raise
        if attempt or not any(isinstance(reply, redis.exceptions.AskError) for reply in replies):
            return replies
        client.nodes_manager.initialize()
    raise AssertionError("unreachable: the second attempt returns its replies")


def _send_by_node(client: RedisCluster, calls: list[tuple]) -> list:
    by_node: dict[str, tuple] = {}
    for index, (_, keys, _) in enumerate(calls):
        node = client.get_node_from_key(keys[0]) if keys else client.get_default_node()
        by_node.setdefault(node.name, (node, []))[1].append(index)
    replies: list = [None] * len(calls)
    for node, indices in by_node.values():
        for index, reply in zip(indices, script_calls(node.redis_connection,
                                                      [calls[i] for i in indices])):
            replies[index] = reply
    return replies


def send_commands(client: redis.Redis, commands: list[tuple], then: Sequence[tuple] = (),
                  wait: tuple[int, int] | None = None) -> tuple[list, int | None]:
    """Plain commands ``(name, key, *args)`` in one round trip, then the commands ``then``: the
    replies in order (a Redis error in its place). With ``wait=(replicas, timeout_ms)``, a
    ``WAIT`` follows ``commands`` on each connection they went to, and the least number of
    replicas that acknowledged comes back beside the replies (else None). On a cluster,
    ``commands`` go to the nodes of their keys, a packet per node, and ``then`` only after
    them all, so that what ``then`` says (a drain claimed) is never seen before what it says
    it of; a node that is gone or answers that the slot moved costs the caller the error,
    and the slot map is read again for the next call. Safe to send twice, as
    :func:`script_calls`."""
    waits = (("WAIT", *wait),) if wait else ()
    if not isinstance(client, RedisCluster):
        replies = script_calls(client, [], then=(*commands, *waits, *then))
        acknowledged = None
        if wait:
            acknowledged = replies.pop(len(commands))
            if isinstance(acknowledged, Exception):
                raise acknowledged
            acknowledged = int(acknowledged)
        return replies, acknowledged
    replies, acknowledged = [], None
    try:
        for group in (commands, then):
            by_node: dict[str, tuple] = {}
            for index, command in enumerate(group):
                node = client.get_node_from_key(command[1])
                by_node.setdefault(node.name, (node, []))[1].append(index)
            part: list = [None] * len(group)
            for node, indices in by_node.values():
                node_replies, node_acknowledged = send_commands(
                    node.redis_connection, [group[i] for i in indices],
                    wait=wait if group is commands else None)
                for index, reply in zip(indices, node_replies):
                    part[index] = reply
                if node_acknowledged is not None:
                    acknowledged = (node_acknowledged if acknowledged is None
                                    else min(acknowledged, node_acknowledged))
            if any(isinstance(r, (redis.exceptions.MovedError, redis.exceptions.AskError))
                   for r in part):
                client.nodes_manager.initialize()
            replies += part
    except (redis.ConnectionError, redis.TimeoutError):
        client.nodes_manager.initialize()
        raise
    return replies, acknowledged


class NotReplicated(redis.RedisError):
    """A write reached the primary, but fewer replicas than asked acknowledged it in time."""


def _send_and_read(conn, calls: list[tuple], then: tuple = ()) -> list:
    """One packet of EVALSHAs on ``conn``, then the commands ``then``, and their replies, a
    Redis error in its place. A call cut short (a timeout, a greenlet killed) leaves replies
    unread: the connection is closed so that none is read as the answer to a later call."""
    try:
        conn.send_packed_command(conn.pack_commands(
            [("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls]
            + list(then)))
        replies = []
        for _ in [*calls, *then]:
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as error:
                replies.append(error)
        return replies
    except BaseException:
        conn.disconnect()
        raise
