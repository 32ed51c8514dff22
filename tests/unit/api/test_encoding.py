"""JSON out (api/encoding.py): orjson's bytes read back as the standard library's would."""
import json

from flask import Flask, jsonify

from api.encoding import FastJSONProvider, encode


def test_a_body_is_compact_utf8_in_insertion_order_and_reads_back_unchanged():
    body = {"user_id": 7, "items": [{"movie_id": 2, "title": "Amélie", "score": 0.4736,
                                     "because": None}], "a": [1.5, True]}
    encoded = encode(body)
    assert encoded.startswith(b'{"user_id":7,"items":[{"movie_id":2,"title":"Am\xc3\xa9lie"')
    assert json.loads(encoded) == body
    assert list(json.loads(encoded)) == ["user_id", "items", "a"]


def test_what_orjson_refuses_is_still_encoded():
    assert json.loads(encode({"reason": "bad \ud800"})) == {"reason": "bad \ud800"}
    assert json.loads(encode({"n": 2 ** 70})) == {"n": 2 ** 70}
    assert json.loads(encode({3: "three"})) == {"3": "three"}  # as the stdlib names keys


def test_jsonify_goes_through_it():
    app = Flask(__name__)
    app.json = FastJSONProvider(app)
    with app.app_context():
        response = jsonify(title="Amélie", user_id=1)
    assert response.mimetype == "application/json"
    assert response.get_data() == '{"title":"Amélie","user_id":1}\n'.encode()
