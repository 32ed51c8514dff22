"""The two measurements of bench/topn.py beyond whole lists, on one fold (``random:0.8:0``):

- **genre rows**: for each of the most common genres of the catalogue, the served personal
  list filtered to the genre (``strategies.recommend`` with an ``Allowed``, as the API answers
  ``GET /v1/users/<id>/recommendations?genre=...``), against the genre's most rated movies;
  relevant = the user's held-out ratings >= 4 of movies of the genre, users without one not
  measured for it. Beside it, the time of ``recommend`` with and without the filter;
- **diversity on request**: the served personal list at each ``diversity`` a request may ask
  (``GET /v1/users/<id>/recommendations?diversity=d``): quality, coverage, genre diversity
  and time;
- **the coverage trade-off**: the served ranker (an ``EASE`` with the version's chosen
  parameters, fitted on the training part) re-ranked with a popularity penalty,
  ``score - beta * max(the user's scores) * log1p(n_i) / log1p(max n)``, at the served number
  of candidates and at 2,000: quality, catalogue coverage and intra-list genre diversity.
"""
from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pandas as pd
import scipy.sparse as sp

from shared.recsys import strategies
from shared.recsys.diversity import DIVERSITY_POOL, Diversify
from shared.recsys.evaluation.accuracy import (
    NO_ITEM,
    coverage,
    evaluated_rows,
    list_metrics,
    mean_popularity_percentile,
    popularity_percentiles,
    relevant_items,
    top_k_lists,
)
from shared.recsys.filters import Allowed, Facets, ListFilter
from shared.recsys.models.ease import EASE
from shared.recsys.ratings import LiveRatings

N_GENRES = 6
NO_GENRE = "(no genres listed)"
BETAS = (0.0, 0.1, 0.2, 0.3, 0.5)
DIVERSITIES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
WIDE_CANDIDATES = 2000
COVERAGE_GOAL = 0.15  # coverage@10 at least this...
NDCG_KEPT = 0.98      # ...with nDCG@10 at least this share of NDCG_REFERENCE:
NDCG_REFERENCE = 0.321  # served:personal's on random:0.8:0 when the goal was set (0.3208)
NDCG_BOUND = NDCG_KEPT * NDCG_REFERENCE
FILLED_REASONS = ("predicted ", "in the catalogue")  # strategies.fill's items


# --- the catalogue ---------------------------------------------------------------------------

def facets_of(movies) -> Facets:
    """The catalogue's facets as the API builds them, from a loaded ``movies`` frame."""
    return Facets({int(m.movie_id): {"title": m.title,
                                     "year": None if pd.isna(m.year) else int(m.year),
                                     "genres": [g for g in m.genres.split("|") if g]}
                   for m in movies.itertuples()})


def top_genres(movies, k: int = N_GENRES) -> list[str]:
    """The ``k`` genres of the most movies of the catalogue, most first."""
    counts = Counter(g for genres in movies["genres"] for g in genres.split("|")
                     if g and g != NO_GENRE)
    return [g for g, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def genre_matrix(movies, fold) -> np.ndarray:
    """(fold movies x genres) booleans: each of the fold's movies' genres ("(no genres
    listed)" counts as one)."""
    by_id = {int(m): g.split("|") for m, g in zip(movies["movie_id"], movies["genres"])}
    per_movie = [by_id.get(int(m), []) for m in fold.movies.ids]
    names = sorted({g for genres in per_movie for g in genres if g})
    column = {g: j for j, g in enumerate(names)}
    G = np.zeros((len(per_movie), len(names)), dtype=bool)
    for i, genres in enumerate(per_movie):
        G[i, [column[g] for g in genres if g]] = True
    return G


def genre_diversity(ranked: np.ndarray, G: np.ndarray) -> float:
    """Mean over the lists of the mean pairwise Jaccard distance of the genre sets of their
    movies (empty ranks left out; a list of fewer than two movies is left out)."""
    if not len(ranked):
        return float("nan")
    present = ranked != NO_ITEM
    Gl = G[np.maximum(ranked, 0)].astype(np.float32) * present[..., None]
    inter = np.einsum("uig,ujg->uij", Gl, Gl)
    sizes = Gl.sum(axis=2)
    union = sizes[:, :, None] + sizes[:, None, :] - inter
    distance = 1.0 - np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    k = ranked.shape[1]
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    pairs = upper[None] & present[:, :, None] & present[:, None, :]
    n_pairs = pairs.sum(axis=(1, 2))
    per_list = (distance * pairs).sum(axis=(1, 2)) / np.maximum(n_pairs, 1)
    return float(per_list[n_pairs > 0].mean())


def movie_counts(train: sp.csr_matrix) -> np.ndarray:
    """Each movie's number of training ratings."""
    return np.diff(sp.csc_matrix(train).indptr)


# --- genre rows ------------------------------------------------------------------------------

class ServedUser:
    """What a random-split user's request reads to be served, as ``PublishedVersion.lists``
    reads it: their training ratings as their live ratings, their training cluster, and the
    counters the serving strategy reads (none for ``personal``)."""

    def __init__(self, version, row: int, n: int, allowed: Allowed | None):
        fold, model = version.fold, version.model
        seen = fold.seen[row]
        self.ratings = LiveRatings(fold.movies.ids[seen.indices], seen.data)
        self.user_id = int(fold.users.ids[row])
        self.serving = strategies.serving_strategy(model, self.ratings, "personal")
        self.counters, self.popular = None, ()
        if self.serving != "personal":
            share = allowed.share() if allowed is not None else 1.0
            cluster = model.training_cluster(int(fold.users.ids[row]))
            if cluster is None:
                self.popular = version.counters.popular(
                    strategies.ranked_page(n, len(self.ratings), share))
            else:
                self.counters = version.counters.cluster(
                    cluster, strategies.cluster_reads(self.serving, n, len(self.ratings), share))


def served_row(version, user: ServedUser, n: int, allowed: Allowed | None) -> list[dict]:
    return strategies.recommend(version.model, user.ratings, user.counters, user.popular, n,
                                "personal", allowed, user_id=user.user_id).items


def genre_rows(version, facets: Facets, genres: list[str], k: int, log) -> dict:
    """Per genre, nDCG@k and P@k of the served personal genre row and of the genre's most
    rated movies, over the users with a held-out favourite of the genre; the mean over
    genres; the time of ``recommend`` with and without the filter."""
    fold = version.fold
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings,
                              fold.seen.shape)
    counts = movie_counts(fold.train).astype(np.float64)
    per_genre = []
    allowed_of = {g: Allowed(ListFilter(genres=frozenset({g.lower()})), facets) for g in genres}
    for genre in genres:
        allowed = allowed_of[genre]
        in_genre = allowed.mask(fold.movies.ids)
        rel = sp.csr_matrix(relevant.multiply(in_genre[None, :]), dtype=bool)
        rel.eliminate_zeros()
        rows = evaluated_rows(rel)
        ranked = np.full((len(rows), k), NO_ITEM, dtype=np.int64)
        filled_lists = filled_items = short = 0
        for j, row in enumerate(rows):
            items = served_row(version, ServedUser(version, int(row), k, allowed), k, allowed)
            movies = [item["movie_id"] for item in items]
            ranked[j, :len(movies)] = fold.movies.index(movies, missing="negative")
            filled = sum(item["reason"].startswith(FILLED_REASONS) for item in items)
            filled_lists += filled > 0
            filled_items += filled
            short += len(items) < k
        outside = int(np.isin(ranked, np.flatnonzero(~in_genre)).sum())
        popular_scores = np.where(in_genre, counts, -np.inf)
        popular = top_k_lists(lambda batch, s=popular_scores: np.tile(s, (len(batch), 1)),
                              fold.seen, rows, k)
        served_m = list_metrics(ranked, rel[rows], k)
        popular_m = list_metrics(popular, rel[rows], k)
        entry = {"genre": genre, "users": int(len(rows)), "movies": int(in_genre.sum()),
                 "served_ndcg": served_m["ndcg"], "served_precision": served_m["precision"],
                 "popular_ndcg": popular_m["ndcg"], "popular_precision": popular_m["precision"],
                 "filled_lists": int(filled_lists), "filled_items": int(filled_items),
                 "short_lists": int(short), "outside_genre": outside}
        per_genre.append(entry)
        log(f"  genre row {genre:10s} users {entry['users']:3d}  served nDCG@{k} "
            f"{entry['served_ndcg']:.4f} P@{k} {entry['served_precision']:.4f}  "
            f"most popular in genre nDCG@{k} {entry['popular_ndcg']:.4f} "
            f"P@{k} {entry['popular_precision']:.4f}  lists filled {filled_lists}, short {short}, "
            f"movies outside the genre {outside}")
    mean = {key: float(np.mean([e[key] for e in per_genre]))
            for key in ("served_ndcg", "served_precision", "popular_ndcg", "popular_precision")}
    timing = time_rows(version, allowed_of, evaluated_rows(relevant), k)
    log(f"  recommend, mean per user over {timing['users']} users: unfiltered "
        f"{timing['unfiltered_ms']:.3f} ms, genre row {timing['filtered_ms']:.3f} ms")
    return {"genres": per_genre, "mean": mean, "timing": timing}


def time_rows(version, allowed_of: dict[str, Allowed], rows: np.ndarray, k: int) -> dict:
    """Mean ms per user of ``strategies.recommend`` (the call alone: what it reads is read
    before) for the unfiltered list and for each genre row, interleaved user by user, after a
    pass that warms every path up."""
    users = [ServedUser(version, int(row), k, None) for row in rows]
    filtered_users = {g: [ServedUser(version, int(row), k, a) for row in rows]
                      for g, a in allowed_of.items()}
    spent = {None: 0, **{g: 0 for g in allowed_of}}
    for warm in (True, False):
        for j, user in enumerate(users[:50] if warm else users):
            started = time.perf_counter_ns()
            served_row(version, user, k, None)
            if not warm:
                spent[None] += time.perf_counter_ns() - started
            for genre, allowed in allowed_of.items():
                other = filtered_users[genre][j]
                started = time.perf_counter_ns()
                served_row(version, other, k, allowed)
                if not warm:
                    spent[genre] += time.perf_counter_ns() - started
    per_genre = {g: spent[g] / len(users) / 1e6 for g in allowed_of}
    return {"users": len(users), "unfiltered_ms": spent[None] / len(users) / 1e6,
            "filtered_ms": float(np.mean(list(per_genre.values()))), "per_genre_ms": per_genre}


def genre_table(result: dict, k: int) -> str:
    from benchdoc import table

    body = [[e["genre"], f"{e['movies']:,}", e["users"], f"{e['served_ndcg']:.4f}",
             f"{e['popular_ndcg']:.4f}", f"{e['served_precision']:.4f}",
             f"{e['popular_precision']:.4f}", f"{e['filled_lists']} ({e['filled_items']})"]
            for e in result["genres"]]
    m = result["mean"]
    body.append(["**mean over genres**", "", "", f"**{m['served_ndcg']:.4f}**",
                 f"**{m['popular_ndcg']:.4f}**", f"**{m['served_precision']:.4f}**",
                 f"**{m['popular_precision']:.4f}**", ""])
    return table(["genre", "movies", "users", f"served row nDCG@{k}",
                  f"most popular in genre nDCG@{k}", f"served row P@{k}",
                  f"most popular in genre P@{k}", "rows filled (items)"], body)


def timing_line(timing: dict) -> str:
    per = ", ".join(f"{g} {ms:.3f}" for g, ms in timing["per_genre_ms"].items())
    ratio = timing["filtered_ms"] / timing["unfiltered_ms"]
    return (f"`strategies.recommend` (personal, n=10), mean per user over the "
            f"{timing['users']} evaluated users, one pass after a warm-up: unfiltered "
            f"{timing['unfiltered_ms']:.3f} ms, genre row {timing['filtered_ms']:.3f} ms "
            f"({ratio:.2f} x; by genre {per} ms).\n")


# --- diversity on request --------------------------------------------------------------------

def diversity_rows(version, facets: Facets, G: np.ndarray, k: int, log) -> dict:
    """For each ``diversity`` of ``DIVERSITIES``, the served personal lists as the API answers
    ``?diversity=d`` (``strategies.recommend`` with a ``Diversify``): nDCG@k, P@k, coverage@k,
    popularity percentile and genre diversity over the evaluated users, and the mean time of
    ``recommend`` per list (interleaved user by user, after a warm-up pass)."""
    fold = version.fold
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings,
                              fold.seen.shape)
    rows = evaluated_rows(relevant)
    percentiles = popularity_percentiles(fold.train)
    users = [ServedUser(version, int(row), DIVERSITY_POOL, None) for row in rows]
    ways = {d: Diversify(d, facets) if d else None for d in DIVERSITIES}
    ranked = {d: np.full((len(rows), k), NO_ITEM, dtype=np.int64) for d in DIVERSITIES}
    spent = dict.fromkeys(DIVERSITIES, 0)
    for warm in (True, False):
        for j, user in enumerate(users[:50] if warm else users):
            for d, diversify in ways.items():
                started = time.perf_counter_ns()
                items = strategies.recommend(version.model, user.ratings, user.counters,
                                             user.popular, k, "personal", None, diversify,
                                             user.user_id).items
                if warm:
                    continue
                spent[d] += time.perf_counter_ns() - started
                movies = [item["movie_id"] for item in items]
                ranked[d][j, :len(movies)] = fold.movies.index(movies, missing="negative")
    out = []
    for d in DIVERSITIES:
        metrics = list_metrics(ranked[d], relevant[rows], k)
        entry = {"diversity": d, "ndcg": metrics["ndcg"], "precision": metrics["precision"],
                 "coverage": coverage(ranked[d], fold.train.shape[1]),
                 "popularity": mean_popularity_percentile(ranked[d], percentiles),
                 "genre_diversity": genre_diversity(ranked[d], G),
                 "ms": spent[d] / len(users) / 1e6}
        out.append(entry)
        log(f"  diversity {d:.1f}: nDCG@{k} {entry['ndcg']:.4f} P@{k} {entry['precision']:.4f} "
            f"cov {entry['coverage']:.4f} pop {entry['popularity']:.1f} ILD "
            f"{entry['genre_diversity']:.4f} {entry['ms']:.3f} ms")
    for entry in out:
        entry["ndcg_ratio"] = entry["ndcg"] / out[0]["ndcg"]
    return {"rows": out, "users": int(len(rows))}


def diversity_table(result: dict, k: int) -> str:
    from benchdoc import table

    return table(["diversity", f"nDCG@{k}", "x as ranked", f"P@{k}", f"coverage@{k}",
                  f"popularity pct@{k}", "genre diversity (ILD)", "ms per list"],
                 [[f"{e['diversity']:.1f}", f"{e['ndcg']:.4f}", f"{e['ndcg_ratio']:.3f}",
                   f"{e['precision']:.4f}", f"{e['coverage']:.4f}", f"{e['popularity']:.1f}",
                   f"{e['genre_diversity']:.4f}", f"{e['ms']:.3f}"] for e in result["rows"]])


# --- the coverage trade-off ------------------------------------------------------------------

def ranker_params(version) -> dict:
    """The served ranker's parameters (the version's chosen ones)."""
    return dict(version.model.ranker.get_params())


def coverage_tradeoff(fold, params: dict, G: np.ndarray, k: int, log) -> dict:
    """For each number of candidates (as served, then ``WIDE_CANDIDATES``) and each ``beta``:
    nDCG@k, P@k, coverage@k, popularity percentile and genre diversity of the EASE lists
    re-ranked by ``score - beta * max(score) * log1p(n_i) / log1p(max n)``, the max over the
    movies the user may be recommended (their unrated candidates)."""
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings,
                              fold.seen.shape)
    rows = evaluated_rows(relevant)
    rel = relevant[rows]
    counts = movie_counts(fold.train)
    penalty = (np.log1p(counts) / np.log1p(counts.max())).astype(np.float64)
    percentiles = popularity_percentiles(fold.train)
    seen = fold.seen[rows]
    out = []
    non_positive = {}
    for candidates in (params["max_candidates"], WIDE_CANDIDATES):
        ease = EASE(**{**params, "max_candidates": candidates}).fit(fold.train)
        scores = np.asarray(ease.score_users(rows), dtype=np.float64)
        masked = scores.copy()
        masked[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = -np.inf
        top = masked.max(axis=1)
        non_positive[candidates] = int((top <= 0).sum())
        for beta in BETAS:
            penalised = scores - beta * top[:, None] * penalty[None, :]

            def score_rows(batch, penalised=penalised):
                return penalised[np.searchsorted(rows, batch)]

            ranked = top_k_lists(score_rows, fold.seen, rows, k)
            metrics = list_metrics(ranked, rel, k)
            entry = {"candidates": int(len(ease.candidates_)), "beta": beta,
                     "ndcg": metrics["ndcg"], "precision": metrics["precision"],
                     "coverage": coverage(ranked, fold.train.shape[1]),
                     "popularity": mean_popularity_percentile(ranked, percentiles),
                     "diversity": genre_diversity(ranked, G)}
            out.append(entry)
            log(f"  candidates {entry['candidates']:5d} beta {beta:.1f}: nDCG@{k} "
                f"{entry['ndcg']:.4f} P@{k} {entry['precision']:.4f} cov "
                f"{entry['coverage']:.4f} pop {entry['popularity']:.1f} "
                f"ILD {entry['diversity']:.4f}")
    base = out[0]
    for entry in out:
        entry["ndcg_ratio"] = entry["ndcg"] / base["ndcg"]
        entry["meets_goal"] = bool(entry["coverage"] >= COVERAGE_GOAL
                                   and entry["ndcg"] >= NDCG_BOUND)
    return {"rows": out, "users": int(len(rows)), "params": params,
            "n_movies": int(fold.train.shape[1]), "non_positive_max": non_positive}


def tradeoff_table(result: dict, k: int) -> str:
    from benchdoc import table

    return table(["candidates", "beta", f"nDCG@{k}", "x unpenalised", f"P@{k}",
                  f"coverage@{k}", f"popularity pct@{k}", "genre diversity (ILD)", "goal"],
                 [[f"{e['candidates']:,}", f"{e['beta']:.1f}", f"{e['ndcg']:.4f}",
                   f"{e['ndcg_ratio']:.3f}", f"{e['precision']:.4f}", f"{e['coverage']:.4f}",
                   f"{e['popularity']:.1f}", f"{e['diversity']:.4f}",
                   "**meets**" if e["meets_goal"] else "no"] for e in result["rows"]])


def coverage_caps(result: dict) -> str:
    """What coverage each number of candidates allows at most: every list draws from the
    candidates alone."""
    sizes = sorted({e["candidates"] for e in result["rows"]})
    return ", ".join(f"{100 * c / result['n_movies']:.1f} % at {c:,}" for c in sizes)


def tradeoff_verdict(result: dict, k: int) -> str:
    base = result["rows"][0]
    meeting = [e for e in result["rows"] if e["meets_goal"]]
    goal = (f"Goal: coverage@{k} >= {100 * COVERAGE_GOAL:.0f} % with nDCG@{k} >= {NDCG_KEPT} x "
            f"{NDCG_REFERENCE} = {NDCG_BOUND:.4f} (the personal list's nDCG@{k} on this split "
            f"when the goal was set; the unpenalised list's here is {base['ndcg']:.4f}). ")
    if meeting:
        names = "; ".join(f"{e['candidates']:,} candidates, beta {e['beta']:.1f} (coverage "
                          f"{e['coverage']:.4f}, nDCG {e['ndcg']:.4f})" for e in meeting)
        return goal + f"**Met** by: {names}.\n"
    best_cov = max((e for e in result["rows"] if e["ndcg"] >= NDCG_BOUND),
                   key=lambda e: e["coverage"], default=None)
    tail = ("" if best_cov is None else
            f" The widest coverage within the nDCG bound is {best_cov['coverage']:.4f} "
            f"({best_cov['candidates']:,} candidates, beta {best_cov['beta']:.1f}).")
    return goal + "**No row meets it.**" + tail + "\n"


# --- exploration -----------------------------------------------------------------------------

def exploration_rows(version, targets, G: np.ndarray, k: int, log) -> dict:
    """For each coverage asked of the version's exploration (``MOVIEREC_EXPLORATION_COVERAGE``;
    0: none), fitted again on the fold's training part as the trainer fits it: nDCG@k, P@k,
    coverage@k, popularity and genre diversity of the served personal lists
    (``PublishedVersion.lists``, the users' training ratings as their live ratings), the
    movies given and the coverage the exploration reached over every training user."""
    from shared.recsys.pipeline import fit_exploration

    fold, model = version.fold, version.model
    relevant = relevant_items(fold.test_users, fold.test_items, fold.test_ratings,
                              fold.seen.shape)
    rows = evaluated_rows(relevant)
    percentiles = popularity_percentiles(fold.train)
    served = model.exploration
    out = []
    try:
        for target in targets:
            started = time.perf_counter()
            model.exploration = (fit_exploration(model.ranker, fold.train, version.favourites,
                                                 target) if target else None)
            seconds = time.perf_counter() - started
            ranked = version.lists("personal", rows, k)
            metrics = list_metrics(ranked, relevant[rows], k)
            given = model.exploration
            entry = {"asked": target, "ndcg": metrics["ndcg"], "precision": metrics["precision"],
                     "coverage": coverage(ranked, fold.train.shape[1]),
                     "popularity": mean_popularity_percentile(ranked, percentiles),
                     "diversity": genre_diversity(ranked, G),
                     "given": 0 if given is None else len(given.movies_),
                     "reached": None if given is None else given.coverage_after_,
                     "highest_cost": None if given is None else float(given.costs_.max(
                         initial=0.0)),
                     "seconds": seconds}
            out.append(entry)
            log(f"  exploration {target:.3f}: nDCG@{k} {entry['ndcg']:.4f} P@{k} "
                f"{entry['precision']:.4f} cov {entry['coverage']:.4f} given {entry['given']} "
                f"({seconds:.1f} s)")
    finally:
        model.exploration = served
    base = out[0]
    for entry in out:
        entry["ndcg_ratio"] = entry["ndcg"] / base["ndcg"]
        entry["meets_goal"] = bool(entry["coverage"] >= COVERAGE_GOAL
                                   and entry["ndcg"] >= NDCG_BOUND)
    return {"rows": out, "users": int(len(rows)), "training_users": int(fold.train.shape[0])}


def exploration_table(result: dict, k: int, default: float) -> str:
    from benchdoc import table

    def asked(e):
        label = "0 (off)" if not e["asked"] else f"{e['asked']:g}"
        return f"**{label}** (default)" if e["asked"] == default else label

    return table(["coverage asked", "movies given", "reached (every user)", "highest cost",
                  f"nDCG@{k}", "x without", f"P@{k}", f"coverage@{k}", f"popularity pct@{k}",
                  "genre diversity (ILD)", "fit s", "goal"],
                 [[asked(e), f"{e['given']:,}",
                   "–" if e["reached"] is None else f"{e['reached']:.4f}",
                   "–" if e["highest_cost"] is None else f"{e['highest_cost']:.2f}",
                   f"{e['ndcg']:.4f}", f"{e['ndcg_ratio']:.3f}", f"{e['precision']:.4f}",
                   f"{e['coverage']:.4f}", f"{e['popularity']:.1f}", f"{e['diversity']:.4f}",
                   f"{e['seconds']:.1f}", "**meets**" if e["meets_goal"] else "no"]
                  for e in result["rows"]])
