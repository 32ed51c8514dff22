"""A version trained with exploration (real trainer process, real Redis): a user it gave a
movie to finds it in their list over HTTP, in the place of the movie it replaces."""
import os
import subprocess
import sys

import pytest
import redis

from api import create_app
from shared.config import Settings
from shared.store.keys import Keys
from shared.store.models import ModelStore
from shared.store.ratings import RatingStore
from tests.keys import keyed, with_keys

pytestmark = pytest.mark.integration
PREFIX = "explore"
EXPLORED_REASON = "close to your taste, and shown in few lists"


def movierec(env, *args):
    result = subprocess.run([sys.executable, "-m", "movierec", *args], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_a_user_given_movies_by_the_exploration_is_shown_them(redis_url, tiny_data, tmp_path):
    env = dict(os.environ, REDIS_URL=redis_url, MOVIEREC_PREFIX=PREFIX,
               MOVIEREC_VAR_DIR=str(tmp_path), MOVIEREC_EXPLORATION_COVERAGE="0.6")
    movierec(env, "import", str(tiny_data))
    movierec(env, "train")
    client = redis.Redis.from_url(redis_url)
    models = ModelStore(client, Keys(PREFIX))
    version = models.active_version()
    bundle = models.load(version)
    exploration = bundle.estimators["exploration"]
    assert bundle.manifest["exploration"]["coverage_after"] >= 0.6
    movie_ids, user_ids = bundle.arrays["movie_ids"], bundle.arrays["user_ids"]
    given_to = [u for u in range(len(user_ids)) if len(exploration.for_user(u)[0])]
    assert given_to

    api = keyed(create_app(with_keys(Settings(redis_url=redis_url, key_prefix=PREFIX)))
                .test_client())
    for user in given_to[:5]:
        given, replaced = (movie_ids[m].tolist() for m in exploration.for_user(user))
        reply = api.get(f"/v1/users/{int(user_ids[user])}/recommendations?n=10")
        body = reply.get_json()
        assert reply.status_code == 200 and body["model_version"] == version
        shown = {item["movie_id"]: item for item in body["items"]}
        for movie, place in zip(given, replaced):
            assert movie in shown and place not in shown
            assert shown[movie]["reason"] == EXPLORED_REASON
            assert "because" not in shown[movie]
        # pages follow the explored list, with no repeat and no gap
        pages = [api.get(f"/v1/users/{int(user_ids[user])}/recommendations?n=5&offset={at}")
                 .get_json()["items"] for at in (0, 5)]
        assert [item["movie_id"] for page in pages for item in page] == \
            [item["movie_id"] for item in body["items"]]

    # a guest with the same ratings is served the list as ranked: exploration is per user
    user = given_to[0]
    given, replaced = (set(movie_ids[m].tolist()) for m in exploration.for_user(user))
    store = RatingStore(client, Keys(PREFIX))
    ratings = {str(m): r for m, (r, *_) in store.user_ratings(int(user_ids[user])).items()}
    mine = api.get(f"/v1/users/{int(user_ids[user])}/recommendations?n=10").get_json()["items"]
    guest = api.post("/v1/recommendations?n=10", json={"ratings": ratings}).get_json()["items"]
    assert EXPLORED_REASON not in [item["reason"] for item in guest]
    assert [item["movie_id"] for item in guest if item["movie_id"] not in replaced] == \
        [item["movie_id"] for item in mine if item["movie_id"] not in given]
