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
