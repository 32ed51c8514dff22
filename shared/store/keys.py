"""Every Redis key name movierec uses, built in one place under one prefix.

The store is partitioned. A user's data (ratings, live view, log, cached lists, the inbox their
events wait in, the exactly-once window, their cluster under each version), a movie's data (its
catalogue entry, its counts, sums and favourites over all users) and a taste cluster's counters
each live in one of ``partitions`` partitions, chosen from the user id, movie id or cluster
number by :func:`partition_of`, each under a hash tag of its own (``{prefix:p3}``): a Redis
Cluster keeps a partition's keys in one slot, so every script on a partition stays legal, and
spreads the partitions over its masters. The partition count is fixed when a store is first
written (its layout mark, :attr:`Keys.layout`), not by the number of Redis nodes: a cluster is
resharded by moving slots, never by renaming keys. The global state (catalogue revision,
models, locks, schedule, limits) keeps the tag ``{prefix}``.

The Lua scripts build no name themselves: fixed names go in as ``KEYS``, and the names that
depend on a user, version or cluster only read inside a script go in as the templates of
:meth:`Keys.partition_templates`.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from shared.config import Settings

LAYOUT = 3  # users, movies and clusters partitioned; 2 partitioned users only, 1 nothing
PARTITIONS = 16  # the default: a store of up to 16 Redis masters, each holding a share
_GOLDEN = 2654435761  # Knuth's multiplicative hash: ids in sequence spread over the partitions


def partition_of(an_id: int | str, partitions: int) -> int:
    """The partition a user's data, a movie's or a taste cluster's lives in (ratings.lua has
    the same function, ``partition_of``). Consecutive numbers land far apart (the fractional
    parts of multiples of the golden ratio), so the first clusters of a version spread over
    the partitions, and so over the masters, however few they are."""
    return ((int(an_id) * _GOLDEN) & 0xFFFFFFFF) * partitions >> 32


def partitions_of(user_ids: np.ndarray, partitions: int) -> np.ndarray:
    """:func:`partition_of` of many users at once."""
    mixed = (np.asarray(user_ids, dtype=np.uint64) * np.uint64(_GOLDEN)) & np.uint64(0xFFFFFFFF)
    return ((mixed * np.uint64(partitions)) >> np.uint64(32)).astype(np.int64)


def partition_tag(prefix: str, partition: int, partitions: int) -> str:
    """The hash tag of a partition: ``prefix:p<i>``, salted (``prefix:p<i>.<k>``, smallest
    ``k``) so that its slot lies in the partition's own share of the slot space. A cluster
    whose masters hold even slot ranges (what ``redis-cli --cluster create`` makes) then holds
    an even number of partitions each, to within one."""
    low = partition * REDIS_CLUSTER_HASH_SLOTS // partitions
    high = (partition + 1) * REDIS_CLUSTER_HASH_SLOTS // partitions
    salt = 0
    while True:
        tag = f"{prefix}:p{partition}" + (f".{salt}" if salt else "")
        if low <= key_slot(tag.encode()) < high:
            return tag
        salt += 1


class Keys:
    def __init__(self, prefix: str = Settings.key_prefix, partitions: int = PARTITIONS):
        self.prefix = prefix
        self.partitions = partitions
        self.base = f"{{{prefix}}}"

    @cached_property
    def _partition_bases(self) -> tuple[str, ...]:
        return tuple(f"{{{partition_tag(self.prefix, p, self.partitions)}}}"
                     for p in range(self.partitions))

    def partition_of(self, an_id: int | str) -> int:
        """The partition of a user, movie or cluster (:func:`partition_of`)."""
        return partition_of(an_id, self.partitions)

    def _of_user(self, user_id: int | str) -> str:
        return self._partition_bases[partition_of(user_id, self.partitions)]

    def _of_cluster(self, cluster: int | str) -> str:
        return self._partition_bases[partition_of(cluster, self.partitions)]

    @property
    def layout(self) -> str:
        """string, JSON: the store's layout (``LAYOUT``) and number of partitions, written once"""
        return f"{self.base}:layout"

    # catalogue
    def movies(self, partition: int) -> str:
        """hash movie_id -> JSON {title, year, genres, tags}, of the partition's movies"""
        return f"{self._partition_bases[partition]}:movies"

    @property
    def catalogue_revision(self) -> str:
        """counter bumped on every catalogue write, so caches know when to reload"""
        return f"{self.base}:movies:rev"

    @property
    def meta(self) -> str:
        """hash: what was imported and when"""
        return f"{self.base}:meta"

    # a user's data, in the user's partition
    def user(self, user_id: int | str) -> str:
        """hash movie_id -> entry: a letter for half stars and favourite, then ts
        (shared.store.ratings.entry)"""
        return f"{self._of_user(user_id)}:u:{user_id}"

    def user_live(self, user_id: int | str) -> str:
        """string: the user's hash as fixed records for reading at once, made by user_state.lua
        and dropped by ratings.lua whenever the hash changes (RatingStore.live_ratings reads it)"""
        return f"{self._of_user(user_id)}:u:{user_id}:live"

    def user_log(self, user_id: int | str) -> str:
        """list of the user's last events, newest first, capped"""
        return f"{self._of_user(user_id)}:u:{user_id}:log"

    def recommendations_cache(self, user_id: int | str) -> str:
        """hash '<version>|<strategy>|<n>[|o<offset>][|<filter>]' -> cached response, valid for
        one user revision"""
        return f"{self._of_user(user_id)}:rec:{user_id}"

    # a partition's own keys
    def users(self, partition: int) -> str:
        """set of the partition's user ids with any state"""
        return f"{self._partition_bases[partition]}:users"

    def user_counts(self, partition: int) -> str:
        """hash user_id -> number of rated movies"""
        return f"{self._partition_bases[partition]}:nratings"

    def deleted_users(self, partition: int) -> str:
        """hash user_id -> ts of deletion; older events for that user are ignored"""
        return f"{self._partition_bases[partition]}:deleted"

    def inbox(self, partition: int) -> str:
        """list of the partition's events accepted by the API and not yet applied: JSON, each
        the event's wire form followed by when it was accepted"""
        return f"{self._partition_bases[partition]}:inbox"

    def dead_letters(self, partition: int) -> str:
        """list of JSON {id, items, error, attempts, failed_at}: inbox items whose drain kept
        failing, set aside for an operator to list and replay"""
        return f"{self._partition_bases[partition]}:inbox:dead"

    def user_revisions(self, partition: int) -> str:
        """hash user_id -> revision ('r' + ``user_revision_sequence``), set whenever the user's
        state or cluster changes (one per script call, so a batch sets them at once)"""
        return f"{self._partition_bases[partition]}:urev"

    def user_revision_sequence(self, partition: int) -> str:
        """counter: the partition's last user revision (written by the Lua script only)"""
        return f"{self._partition_bases[partition]}:urev:seq"

    def applied_events(self, partition: int) -> str:
        """zset event_id -> time applied, trimmed to a window: exactly-once by id"""
        return f"{self._partition_bases[partition]}:applied"

    def counted_versions(self, partition: int) -> str:
        """hash version -> until when (ms since the epoch, 0: for good) the partition's
        scripts keep that version's cluster counters (the active one, one being built)"""
        return f"{self._partition_bases[partition]}:model:counted"

    def assignments(self, version: str, partition: int) -> str:
        """hash user_id -> cluster under ``version``, for the partition's users"""
        return f"{self._partition_bases[partition]}:v:{version}:assign"

    def deltas(self, partition: int) -> str:
        """list of '<sequence> <JSON>': the partition's changes to the counters over all users
        (:mod:`shared.store.deltas`) not yet known to be merged"""
        return f"{self._partition_bases[partition]}:deltas"

    def delta_sequence(self, partition: int) -> str:
        """counter: the sequence number of the partition's last delta"""
        return f"{self._partition_bases[partition]}:deltas:seq"

    def inbox_draining(self, lane: int) -> str:
        """set while a drain job is queued or running for the partitions of ``lane``, so one
        job serves many requests"""
        return f"{self.base}:inbox:draining:{lane}"

    # the counters over all users (rebuildable from the ratings), kept per movie and cluster in
    # the movie's or cluster's partition, merged there from the users' partitions' deltas
    def merged_deltas(self, partition: int) -> str:
        """hash partition (of users) -> sequence number of the last of its deltas merged into
        this partition's counters"""
        return f"{self._partition_bases[partition]}:deltas:merged"

    def movie_counts(self, partition: int) -> str:
        """hash movie_id -> number of ratings, of the partition's movies"""
        return f"{self._partition_bases[partition]}:stats:n"

    def movie_sums(self, partition: int) -> str:
        """hash movie_id -> sum of ratings in half stars, of the partition's movies"""
        return f"{self._partition_bases[partition]}:stats:sum"

    def popular(self, partition: int) -> str:
        """zset movie_id -> number of users who favour it, of the partition's movies"""
        return f"{self._partition_bases[partition]}:popular"

    def trending(self, partition: int, bucket: str) -> str:
        """zset movie_id -> events that made a rating or a favourite of it appear, of the
        partition's movies, in ``bucket`` of event time ('h<hours since 1970>' or
        'd<days>'); it expires once no window reads it"""
        return f"{self._partition_bases[partition]}:trend:{bucket}"

    def events_applied(self, partition: int) -> str:
        """counter of the events the ratings script applied in the partition (their sum is
        what retrains after N events read)"""
        return f"{self._partition_bases[partition]}:stats:applied"

    # models
    @property
    def active_version(self) -> str:
        return f"{self.base}:model:active"

    @property
    def building_version(self) -> str:
        """the version whose counters are being built beside the active one"""
        return f"{self.base}:model:building"

    @property
    def versions(self) -> str:
        """zset version -> trained_at"""
        return f"{self.base}:model:versions"

    @property
    def version_states(self) -> str:
        """hash version -> "building" (its trainer may still be running) or "published"
        (its counters were built and it was activated at least once)"""
        return f"{self.base}:model:states"

    @property
    def rebuilding_counters(self) -> str:
        """string: the version a rollback made active before rebuilding its counters, until
        the rebuild has placed every user (left behind by a rollback that died half-way)"""
        return f"{self.base}:model:rebuilding"

    @property
    def retrained_at_events(self) -> str:
        """string: ``events_applied`` when the active version's snapshot was taken"""
        return f"{self.base}:model:events"

    def retrain_slot(self, slot: str) -> str:
        """string with an expiry: the scheduler that set it (NX) enqueued the slot's retrain"""
        return f"{self.base}:schedule:{slot}"

    @property
    def trainer_lock(self) -> str:
        """string, with an expiry its trainer renews: JSON {token, host, pid, since}"""
        return f"{self.base}:trainer:lock"

    # operations
    def rate_limit_counter(self, client: str, limit: str, window_start: int) -> str:
        """counter of the requests ``client`` (``key:<id>`` or ``address:<ip>``) made in the
        window of ``limit`` (e.g. ``1000/1s``) that starts at ``window_start``"""
        return f"{self.base}:ratelimit:{client}:{limit}:{window_start}"

    @property
    def workers(self) -> str:
        """sorted set worker name -> last heartbeat (Redis time, seconds)"""
        return f"{self.base}:workers"

    @property
    def drain_seconds(self) -> str:
        """hash: the drain-duration histogram (bucket upper bounds -> count, sum, count)"""
        return f"{self.base}:drain:seconds"

    def model_chunks(self, version: str) -> str:
        """how many chunks hold the version's .npz bytes (set once they are all stored)"""
        return f"{self.base}:model:{version}:chunks"

    def model_chunk(self, version: str, index: int) -> str:
        """chunk ``index`` of the version's .npz bytes, in the partition of ``index``: a
        version's arrays spread over the masters of a cluster"""
        home = self._partition_bases[partition_of(index, self.partitions)]
        return f"{home}:model:{version}:npz:{index}"

    def model_chunk_pattern(self, version: str) -> str:
        """a pattern matching every chunk of the version, in whatever partition (as
        :meth:`version_pattern`)"""
        return f"{{{self.prefix}:p[0-9]*}}:model:{version}:npz:*"

    def model_manifest(self, version: str) -> str:
        """the version's JSON manifest"""
        return f"{self.base}:model:{version}:manifest"

    def version_params(self, version: str, partition: int) -> str:
        """hash read by merge.lua: shrink, mu (a copy in each partition holding clusters)"""
        return f"{self._partition_bases[partition]}:v:{version}:params"

    def movie_priors(self, version: str, partition: int) -> str:
        """hash movie_id -> mu + b_i, what cluster means shrink toward (a copy in each
        partition holding clusters)"""
        return f"{self._partition_bases[partition]}:v:{version}:prior"

    def cluster_sizes(self, version: str, partition: int) -> str:
        """hash cluster -> number of users, of the partition's clusters"""
        return f"{self._partition_bases[partition]}:v:{version}:sizes"

    def cluster_means(self, version: str, cluster: int | str) -> str:
        """zset movie_id -> cluster mean rating shrunk toward the movie's prior"""
        return f"{self._of_cluster(cluster)}:v:{version}:c:{cluster}:mean"

    def cluster_favourites(self, version: str, cluster: int | str) -> str:
        """zset movie_id -> favourite count within the cluster"""
        return f"{self._of_cluster(cluster)}:v:{version}:c:{cluster}:fav"

    def cluster_counts(self, version: str, cluster: int | str) -> str:
        """hash movie_id -> ratings within the cluster"""
        return f"{self._of_cluster(cluster)}:v:{version}:c:{cluster}:n"

    def cluster_sums(self, version: str, cluster: int | str) -> str:
        """hash movie_id -> sum of half stars within the cluster"""
        return f"{self._of_cluster(cluster)}:v:{version}:c:{cluster}:sum"

    def version_pattern(self, version: str) -> str:
        """the version's counters and assignments, in every partition (a pattern: what it
        matches is this store's when :meth:`is_partition_key` says so)"""
        return f"{{{self.prefix}:p[0-9]*}}:v:{version}:*"

    def is_partition_key(self, name: bytes | str) -> bool:
        """Whether ``name`` is under one of this store's partition tags, not under those of a
        store whose prefix begins as this one's does."""
        name = name.decode() if isinstance(name, bytes) else name
        return name[:name.find("}") + 1] in self._partition_tags

    @cached_property
    def _partition_tags(self) -> frozenset[str]:
        return frozenset(self._partition_bases)

    def partition_templates(self, partition: int) -> dict[str, str]:
        """The names the scripts on ``partition`` derive from ids they read (users of a
        drained batch, versions, clusters), by method name: the method's own name with ``%s``
        where each id goes, for Lua's string.format (the configured prefix holds no '%':
        :func:`shared.config.load` checks)."""
        fill, base = "%s", self._partition_bases[partition]
        return {"user": f"{base}:u:{fill}", "user_live": f"{base}:u:{fill}:live",
                "user_log": f"{base}:u:{fill}:log", "recommendations_cache": f"{base}:rec:{fill}",
                "assignments": self.assignments(fill, partition),
                "version_params": self.version_params(fill, partition),
                "movie_priors": self.movie_priors(fill, partition),
                "cluster_sizes": self.cluster_sizes(fill, partition),
                "cluster_favourites": f"{base}:v:{fill}:c:{fill}:fav",
                "cluster_counts": f"{base}:v:{fill}:c:{fill}:n",
                "cluster_sums": f"{base}:v:{fill}:c:{fill}:sum",
                "cluster_means": f"{base}:v:{fill}:c:{fill}:mean",
                "trending": self.trending(partition, fill)}


class LayoutOneKeys:
    """The names of the per-user data of the first layout, every key under ``{prefix}``: what
    ``movierec migrate`` moves into the partitions."""

    def __init__(self, prefix: str = Settings.key_prefix):
        self.base = f"{{{prefix}}}"
        self.users = f"{self.base}:users"
        self.user_counts = f"{self.base}:nratings"
        self.deleted_users = f"{self.base}:deleted"
        self.inbox = f"{self.base}:inbox"
        self.inbox_draining = f"{self.base}:inbox:draining"
        self.dead_letters = f"{self.base}:inbox:dead"
        self.user_revisions = f"{self.base}:urev"
        self.user_revision_sequence = f"{self.base}:urev:seq"
        self.applied_events = f"{self.base}:applied"

    def user(self, user_id) -> str:
        return f"{self.base}:u:{user_id}"

    def user_live(self, user_id) -> str:
        return f"{self.base}:u:{user_id}:live"

    def user_log(self, user_id) -> str:
        return f"{self.base}:u:{user_id}:log"

    def recommendations_cache(self, user_id) -> str:
        return f"{self.base}:rec:{user_id}"

    def assignments(self, version: str) -> str:
        return f"{self.base}:v:{version}:assign"


class LayoutTwoKeys:
    """The names of the data over all users of the first two layouts, under ``{prefix}``: the
    catalogue, the counters, each version's cluster counters and arrays, which ``movierec
    migrate`` moves into the partitions of their movies, clusters and chunks."""

    def __init__(self, prefix: str = Settings.key_prefix):
        self.base = f"{{{prefix}}}"
        self.movies = f"{self.base}:movies"
        self.movie_counts = f"{self.base}:stats:n"
        self.movie_sums = f"{self.base}:stats:sum"
        self.popular = f"{self.base}:popular"
        self.events_applied = f"{self.base}:stats:applied"
        self.merged_deltas = f"{self.base}:deltas:merged"
        self.version_keys = f"{self.base}:v:*"  # a pattern: every version's counters
        self.model_chunks = f"{self.base}:model:*:npz:*"  # a pattern: every version's arrays

    def version_params(self, version: str) -> str:
        return f"{self.base}:v:{version}:params"

    def movie_priors(self, version: str) -> str:
        return f"{self.base}:v:{version}:prior"

    def cluster_sizes(self, version: str) -> str:
        return f"{self.base}:v:{version}:sizes"
