"""Load a MovieLens folder into Redis: the catalogue, then the ratings as rating events.

The users the store has never seen are written whole, the others go through the same
idempotent apply as live events (:meth:`RatingStore.import_ratings`), so importing the same
folder twice changes nothing and an import never overwrites a newer live rating.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from shared.data import movielens
from shared.store.catalogue import Catalogue
from shared.store.keys import Keys
from shared.store.ratings import RatingStore, new_user_writes

BATCH = 200_000  # ratings per round trip


@dataclass
class ImportResult:
    format: str
    movies: int
    ratings_read: int
    ratings_changed: int
    seconds: float


def prepared(batches: Iterable[pd.DataFrame], keys: Keys) -> Iterator[tuple[pd.DataFrame, dict]]:
    """Each batch with its new users' writes (:func:`new_user_writes`), prepared a batch ahead
    in a thread: the preparation overlaps Redis's work on the batch before, while the sending
    thread waits for its reply (and lets go of the GIL)."""
    with ThreadPoolExecutor(1) as pool:
        ahead = None
        for batch in batches:
            future = pool.submit(new_user_writes, keys, batch)
            if ahead is not None:
                yield ahead[0], ahead[1].result()
            ahead = (batch, future)
        if ahead is not None:
            yield ahead[0], ahead[1].result()


def import_folder(path: Path, ratings: RatingStore, catalogue: Catalogue, progress: bool = True,
                  chunksize: int = 1_000_000) -> ImportResult:
    start = time.perf_counter()
    fmt = movielens.detect_format(path)
    movies = movielens.load_movies(path)
    # Read the ratings once to validate them all: bad input stores nothing.
    total = sum(len(chunk) for chunk in movielens.iter_ratings(path, chunksize=chunksize))
    catalogue.put_movies(movies)
    read = changed = 0
    with tqdm(total=total, desc="importing ratings", unit="rating", disable=not progress) as bar:
        batches = (chunk.iloc[start:start + BATCH]
                   for chunk in movielens.iter_ratings(path, chunksize=chunksize)
                   for start in range(0, len(chunk), BATCH))
        for batch, writes in prepared(batches, ratings.keys):
            changed += ratings.import_ratings(batch, writes)
            read += len(batch)
            bar.update(len(batch))
    catalogue.record_import(source=str(Path(path).resolve()), format=fmt,
                            imported_at=time.time(), movies=len(movies), ratings=read)
    return ImportResult(fmt, len(movies), read, changed, time.perf_counter() - start)
