"""``/v1/movies``: the catalogue, popular and similar movies."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from api.params import (
    FILTER_ARGS,
    InvalidParameter,
    choice_arg,
    int_arg,
    known_args,
    list_filter,
    page_args,
    positive_id,
)
from api.recommendations import allowed_by, popular, trending, with_metadata
from api.services import services
from shared.data.events import is_unicode
from shared.store.counters import TRENDING_WINDOWS

bp = Blueprint("movies", __name__, url_prefix="/v1/movies")
KINDS = ("hybrid", "collaborative", "content")


def _movie_body(svc, movie_id: int, info: dict) -> dict:
    stats = svc.counters.movie_stats(movie_id)
    mean = stats.mean_rating
    return {"movie_id": movie_id, **info, "n_ratings": stats.n_ratings,
            "mean_rating": None if mean is None else round(mean, 3),
            "n_favourites": stats.n_favourites}


def _not_found(movie_id: int):
    return jsonify(error="not_found", field="movie_id", reason=f"no movie {movie_id}"), 404


@bp.get("")
def search():
    query = request.args.get("q", "").strip()
    if not query:
        raise InvalidParameter("q", "give part of a title, e.g. ?q=toy")
    if len(query) > 200:
        raise InvalidParameter("q", "at most 200 characters")
    limit = int_arg("limit", 20, 1, 100)
    svc = services()
    ids = svc.catalogue_cache.search(query, limit)
    info = svc.catalogue_cache.movies_many(ids)
    return jsonify(query=query, items=[{"movie_id": m, **info[m]} for m in ids if m in info])


@bp.get("/popular")
def popular_movies():
    known_args("n", "offset", *FILTER_ARGS)
    n, offset = page_args()
    svc = services()
    allowed = allowed_by(svc, list_filter(svc.catalogue_cache.facets))
    items = popular(svc, offset + n, allowed)[offset:]
    return jsonify(offset=offset, items=with_metadata(svc, items))


@bp.get("/trending")
def trending_movies():
    """The movies rated or favoured most in the last 24 hours or 7 days of event time."""
    known_args("window", "n", "offset", *FILTER_ARGS)
    window = choice_arg("window", "24h", tuple(TRENDING_WINDOWS))
    n, offset = page_args()
    svc = services()
    allowed = allowed_by(svc, list_filter(svc.catalogue_cache.facets))
    items = trending(svc, window, offset + n, allowed)[offset:]
    return jsonify(window=window, offset=offset, items=with_metadata(svc, items))


@bp.get("/<movie_id>")
def get_movie(movie_id: str):
    movie_id = positive_id(movie_id, "movie_id")
    svc = services()
    info = svc.catalogue.movie(movie_id)
    if info is None:
        return _not_found(movie_id)
    return jsonify(_movie_body(svc, movie_id, info))


def _string_list(body: dict, field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 100
                                              and is_unicode(v) for v in value):
        raise InvalidParameter(field, "must be a list of non-empty strings of at most 100 "
                                      "characters (valid Unicode)")
    if len(value) > 100:
        raise InvalidParameter(field, "at most 100 entries")
    return value


@bp.put("/<movie_id>")
def put_movie(movie_id: str):
    """Create or replace a movie's title, genres and tags (needs the admin key)."""
    movie_id = positive_id(movie_id, "movie_id")
    svc = services()
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidParameter("body", "must be a JSON object with title, genres, tags")
    unknown = sorted(set(body) - {"title", "year", "genres", "tags"})
    if unknown:
        raise InvalidParameter(unknown[0], "is not a field of a movie")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 500 or not is_unicode(title):
        raise InvalidParameter("title", "must be a non-empty string of at most 500 characters "
                                        "(valid Unicode)")
    year = body.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)
                             or not 1870 <= year <= 2100):
        raise InvalidParameter("year", "must be a whole year from 1870 to 2100, or null")
    info = {"title": title.strip(), "year": year, "genres": _string_list(body, "genres"),
            "tags": _string_list(body, "tags")}
    existed = svc.catalogue.movie(movie_id) is not None
    svc.catalogue.put_movie(movie_id, info)
    return jsonify(_movie_body(svc, movie_id, info)), 200 if existed else 201


@bp.get("/<movie_id>/similar")
def similar(movie_id: str):
    known_args("n", "offset", "kind", *FILTER_ARGS)
    movie_id = positive_id(movie_id, "movie_id")
    n, offset = page_args()
    kind = choice_arg("kind", "hybrid", KINDS)
    svc = services()
    allowed = allowed_by(svc, list_filter(svc.catalogue_cache.facets))
    if svc.catalogue.movie(movie_id) is None:
        return _not_found(movie_id)
    model = svc.models.get()
    if model is None:
        return jsonify(error="no_model",
                       message="no model is trained yet: run `movierec train`"), 503
    pairs = model.similar_movies(movie_id, offset + n, kind, allowed)[offset:]
    items = with_metadata(svc, [{"movie_id": m, "score": round(s, 4),
                                 "reason": f"{kind} similarity {s:.2f}"} for m, s in pairs])
    return jsonify(movie_id=movie_id, kind=kind, model_version=model.version, offset=offset,
                   items=items)
