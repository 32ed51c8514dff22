"""The requests of the list features (a genre row, a page, the home screen's rows, a guest's
list, the trending movies) as the benchmark asks for them: which genre a user's row is of,
what a guest's POST carries, and the files wrk.lua reads them from."""
from __future__ import annotations

import json
import random
from urllib.parse import quote

from .processes import Context
from .settings import COPY_ID_STEP, VARIED_N

FALLBACK_GENRE = "Drama"  # the row of a user who rated no movie with a genre
GENRE_FILE = "genre-rows.txt"  # beside the ids file: "user genre" a line (genre URL-quoted)
GUEST_FILE = "guest-bodies.txt"  # beside the ids file: a POST /v1/recommendations body a line
GUEST_USERS = 1_000  # guest bodies of at most this many data users (all 610 of ml-latest-small)
# The genre runs ask for (user, n) pairs of at most this many of the computed runs' users:
# 3,050 x 10 values of n = 30,500 distinct requests, as the computed runs (settings.py)
GENRE_USERS = 3_050


def top_genre(facets, ratings: dict[int, tuple[float, bool, float]]) -> str:
    """The genre of the most movies the user rated (``user_ratings``: movie -> (rating,
    favourite, ts)), as the catalogue spells it, ties by name; ``FALLBACK_GENRE`` when none."""
    rated = [movie for movie, (rating, _, _) in ratings.items() if rating > 0]
    counts = facets.genre_counts(rated) if rated else {}
    ranked = sorted((genre for genre in counts if not genre.startswith("(")),
                    key=lambda genre: (-counts[genre], genre))
    return facets.genre_names[ranked[0]] if ranked else FALLBACK_GENRE


def guest_body(ratings: dict[int, tuple[float, bool, float]], limit: int) -> tuple[bytes, bool]:
    """The JSON body of ``POST /v1/recommendations`` carrying the user's ratings (those above
    0: a favourite alone is no rating), the latest ``limit`` when there are more (the API takes
    at most that many); and whether some were left out."""
    rated = sorted(((movie, rating, ts) for movie, (rating, _, ts) in ratings.items()
                    if rating > 0), key=lambda row: -row[2])
    body = {"ratings": {str(movie): rating for movie, rating, _ in rated[:limit]}}
    return json.dumps(body, separators=(",", ":")).encode(), len(rated) > limit


def stores_of(ctx: Context):
    """The data's stores and the catalogue's facets, as the services read them."""
    from shared import config
    from shared.store.catalogue import CatalogueCache
    from shared.store.stores import Stores

    stores = Stores(ctx.client, config.load(ctx.stack.env))
    return stores, CatalogueCache(stores.catalogue).facets()


def write_wrk_files(ctx: Context) -> None:
    """The genre of every user the genre runs ask for (``GENRE_FILE``) and the guest bodies
    (``GUEST_FILE``), beside the ids file; their counts go in ``ctx.results["wrk_lists"]``."""
    from api.guests import MAX_GUEST_RATINGS

    stores, facets = stores_of(ctx)
    computed = [int(u) for u in ctx.ids_file.read_text().splitlines()[2].split()]
    per_user = VARIED_N[1] - VARIED_N[0] + 1
    if len(computed) > GENRE_USERS:
        computed = sorted(random.Random(11).sample(computed, GENRE_USERS))
    data_users, genres, lines = set(ctx.users), {}, []
    for user in computed:  # a copy rated what its data user rated
        original = user if user in data_users else user % COPY_ID_STEP
        if original not in genres:
            genres[original] = top_genre(facets, stores.ratings.user_ratings(original))
        lines.append(f"{user} {quote(genres[original])}")
    (ctx.ids_file.parent / GENRE_FILE).write_text("\n".join(lines) + "\n")
    guests = (ctx.users if len(ctx.users) <= GUEST_USERS
              else sorted(random.Random(13).sample(ctx.users, GUEST_USERS)))
    bodies, capped = [], 0
    for user in guests:
        body, cut = guest_body(stores.ratings.user_ratings(user), MAX_GUEST_RATINGS)
        bodies.append(body)
        capped += cut
    (ctx.ids_file.parent / GUEST_FILE).write_bytes(b"\n".join(bodies) + b"\n")
    ctx.results["wrk_lists"] = {"genre_users": len(lines), "genre_pairs": len(lines) * per_user,
                                "guest_bodies": len(bodies), "guest_capped": capped,
                                "guest_limit": MAX_GUEST_RATINGS}
