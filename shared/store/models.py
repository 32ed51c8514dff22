"""Model versions: ``.npz`` arrays plus a JSON manifest, kept in Redis (so every API and
worker process can load them, on any machine) and written to ``model_dir`` for ops.

A version bundles named estimators (encoded by :mod:`shared.recsys.persist`) and named
plain arrays. Nothing is pickled. Publishing a version also sets up, flips and finally drops
the live counters the Lua script keeps for it.
"""
from __future__ import annotations

import bisect
import io
import json
import shutil
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import redis

from shared.recsys import persist
from shared.recsys.persist import ModelBundle
from shared.store.counted_versions import CountedVersions
from shared.store.deltas import totals_source
from shared.store.keys import Keys

PRIORS_CHUNK = 5000  # movies per HSET of the priors
# A version's .npz bytes are stored in strings of at most this size: a Redis string stops at
# 512 MB (a 20M-rating version passes it), and Redis, single-threaded, serves nothing else
# while it copies one value: 8 MiB takes it a few milliseconds.
ARRAY_CHUNK_BYTES = 8 << 20
# Bytes read ahead of a zip header: enough for a member's header and name, and no more, as
# the members a process skips lie between those it reads.
READ_AHEAD_BYTES = 1 << 12
# A zip member's local header, its name aside: 30 bytes, and an extra field (numpy writes
# the 20 bytes of zip64 sizes); a header longer than this is read apart, not wrongly.
LOCAL_HEADER_BYTES = 30 + 64
# The end of a version's .npz read at once when it is opened: its zip's directory (under
# 100 bytes a member) is there.
ZIP_DIRECTORY_BYTES = 1 << 16
# Bytes asked of Redis in one round trip when a version is loaded.
PREFETCH_BYTES = 32 << 20


class ModelLoadError(Exception):
    """A version is missing or cannot be decoded (truncated, from an incompatible release)."""


class ModelStore:
    def __init__(self, client: redis.Redis, keys: Keys, model_dir: Path | None = None):
        self.redis = client
        self.keys = keys
        self.model_dir = Path(model_dir) if model_dir else None

    def save(self, bundle: ModelBundle) -> None:
        """Store a version's arrays (in chunks) and manifest, in the "building" state (not yet
        active). The arrays stay in Redis, not in files, so that every process that reaches
        Redis can load them, on whatever machine, without a shared disk."""
        blob, manifest = persist.bundle_to_npz(bundle)
        text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
        version = bundle.version
        with self.redis.pipeline() as pipe:  # first, so that a trainer killed while saving
            pipe.hset(self.keys.version_states, version, "building")  # leaves a version to sweep
            pipe.zadd(self.keys.versions, {version: time.time()})
            pipe.execute()
        chunks = range(0, max(len(blob), 1), ARRAY_CHUNK_BYTES)
        for index, start in enumerate(chunks):  # one at a time: Redis serves others between
            self.redis.set(self.keys.model_chunk(version, index),
                           blob[start:start + ARRAY_CHUNK_BYTES])
        with self.redis.pipeline() as pipe:
            pipe.set(self.keys.model_chunks(version), len(chunks))
            pipe.set(self.keys.model_manifest(version), text)
            pipe.execute()
        if self.model_dir:
            folder = self.model_dir / bundle.version
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "model.npz").write_bytes(blob)
            (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))

    def load(self, version: str, components=None, deferred=()) -> ModelBundle:
        """A stored version, reading from Redis only the arrays of what it builds: with
        ``components``, only those of its estimators; those named in ``deferred`` are read
        and built on first use (:func:`persist.bundle_from_arrays`), so a version is served
        without waiting for the arrays no list reads."""
        text = self.redis.get(self.keys.model_manifest(version))
        try:
            arrays = self._arrays(version)
            if arrays is None or text is None:
                raise ModelLoadError(f"model version {version} is not stored")
            manifest = json.loads(text)
            read_now = [f"estimators/{name}/" for name in manifest["components"]
                        if (components is None or name in components) and name not in deferred]
            with arrays.prefetched([*read_now, "arrays/"]):
                return persist.bundle_from_arrays(version, arrays, manifest, components,
                                                  deferred)
        except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise ModelLoadError(f"model version {version} cannot be loaded: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def manifest(self, version: str) -> dict | None:
        text = self.redis.get(self.keys.model_manifest(version))
        if text is None:
            return None
        manifest = json.loads(text)
        manifest.pop("components", None)
        return manifest

    def versions(self) -> list[str]:
        return [v.decode() for v in self.redis.zrange(self.keys.versions, 0, -1)]

    def active_version(self) -> str | None:
        value = self.redis.get(self.keys.active_version)
        return value.decode() if value else None

    def _arrays(self, version: str) -> StoredArrays | None:
        """The version's arrays as they lie in its chunks; None unless all are stored."""
        count = self.redis.get(self.keys.model_chunks(version))
        if count is None:
            return None
        names = [self.keys.model_chunk(version, i) for i in range(int(count))]
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.strlen(name)
            sizes = pipe.execute()
        if not all(sizes):
            return None
        raw = ChunkedBytes(self.redis, version, names, sizes)
        raw.prefetch([(sum(sizes) - ZIP_DIRECTORY_BYTES, sum(sizes))])  # for the zip reader
        return StoredArrays(version, raw)

    def activate(self, version: str) -> None:
        if not self.redis.exists(self.keys.model_chunks(version)):
            raise KeyError(f"model version {version} is not stored")
        counted = CountedVersions(self.redis, self.keys)
        counted.count(version)
        self.redis.set(self.keys.active_version, version)
        building = self.building_version()
        counted.keep_only({version} if building is None else {version, building})

    def stop_counting(self, version: str) -> None:
        """The scripts stop keeping ``version``'s counters (until it is built or activated
        again): merge.lua passes over what is recorded for it meanwhile."""
        CountedVersions(self.redis, self.keys).stop(version)

    def mark_rebuilding(self, version: str) -> None:
        """``version`` is about to serve with its counters still to be rebuilt."""
        self.redis.set(self.keys.rebuilding_counters, version)

    def mark_rebuilt(self, version: str) -> None:
        """``version``'s counters hold every user again (unless another rebuild began)."""
        if self.rebuilding_version() == version:
            self.redis.delete(self.keys.rebuilding_counters)

    def rebuilding_version(self) -> str | None:
        """The active version whose counters a rollback has not finished rebuilding, or
        None (also when the version it names is no longer the active one)."""
        named, active = self.redis.mget(self.keys.rebuilding_counters, self.keys.active_version)
        return named.decode() if named is not None and named == active else None

    def record_snapshot_events(self, events_applied: int) -> None:
        """How many events the ratings store had applied when the active version's snapshot
        was taken (the scheduler's "after N new events" counts from there)."""
        self.redis.set(self.keys.retrained_at_events, events_applied)

    def snapshot_events(self) -> int | None:
        value = self.redis.get(self.keys.retrained_at_events)
        return None if value is None else int(value)

    def mark_rejected(self, version: str) -> None:
        """Stored, measured, refused by the gate: kept for inspection, never activated by a
        retrain (``movierec models activate`` still may)."""
        self.redis.hset(self.keys.version_states, version, "rejected")

    def annotate(self, version: str, **fields) -> None:
        """Add ``fields`` to a stored version's manifest (in Redis and on disk)."""
        text = self.redis.get(self.keys.model_manifest(version))
        if text is None:
            raise ModelLoadError(f"model version {version} is not stored")
        manifest = {**json.loads(text), **fields}
        self.redis.set(self.keys.model_manifest(version),
                       json.dumps(manifest, separators=(",", ":"), sort_keys=True))
        if self.model_dir and (self.model_dir / version).is_dir():
            (self.model_dir / version / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True))

    def states(self) -> dict[str, str]:
        """version -> "building", "published" or "rejected"."""
        return {v.decode(): s.decode()
                for v, s in self.redis.hgetall(self.keys.version_states).items()}

    def building_version(self) -> str | None:
        value = self.redis.get(self.keys.building_version)
        return value.decode() if value else None

    def discard(self, version: str) -> None:
        """Delete everything of ``version``: counters, arrays, manifest, its files. Never the
        active version."""
        if version == self.active_version():
            raise ValueError(f"{version} is the active version: activate another one first")
        self.drop_counters(version)
        for key in self.redis.scan_iter(match=self.keys.model_chunk_pattern(version),
                                        count=1000):
            if self.keys.is_partition_key(key):  # all, also those of a save that never finished
                self.redis.unlink(key)
        with self.redis.pipeline() as pipe:
            pipe.delete(self.keys.model_manifest(version), self.keys.model_chunks(version))
            pipe.zrem(self.keys.versions, version)
            pipe.hdel(self.keys.version_states, version)
            pipe.execute()
        if self.model_dir and (self.model_dir / version).is_dir():
            shutil.rmtree(self.model_dir / version)

    def discard_abandoned(self) -> list[str]:
        """Discard the versions whose trainer died while building them: still "building", but
        no longer the building pointer (it lapsed with their trainer's lock). Call it holding
        the trainer lock, so that no live trainer's version is taken for dead."""
        building = self.building_version()
        dead = [v for v, state in self.states().items() if state == "building" and v != building]
        for version in dead:
            self.discard(version)
        return dead

    def prune(self, keep: int) -> list[str]:
        """Keep the newest ``keep`` versions (and the active one) and the newest ``keep``
        rejected ones; discard the others, and drop the counters of every version but the
        active one (nothing keeps them current: a rollback rebuilds them)."""
        active, building, states = self.active_version(), self.building_version(), self.states()
        versions = [v for v in self.versions() if v != building]
        old = []
        for rejected in (False, True):
            kind = [v for v in versions if (states.get(v) == "rejected") == rejected]
            old += [v for v in kind[:max(0, len(kind) - keep)] if v != active]
        for version in old:
            self.discard(version)
        self.drop_inactive_counters()
        return old

    def drop_inactive_counters(self) -> None:
        """Drop the counters of every stored version but the active one and the one being
        built: nothing keeps them current, and a rollback rebuilds them."""
        keep = {self.active_version(), self.building_version()}
        for version in self.versions():
            if version not in keep:
                self.drop_counters(version)

    def prepare_counters(self, version: str, shrink: float, mu: float, movie_ids: np.ndarray,
                         priors: np.ndarray, clusters: Iterable[int]) -> None:
        """Give merge.lua what it needs to keep ``version``'s cluster counters (the shrinkage,
        the global mean, every movie's prior), in the partition of each of ``clusters``, once
        the trainer points the scripts at the version
        (:meth:`shared.store.trainer_lock.TrainerLock.build`); counters left from an earlier
        life of the version are dropped first (:meth:`drop_earlier_counters`)."""
        self.drop_earlier_counters(version, clusters)
        self.write_counter_params(version, shrink, mu, movie_ids, priors, clusters)

    def drop_earlier_counters(self, version: str, clusters: Iterable[int]) -> None:
        """Drop what an earlier life of ``version`` (whose clusters are ``clusters``) left of
        its counters and its users' clusters, by the names of its keys: a few commands,
        whatever the size of the store."""
        self._unlink_counters(version, sorted({int(c) for c in clusters}))

    def write_counter_params(self, version: str, shrink: float, mu: float,
                             movie_ids: np.ndarray, priors: np.ndarray,
                             clusters: Iterable[int]) -> None:
        """The shrinkage, the global mean and every movie's prior of ``version``, in the
        partition of each of ``clusters``: merge.lua reads them once users are placed."""
        homes = sorted({self.keys.partition_of(int(c)) for c in clusters})
        chunks = [{int(m): float(p) for m, p in zip(movie_ids[start:start + PRIORS_CHUNK],
                                                     priors[start:start + PRIORS_CHUNK])}
                  for start in range(0, len(priors), PRIORS_CHUNK)]
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in homes:
                pipe.hset(self.keys.version_params(version, partition),
                          mapping={"shrink": shrink, "mu": mu})
                for chunk in chunks:
                    pipe.hset(self.keys.movie_priors(version, partition), mapping=chunk)
            pipe.execute()

    def clusters_of(self, version: str) -> list[int]:
        """The clusters users are in under a stored ``version``, from its manifest."""
        manifest = self.manifest(version)
        if manifest is None:
            raise ModelLoadError(f"model version {version} is not stored")
        return list(range(len(manifest["clusters"]["after_fixing"])))

    def _unlink_counters(self, version: str, clusters: list[int]) -> None:
        """:meth:`drop_counters` of a version whose clusters are ``clusters`` (the classifier
        places users in those only), by the names of its keys rather than a scan."""
        keys = self.keys
        names = [name for partition in range(keys.partitions) for name in (
            keys.assignments(version, partition), keys.version_params(version, partition),
            keys.movie_priors(version, partition), keys.cluster_sizes(version, partition))]
        names += [name for cluster in clusters for name in (
            keys.cluster_means(version, cluster), keys.cluster_favourites(version, cluster),
            keys.cluster_counts(version, cluster), keys.cluster_sums(version, cluster))]
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:  # one a command: on a cluster, each goes to its own node
                pipe.unlink(name)
            pipe.execute()
        self._forget_seeded_totals(version)

    def _forget_seeded_totals(self, version: str) -> None:
        """Forget the numbers of the totals a seeding of ``version`` folded
        (:mod:`shared.store.seeding`), so that a seeding of it counts again from the first."""
        with self.redis.pipeline(transaction=False) as pipe:
            for partition in range(self.keys.partitions):
                pipe.hdel(self.keys.merged_deltas(partition), totals_source(version))
            pipe.execute()

    def drop_counters(self, version: str) -> None:
        """Delete the live counters of ``version`` (its arrays and manifest stay), and the
        clusters of the partitions' users under it."""
        for key in self.redis.scan_iter(match=self.keys.version_pattern(version), count=1000):
            if self.keys.is_partition_key(key):
                self.redis.unlink(key)
        self._forget_seeded_totals(version)


class ChunkedBytes(io.RawIOBase):
    """A version's ``.npz`` bytes, read where they lie in its chunks (GETRANGE), at whatever
    offset is asked: a zip reader on top reads its directory and then only the members it is
    asked for. Spans known in advance are read together (:meth:`prefetch`): a process that
    loads a version while a rollback's rebuild keeps Redis busy waits once, not once a read."""

    def __init__(self, client, version: str, names: list[str], sizes: list[int]):
        self._client, self._version, self._names = client, version, names
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self._position = 0
        self._fetched: list[tuple[int, bytes]] = []  # (start, bytes), by start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._starts[-1]}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        end = min(start + len(view), self._starts[-1])
        if end <= start:
            return 0
        data = self._from_fetched(start, end)
        if data is None:
            data = b"".join(self._read(self._pieces(start, end)))
        view[:len(data)] = data  # a read that runs past what was fetched stops short
        self._position += len(data)
        return len(data)

    def prefetch(self, spans: list[tuple[int, int]]) -> None:
        """Read the byte spans ``(start, end)`` now, in as few round trips as their size
        allows; reads inside one are answered from memory until :meth:`forget`."""
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            start, end = max(start, 0), min(end, self._starts[-1])
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            elif start < end:
                merged.append((start, end))
        batch, size = [], 0
        for start, end in merged:
            batch.append((start, end))
            size += end - start
            if size >= PREFETCH_BYTES:
                self._fetch(batch)
                batch, size = [], 0
        if batch:
            self._fetch(batch)
        self._fetched.sort(key=lambda item: item[0])

    def _fetch(self, spans: list[tuple[int, int]]) -> None:
        """Read ``spans`` in one round trip into what :meth:`readinto` answers from."""
        pieces = [self._pieces(start, end) for start, end in spans]
        read = iter(self._read([piece for share in pieces for piece in share]))
        for (start, _), share in zip(spans, pieces):
            self._fetched.append((start, b"".join(next(read) for _ in share)))

    def forget(self) -> None:
        self._fetched = []

    def _from_fetched(self, start: int, end: int) -> bytes | None:
        """What was fetched of ``[start, end)`` from ``start`` on, if any."""
        index = bisect.bisect_right(self._fetched, start, key=lambda item: item[0]) - 1
        if index >= 0:
            at, data = self._fetched[index]
            if start < at + len(data):
                return data[start - at:end - at]
        return None

    def _pieces(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """(chunk, first byte, last byte) of each chunk's share of ``[start, end)``."""
        pieces = []
        while start < end:
            index = bisect.bisect_right(self._starts, start) - 1
            upto = min(end, self._starts[index + 1])
            pieces.append((index, start - self._starts[index], upto - 1 - self._starts[index]))
            start = upto
        return pieces

    def _read(self, pieces: list[tuple[int, int, int]]) -> list[bytes]:
        with self._client.pipeline(transaction=False) as pipe:
            for index, first, last in pieces:
                pipe.getrange(self._names[index], first, last)
            read = pipe.execute()
        for (_, first, last), data in zip(pieces, read):
            if len(data) != last - first + 1:
                raise ModelLoadError(f"model version {self._version} cannot be loaded: it was "
                                     "discarded (or saved again) since it was opened")
        return read


class StoredArrays(Mapping):
    """A stored version's arrays by name, each read from Redis when asked for (the zip's
    directory once, when opened). Thread-safe: the zip reader locks its file."""

    def __init__(self, version: str, raw: ChunkedBytes):
        self.version = version
        self._raw = raw
        self._zip = zipfile.ZipFile(io.BufferedReader(raw, buffer_size=READ_AHEAD_BYTES))
        self._members = {name.removesuffix(".npy"): name for name in self._zip.namelist()}

    @contextmanager
    def prefetched(self, prefixes: Iterable[str]) -> Iterator[StoredArrays]:
        """The arrays whose names start with one of ``prefixes`` read together now, and
        served from memory inside the block."""
        prefixes = tuple(prefixes)
        self._raw.prefetch([
            (info.header_offset, info.header_offset + LOCAL_HEADER_BYTES
             + len(info.filename.encode()) + info.compress_size)
            for info in self._zip.infolist() if info.filename.startswith(prefixes)])
        try:
            yield self
        finally:
            self._raw.forget()

    def __getitem__(self, name: str) -> np.ndarray:
        member = self._members[name]
        try:
            with self._zip.open(member) as stream:
                data = stream.read()  # a member in one read; the zip checks its CRC
            return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ModelLoadError(f"model version {self.version} cannot be loaded: {name}: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def __iter__(self):
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)
