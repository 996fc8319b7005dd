"""Log-probabilities in responses (chat `logprobs`/`top_logprobs`, completions `logprobs`),
through the official `openai` client, whole and streamed: greedy answers pick the most
likely token, so each token heads its alternatives; the tokens spell the answer."""

import math
import subprocess

import numpy as np
import openai
import pytest

from tern_server import MODEL, tern_cli

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


def prompt_logprobs_from_tern_logits(ids: list[int], tmp_path) -> list[float]:
    """log p(ids[i + 1] | ids[..i]) from `tern logits` (the same tokens, an F16 cache as the
    server's)."""
    out = tmp_path / "logits.f32"
    subprocess.run([tern_cli(), "logits", "-m", MODEL, "--tokens", " ".join(map(str, ids)),
                    "-o", str(out), "-t", "2", "--kv-type", "f16"], check=True, capture_output=True,
                   timeout=120)
    rows = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1).astype(np.float64)
    rows -= rows.max(axis=1, keepdims=True)
    log_probs = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
    return [float(log_probs[i, ids[i + 1]]) for i in range(len(ids) - 1)]


def test_echo_reports_the_prompt_tokens_log_probabilities(client, tmp_path):
    """echo: the text and the legacy logprobs begin with the prompt; its first token has
    none (null), the others the log-softmax of the row before them, as `tern logits` gives."""
    prompt = "The capital of France is"
    ids = [int(t) for t in subprocess.run(
        [tern_cli(), "tokenize", "-m", MODEL, "--no-bos", "-p", prompt], check=True,
        capture_output=True, text=True, timeout=60).stdout.split()]
    r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=3, temperature=0,
                                  echo=True, logprobs=2)
    choice = r.choices[0]
    generated = client.completions.create(model=MODEL, prompt=prompt, max_tokens=3,
                                          temperature=0).choices[0].text
    assert choice.text == prompt + generated
    lp = choice.logprobs
    assert len(lp.tokens) == len(ids) + 3 and "".join(lp.tokens) == choice.text
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    expected = prompt_logprobs_from_tern_logits(ids, tmp_path)
    for got, want in zip(lp.token_logprobs[1:len(ids)], expected):
        assert math.isclose(got, want, abs_tol=1e-3), (got, want)
    for top in lp.top_logprobs[1:]:
        assert len(top) == 2
    # Token ids and max_tokens 0: the prompt alone, as lm-evaluation-harness asks for it.
    only = client.completions.create(model=MODEL, prompt=ids, max_tokens=0, echo=True,
                                     logprobs=1)
    assert only.choices[0].text == prompt and only.choices[0].finish_reason == "length"
    assert only.usage.completion_tokens == 0 and only.usage.prompt_tokens == len(ids)
    assert only.choices[0].logprobs.token_logprobs[1:] == pytest.approx(expected, abs=1e-3)
    streamed = client.completions.create(model=MODEL, prompt=prompt, max_tokens=3,
                                         temperature=0, echo=True, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == choice.text


def test_max_tokens_0_needs_echo(client):
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=0)
