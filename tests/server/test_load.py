"""`tern serve` under load: concurrent requests in its 4 slots, and clients that leave
mid-stream."""

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from tern_server import MODEL, TernServer, http, metric, stopped_cleanly

# Prompts whose greedy answers are far from a near-tie: the batched kernels round
# differently from a lone decode (tern/batch_generate.h), enough to flip one ("A haiku
# about the sea:" gives "rises" alone at -t 2, "sets" at -t 1 or in a busy batch).
PROMPTS = ["Python is a programming language that", "The capital of Japan is", "1, 2, 3, 4, 5,",
           "Name three colors.", "The largest planet in the solar system is",
           "The chemical symbol for gold is", "def fibonacci(n):", "Monday, Tuesday, Wednesday,"]


def ask(client, i: int) -> tuple[str, str]:
    """Request i of a mixed set (chat or completion, streamed or not): (text, finish)."""
    prompt, n = PROMPTS[i % len(PROMPTS)], 12 + i % 8
    stream = i % 3 == 0
    if i % 2:
        r = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=n,
            temperature=0, stream=stream)
        if not stream:
            return r.choices[0].message.content, r.choices[0].finish_reason
        parts = [(c.choices[0].delta.content or "", c.choices[0].finish_reason) for c in r]
    else:
        r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=n, temperature=0,
                                      stream=stream)
        if not stream:
            return r.choices[0].text, r.choices[0].finish_reason
        parts = [(c.choices[0].text, c.choices[0].finish_reason) for c in r]
    return "".join(p for p, _ in parts), parts[-1][1]


def test_concurrent_greedy_answers_are_the_lone_ones(server, client):
    n_requests = 32
    alone = {i: ask(client, i) for i in range(24)}  # i and i + 24 ask the same
    before = metric(server.url, "requests_total")
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda i: ask(client, i), range(n_requests), timeout=90))
    assert time.monotonic() - start < 90
    assert all(finish in ("stop", "length") and text for text, finish in together)
    # Each answer is its own: the lone one, or (rarely) the lone one up to a near-tie that
    # the rounding of a busier batch flipped. A mixed-up answer differs from the start.
    differ = [(i, together[i], alone[i % 24]) for i in range(n_requests)
              if together[i] != alone[i % 24]]
    assert len(differ) <= n_requests // 8, differ
    for i, (text, _), (want, _) in differ:
        assert len(os.path.commonprefix([text, want])) >= 12, (i, text, want)
    assert metric(server.url, "requests_total") - before == n_requests
    assert http("GET", server.url + "/health")[0] == 200
    assert wait_idle(server.url, 2)


def wait_busy_slots(url: str, n: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if metric(url, "busy_slots") == n:
            return True
        time.sleep(0.05)
    return False


def wait_idle(url: str, seconds: float) -> bool:
    return wait_busy_slots(url, 0, seconds)


def counting_curls(url: str, n: int, max_tokens: int, stream: bool) -> list[subprocess.Popen]:
    """n curls asking for a count that goes on far longer than the tests wait: only
    cancellation ends it early."""
    body = json.dumps({"prompt": "1, 2, 3, 4, 5,", "max_tokens": max_tokens, "temperature": 0,
                       "stream": stream})
    return [subprocess.Popen(["curl", "-sSN", "-H", "Content-Type: application/json", "-d", body,
                              url + "/v1/completions"], stdout=subprocess.PIPE)
            for _ in range(n)]


def kill(curls: list[subprocess.Popen]):
    for c in curls:
        c.kill()
        c.wait()
        c.stdout.close()


def test_client_gone_mid_stream_frees_its_slot(server, client):
    max_tokens = 1000
    generated = metric(server.url, "completion_tokens_total")
    curls = counting_curls(server.url, 3, max_tokens, stream=True)
    for c in curls:
        assert c.stdout.readline().startswith(b"data: {")  # the first event came
    assert metric(server.url, "busy_slots") == 3
    kill(curls)
    assert wait_idle(server.url, 3), "the slots stayed busy after their clients left"
    assert metric(server.url, "completion_tokens_total") - generated < 3 * max_tokens
    assert ask(client, 0) == ask(client, 0)  # and the server goes on answering


def test_client_gone_while_waiting_for_a_whole_answer_frees_its_slot(server, client):
    curls = counting_curls(server.url, 2, 1000, stream=False)
    assert wait_busy_slots(server.url, 2, 5)
    kill(curls)
    assert wait_idle(server.url, 3), "the slots stayed busy after their clients left"
    assert ask(client, 1)[0]


def test_stream_closed_early_by_the_client(server, client):
    stream = client.completions.create(model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=1000,
                                       temperature=0, stream=True)
    next(iter(stream))
    stream.close()
    assert wait_idle(server.url, 3)


def test_shared_prompt_prefixes_are_copied_not_decoded_again(server, client):
    """n = 4 on a ~900-token prompt: the first choice decodes it (in two steps of -b 512), the
    other three start from a copy of its cache (they wait for all of it, not just its first
    piece) and decode only its last token; their greedy answers are the lone one. Then two requests with the same long system prompt and
    different questions: the second copies the first's system turn."""
    wait_idle(server.url, 10)
    story = " ".join(f"Fact {i}: the number {i} comes after {i - 1}." for i in range(1, 60))
    copied = metric(server.url, "copied_prefixes_total")
    decoded = metric(server.url, "prompt_tokens_total")
    # A prompt no slot holds any of: the first choice decodes it, the others wait for it.
    r = client.completions.create(model=MODEL, prompt="Counting. " + story + "\nFact 30:",
                                  max_tokens=8, temperature=0, n=4)
    lone = client.completions.create(model=MODEL, prompt="Counting. " + story + "\nFact 30:",
                                     max_tokens=8, temperature=0)
    assert [c.text for c in r.choices] == [lone.choices[0].text] * 4
    assert metric(server.url, "copied_prefixes_total") - copied == 3
    n_prompt = r.usage.prompt_tokens
    assert 512 < n_prompt < 1000
    # The four choices' prompt tokens decoded: all of the first, the last token of the
    # others; then the lone request's last token (its prompt is cached whole).
    assert metric(server.url, "prompt_tokens_total") - decoded == n_prompt + 3 + 1
    system = "You answer in one short sentence. " + story
    ask = lambda q: client.chat.completions.create(
        model=MODEL, max_tokens=6, temperature=0,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": q}])
    ask("What comes after 3?")
    copied = metric(server.url, "copied_prefixes_total")
    with ThreadPoolExecutor(2) as pool:  # fresh slots keep nothing of it: copies
        list(pool.map(ask, ["What comes after 7?", "What comes before 9?"]))
    assert metric(server.url, "copied_prefixes_total") - copied >= 1


def test_more_choices_than_the_queue_holds_is_400():
    """A request that can never fit --max-queue is refused for good (400), not 503."""
    s = TernServer("-np", "1", "-c", "64", "-t", "1", "--max-queue", "2")
    try:
        body = json.dumps({"prompt": "Hi", "max_tokens": 1, "n": 3}).encode()
        status, _, data = http("POST", s.url + "/v1/completions", body,
                               {"Content-Type": "application/json"})
        error = json.loads(data)["error"]
        assert status == 400 and error["code"] == "invalid_value" and "--max-queue" in error["message"]
        body = json.dumps({"prompt": "Hi", "max_tokens": 1, "n": 2}).encode()
        assert http("POST", s.url + "/v1/completions", body,
                    {"Content-Type": "application/json"})[0] == 200
    finally:
        stopped_cleanly(s)
