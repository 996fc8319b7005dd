"""Log-probabilities in responses (chat `logprobs`/`top_logprobs`, completions `logprobs`),
through the official `openai` client, whole and streamed: greedy answers pick the most
likely token, so each token heads its alternatives; the tokens spell the answer."""

import math

import openai
import pytest

from tern_server import MODEL

QUESTION = "What is the capital of France? Answer briefly."


def check_greedy(token, logprob, top, n_top):
    assert logprob <= 0.0
    assert len(top) == n_top
    assert top[0][0] == token and math.isclose(top[0][1], logprob, abs_tol=1e-6)
    assert all(a[1] >= b[1] for a, b in zip(top, top[1:]))


def test_chat_logprobs(client):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=12,
        temperature=0, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert bytes(t.bytes).decode("utf-8", "replace") == t.token
        check_greedy(t.token, t.logprob, [(a.token, a.logprob) for a in t.top_logprobs], 3)


def test_chat_streamed_logprobs_equal_whole(client):
    kw = dict(model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=12,
              temperature=0, logprobs=True, top_logprobs=2)
    whole = client.chat.completions.create(**kw).choices[0].logprobs.content
    streamed = []
    for chunk in client.chat.completions.create(stream=True, **kw):
        if chunk.choices and chunk.choices[0].logprobs:
            streamed += chunk.choices[0].logprobs.content or []
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in whole]


def test_completion_logprobs(client):
    r = client.completions.create(model=MODEL, prompt="The three primary colors are",
                                  max_tokens=8, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    assert "".join(lp.tokens) == r.choices[0].text
    assert len(lp.token_logprobs) == len(lp.tokens) == len(lp.top_logprobs) == 8
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        check_greedy(token, logprob, sorted(top.items(), key=lambda kv: -kv[1]), 2)


def test_without_logprobs_they_are_null(client):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=4)
    assert r.choices[0].logprobs is None


@pytest.mark.parametrize("kw,needle", [
    (dict(top_logprobs=2), "top_logprobs needs logprobs"),
    (dict(logprobs=True, top_logprobs=21), "top_logprobs"),
])
def test_bad_logprobs_are_400(client, kw, needle):
    with pytest.raises(openai.BadRequestError, match=needle):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": QUESTION}], max_tokens=4, **kw)
