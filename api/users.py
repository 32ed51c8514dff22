"""``/v1/users``: recommendations, predictions, profile, deletion."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from api.params import (
    FILTER_ARGS,
    choice_arg,
    diversity_arg,
    id_list_arg,
    int_arg,
    known_args,
    list_filter,
    page_args,
    positive_id,
)
from api.recommendations import cached_recommendations
from api.rows import home_rows
from api.services import services
from shared.data.events import Event
from shared.recsys.strategies import DEFAULT_STRATEGY, STRATEGIES

bp = Blueprint("users", __name__, url_prefix="/v1/users")
PROFILE_EVENTS = 10  # latest events a profile shows


@bp.get("/<user_id>/recommendations")
def recommendations(user_id: str):
    known_args("n", "offset", "strategy", "diversity", *FILTER_ARGS)
    user_id = positive_id(user_id, "user_id")
    n, offset = page_args()
    strategy = choice_arg("strategy", DEFAULT_STRATEGY, STRATEGIES)
    diversity = diversity_arg()
    svc = services()
    body = cached_recommendations(svc, user_id, n, strategy, offset,
                                  list_filter(svc.catalogue_cache.facets), diversity)
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/<user_id>/rows")
def rows(user_id: str):
    """A home screen: rows of recommendations, each with its reason."""
    known_args("n", "genre_rows", "because_rows", "repeats")
    user_id = positive_id(user_id, "user_id")
    n = int_arg("n", 10, 1, 50)
    genre_rows = int_arg("genre_rows", 3, 0, 10)
    because_rows = int_arg("because_rows", 2, 0, 10)
    repeats = choice_arg("repeats", "false", ("false", "true")) == "true"
    body = home_rows(services(), user_id, n, genre_rows, because_rows, repeats)
    return current_app.response_class(body, mimetype="application/json")


@bp.get("/<user_id>/predictions")
def predictions(user_id: str):
    user_id = positive_id(user_id, "user_id")
    movie_ids = id_list_arg("movie_id", 100)
    svc = services()
    model = svc.models.get()
    if model is None:
        return jsonify(error="no_model",
                       message="no model is trained yet: run `movierec train`"), 503
    live = svc.ratings.live_ratings(user_id)
    predicted = model.predict(live, movie_ids)
    return jsonify(user_id=user_id, model_version=model.version, predictions=[
        {"movie_id": m, "rating": None if p is None else round(p, 3),
         **({"reason": "the model does not know this movie"} if p is None else {})}
        for m, p in zip(movie_ids, predicted)])


@bp.get("/<user_id>")
def profile(user_id: str):
    user_id = positive_id(user_id, "user_id")
    svc = services()
    ratings = svc.ratings.user_ratings(user_id)
    events = svc.counters.last_events(user_id, PROFILE_EVENTS)
    if not ratings and not events:
        return jsonify(error="not_found", field="user_id", reason=f"no user {user_id}"), 404
    model = svc.models.get()
    cluster = svc.counters.cluster_of(model.version, user_id) if model is not None else None
    return jsonify(user_id=user_id, model_version=model.version if model else None,
                   cluster=cluster,
                   n_ratings=sum(1 for r, _, _ in ratings.values() if r > 0),
                   n_favourites=sum(1 for _, f, _ in ratings.values() if f),
                   last_events=events)


@bp.delete("/<user_id>")
def delete_user(user_id: str):
    """Remove the user's ratings and their share of every counter; idempotent."""
    user_id = positive_id(user_id, "user_id")
    removed = services().ratings.delete_user(user_id, time.time())
    return jsonify(user_id=user_id, removed=removed)


@bp.delete("/<user_id>/ratings/<movie_id>")
def delete_rating(user_id: str, movie_id: str):
    """Remove one rating (and favourite mark); idempotent."""
    user_id = positive_id(user_id, "user_id")
    movie_id = positive_id(movie_id, "movie_id")
    svc = services()
    had = movie_id in svc.ratings.user_ratings(user_id)
    svc.ratings.apply([Event("remove", user_id, movie_id, 0, round(time.time(), 3))])
    return jsonify(user_id=user_id, movie_id=movie_id, removed=had)
