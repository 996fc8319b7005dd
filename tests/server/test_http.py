"""`tern serve` at the HTTP level: Server-Sent Events framing and error statuses as curl sees
them, and a bounded fuzz of request bodies."""

import json
import random
import re
import subprocess
import time

import pytest

from tern_server import MODEL, TernServer, http, stopped_cleanly


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout, check=True)


def post_curl(url: str, body: str, *args: str) -> tuple[int, str, str]:
    """(status, content type, body) of a POST by curl."""
    out = curl("-o", "-", "-w", "\n%{http_code} %{content_type}", "-H",
               "Content-Type: application/json", "--data-binary", body, *args, url).stdout.decode()
    body, _, tail = out.rpartition("\n")
    status, _, ctype = tail.partition(" ")
    return int(status), ctype, body


SSE = re.compile(r"(data: \{[^\n]*\}\n\n)+data: \[DONE\]\n\n")


def events(body: str) -> list[dict]:
    assert SSE.fullmatch(body), repr(body)
    return [json.loads(e[len("data: "):]) for e in body.split("\n\n")[:-2]]


def test_sse_framing_of_chat(server):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
                       "max_tokens": 8, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    status, ctype, text = post_curl(server.url + "/v1/chat/completions", body, "-N")
    assert status == 200 and ctype.startswith("text/event-stream")
    chunks = events(text)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    *content, last, usage = chunks
    assert all(c["choices"][0]["finish_reason"] is None for c in content)
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] <= 8


def test_sse_framing_of_completion(server):
    body = json.dumps({"prompt": "Hello", "max_tokens": 4, "temperature": 0, "stream": True})
    status, ctype, text = post_curl(server.url + "/v1/completions", body, "-N")
    assert status == 200 and ctype.startswith("text/event-stream")
    chunks = events(text)
    assert all(c["object"] == "text_completion" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def check_error(status: int, ctype: str, body: str, want_status: int, want_code: str):
    assert status == want_status, body
    assert ctype.startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] == want_code and error["message"] and error["type"]


def test_error_statuses(server):
    url = server.url + "/v1/completions"
    check_error(*post_curl(url, "{not json"), 400, "invalid_json")
    check_error(*post_curl(url, "[1, 2]"), 400, "invalid_json")
    check_error(*post_curl(url, "{}"), 400, "missing_field")
    check_error(*post_curl(url, '{"prompt": 5}'), 400, "invalid_type")
    check_error(*post_curl(url, '{"prompt": "x", "temperature": 9}'), 400, "invalid_value")
    check_error(*post_curl(url, '{"prompt": "x", "n": 65}'), 400, "invalid_value")
    check_error(*post_curl(server.url + "/v1/nowhere", "{}"), 404, "not_found")
    status, headers, body = http("GET", url)
    check_error(status, headers["Content-Type"], body.decode(), 405, "method_not_allowed")
    assert headers["Allow"] == "POST"
    status, headers, _ = http("DELETE", server.url + "/health")
    assert status == 405 and headers["Allow"] == "GET"
    big = json.dumps({"prompt": "x" * (1 << 21)})  # past the 1 MiB body limit
    status, _, body = http("POST", url, big.encode(), {"Content-Type": "application/json"})
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"


def test_health_and_metrics(server):
    status, headers, body = http("GET", server.url + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, headers, body = http("GET", server.url + "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    for name in ("requests_total", "busy_slots", "slots", "kv_cache_positions"):
        assert re.search(rf"^# TYPE tern_{name} \w+\ntern_{name} \S+$", text, re.M), name
    assert re.search(r"^tern_slots 4$", text, re.M)


# Fuzz: valid bodies with fields replaced by values of every JSON type, then byte-level
# mutations, on a server of its own whose --max-tokens keeps every answer short.
VALUES = [None, True, False, 0, 1, 2, -1, 3.5, -0.0, 1e308, 2**63, -(2**63), 2**64, "",
          "x", "\u00e9\u4e2d", "\ud83d\ude00", [], [1], ["a", "b"], ["a"] * 5, {}, {"a": 1},
          {"include_usage": True}, {"include_usage": "yes"}, {"5": 100}, {"5": -100, "7": 3},
          {"-1": 1}, [[1, 2], [3]], [5, 6, 7], [[]], [1, "a"]]
FIELDS = ["prompt", "messages", "model", "n", "max_tokens", "max_completion_tokens",
          "temperature", "top_p", "top_k", "min_p", "seed", "stop", "presence_penalty",
          "frequency_penalty", "stream", "stream_options", "user", "logprobs", "top_logprobs",
          "echo", "logit_bias"]


@pytest.fixture(scope="module")
def fuzz_server():
    s = TernServer("-np", "2", "-c", "256", "-t", "2", "--max-tokens", "4")
    yield s
    stopped_cleanly(s)


def fuzz_body(rng: random.Random, chat: bool) -> bytes:
    body: dict = {"max_tokens": rng.choice([1, 2]), "temperature": rng.choice([0, 0.7]),
                  "stream": rng.random() < 0.5}
    if chat:
        body["messages"] = [{"role": rng.choice(["user", "system", "assistant", "tool", "x"]),
                             "content": rng.choice(["Hi", "", [{"type": "text", "text": "a"}]])}]
    else:
        body["prompt"] = rng.choice(["Hi", "", " ", "<|im_start|>", "\u00e9" * 10, ["a"]])
    for _ in range(rng.randint(0, 3)):
        body[rng.choice(FIELDS)] = rng.choice(VALUES)
    if chat and rng.random() < 0.2:
        body["messages"] = rng.choice(VALUES + [[{"role": "user"}], [{"content": "x"}],
                                                [{"role": 1, "content": "x"}], ["x"]])
    data = json.dumps(body).encode()
    # Byte mutations: deletes, replacements, a cut.
    b = bytearray(data)
    for _ in range(rng.choice([0, 0, 1, 2])):
        i = rng.randrange(len(b))
        if rng.random() < 0.5:
            del b[i]
        else:
            b[i] = rng.choice(b'{}[]",:\\ x\x00\xff')
    if rng.random() < 0.1:
        b = b[: rng.randrange(len(b) + 1)]
    return bytes(b)


def test_fuzzed_bodies_get_200_or_a_json_4xx(fuzz_server):
    rng = random.Random(20261205)
    deadline = time.monotonic() + 60
    statuses: dict[int, int] = {}
    for i in range(300):
        assert time.monotonic() < deadline, f"fuzz too slow: {i} bodies in 60 s"
        chat = rng.random() < 0.5
        body = fuzz_body(rng, chat)
        route = "/v1/chat/completions" if chat else "/v1/completions"
        status, headers, answer = http("POST", fuzz_server.url + route, body,
                                       {"Content-Type": "application/json"}, timeout=30)
        statuses[status] = statuses.get(status, 0) + 1
        assert status == 200 or 400 <= status < 500, (status, body, answer)
        if status != 200:
            assert "code" in json.loads(answer)["error"], (body, answer)
        elif headers["Content-Type"].startswith("text/event-stream"):
            assert events(answer.decode())[-1]["choices"] is not None
        else:
            assert json.loads(answer)["choices"][0]["finish_reason"], (body, answer)
        assert fuzz_server.alive(), "".join(fuzz_server.stderr)
    assert statuses.get(200, 0) > 20 and statuses.get(400, 0) > 20, statuses
    assert http("GET", fuzz_server.url + "/health")[0] == 200
