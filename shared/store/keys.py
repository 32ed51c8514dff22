"""Every Redis key name movierec uses, built in one place under one prefix.

All data keys share the hash tag ``{prefix}`` so that the Lua scripts, which touch a user's
state and the counters derived from it together, stay legal on Redis Cluster (one slot). RQ's
queues are not ours to name this way: they stay on one primary (see RQ-FACTS.md).

The Lua scripts build no name themselves: fixed names go in as ``KEYS``, and the names that
depend on a user, version or cluster only read inside a script go in as the templates of
:meth:`Keys.script_templates`, spelled by the methods below.
"""
from __future__ import annotations

from shared.config import Settings


class Keys:
    def __init__(self, prefix: str = Settings.key_prefix):
        self.prefix = prefix
        self.base = f"{{{prefix}}}"

    # catalogue
    @property
    def movies(self) -> str:
        """hash movie_id -> JSON {title, year, genres, tags}"""
        return f"{self.base}:movies"

    @property
    def catalogue_revision(self) -> str:
        """counter bumped on every catalogue write, so caches know when to reload"""
        return f"{self.base}:movies:rev"

    @property
    def meta(self) -> str:
        """hash: what was imported and when"""
        return f"{self.base}:meta"

    # ratings: the source of truth
    @property
    def users(self) -> str:
        """set of user ids with any state"""
        return f"{self.base}:users"

    def user(self, user_id: int | str) -> str:
        """hash movie_id -> 'half_stars|favourite|ts' (half_stars 0 = no rating)"""
        return f"{self.base}:u:{user_id}"

    def user_live(self, user_id: int | str) -> str:
        """string: the user's hash as fixed records for reading at once, made by user_state.lua
        and dropped by ratings.lua whenever the hash changes (RatingStore.live_ratings reads it)"""
        return f"{self.base}:u:{user_id}:live"

    def user_log(self, user_id: int | str) -> str:
        """list of the user's last events, newest first, capped"""
        return f"{self.base}:u:{user_id}:log"

    @property
    def user_counts(self) -> str:
        """hash user_id -> number of rated movies"""
        return f"{self.base}:nratings"

    @property
    def deleted_users(self) -> str:
        """hash user_id -> ts of deletion; older events for that user are ignored"""
        return f"{self.base}:deleted"

    @property
    def inbox(self) -> str:
        """list of events accepted by the API and not yet applied: JSON, each the event's wire
        form followed by when it was accepted"""
        return f"{self.base}:inbox"

    @property
    def dead_letters(self) -> str:
        """list of JSON {id, items, error, attempts, failed_at}: inbox items whose drain kept
        failing, set aside for an operator to list and replay"""
        return f"{self.base}:inbox:dead"

    @property
    def inbox_draining(self) -> str:
        """set while a drain job is queued or running, so one job serves many requests"""
        return f"{self.base}:inbox:draining"

    @property
    def user_revisions(self) -> str:
        """hash user_id -> revision ('r' + ``user_revision_sequence``), set whenever the user's
        state or cluster changes (one per script call, so a batch sets them at once)"""
        return f"{self.base}:urev"

    @property
    def user_revision_sequence(self) -> str:
        """counter: the next user revision (written by the Lua script only)"""
        return f"{self.base}:urev:seq"

    def recommendations_cache(self, user_id: int | str) -> str:
        """hash '<version>|<strategy>|<n>' -> cached response, valid for one user revision"""
        return f"{self.base}:rec:{user_id}"

    @property
    def applied_events(self) -> str:
        """zset event_id -> time applied, trimmed to a window: exactly-once by id"""
        return f"{self.base}:applied"

    # derived counters over all users (rebuildable from the ratings)
    @property
    def movie_counts(self) -> str:
        """hash movie_id -> number of ratings"""
        return f"{self.base}:stats:n"

    @property
    def movie_sums(self) -> str:
        """hash movie_id -> sum of ratings in half stars"""
        return f"{self.base}:stats:sum"

    @property
    def popular(self) -> str:
        """zset movie_id -> number of users who favour it"""
        return f"{self.base}:popular"

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
    def events_applied(self) -> str:
        """counter of the events the ratings script applied (what retrains after N events read)"""
        return f"{self.base}:stats:applied"

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

    def model_chunk(self, version: str, index: int | str) -> str:
        """chunk ``index`` of the version's .npz bytes (``"*"``: a pattern matching them all)"""
        return f"{self.base}:model:{version}:npz:{index}"

    def model_manifest(self, version: str) -> str:
        """the version's JSON manifest"""
        return f"{self.base}:model:{version}:manifest"

    def version_params(self, version: str) -> str:
        """hash read by the Lua script: shrink, mu"""
        return f"{self.base}:v:{version}:params"

    def movie_priors(self, version: str) -> str:
        """hash movie_id -> mu + b_i, what cluster means shrink toward"""
        return f"{self.base}:v:{version}:prior"

    def cluster_means(self, version: str, cluster: int | str) -> str:
        """zset movie_id -> cluster mean rating shrunk toward the movie's prior"""
        return f"{self.base}:v:{version}:c:{cluster}:mean"

    def assignments(self, version: str) -> str:
        """hash user_id -> cluster under ``version``"""
        return f"{self.base}:v:{version}:assign"

    def cluster_sizes(self, version: str) -> str:
        """hash cluster -> number of users"""
        return f"{self.base}:v:{version}:sizes"

    def cluster_favourites(self, version: str, cluster: int | str) -> str:
        """zset movie_id -> favourite count within the cluster"""
        return f"{self.base}:v:{version}:c:{cluster}:fav"

    def cluster_counts(self, version: str, cluster: int | str) -> str:
        """hash movie_id -> ratings within the cluster"""
        return f"{self.base}:v:{version}:c:{cluster}:n"

    def cluster_sums(self, version: str, cluster: int | str) -> str:
        """hash movie_id -> sum of half stars within the cluster"""
        return f"{self.base}:v:{version}:c:{cluster}:sum"

    def version_pattern(self, version: str) -> str:
        return f"{self.base}:v:{version}:*"

    def script_templates(self) -> dict[str, str]:
        """The names the ratings script derives from ids it reads (users of a drained batch,
        the active version, clusters), by method name: the method's own name with ``%s`` where
        each id goes, for Lua's string.format (the configured prefix holds no '%':
        :func:`shared.config.load` checks)."""
        fill = "%s"
        return {
            "user": self.user(fill),
            "user_live": self.user_live(fill),
            "user_log": self.user_log(fill),
            "recommendations_cache": self.recommendations_cache(fill),
            "version_params": self.version_params(fill),
            "movie_priors": self.movie_priors(fill),
            "assignments": self.assignments(fill),
            "cluster_sizes": self.cluster_sizes(fill),
            "cluster_favourites": self.cluster_favourites(fill, fill),
            "cluster_counts": self.cluster_counts(fill, fill),
            "cluster_sums": self.cluster_sums(fill, fill),
            "cluster_means": self.cluster_means(fill, fill),
        }
