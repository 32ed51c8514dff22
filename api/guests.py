"""``POST /v1/recommendations``: a list for someone the store does not know (a visitor before
sign-up, an app that keeps the session itself), folded in from the ratings the request
carries, with the filters and pages of every list. Nothing is stored."""
from __future__ import annotations

import numpy as np
from flask import Blueprint, jsonify, request

from api.params import (
    FILTER_ARGS,
    InvalidParameter,
    choice_arg,
    diversity_arg,
    known_args,
    list_filter,
    page_args,
    positive_id,
)
from api.recommendations import allowed_by, diversify_by, recommend, with_metadata
from api.services import services
from shared.data.events import EventError, half_stars
from shared.recsys import strategies
from shared.recsys.ratings import LiveRatings

bp = Blueprint("guests", __name__, url_prefix="/v1")
MAX_GUEST_RATINGS = 500
EXAMPLE = '{"ratings": {"318": 5, "296": 4.5}}'


def guest_ratings(body) -> LiveRatings:
    """The ratings of a guest's request, validated as the ratings of events are."""
    if not isinstance(body, dict):
        raise InvalidParameter("body", f"must be a JSON object, e.g. {EXAMPLE}")
    unknown = sorted(set(body) - {"ratings"})
    if unknown:
        raise InvalidParameter(unknown[0], f"is not a field of the request (only ratings, e.g. "
                                           f"{EXAMPLE})")
    ratings = body.get("ratings")
    if not isinstance(ratings, dict):
        raise InvalidParameter("ratings", f"must be an object of movie id to rating, e.g. "
                                          f"{EXAMPLE}")
    if len(ratings) > MAX_GUEST_RATINGS:
        raise InvalidParameter("ratings", f"at most {MAX_GUEST_RATINGS}, got {len(ratings)}")
    movies, halves = [], []
    for movie, rating in ratings.items():
        movie_id = positive_id(movie, f"ratings.{movie[:40]}")
        try:
            halves.append(half_stars(rating))
        except EventError as exc:
            raise InvalidParameter(f"ratings.{movie}", exc.reason) from None
        movies.append(movie_id)
    return LiveRatings(np.array(movies, dtype=np.int64), np.array(halves, dtype=np.float64) / 2)


@bp.post("/recommendations")
def guest_recommendations():
    """The list a user with these ratings would get: ``personal`` when the top-N model can
    rank them, else ``hybrid`` in the cluster the classifier places them in (as the workers
    place a new user), else the popular movies."""
    known_args("n", "offset", "strategy", "diversity", *FILTER_ARGS)
    n, offset = page_args()
    strategy = choice_arg("strategy", strategies.DEFAULT_STRATEGY, strategies.STRATEGIES)
    svc = services()
    allowed = allowed_by(svc, list_filter(svc.catalogue_cache.facets))
    diversify = diversify_by(svc, diversity_arg())
    if not request.is_json:
        raise InvalidParameter("body", f"must be JSON with Content-Type: application/json, e.g. "
                                       f"{EXAMPLE}")
    ratings = guest_ratings(request.get_json(silent=True))
    model = svc.models.get()
    cluster = None
    if model is not None and len(model.profile(ratings)[0]):  # rated a movie the model knows
        cluster = model.assign_cluster(ratings)
    result = recommend(svc, model, None, offset + n, strategy, ratings, cluster, allowed,
                       diversify)
    del result["user_id"]
    result["items"] = with_metadata(svc, result["items"][offset:])
    return jsonify(**result, offset=offset)
