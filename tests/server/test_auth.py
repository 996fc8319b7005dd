"""`tern serve --api-key`: /v1 routes want "Authorization: Bearer KEY"; /health does not."""

import json

import openai
import pytest

from tern_server import MODEL, TernServer, http, make_client, stopped_cleanly

KEY = "sk-tern-test"


@pytest.fixture(scope="module")
def keyed():
    s = TernServer("-np", "1", "-c", "256", "-t", "1", "--api-key", KEY)
    yield s
    stopped_cleanly(s)


def test_wrong_key_is_401(keyed):
    with make_client(keyed.url, "sk-wrong") as client:
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        with pytest.raises(openai.AuthenticationError):
            client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)


def test_missing_key_is_401(keyed):
    status, _, body = http("POST", keyed.url + "/v1/chat/completions",
                           b'{"messages": [{"role": "user", "content": "Hi"}]}',
                           {"Content-Type": "application/json"})
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"


def test_right_key_works(keyed):
    with make_client(keyed.url, KEY) as client:
        r = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        assert r.choices[0].message.content
        assert [m.id for m in client.models.list().data] == [MODEL]


def test_health_needs_no_key(keyed):
    assert http("GET", keyed.url + "/health")[0] == 200


def test_browsers_may_call_from_other_origins(keyed):
    """CORS: a preflight OPTIONS (which carries no key) gets 204 with what the API takes, and
    every answer, errors and streams included, names the allowed origin (any, by default)."""
    status, headers, body = http("OPTIONS", keyed.url + "/v1/chat/completions", headers={
        "Origin": "http://example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    status, headers, _ = http("POST", keyed.url + "/v1/completions",
                              b'{"prompt": "Hi", "max_tokens": 2, "stream": true}',
                              {"Content-Type": "application/json",
                               "Authorization": f"Bearer {KEY}"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    status, headers, _ = http("GET", keyed.url + "/v1/models")  # no key: 401, still named
    assert status == 401 and headers["Access-Control-Allow-Origin"] == "*"


def test_cors_origin_flag_names_one_origin_or_none():
    for origin, want in (("https://app.example", "https://app.example"), ("", None)):
        s = TernServer("-np", "1", "-c", "64", "-t", "1", "--cors-origin", origin)
        try:
            status, headers, _ = http("GET", s.url + "/health")
            assert status == 200 and headers.get("Access-Control-Allow-Origin") == want
            status, _, _ = http("OPTIONS", s.url + "/v1/completions")
            assert status == (204 if want else 405)
        finally:
            stopped_cleanly(s)
