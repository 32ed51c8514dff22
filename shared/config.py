"""Configuration from the environment, in one place.

Every service reads its settings through :func:`load`; defaults run on one machine.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from shared.recsys.placement import Placement


class ConfigError(ValueError):
    """An environment variable with a value movierec cannot use; the message names it."""


def _parsed(env, name: str, default, minimum, parse, what: str):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if minimum is not None and not value >= minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw}")
    return value


def _int(env, name: str, default: int, minimum: int | None = None) -> int:
    return _parsed(env, name, default, minimum, int, "an integer")


def _number(env, name: str, default: float, minimum: float) -> float:
    return _parsed(env, name, default, minimum, float, "a number")


def _fraction(env, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0 <= value < 1:
        raise ConfigError(f"{name} must be between 0 and 1, got {value}")
    return value


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class ClusterAddress:
    """What a ``redis+cluster://`` (or ``rediss+cluster://``, TLS) URL names: some nodes of a
    Redis Cluster (any of them: the client learns the others from them) and the credentials,
    written as in ``redis://``."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str, name: str = "REDIS_URL") -> ClusterAddress:
    """The nodes and credentials of ``redis+cluster://[user:password@]host:port[,host:port...]``;
    ConfigError naming ``name`` and what is wrong otherwise."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES:
        raise ConfigError(f"{name} is not a cluster URL: it starts {scheme}://, "
                          "not redis+cluster:// or rediss+cluster://")
    credentials, _, hosts = rest.rpartition("@")
    hosts = hosts.split("/", 1)[0].split("?", 1)[0]
    username = password = None
    if credentials:
        user, colon, secret = credentials.partition(":")
        username, password = (unquote(user) or None, unquote(secret)) if colon else \
            (None, unquote(user))
    nodes = []
    for node in hosts.split(","):
        host, colon, port = node.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} must list the cluster's nodes as host:port[,host:port...], "
                              f"got {node.strip()!r} in {url!r}")
        nodes.append((host.strip("[]"), int(port)))
    return ClusterAddress(tuple(nodes), username, password, tls=scheme.lower() == "rediss+cluster")


def _queue_url(env, redis_url: str, var_dir: Path) -> str:
    """$MOVIEREC_QUEUE_URL; else, with the cluster a running ``movierec up --cluster`` uses, the
    queues' Redis it wrote down; else REDIS_URL, unless that names a cluster (RQ needs a plain
    Redis)."""
    url = env.get("MOVIEREC_QUEUE_URL") or ""
    if not url and not env.get("REDIS_URL") and is_cluster_url(redis_url):
        try:
            url = (var_dir / QUEUE_URL_FILE).read_text().strip()
        except OSError:
            url = ""
    if url:
        if is_cluster_url(url):
            raise ConfigError("MOVIEREC_QUEUE_URL must name a plain Redis (redis:// or "
                              "rediss://): RQ does not run on Redis Cluster")
        return url
    if is_cluster_url(redis_url):
        raise ConfigError("MOVIEREC_QUEUE_URL is required when REDIS_URL names a Redis Cluster: "
                          "RQ does not run on Redis Cluster, so the job queues need a plain "
                          "Redis, e.g. MOVIEREC_QUEUE_URL=redis://queue-host:6379/0")
    return redis_url


def _duration(env, name: str, default: float | None) -> float | None:
    """Seconds from "90", "90s", "15m", "6h" or "1d"; 0 means never (None)."""
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    number, unit = (raw[:-1], raw[-1]) if raw[-1] in _DURATION_UNITS else (raw, "s")
    try:
        seconds = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise ConfigError(f"{name} must be a duration like 90, 90s, 15m, 6h or 1d, "
                          f"got {raw!r}") from None
    if seconds < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return seconds or None


def parse_k_range(text: str) -> tuple[int, int]:
    """``'LOW-HIGH'`` as ``(low, high)``, the range of cluster counts k to choose from;
    ValueError saying what is wrong unless ``2 <= low <= high``. ``K_RANGE`` and the
    command line's ``--k-range`` both go through here."""
    try:
        lo, hi = (int(part) for part in text.split("-", 1))
    except ValueError:
        raise ValueError(f"must look like '5-14', got {text!r}") from None
    if not 2 <= lo <= hi:
        raise ValueError(f"needs 2 <= low <= high, got {text!r}")
    return lo, hi


def _host(env, name: str, default: str) -> str:
    """The address to listen on: a name or an IP address, without scheme, port or blanks."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if any(c.isspace() or c in "/[]@" for c in raw) or raw.count(":") == 1:
        raise ConfigError(f"{name} must be an address to listen on, like 127.0.0.1 (this "
                          f"machine only) or 0.0.0.0 (every network), got {raw!r}")
    return raw


def address(host: str, port: int) -> str:
    """``host:port`` as gunicorn binds it and a URL names it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _key_prefix(env, name: str, default: str) -> str:
    """The prefix of every data key, which also serves as their Redis Cluster hash tag and
    goes into the Lua scripts' name templates (:meth:`shared.store.keys.Keys.script_templates`):
    checked here only."""
    raw = env.get(name) or default
    if any(c in raw for c in "{} %"):
        raise ConfigError(f"{name} must have no braces, spaces or '%' (it becomes the keys' "
                          f"hash tag and part of the scripts' name templates), got {raw!r}")
    return raw


def _k_range(env, name: str, default: tuple[int, int]) -> tuple[int, int]:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return parse_k_range(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None


def _choice(env, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


# Keys anyone could guess: the service refuses to start with one (`require_keys`).
KNOWN_DEFAULT_KEYS = frozenset({"change-me", "changeme", "secret", "password", "admin", "key",
                                "test", "movierec", "default"})
MIN_KEY_LENGTH = 16


def _keys(env, name: str) -> tuple[str, ...]:
    """Comma-separated API keys; blanks around each are dropped."""
    keys = tuple(k.strip() for k in (env.get(name) or "").split(",") if k.strip())
    for key in keys:
        if not key.isascii() or not key.isprintable() or " " in key:
            raise ConfigError(f"{name}: keys must be printable ASCII without spaces")
    return keys


# What the limits library (api/limits.py) parses: "1000/second", "6000 per minute", "50/2 minutes",
# several joined by ';'. Checked here without importing it: it imports ssl, which the gunicorn
# master must not load before its gevent workers patch it.
_RATE_LIMIT = re.compile(r"\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day|month|year)s?\s*")


def _rate_limit(env, name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    if not all(_RATE_LIMIT.fullmatch(part) for part in re.split(r"[;,|]", raw)):
        raise ConfigError(f"{name} must look like '100/second' or '6000/minute;100/second', "
                          f"got {raw!r}")
    return raw


def require_keys(settings: Settings) -> None:
    """ConfigError unless the API has a write and an admin key, none of them guessable: a
    service that takes events and edits from anyone must not start (``make run`` generates
    keys)."""
    if not settings.write_keys or not settings.admin_keys:
        raise ConfigError("the API needs MOVIEREC_WRITE_KEYS and MOVIEREC_ADMIN_KEYS (comma-"
                          "separated keys for header X-API-Key); `make run` generates them "
                          "into var/api-keys.env")
    for name, keys in (("MOVIEREC_READ_KEYS", settings.read_keys),
                       ("MOVIEREC_WRITE_KEYS", settings.write_keys),
                       ("MOVIEREC_ADMIN_KEYS", settings.admin_keys)):
        for key in keys:
            if key.lower() in KNOWN_DEFAULT_KEYS or len(key) < MIN_KEY_LENGTH:
                raise ConfigError(f"{name} holds a guessable key ({key[:4]}...): use keys of at "
                                  f"least {MIN_KEY_LENGTH} random characters, e.g. from "
                                  "`python -c 'import secrets; print(secrets.token_urlsafe())'`")


API_WORKER_CLASSES = ("gevent", "sync")
REDIS_URL_FILE = "redis.url"  # under the var dir: the Redis a running `movierec up` uses
QUEUE_URL_FILE = "queue.url"  # ... and the Redis of its queues, when the data is on a cluster


def default_api_workers() -> int:
    """One gunicorn process per core plus one: while one process scores an uncached
    recommendation (CPU-bound) the others keep the cores busy with the cheap requests; more
    processes only add context switches (docs/live-benchmark.md)."""
    return (os.cpu_count() or 1) + 1


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Whether REDIS_URL was given: without it, `movierec up` starts a private redis-server.
    redis_url_given: bool = False
    # Where redis_url comes from, for error messages: "REDIS_URL", the file `movierec up` wrote
    # (``var_dir / REDIS_URL_FILE``), or "default".
    redis_url_source: str = "default"
    # the plain Redis of the RQ queues: REDIS_URL unless that is a cluster
    queue_url: str = "redis://127.0.0.1:6379/0"
    private_redis_port: int = 6390
    # May the CLI install redis-server with apt-get when it is missing (MOVIEREC_NO_APT unset)?
    allow_apt: bool = True
    key_prefix: str = "movierec"
    queue_name: str = "movierec-events"
    # the API listens here: this machine only; a container sets 0.0.0.0 to be reached from outside
    host: str = "127.0.0.1"
    port: int = 8000
    api_workers: int = field(default_factory=default_api_workers)
    api_worker_class: str = "gevent"
    # API keys by kind (header X-API-Key): read keys are optional (reads are open without any);
    # write keys post events and delete users; admin keys do everything (api/auth.py)
    read_keys: tuple[str, ...] = ()
    write_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    # rate limits ("100/second", "6000/minute"; several joined by ';'): a request with a
    # key counts against its key, one without against its client address
    rate_limit_per_key: str = "1000/second"
    rate_limit_per_address: str = "100/second"
    log_format: str = "json"   # or "text"
    log_level: str = "INFO"
    access_log: bool = True     # a JSON line per request (api/access_log.py)
    # the oldest event waiting in the inbox may be this old before /readyz fails (seconds)
    max_inbox_age: float = 60.0
    var_dir: Path = field(default_factory=lambda: Path("var"))
    # model versions are also written here; None: in Redis only
    model_dir: Path | None = field(default_factory=lambda: Path("var/models"))
    min_ratings_to_assign: int = 5
    # a new user is placed again when their ratings have grown by this factor (1: on every
    # change); shared/recsys/placement.py says why
    placement_growth: float = 2.0
    min_cluster_size: int = 6
    recommendation_ttl: int = 300
    k_range: tuple[int, int] = (5, 14)
    retrain_every: float | None = 6 * 3600    # seconds; MOVIEREC_RETRAIN_EVERY=0 turns it off
    retrain_cron: str | None = None           # e.g. "0 3 * * *" (UTC)
    retrain_after_events: int | None = 50_000  # new events since the active version's snapshot
    dedupe_max_ids: int = 1_000_000  # event ids remembered for de-duplication (7 days at most)
    redis_maxmemory: str = "2gb"     # the private server's limit; beyond it, writes get a 507
    # when the private server's append-only file reaches the disk (docs/architecture.md)
    redis_appendfsync: str = "everysec"
    max_clock_skew: float = 300.0   # seconds an event's ts may be ahead of the server's clock
    holdout_fraction: float = 0.1   # of the snapshot's ratings, held out to measure a new version
    holdout_split: str = "temporal"  # which: the latest, or a hash of the pair ("random")
    # the share of the rated movies the personal lists show together, widened at each retrain
    # by giving users movies no list shows (shared/recsys/models/exploration.py); 0: off. 0.1
    # doubles ml-latest-small's at no measured cost (docs/topn-benchmark.md, "Exploration")
    exploration_coverage: float = 0.1
    # what fits a retrain: this process ("local") or Apache Spark ("spark", the `spark` extra:
    # trainer/spark/), at ``spark_master`` (a spark:// URL, or local[N] for N cores here)
    train_engine: str = "local"
    spark_master: str = "local[*]"
    # a new version may be this much worse (relative) than the active one
    gate_tolerance: float = 0.10
    # model versions kept (arrays in Redis and on disk), the active one among them
    keep_versions: int = 3
    # how long an API process keeps the version a new one replaced loaded beside it, so that
    # a rollback to it switches without loading (None: not kept)
    keep_replaced_version: float | None = 600.0
    # how long a rollback waits after the flip before it rebuilds the counters (seconds): the
    # API processes check the pointer every second and load the version meanwhile, with the
    # CPU and Redis to themselves
    rebuild_head_start: float = 2.0
    # a killed trainer's lock (and half-built version) lapses after this (seconds)
    trainer_lock_seconds: int = 30
    # replicas that must hold a request's events before the API answers 202 (0: the primary
    # alone), and how long it waits for them before answering 503 (docs/scaling.md)
    write_replicas: int = 0
    write_replica_timeout_ms: int = 100
    # partitions of a new store (fixed once it is written: docs/scaling.md says how to choose)
    partitions: int = 16
    # drain jobs that may run at once, each for its share of the partitions
    drain_lanes: int = 1

    @property
    def cluster(self) -> ClusterAddress | None:
        """The Redis Cluster REDIS_URL names; None for a single Redis."""
        return parse_cluster_url(self.redis_url) if is_cluster_url(self.redis_url) else None

    @property
    def placement(self) -> Placement:
        """When the workers place a user the last clustering did not see."""
        return Placement(self.min_ratings_to_assign, self.placement_growth)


def _redis_url(env, var_dir: Path) -> tuple[str, str]:
    """$REDIS_URL; else the address of the Redis a running ``movierec up`` (``make run``) uses,
    which it writes to ``var_dir / REDIS_URL_FILE``; else the default. With its source."""
    if env.get("REDIS_URL"):
        return env["REDIS_URL"], "REDIS_URL"
    written = var_dir / REDIS_URL_FILE
    try:
        url = written.read_text().strip()
    except OSError:
        url = ""
    return (url, str(written)) if url else (Settings.redis_url, "default")


def load(env=None) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("MOVIEREC_VAR_DIR") or "var")
    redis_url, redis_url_source = _redis_url(env, var_dir)
    if is_cluster_url(redis_url):
        parse_cluster_url(redis_url)  # a bad address fails here, not at the first command
    return Settings(
        redis_url=redis_url,
        redis_url_given=bool(env.get("REDIS_URL")),
        redis_url_source=redis_url_source,
        queue_url=_queue_url(env, redis_url, var_dir),
        private_redis_port=_int(env, "MOVIEREC_REDIS_PORT", Settings.private_redis_port),
        allow_apt=not env.get("MOVIEREC_NO_APT"),
        key_prefix=_key_prefix(env, "MOVIEREC_PREFIX", Settings.key_prefix),
        queue_name=env.get("MOVIEREC_QUEUE") or Settings.queue_name,
        host=_host(env, "HOST", Settings.host),
        port=_int(env, "PORT", Settings.port),
        api_workers=_int(env, "API_WORKERS", default_api_workers()),
        api_worker_class=_choice(env, "API_WORKER_CLASS", API_WORKER_CLASSES,
                                 Settings.api_worker_class),
        read_keys=_keys(env, "MOVIEREC_READ_KEYS"),
        write_keys=_keys(env, "MOVIEREC_WRITE_KEYS"),
        admin_keys=_keys(env, "MOVIEREC_ADMIN_KEYS"),
        rate_limit_per_key=_rate_limit(env, "MOVIEREC_RATE_LIMIT_PER_KEY",
                                       Settings.rate_limit_per_key),
        rate_limit_per_address=_rate_limit(env, "MOVIEREC_RATE_LIMIT_PER_ADDRESS",
                                           Settings.rate_limit_per_address),
        log_format=_choice(env, "MOVIEREC_LOG_FORMAT", ("json", "text"), Settings.log_format),
        log_level=_choice(env, "MOVIEREC_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"),
                          Settings.log_level),
        access_log=_choice(env, "MOVIEREC_ACCESS_LOG", ("on", "off"), "on") == "on",
        max_inbox_age=_duration(env, "MOVIEREC_MAX_INBOX_AGE", Settings.max_inbox_age)
        or Settings.max_inbox_age,
        var_dir=var_dir,
        model_dir=Path(env.get("MOVIEREC_MODEL_DIR") or var_dir / "models"),
        min_ratings_to_assign=_int(env, "MIN_RATINGS_TO_ASSIGN", Settings.min_ratings_to_assign,
                                   minimum=1),
        placement_growth=_number(env, "MOVIEREC_PLACEMENT_GROWTH", Settings.placement_growth,
                                 minimum=1.0),
        min_cluster_size=_int(env, "MIN_CLUSTER_SIZE", Settings.min_cluster_size),
        recommendation_ttl=_int(env, "RECOMMENDATION_TTL", Settings.recommendation_ttl),
        k_range=_k_range(env, "K_RANGE", Settings.k_range),
        retrain_every=_duration(env, "MOVIEREC_RETRAIN_EVERY", Settings.retrain_every),
        retrain_cron=env.get("MOVIEREC_RETRAIN_CRON") or None,
        retrain_after_events=_int(env, "MOVIEREC_RETRAIN_AFTER_EVENTS",
                                  Settings.retrain_after_events or 0, minimum=0) or None,
        dedupe_max_ids=_int(env, "MOVIEREC_DEDUPE_MAX_IDS", Settings.dedupe_max_ids, minimum=1),
        redis_maxmemory=env.get("MOVIEREC_REDIS_MAXMEMORY") or Settings.redis_maxmemory,
        redis_appendfsync=_choice(env, "MOVIEREC_REDIS_APPENDFSYNC",
                                  ("always", "everysec", "no"), Settings.redis_appendfsync),
        max_clock_skew=float(_int(env, "MOVIEREC_MAX_CLOCK_SKEW", int(Settings.max_clock_skew),
                                  minimum=0)),
        holdout_fraction=_fraction(env, "MOVIEREC_HOLDOUT_FRACTION", Settings.holdout_fraction),
        holdout_split=_choice(env, "MOVIEREC_HOLDOUT_SPLIT", ("temporal", "random"),
                              Settings.holdout_split),
        exploration_coverage=_fraction(env, "MOVIEREC_EXPLORATION_COVERAGE",
                                       Settings.exploration_coverage),
        train_engine=_choice(env, "MOVIEREC_TRAIN_ENGINE", ("local", "spark"),
                             Settings.train_engine),
        spark_master=env.get("MOVIEREC_SPARK_MASTER") or Settings.spark_master,
        gate_tolerance=_fraction(env, "MOVIEREC_GATE_TOLERANCE", Settings.gate_tolerance),
        keep_versions=_int(env, "MOVIEREC_KEEP_VERSIONS", Settings.keep_versions, minimum=1),
        keep_replaced_version=_duration(env, "MOVIEREC_KEEP_REPLACED_VERSION",
                                        Settings.keep_replaced_version),
        rebuild_head_start=_duration(env, "MOVIEREC_REBUILD_HEAD_START",
                                     Settings.rebuild_head_start) or 0.0,
        trainer_lock_seconds=_int(env, "MOVIEREC_TRAINER_LOCK_SECONDS",
                                  Settings.trainer_lock_seconds, minimum=2),
        write_replicas=_int(env, "MOVIEREC_WRITE_REPLICAS", Settings.write_replicas, minimum=0),
        write_replica_timeout_ms=_int(env, "MOVIEREC_WRITE_REPLICA_TIMEOUT_MS",
                                      Settings.write_replica_timeout_ms, minimum=1),
        partitions=_int(env, "MOVIEREC_PARTITIONS", Settings.partitions, minimum=1),
        drain_lanes=_int(env, "MOVIEREC_DRAIN_LANES", Settings.drain_lanes, minimum=1),
    )
