"""The ratings store in Redis: apply events, import a catalogue, read ratings back.

Ratings live per user (``Keys.user``); the counters derived from them move by differences
inside one Lua script per batch, so applying a batch twice changes nothing (DESIGN.md).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import redis

from shared.data.events import Event
from shared.recsys.ratings import FAVOURITE_HALF_STARS, LiveRatings
from shared.store.client import lua_script
from shared.store.keys import Keys

# A record of a user's live view (Keys.user_live, made by user_state.lua): the movie, and its
# state: half stars, plus 0x80 when favoured; 0 for a tombstone.
LIVE_RECORD = np.dtype([("movie_id", "<i8"), ("state", "u1")])
HALF_STARS = 0x7F  # the state's bits that hold the half stars

LOG_LENGTH = 20
APPLIED_WINDOW_SECONDS = 7 * 24 * 3600
DEDUPE_MAX_IDS = 1_000_000  # event ids remembered at most (MOVIEREC_DEDUPE_MAX_IDS)


# A drain claim lasts this long unless its drain renews it (every batch does): a drain that
# died is replaced by the next sweep (worker.sweep, every DRAIN_SWEEP_SECONDS) soon after.
DRAIN_CLAIM_MS = 1000

# The Keys properties ratings.lua takes as KEYS, in the order its first lines unpack them.
RATINGS_SCRIPT_KEYS = ("inbox", "inbox_draining", "users", "user_counts", "deleted_users",
                       "user_revisions", "user_revision_sequence", "applied_events",
                       "movie_counts", "movie_sums", "popular", "active_version",
                       "building_version", "events_applied", "dead_letters")



class BatchFailed(Exception):
    """The ratings script failed on what a batch holds (an error inside the script, a key of the
    wrong type): retrying the same batch fails the same way. Redis refusing work for the moment
    (out of memory, loading, a read-only replica) is not this: it raises the client's error."""


_TRANSIENT = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError,
              redis.exceptions.BusyLoadingError, redis.exceptions.NoScriptError)


@dataclass
class ApplyResult:
    applied: int
    skipped: int
    changed_users: list[int]
    left: int = 0  # events still in the inbox (drain only)


class RatingStore:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys
        self._push_script = lua_script(client, "push.lua")
        self._ratings_script = lua_script(client, "ratings.lua")
        self._user_state = lua_script(client, "user_state.lua")
        self._push_keys = [keys.inbox, keys.inbox_draining]
        self._ratings_keys = [getattr(keys, name) for name in RATINGS_SCRIPT_KEYS]
        self._ratings_args = [json.dumps(keys.script_templates(), separators=(",", ":")),
                              FAVOURITE_HALF_STARS]

    # writing
    def apply_wire(self, wire_events: list, log: bool = True, now: float | None = None) -> ApplyResult:
        """Apply events in their wire form (see :mod:`shared.data.events`) in one script call."""
        if not wire_events:
            return ApplyResult(0, 0, [])
        now = time.time() if now is None else now
        result = self._run("apply", now, json.dumps(wire_events, separators=(",", ":")),
                           1 if log else 0, LOG_LENGTH)
        return ApplyResult(int(result[0]), int(result[1]), [int(u) for u in result[2:]])

    def apply(self, events: Iterable[Event], log: bool = True) -> ApplyResult:
        return self.apply_wire([e.wire() for e in events], log=log)

    def push(self, events: Iterable[Event], now: float | None = None) -> bool:
        """Append events to the inbox; True when the caller must enqueue a drain job (no
        drain was under way). Many requests share one drain, so single events get batched.
        An inbox item is the event's wire form followed by when it was accepted, so that how
        long the oldest one has waited can be told (:meth:`oldest_waiting_seconds`)."""
        accepted = round(time.time() if now is None else now, 3)
        items = [json.dumps([*e.wire(), accepted], separators=(",", ":")) for e in events]
        return bool(self._push_script(keys=self._push_keys, args=[DRAIN_CLAIM_MS, *items]))

    def claim_drain(self) -> bool:
        """Claim the inbox for a new drain when events wait and no drain holds it (a drain that
        died let its claim lapse); True when the caller must enqueue the drain job."""
        return bool(self.redis.llen(self.keys.inbox)) and bool(
            self.redis.set(self.keys.inbox_draining, 1, nx=True, px=DRAIN_CLAIM_MS))

    def drain(self, max_events: int = 1000, log: bool = True, now: float | None = None,
              release: bool = True) -> ApplyResult:
        """Take and apply the oldest ``max_events`` events of the inbox in one script call;
        with ``release``, give up the drain claim once the inbox is empty."""
        try:
            result = self._run("drain", time.time() if now is None else now, max_events,
                               1 if log else 0, LOG_LENGTH, 1 if release else 0, DRAIN_CLAIM_MS)
        except redis.ResponseError as exc:
            if isinstance(exc, _TRANSIENT):
                raise
            raise BatchFailed(f"{type(exc).__name__}: {exc}") from exc
        return ApplyResult(int(result[0]), int(result[1]), [int(u) for u in result[3:]],
                           left=int(result[2]))

    def inbox_head(self) -> bytes | None:
        """The oldest item of the inbox (what the next drain starts with)."""
        return self.redis.lindex(self.keys.inbox, 0)

    def renew_drain_claim(self) -> None:
        """Keep the drain claim while a drain works without a successful batch (each batch
        renews it), so that no sweep starts a second drain meanwhile."""
        self.redis.set(self.keys.inbox_draining, 1, px=DRAIN_CLAIM_MS)

    def dead_letter(self, item: bytes, error: str, attempts: int) -> bool:
        """Move ``item``, which failed ``attempts`` times with ``error``, from the head of the
        inbox to the dead letters; False when it is no longer at the head."""
        entry = {"id": uuid.uuid4().hex[:12], "error": error[:2000], "attempts": attempts,
                 "failed_at": time.time()}
        return bool(self._run("dead_letter", json.dumps(entry), item))

    def dead_letter_count(self) -> int:
        return self.redis.llen(self.keys.dead_letters)

    def dead_letters(self) -> list[dict]:
        """The dead letters, oldest first: id, items (as stored), error, attempts, failed_at."""
        return [json.loads(e) for e in self.redis.lrange(self.keys.dead_letters, 0, -1)]

    def replay_dead_letters(self, ids: Iterable[str] | None = None) -> int:
        """Put the items of the dead letters ``ids`` (all without) back at the end of the inbox,
        in one transaction, and drop those letters; how many items. The caller then makes sure
        a drain runs (:meth:`claim_drain`)."""
        wanted = None if ids is None else set(ids)
        raw = self.redis.lrange(self.keys.dead_letters, 0, -1)
        chosen = [(text, json.loads(text)) for text in raw]
        chosen = [(t, e) for t, e in chosen if wanted is None or e["id"] in wanted]
        if wanted is not None and len(chosen) < len(wanted):
            missing = sorted(wanted - {e["id"] for _, e in chosen})
            raise KeyError(f"no dead letter {', '.join(missing)}")
        items = [item for _, e in chosen for item in e["items"]]
        if not items:
            return 0
        with self.redis.pipeline() as pipe:
            pipe.rpush(self.keys.inbox, *items)
            for text, _ in chosen:
                pipe.lrem(self.keys.dead_letters, 1, text)
            pipe.execute()
        return len(items)

    def user_revision(self, user_id: int) -> bytes:
        return self.redis.hget(self.keys.user_revisions, user_id) or b"0"

    def events_applied(self) -> int:
        """Events applied since the store began (imports included): what retrains count."""
        return int(self.redis.get(self.keys.events_applied) or 0)

    def inbox_length(self) -> int:
        return self.redis.llen(self.keys.inbox)

    def oldest_waiting_seconds(self, now: float | None = None) -> float:
        """How long the oldest event in the inbox has waited since it was accepted; 0 when
        none waits."""
        head = self.inbox_head()
        if head is None:
            return 0.0
        try:
            accepted = float(json.loads(head)[6])
        except (ValueError, IndexError, TypeError):
            return 0.0  # an item pushed by hand, without its time
        return max(0.0, (time.time() if now is None else now) - accepted)

    def _run(self, command: str, *args):
        """Run a command of ratings.lua."""
        return self._ratings_script(keys=self._ratings_keys,
                                    args=[command, *self._ratings_args, *args])

    def delete_user(self, user_id: int, ts: float | None = None) -> int:
        """Remove a user's ratings and their share of every counter; returns entries removed.
        Events for the user stamped up to ``ts`` are ignored afterwards."""
        return int(self._run("delete_user", user_id, time.time() if ts is None else ts))

    def assign(self, version: str, assignments: dict[int, int]) -> int:
        """Move users to clusters under ``version``, with their counts; returns users moved,
        or -1 when ``version`` is no longer the active one (the caller decided on stale data)."""
        pairs = [x for user, cluster in assignments.items() for x in (user, cluster)]
        return int(self._run("assign", version, *pairs))

    def trim_applied(self, now: float | None = None, max_ids: int = DEDUPE_MAX_IDS) -> int:
        """Forget event ids older than the de-duplication window, and the oldest beyond the
        newest ``max_ids`` (memory per id: docs/memory.md); how many were forgotten. An event
        whose id was forgotten is still applied at most once per state: a later ts wins, an
        equal one changes nothing."""
        now = time.time() if now is None else now
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self.keys.applied_events, "-inf", now - APPLIED_WINDOW_SECONDS)
            pipe.zremrangebyrank(self.keys.applied_events, 0, -max_ids - 1)
            by_age, by_count = pipe.execute()
        return by_age + by_count

    def put_movies(self, movies: pd.DataFrame, chunk: int = 5000) -> int:
        """Store the catalogue (movie_id, title, year, genres, tags); returns how many entries
        changed. The same data again changes nothing, the revision included."""
        records = movies.to_dict("records")
        changed = 0
        for start in range(0, len(records), chunk):
            mapping = {}
            for rec in records[start:start + chunk]:
                year = rec.get("year")
                mapping[int(rec["movie_id"])] = json.dumps({
                    "title": rec["title"],
                    "year": None if year is None or pd.isna(year) else int(year),
                    "genres": [g for g in (rec.get("genres") or "").split("|") if g],
                    "tags": [t for t in (rec.get("tags") or "").split("|") if t],
                }, separators=(",", ":"), ensure_ascii=False).encode()
            current = self.redis.hmget(self.keys.movies, list(mapping))
            different = {m: v for (m, v), old in zip(mapping.items(), current) if old != v}
            if different:
                self.redis.hset(self.keys.movies, mapping=different)
                changed += len(different)
        if changed:
            self.redis.incr(self.keys.catalogue_revision)
        return changed

    # reading
    def movies_many(self, movie_ids) -> dict[int, dict]:
        """Catalogue entries of ``movie_ids`` that exist, in one round trip."""
        movie_ids = [int(m) for m in movie_ids]
        if not movie_ids:
            return {}
        raws = self.redis.hmget(self.keys.movies, movie_ids)
        return {m: json.loads(raw) for m, raw in zip(movie_ids, raws) if raw}

    def put_movie(self, movie_id: int, info: dict) -> None:
        """Create or replace one catalogue entry and bump the catalogue revision."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.keys.movies, movie_id, json.dumps(info, separators=(",", ":"),
                                                             ensure_ascii=False))
            pipe.incr(self.keys.catalogue_revision)
            pipe.execute()

    def catalogue_revision(self) -> int:
        return int(self.redis.get(self.keys.catalogue_revision) or 0)

    def movie(self, movie_id: int) -> dict | None:
        raw = self.redis.hget(self.keys.movies, movie_id)
        return json.loads(raw) if raw else None

    def all_movies(self) -> dict[int, dict]:
        """The whole catalogue: movie_id -> {title, year, genres, tags}."""
        return {int(movie): json.loads(raw)
                for movie, raw in self.redis.hscan_iter(self.keys.movies, count=5000)}

    def movies_frame(self) -> pd.DataFrame:
        """The catalogue as a movies frame (movie_id, title, year, genres, tags)."""
        rows = [(movie, info["title"], info["year"], "|".join(info["genres"]), "|".join(info["tags"]))
                for movie, info in self.all_movies().items()]
        frame = pd.DataFrame(rows, columns=["movie_id", "title", "year", "genres", "tags"])
        frame["year"] = frame["year"].astype("Int64")
        return frame.sort_values("movie_id", ignore_index=True)

    def record_import(self, **meta) -> None:
        """Note what was imported and when."""
        self.redis.hset(self.keys.meta, mapping=meta)

    def import_meta(self) -> dict[str, str]:
        """What was imported and when (:meth:`record_import`)."""
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(self.keys.meta).items()}

    def n_movies(self) -> int:
        return self.redis.hlen(self.keys.movies)

    def user_ratings(self, user_id: int) -> dict[int, tuple[float, bool, float]]:
        """movie_id -> (rating or 0.0, favourite, ts) for the user's live entries."""
        out = {}
        for movie, value in self.redis.hgetall(self.keys.user(user_id)).items():
            half, fav, ts = value.split(b"|")
            if half != b"0" or fav != b"0":
                out[int(movie)] = (int(half) / 2, fav == b"1", float(ts))
        return out

    def live_ratings(self, user_id: int) -> LiveRatings:
        """What the models score a user from: the movies they rated or favoured, each one's
        rating (0.0 when only favoured), read from their live view (user_state.lua)."""
        _, view, _ = self._user_state(*user_state_call(self.keys, user_id))
        return live_from_view(view)

    def iter_user_ids(self, batch: int = 1000) -> Iterator[int]:
        for uid in self.redis.sscan_iter(self.keys.users, count=batch):
            yield int(uid)

    def snapshot(self, batch: int = 500) -> pd.DataFrame:
        """Every live (user, movie) entry: rating (0.0 when only favoured), favourite, ts."""
        users, movies, halves, favs, stamps = [], [], [], [], []
        ids = list(self.iter_user_ids())
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            with self.redis.pipeline(transaction=False) as pipe:
                for uid in chunk:
                    pipe.hgetall(self.keys.user(uid))
                states = pipe.execute()
            for uid, state in zip(chunk, states):
                for movie, value in state.items():
                    half, fav, ts = value.split(b"|")
                    if half != b"0" or fav != b"0":
                        users.append(uid)
                        movies.append(int(movie))
                        halves.append(int(half))
                        favs.append(fav == b"1")
                        stamps.append(float(ts))
        return pd.DataFrame({
            "user_id": np.asarray(users, dtype=np.int64),
            "movie_id": np.asarray(movies, dtype=np.int64),
            "rating": np.asarray(halves, dtype=np.float64) / 2,
            "favourite": np.asarray(favs, dtype=bool),
            "ts": np.asarray(stamps, dtype=np.float64).astype(np.int64),
        })

    def ratings_frame(self) -> pd.DataFrame:
        """A snapshot of every rating in the store as a ratings frame."""
        live = self.snapshot()
        return live.loc[live["rating"] > 0, ["user_id", "movie_id", "rating", "ts"]].reset_index(drop=True)


def user_state_call(keys: Keys, user_id: int, field: str = "",
                    version: str | None = None) -> tuple[list, list]:
    """The keys and arguments of user_state.lua: the cached list ``field`` ('' for none) of a
    user, else their state, their cluster under ``version`` (None: no cluster)."""
    return ([keys.recommendations_cache(user_id), keys.user_revisions, keys.user_live(user_id),
             keys.user(user_id), keys.assignments(version or "")],
            [field, user_id, 0 if version is None else 1])


def live_from_view(view: bytes) -> LiveRatings:
    """A user's live view (``LIVE_RECORD``s) as LiveRatings, tombstones left out: one read of
    the bytes, no loop (this runs on every computed recommendation)."""
    records = np.frombuffer(view, dtype=LIVE_RECORD)
    state = records["state"]
    live = state != 0
    return LiveRatings(records["movie_id"][live], (state[live] & HALF_STARS) / 2)


def frame_to_wire(ratings: pd.DataFrame) -> list:
    """A ratings frame as wire-form rating events (no event ids: ts makes them idempotent)."""
    half = np.rint(ratings["rating"].to_numpy(dtype=np.float64) * 2).astype(np.int64)
    return [["rating", str(u), str(m), int(h), float(t), ""] for u, m, h, t in zip(
        ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy(), half,
        ratings["ts"].to_numpy())]
