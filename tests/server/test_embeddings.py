"""POST /v1/embeddings through the official `openai` client (which asks for base64 by
default) and raw requests: the vectors equal `tern embed`'s, one per input in order, with
usage; every kind of bad input is a 400 with OpenAI's error body."""

import json
import subprocess

import numpy as np
import openai
import pytest

from tern_server import MODEL, TernServer, have_model, http, stopped_cleanly, tern_cli

TEXTS = ["The cat sat on the mat.", "A kitten rested on the rug.", "Stock markets fell today."]


def tern_embed(text: str, model: str = MODEL) -> np.ndarray:
    out = subprocess.run([tern_cli(), "embed", "-m", model, "-p", text, "-t", "2"], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return np.array([float(x) for x in out.split()])


def post(server, body: dict):
    """(status, parsed JSON body) of a POST /v1/embeddings."""
    status, _, data = http("POST", server.url + "/v1/embeddings", json.dumps(body).encode(),
                           {"Content-Type": "application/json"})
    return status, json.loads(data)


def test_vectors_equal_tern_embed(client):
    r = client.embeddings.create(model=MODEL, input=TEXTS)
    assert [d.index for d in r.data] == [0, 1, 2]
    vectors = [np.array(d.embedding) for d in r.data]
    for text, v in zip(TEXTS, vectors):
        assert abs(np.linalg.norm(v) - 1.0) < 1e-5
        assert np.abs(v - tern_embed(text)).max() < 1e-5  # the CLI prints 6 decimals
    # Meaning, roughly: the two sentences about a resting cat are nearer each other.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert r.usage.prompt_tokens == r.usage.total_tokens > 0


def test_short_and_long_inputs_together(server):
    """Inputs of up to a micro-batch (512 tokens) are read several at a time, longer ones
    alone: each vector is the one `tern embed` gives that text, in the request's order."""
    long_text = "The river ran past the old mill and on to the sea. " * 50  # ~600 tokens
    texts = [TEXTS[0], long_text, TEXTS[2], TEXTS[1]]
    _, answer = post(server, {"input": texts, "encoding_format": "float"})
    assert [d["index"] for d in answer["data"]] == [0, 1, 2, 3]
    for text, d in zip(texts, answer["data"]):
        assert np.abs(np.array(d["embedding"]) - tern_embed(text)).max() < 1e-5


def test_raw_float_and_token_inputs(server):
    _, floats = post(server, {"input": TEXTS[0], "encoding_format": "float"})
    vector = np.array(floats["data"][0]["embedding"])
    ids = subprocess.run([tern_cli(), "tokenize", "-m", MODEL, "-p", TEXTS[0]], check=True,
                         capture_output=True, text=True).stdout.split()
    _, by_ids = post(server, {"input": [int(i) for i in ids]})
    assert np.array_equal(np.array(by_ids["data"][0]["embedding"]), vector)
    _, two = post(server, {"input": [[int(i) for i in ids], [int(ids[0])]]})
    assert len(two["data"]) == 2 and two["usage"]["prompt_tokens"] == len(ids) + 1


@pytest.mark.parametrize("body,needle", [
    ({}, "input is missing"),
    ({"input": ""}, "empty"),
    ({"input": []}, "empty array"),
    ({"input": [1, "a"]}, "token ids"),
    ({"input": [-1]}, "token ids"),
    ({"input": [10 ** 9]}, "outside the vocabulary"),
    ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "x", "dimensions": 7}, "dimensions"),
    ({"input": ["x"] * 2049}, "at most 2048"),
    ({"input": "word " * 1100}, "the context holds"),
])
def test_bad_requests_are_400(server, body, needle):
    status, answer = post(server, body)
    assert status == 400, answer
    assert needle in answer["error"]["message"]


def test_openai_client_error(client):
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=MODEL, input="x", dimensions=3)


def test_get_is_405(server):
    status, _, data = http("GET", server.url + "/v1/embeddings")
    assert status == 405 and json.loads(data)["error"]["code"] == "method_not_allowed"


ENCODER = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def encoder_server():
    """An encoder alone: tern serve runs no generation engine for it."""
    if not have_model(ENCODER):
        pytest.skip(f"{ENCODER} absent (scripts/pull {ENCODER})")
    s = TernServer("-t", "2", model=ENCODER)
    yield s
    stopped_cleanly(s)


def test_an_encoder_serves_embeddings_only(encoder_server):
    status, r = post(encoder_server, {"input": TEXTS})
    assert status == 200 and [d["index"] for d in r["data"]] == [0, 1, 2]
    for text, d in zip(TEXTS, r["data"]):
        assert np.abs(np.array(d["embedding"]) - tern_embed(text, ENCODER)).max() < 1e-5
    status, r = post(encoder_server, {"input": "word " * 600})  # past its 512 positions
    assert status == 400 and "the context holds 512" in r["error"]["message"]
    for route in ("/v1/completions", "/v1/chat/completions"):
        status, _, data = http("POST", encoder_server.url + route,
                               json.dumps({"prompt": "Hi", "messages": []}).encode(),
                               {"Content-Type": "application/json"})
        error = json.loads(data)["error"]
        assert status == 400 and error["code"] == "model_not_supported", error
    status, _, data = http("GET", encoder_server.url + "/health")
    assert status == 200 and json.loads(data) == {"status": "ok"}
