"""Redis clients, built here so that the services never import redis themselves."""
from __future__ import annotations

from importlib import resources

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.config import Settings

# What a store call raises when Redis is unreachable or refuses the command.
StoreError = redis.RedisError
# ... when Redis is out of memory (maxmemory with noeviction): nothing of the call was written.
StoreFull = redis.exceptions.OutOfMemoryError


def client_for(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def retrying_client(settings: Settings, single: bool = False) -> redis.Redis:
    """A client that reopens a connection Redis closed (a restart, a failover) and sends the
    command once more, so that it costs no request a 503; for callers whose every command is
    safe to send twice (reads, and pushes of events that apply once however often they arrive).
    ``single``: one connection of its own instead of the pool."""
    return redis.Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30,
                                single_connection_client=single,
                                retry=Retry(NoBackoff(), 1,
                                            supported_errors=(redis.ConnectionError,)))


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


def script_calls(client: redis.Redis, calls: list[tuple]) -> list:
    """Each ``(script, keys, args)`` of ``calls`` (scripts from :func:`lua_script`) in one
    round trip: the replies in order, a failed call's error in its place.

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
    be safe to send twice, as for :func:`retrying_client`."""
    conn = client.connection_pool.get_connection()
    try:
        for attempt in range(2):
            replies = conn.retry.call_with_retry(lambda: _send_and_read(conn, calls),
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


def _send_and_read(conn, calls: list[tuple]) -> list:
    """One packet of EVALSHAs on ``conn`` and their replies, a Redis error in its place. A
    call cut short (a timeout, a greenlet killed) leaves replies unread: the connection is
    closed so that none is read as the answer to a later call."""
    try:
        conn.send_packed_command(conn.pack_commands(
            [("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls]))
        replies = []
        for _ in calls:
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as error:
                replies.append(error)
        return replies
    except BaseException:
        conn.disconnect()
        raise
