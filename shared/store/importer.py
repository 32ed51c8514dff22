"""Load a MovieLens folder into Redis: the catalogue, then the ratings as rating events.

Ratings go through the same idempotent apply script as live events, so importing the same
folder twice changes nothing and an import never overwrites a newer live rating.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from shared.data import movielens
from shared.store.catalogue import Catalogue
from shared.store.ratings import RatingStore, frame_to_wire

BATCH = 5000


@dataclass
class ImportResult:
    format: str
    movies: int
    ratings_read: int
    ratings_changed: int
    seconds: float


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
        for chunk in movielens.iter_ratings(path, chunksize=chunksize):
            wire = frame_to_wire(chunk)
            for start_row in range(0, len(wire), BATCH):
                batch = wire[start_row:start_row + BATCH]
                changed += ratings.apply_wire(batch, log=False).applied
                bar.update(len(batch))
            read += len(chunk)
    catalogue.record_import(source=str(Path(path).resolve()), format=fmt,
                            imported_at=time.time(), movies=len(movies), ratings=read)
    return ImportResult(fmt, len(movies), read, changed, time.perf_counter() - start)
