"""The ratings store in Redis: apply events, move users between clusters, read ratings back.

Ratings live per user (``Keys.user``), in the user's partition; the counters derived from them
move by differences, recorded by one Lua script call per partition and batch (``ratings.lua``)
and folded into the counters over all users right after (:mod:`shared.store.deltas`), so
applying a batch twice changes nothing.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import redis

from shared.data.events import Event
from shared.recsys.ratings import FAVOURITE_HALF_STARS, LiveRatings
from shared.store.client import lua_script, script_calls
from shared.store.deltas import Deltas
from shared.store.keys import Keys, partitions_of

# A record of a user's live view (Keys.user_live, made by user_state.lua): the movie, and its
# state: half stars, plus 0x80 when favoured; 0 for a tombstone.
LIVE_RECORD = np.dtype([("movie_id", "<i8"), ("state", "u1")])
HALF_STARS = 0x7F  # the state's bits that hold the half stars

# A user's entry for a movie (Keys.user's values, written by ratings.lua): a letter, 'a' + half
# stars, upper case when favoured, then ts, without decimals when whole ('I964982703': 4 stars,
# favoured; 'a<ts>' is a tombstone). One letter instead of 'half|favourite|' saves 3 bytes an
# entry in the listpacks that hold most users' ratings (docs/memory.md).
UNFAVOURED, FAVOURED = ord("a"), ord("A")

LOG_LENGTH = 20
APPLIED_WINDOW_SECONDS = 7 * 24 * 3600


# The Keys methods of a partition that ratings.lua takes as KEYS, in the order its first lines
# unpack them.
RATINGS_SCRIPT_KEYS = ("inbox", "users", "user_counts", "deleted_users", "user_revisions",
                       "user_revision_sequence", "applied_events", "counted_versions",
                       "dead_letters", "deltas", "delta_sequence", "events_applied")


@dataclass
class ApplyResult:
    applied: int
    skipped: int
    # each user whose number of ratings changed: (that number before, after)
    changed: dict[int, tuple[int, int]]
    left: int = 0  # events still in the inbox (drain only)

    @classmethod
    def from_reply(cls, reply: list) -> ApplyResult:
        """From ratings.lua's reply to apply or drain: applied, skipped, left, then user,
        before, after for each changed user (the deltas, last, are not this)."""
        applied, skipped, left, changed = reply[:4]
        numbers = [int(x) for x in changed]
        return cls(int(applied), int(skipped),
                   {numbers[i]: (numbers[i + 1], numbers[i + 2])
                    for i in range(0, len(numbers), 3)}, left=int(left))

    def add(self, other: ApplyResult) -> ApplyResult:
        """This result and ``other``'s (another partition's) as one."""
        return ApplyResult(self.applied + other.applied, self.skipped + other.skipped,
                           {**self.changed, **other.changed}, self.left + other.left)


@dataclass(frozen=True)
class Seeded:
    """Users :meth:`RatingStore.seed` placed, their clusters and the number of their live
    entries (rated or favoured), and those entries, user after user."""
    users: np.ndarray
    clusters: np.ndarray
    numbers: np.ndarray
    movies: np.ndarray
    halves: np.ndarray
    favourites: np.ndarray


class RatingsScript:
    """``ratings.lua`` on one partition, called with its keys: the ratings store and the inbox
    both run it."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self._script = lua_script(client, "ratings.lua")
        self._keys = [[getattr(keys, name)(p) for name in RATINGS_SCRIPT_KEYS]
                      for p in range(keys.partitions)]
        self._templates = [
            json.dumps({**keys.partition_templates(p), "partitions": keys.partitions},
                       separators=(",", ":")) for p in range(keys.partitions)]

    def call(self, partition: int, command: str, *args) -> tuple:
        """The call as :func:`shared.store.client.script_calls` takes it."""
        return (self._script, self._keys[partition],
                [command, self._templates[partition], FAVOURITE_HALF_STARS, *args])

    def __call__(self, partition: int, command: str, *args):
        return self._script(keys=self._keys[partition],
                            args=[command, self._templates[partition], FAVOURITE_HALF_STARS,
                                  *args])


def new_user_writes(keys: Keys, ratings: pd.DataFrame) -> dict[int, list]:
    """The ``create_users`` arguments of ratings.lua for a frame of ratings (user_id,
    movie_id, rating, ts) of users the store has never seen, by partition: each user's entries
    as the events applied in order would leave them (per movie, the last of the latest), and
    the counters' delta of each partition's users, added up with numpy."""
    order = np.lexsort((ratings["ts"].to_numpy(np.float64), ratings["movie_id"].to_numpy(),
                        ratings["user_id"].to_numpy()))  # stable: ties stay in file order
    users = ratings["user_id"].to_numpy(np.int64)[order]
    movies = ratings["movie_id"].to_numpy(np.int64)[order]
    half = np.rint(ratings["rating"].to_numpy(np.float64)[order] * 2).astype(np.int64)
    ts = ratings["ts"].to_numpy(np.float64)[order]
    last = np.ones(len(users), dtype=bool)
    last[:-1] = (users[1:] != users[:-1]) | (movies[1:] != movies[:-1])
    users, movies, half, ts = users[last], movies[last], half[last], ts[last]
    favourite = (half >= FAVOURITE_HALF_STARS).astype(np.int64)
    partition = partitions_of(users, keys.partitions)
    writes = {}
    for p in np.unique(partition):
        rows = np.flatnonzero(partition == p)
        p_users, p_movies, p_half, p_favourite = (users[rows], movies[rows], half[rows],
                                                  favourite[rows])
        moved, index = np.unique(p_movies, return_inverse=True)
        counts = np.bincount(index)
        sums = np.bincount(index, weights=p_half).astype(np.int64)
        favourites = np.bincount(index, weights=p_favourite).astype(np.int64)
        homes = partitions_of(moved, keys.partitions)
        args: list = [len(np.unique(homes))]
        for home in np.unique(homes):
            at = np.flatnonzero(homes == home)
            args += [int(home), json.dumps({"movies": {
                str(m): [n, s, f] for m, n, s, f in zip(moved[at].tolist(), counts[at].tolist(),
                                                       sums[at].tolist(),
                                                       favourites[at].tolist())},
                "versions": {}}, separators=(",", ":"))]
        entries = [f"{m} {entry(h, f, t)}" for m, h, f, t in zip(
            p_movies.tolist(), p_half.tolist(), p_favourite.tolist(), ts[rows].tolist())]
        starts = np.flatnonzero(np.r_[True, p_users[1:] != p_users[:-1]]).tolist()
        for start, end in zip(starts, starts[1:] + [len(entries)]):
            args += [int(p_users[start]), " ".join(entries[start:end])]
        writes[int(p)] = args
    return writes


def by_partition(keys: Keys, wire_events: Iterable[list]) -> dict[int, list]:
    """Events in their wire form (user second), by the partition of their user, in order."""
    parts: dict[int, list] = {}
    for event in wire_events:
        parts.setdefault(keys.partition_of(event[1]), []).append(event)
    return parts


class RatingStore:
    def __init__(self, client: redis.Redis, keys: Keys):
        self.redis = client
        self.keys = keys
        self._run = RatingsScript(client, keys)
        self.deltas = Deltas(client, keys, self._run)
        self._user_state = lua_script(client, "user_state.lua")

    # writing
    def apply_wire(self, wire_events: list, log: bool = True,
                   now: float | None = None) -> ApplyResult:
        """Apply events in their wire form (see :mod:`shared.data.events`): one script call per
        partition they touch, all in one round trip, and their deltas folded."""
        now = time.time() if now is None else now
        parts = by_partition(self.keys, wire_events)
        replies = self._calls([
            (partition, "apply", now, json.dumps(events, separators=(",", ":")),
             1 if log else 0, LOG_LENGTH) for partition, events in parts.items()])
        result = ApplyResult(0, 0, {})
        for reply in replies:
            result = result.add(ApplyResult.from_reply(reply))
        return result

    def import_ratings(self, ratings: pd.DataFrame, writes: dict[int, list] | None = None) -> int:
        """Store a frame of ratings (user_id, movie_id, rating, ts) as rating events without
        ids or log; returns the events applied. The users the store has never seen are
        written whole (:func:`new_user_writes`, which the caller may have prepared), a round
        trip for them all; the others, and any that an event made known meanwhile, are
        applied as events, as live ones are."""
        applied, pending = 0, ratings
        while len(pending):
            if writes is None:
                writes = new_user_writes(self.keys, pending)
            replies = self._calls([(p, "create_users", *args) for p, args in writes.items()])
            refused = {int(u) for reply in replies if int(reply[0]) == -1 for u in reply[3]}
            applied += sum(int(reply[0]) for reply in replies if int(reply[0]) != -1)
            if not refused:
                break
            known = pending["user_id"].isin(refused).to_numpy()
            applied += self.apply_wire(frame_to_wire(pending[known]), log=False).applied
            retry = {p for (p, _), reply in zip(writes.items(), replies) if int(reply[0]) == -1}
            partition = partitions_of(pending["user_id"].to_numpy(np.int64), self.keys.partitions)
            pending, writes = pending[~known & np.isin(partition, list(retry))], None
        return applied

    def apply(self, events: Iterable[Event], log: bool = True) -> ApplyResult:
        return self.apply_wire([e.wire() for e in events], log=log)

    def events_applied(self) -> int:
        """Events applied since the store began (imports included): what retrains count."""
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                pipe.get(self.keys.events_applied(partition))
            return sum(int(n or 0) for n in pipe.execute())

    def delete_user(self, user_id: int, ts: float | None = None) -> int:
        """Remove a user's ratings and their share of every counter; returns entries removed.
        Events for the user stamped up to ``ts`` are ignored afterwards."""
        [reply] = self._calls([(self.keys.partition_of(user_id), "delete_user", user_id,
                                time.time() if ts is None else ts)])
        return int(reply[0])

    def assign(self, version: str, assignments: dict[int, int]) -> int:
        """Move users to clusters under ``version``, with their counts; returns users moved,
        or -1 when ``version`` is no longer the active one (the caller decided on stale data)."""
        parts: dict[int, list] = {}
        for user, cluster in assignments.items():
            parts.setdefault(self.keys.partition_of(user), []).extend((user, cluster))
        replies = self._calls([(partition, "assign", version, *pairs)
                               for partition, pairs in parts.items()])
        moved = [int(reply[0]) for reply in replies]
        return -1 if -1 in moved else sum(moved)

    def seed(self, version: str, assignments: dict[int, int]) -> Seeded | None:
        """Place each user of ``assignments`` who has no cluster under ``version`` yet, moving
        no counter, and return them with their entries at that instant, for the caller to add
        to the version's counters (:mod:`shared.store.seeding`); None when ``version`` is no
        longer counted (the caller decided on stale data). One round trip."""
        parts: dict[int, list] = {}
        for user, cluster in assignments.items():
            parts.setdefault(self.keys.partition_of(user), []).extend((user, cluster))
        replies = self._calls([(partition, "seed", version, *pairs)
                               for partition, pairs in parts.items()])
        if any(reply[0] == -1 for reply in replies):
            return None
        users = np.array([int(u) for reply in replies for u in reply[0]], dtype=np.int64)
        numbers = np.concatenate([np.fromstring(reply[1], dtype=np.int64, sep=" ")
                                  for reply in replies] or [np.zeros(0, np.int64)])
        movies = np.concatenate([np.fromstring(reply[2], dtype=np.int64, sep=" ")
                                 for reply in replies] or [np.zeros(0, np.int64)])
        halves, favourites = decode_letters(
            np.frombuffer(b"".join(reply[3] for reply in replies), dtype=np.uint8))
        clusters = np.array([assignments[int(u)] for u in users], dtype=np.int64)
        return Seeded(users, clusters, numbers, movies, halves, favourites)

    def fold_pending_deltas(self) -> None:
        """Fold every partition's deltas not yet merged (those a caller that died left), in
        one round trip: afterwards, only the calls still to come move the counters."""
        self._calls([(partition, "apply", time.time(), "[]", 0, LOG_LENGTH)
                     for partition in range(self.keys.partitions)])

    def _calls(self, calls: list[tuple]) -> list:
        """ratings.lua calls ``(partition, command, *args)`` in one round trip, and the deltas
        their replies end with folded; the replies, or the first call's error once the others'
        deltas are folded."""
        if not calls:
            return []
        replies = script_calls(self.redis, [self._run.call(*call) for call in calls])
        self.deltas.fold({call[0]: reply[-1] for call, reply in zip(calls, replies)
                          if not isinstance(reply, Exception)})
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def trim_applied(self, max_ids: int, now: float | None = None) -> int:
        """Forget event ids older than the de-duplication window, and in each partition the
        oldest beyond its share of the newest ``max_ids`` (``MOVIEREC_DEDUPE_MAX_IDS``; memory
        per id: docs/memory.md); how many were forgotten. An event whose id was forgotten is
        still applied at most once per state: a later ts wins, an equal one changes nothing."""
        now = time.time() if now is None else now
        share = -(-max_ids // self.keys.partitions)
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                key = self.keys.applied_events(partition)
                pipe.zremrangebyscore(key, "-inf", now - APPLIED_WINDOW_SECONDS)
                pipe.zremrangebyrank(key, 0, -share - 1)
            return sum(pipe.execute())

    # reading
    def user_ratings(self, user_id: int) -> dict[int, tuple[float, bool, float]]:
        """movie_id -> (rating or 0.0, favourite, ts) for the user's live entries."""
        out = {}
        for movie, value in self.redis.hgetall(self.keys.user(user_id)).items():
            half, favourite, ts = parse_entry(value)
            if half or favourite:
                out[int(movie)] = (half / 2, favourite, ts)
        return out

    def rated_at(self, user_id: int, movie_ids: list[int]) -> dict[int, float]:
        """When the user last rated or favoured each of ``movie_ids`` (``ts``), those they
        have an entry for."""
        if not movie_ids:
            return {}
        values = self.redis.hmget(self.keys.user(user_id), movie_ids)
        return {movie: parse_entry(value)[2] for movie, value in zip(movie_ids, values)
                if value is not None}

    def live_ratings(self, user_id: int) -> LiveRatings:
        """What the models score a user from: the movies they rated or favoured, each one's
        rating (0.0 when only favoured), read from their live view (user_state.lua)."""
        _, view, _ = self._user_state(*user_state_call(self.keys, user_id))
        return live_from_view(view)

    def live_ratings_many(self, user_ids: list[int]) -> list[LiveRatings]:
        """:meth:`live_ratings` of every user of ``user_ids``, in order, in one round trip of
        plain reads: the users are read to be placed, and their live views (which their next
        event drops) are left unmade, which saves Redis the work of writing them."""
        if not user_ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for user in user_ids:
                pipe.hgetall(self.keys.user(user))
            hashes = pipe.execute()
        return [live_from_hash(entries) for entries in hashes]

    def iter_user_ids(self, batch: int = 1000,
                      partitions: Iterable[int] | None = None) -> Iterator[int]:
        """The users of ``partitions`` (None: of all of them)."""
        for partition in range(self.keys.partitions) if partitions is None else partitions:
            for uid in self.redis.sscan_iter(self.keys.users(partition), count=batch):
                yield int(uid)

    def snapshot(self, batch: int = 500, partitions: Iterable[int] | None = None
                 ) -> pd.DataFrame:
        """Every live (user, movie) entry: rating (0.0 when only favoured), favourite, ts; of
        the users of ``partitions`` (None: of every user), so that readers in parallel can
        share the store out."""
        frames = []
        ids = list(self.iter_user_ids(partitions=partitions))
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            with self.redis.pipeline(transaction=False) as pipe:
                for uid in chunk:
                    pipe.hgetall(self.keys.user(uid))
                frames.append(entries_frame(chunk, pipe.execute()))
        return pd.concat(frames, ignore_index=True) if frames else entries_frame([], [])


def entries_frame(users: list[int], hashes: list[dict[bytes, bytes]]) -> pd.DataFrame:
    """The live entries of users' hashes (:func:`entry`; tombstones left out) as a snapshot
    frame: user_id, movie_id, rating, favourite, ts. Parsed with numpy, a join of the hashes'
    bytes rather than a loop over their 150 or so entries a user: at 25 M ratings the loop
    took most of a snapshot's time."""
    numbers = np.fromiter(map(len, hashes), dtype=np.int64, count=len(hashes))
    values = [value for entries in hashes for value in entries.values()]
    if any(value[0] < FAVOURED for value in values):  # some of the earlier form: one by one
        parsed = [parse_entry(value) for value in values]
        halves = np.array([p[0] for p in parsed], dtype=np.int64)
        favourites = np.array([p[1] for p in parsed], dtype=bool)
        stamps = np.array([p[2] for p in parsed], dtype=np.float64)
    else:
        text = np.frombuffer(b" ".join(values), dtype=np.uint8).copy()
        starts = np.zeros(len(values), dtype=np.int64)
        np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values))[:-1] + 1,
                  out=starts[1:])
        halves, favourites = decode_letters(text[starts])
        text[starts] = ord(" ")
        stamps = np.fromstring(text.tobytes(), dtype=np.float64, sep=" ")
    movies = np.fromstring(b" ".join(movie for entries in hashes for movie in entries),
                           dtype=np.int64, sep=" ")
    live = (halves > 0) | favourites
    return pd.DataFrame({
        "user_id": np.repeat(np.asarray(users, dtype=np.int64), numbers)[live],
        "movie_id": movies[live],
        "rating": halves[live].astype(np.float64) / 2,
        "favourite": favourites[live],
        "ts": stamps[live].astype(np.int64),
    })


def user_state_call(keys: Keys, user_id: int, field: str = "",
                    version: str | None = None) -> tuple[list, list]:
    """The keys and arguments of user_state.lua: the cached list ``field`` ('' for none) of a
    user, else their state, their cluster under ``version`` (None: no cluster)."""
    partition = keys.partition_of(user_id)
    return ([keys.recommendations_cache(user_id), keys.user_revisions(partition),
             keys.user_live(user_id), keys.user(user_id),
             keys.assignments(version or "", partition)],
            [field, user_id, 0 if version is None else 1])


def entry(half: int, favourite: bool, ts: float) -> str:
    """A user's entry for a movie, as ratings.lua writes it."""
    letter = chr((FAVOURED if favourite else UNFAVOURED) + half)
    return f"{letter}{int(ts)}" if float(ts).is_integer() else f"{letter}{ts:.3f}"


def decode_letters(letters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The half stars and favourite marks of entries' letters (:func:`entry`), as arrays."""
    favourites = letters < UNFAVOURED
    return letters.astype(np.int64) - np.where(favourites, FAVOURED, UNFAVOURED), favourites


def parse_entry(value: bytes) -> tuple[int, bool, float]:
    """An entry's half stars, favourite and ts; also of the form written before the letters
    (``half|favourite|ts``), which ratings.lua rewrites only when the entry changes."""
    letter = value[0]
    if letter >= UNFAVOURED:
        return letter - UNFAVOURED, False, float(value[1:])
    if letter >= FAVOURED:
        return letter - FAVOURED, True, float(value[1:])
    half, favourite, ts = value.split(b"|")
    return int(half), favourite == b"1", float(ts)


def live_from_view(view: bytes) -> LiveRatings:
    """A user's live view (``LIVE_RECORD``s) as LiveRatings, tombstones left out: one read of
    the bytes, no loop (this runs on every computed recommendation)."""
    records = np.frombuffer(view, dtype=LIVE_RECORD)
    state = records["state"]
    live = state != 0
    return LiveRatings(records["movie_id"][live], (state[live] & HALF_STARS) / 2)


def live_from_hash(entries: dict[bytes, bytes]) -> LiveRatings:
    """A user's hash (movie -> :func:`entry`) as LiveRatings, tombstones left out."""
    movies, halves = [], []
    for movie, value in entries.items():
        half, favourite, _ = parse_entry(value)
        if half or favourite:
            movies.append(int(movie))
            halves.append(half)
    return LiveRatings(np.array(movies, dtype=np.int64), np.array(halves, dtype=np.float64) / 2)


def frame_to_wire(ratings: pd.DataFrame) -> list:
    """A ratings frame as wire-form rating events (no event ids: ts makes them idempotent)."""
    half = np.rint(ratings["rating"].to_numpy(dtype=np.float64) * 2).astype(np.int64)
    return [["rating", str(u), str(m), int(h), float(t), ""] for u, m, h, t in zip(
        ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy(), half,
        ratings["ts"].to_numpy())]
