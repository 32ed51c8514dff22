"""The five layouts GroupLens published MovieLens in, told apart by the files a folder holds."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.data.errors import LoadError


@dataclass(frozen=True)
class _Format:
    name: str
    releases: str
    needs: tuple[str, ...]
    optional: str = ""


# Checked in this order: the first whose files are all present wins.
_FORMATS = (
    _Format("hetrec-2k", "hetrec2011-movielens-2k", ("user_ratedmovies.dat", "movies.dat"),
            "movie_genres.dat, movie_tags.dat with tags.dat"),
    _Format("csv", "ml-latest-small, ml-latest, ml-20m, ml-25m", ("ratings.csv", "movies.csv"),
            "tags.csv"),
    _Format("ml-100k", "ml-100k", ("u.data", "u.item"),
            "u.genre, folds u1..u5/ua/ub .base and .test"),
    _Format("ml-10m", "ml-10m / ml-10M100K", ("ratings.dat", "movies.dat", "tags.dat")),
    _Format("ml-1m", "ml-1m", ("ratings.dat", "movies.dat", "users.dat")),
)


def _known_formats() -> str:
    lines = ["known formats and the files each needs:"]
    for fmt in _FORMATS:
        optional = f" (optional: {fmt.optional})" if fmt.optional else ""
        lines.append(f"  {fmt.name} [{fmt.releases}]: {', '.join(fmt.needs)}{optional}")
    return "\n".join(lines)


def detect_format(path) -> str:
    """Name the MovieLens layout of folder ``path``: one of "hetrec-2k", "csv", "ml-100k",
    "ml-10m", "ml-1m". Raises :class:`LoadError` listing the known layouts otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        problem = "not a folder" if folder.exists() else "no such folder"
        raise LoadError(folder, f"{problem}; {_known_formats()}")
    present = {entry.name for entry in folder.iterdir() if entry.is_file()}
    for fmt in _FORMATS:
        if all(name in present for name in fmt.needs):
            return fmt.name
    holds = ", ".join(sorted(present)[:12]) + (", ..." if len(present) > 12 else "")
    raise LoadError(folder, f"not a MovieLens folder I know (it holds: {holds or 'no files'}); "
                            f"{_known_formats()}")
