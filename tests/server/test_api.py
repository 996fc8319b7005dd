"""The OpenAI API of `tern serve` through the official `openai` client: answers, streaming,
stop strings, seeds, usage, finish reasons and errors, checked against `tern run` and
`tern tokenize` on the same model."""

import json
import subprocess

import openai
import pytest

from tern_server import MODEL, tern_cli

QUESTION = "What is the capital of France? Answer briefly."
PROMPT = "The three primary colors are"


def tern(*args: str) -> str:
    return subprocess.run([tern_cli(), *args], check=True, capture_output=True, text=True,
                          timeout=120).stdout


def tern_run(prompt: str, n: int, *flags: str) -> str:
    """The text `tern run` generates greedily (--json: exactly the generated part)."""
    out = tern("run", "-m", MODEL, "-p", prompt, "--temp", "0", "-n", str(n), "-t", "2",
               "--json", *flags)
    return json.loads(out)["text"]


def complete(client, prompt=PROMPT, **kw):
    kw.setdefault("max_tokens", 16)
    kw.setdefault("temperature", 0)
    return client.completions.create(model=MODEL, prompt=prompt, **kw)


def chat(client, content=QUESTION, **kw):
    kw.setdefault("max_tokens", 16)
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], **kw)


def stream_text(stream) -> tuple[str, list, object]:
    """(text, finish reasons of the chunks, usage of the usage chunk) of a stream."""
    text, finishes, usage = "", [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            piece = c.delta.content if hasattr(c, "delta") else c.text
            text += piece or ""
            finishes.append(c.finish_reason)
    return text, finishes, usage


def test_chat_matches_tern_run(client):
    r = chat(client, max_tokens=24)
    assert r.object == "chat.completion" and r.model == MODEL
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == tern_run(QUESTION, 24)
    assert "Paris" in r.choices[0].message.content


def test_completion_matches_tern_run(client):
    r = complete(client, max_tokens=20)
    assert r.object == "text_completion"
    assert r.choices[0].text == tern_run(PROMPT, 20, "--no-chat-template")


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_stream_equals_whole_answer(client, kind):
    ask = chat if kind == "chat" else complete
    whole = ask(client, max_tokens=20)
    text, finishes, usage = stream_text(
        ask(client, max_tokens=20, stream=True, stream_options={"include_usage": True}))
    choice = whole.choices[0]
    assert text == (choice.message.content if kind == "chat" else choice.text)
    # Only the last chunk of the choice has a finish reason, the whole answer's.
    assert finishes[-1] == choice.finish_reason
    assert all(f is None for f in finishes[:-1])
    assert usage.prompt_tokens == whole.usage.prompt_tokens
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # A token or more per content chunk (pieces of a UTF-8 character or a held-back stop
    # string wait for the next token).
    assert len([f for f in finishes if f is None]) <= usage.completion_tokens


def test_stream_without_usage_has_no_usage_chunk(client):
    chunks = list(complete(client, max_tokens=4, stream=True))
    assert chunks and all(c.usage is None and len(c.choices) == 1 for c in chunks)


def test_prompt_tokens_match_tern_tokenize(client):
    ids = tern("tokenize", "-m", MODEL, "-p", PROMPT, "--parse-special").split()
    assert complete(client, max_tokens=1).usage.prompt_tokens == len(ids)


def test_length_at_max_tokens(client):
    # Counting goes on far past 7 tokens.
    r = complete(client, prompt="1, 2, 3, 4, 5,", max_tokens=7)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 7
    # The newer name wins over max_tokens.
    r = chat(client, max_tokens=16, max_completion_tokens=3)
    assert r.usage.completion_tokens == 3 and r.choices[0].finish_reason == "length"


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_ends_the_answer_before_it(client, stream):
    full = complete(client, prompt="1, 2, 3, 4, 5,", max_tokens=24).choices[0].text
    assert " 9," in full, full
    kw = dict(prompt="1, 2, 3, 4, 5,", max_tokens=24, stop=["never there", " 9,"])
    if stream:
        text, finishes, _ = stream_text(complete(client, stream=True, **kw))
        finish = finishes[-1]
    else:
        r = complete(client, **kw)
        text, finish = r.choices[0].text, r.choices[0].finish_reason
    assert text == full[: full.index(" 9,")]
    assert finish == "stop"


def test_chat_stop_string(client):
    full = chat(client, max_tokens=24).choices[0].message.content
    word = full.split()[1]
    r = chat(client, max_tokens=24, stop=word)
    assert word not in r.choices[0].message.content
    assert r.choices[0].message.content == full[: full.index(word)]
    assert r.choices[0].finish_reason == "stop"


CAT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer"},
        "colors": {"type": "array", "items": {"enum": ["black", "white", "orange"]},
                   "minItems": 1, "maxItems": 3},
    },
    "required": ["name", "age", "colors"],
}


@pytest.mark.parametrize("temperature", [0, 0.8])
def test_json_schema_response_format_gives_valid_json(client, temperature):
    jsonschema = pytest.importorskip("jsonschema")
    fmt = {"type": "json_schema", "json_schema": {"name": "cat", "schema": CAT_SCHEMA}}
    r = chat(client, content="Describe a cat as JSON.", max_tokens=80, seed=3,
             temperature=temperature, response_format=fmt)
    assert r.choices[0].finish_reason == "stop"
    value = json.loads(r.choices[0].message.content)
    jsonschema.validate(value, CAT_SCHEMA)
    assert list(value) == ["name", "age", "colors"]  # the schema's order


def test_json_object_response_format_gives_an_object(client):
    r = chat(client, content="Describe a dog as JSON.", max_tokens=60,
             response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    else:  # cut at max_tokens: still the start of an object
        assert r.choices[0].message.content.lstrip().startswith("{")


def test_unsupported_schema_keyword_is_400(client):
    fmt = {"type": "json_schema", "json_schema": {"schema": {"type": "string", "format": "date"}}}
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, response_format=fmt)
    assert "format" in str(e.value)


def test_seed_reproduces_sampling(client):
    ask = dict(prompt="Once upon a time", max_tokens=24, temperature=0.8, top_p=0.95)
    a = complete(client, seed=1234, **ask).choices[0].text
    b = complete(client, seed=1234, **ask).choices[0].text
    assert a == b
    streamed, _, _ = stream_text(complete(client, seed=1234, stream=True, **ask))
    assert streamed == a


def test_sampling_fields_are_accepted(client):
    r = chat(client, temperature=0.7, top_p=0.9, seed=7, presence_penalty=0.5,
             frequency_penalty=0.5, extra_body={"top_k": 40, "min_p": 0.05}, max_tokens=8)
    assert r.usage.completion_tokens <= 8
    assert r.choices[0].finish_reason in ("stop", "length")


def test_logit_bias_matches_tern_run(client):
    """A +100 bias makes a token every answer's every token, as `tern run --logit-bias` does;
    -100 on the greedy answer's first token changes how it starts."""
    banana = int(tern("tokenize", "-m", MODEL, "--no-bos", "-p", " banana").split()[0])
    r = complete(client, max_tokens=4, logit_bias={str(banana): 100})
    assert r.choices[0].text == " banana" * 4
    assert r.choices[0].text == tern_run(PROMPT, 4, "--no-chat-template",
                                         "--logit-bias", f"{banana}+100")
    plain = complete(client, max_tokens=4).choices[0].text
    first = int(tern("tokenize", "-m", MODEL, "--no-bos", "-p", plain).split()[0])
    banned = complete(client, max_tokens=4, logit_bias={str(first): -100}).choices[0].text
    assert banned != plain
    assert banned == tern_run(PROMPT, 4, "--no-chat-template", "--logit-bias", f"{first}-100")


@pytest.mark.parametrize("bias, needle", [
    ({"abc": 1}, "token ids"),
    ({"-3": 1}, "token ids"),
    ({"5": 101}, "[-100, 100]"),
    ({"5": "up"}, "[-100, 100]"),
    ({"1000000": 1}, "outside the vocabulary"),
])
def test_bad_logit_bias_is_400(client, bias, needle):
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, logit_bias=bias)
    assert error_code(e.value) == "invalid_value"
    assert needle in e.value.response.json()["error"]["message"]


def test_models_lists_the_model(client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]


def error_code(e: openai.APIStatusError) -> str:
    return e.response.json()["error"]["code"]


def test_wrong_type_is_400(client):
    with pytest.raises(openai.BadRequestError) as e:
        complete(client, max_tokens="ten")
    assert error_code(e.value) == "invalid_type"
    with pytest.raises(openai.BadRequestError):
        chat(client, extra_body={"temperature": "hot"})


def test_prompt_past_the_context_is_400(client):
    with pytest.raises(openai.BadRequestError) as e:
        complete(client, prompt="hello " * 1500)
    assert error_code(e.value) == "context_length_exceeded"


def test_n_choices(client):
    """n greedy choices are the one greedy answer; n sampled ones with a seed differ (choice k
    samples with seed + k). Not compared with single requests of those seeds: a batch of
    several sequences can take other kernels than one (float sums in another order), which
    sampling at temperature 0.9 may turn into other text."""
    greedy = chat(client, n=2)
    assert [c.message.content for c in greedy.choices] == [chat(client).choices[0].message.content] * 2
    ask = dict(content="Tell me a joke.", max_tokens=12, temperature=0.9, seed=5)
    r = chat(client, n=3, **ask)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) > 1
    one = chat(client, content=ask["content"], max_tokens=1)
    assert r.usage.prompt_tokens == one.usage.prompt_tokens  # the prompt counted once
    lengths = sum(c.finish_reason == "length" for c in r.choices)
    assert 12 * lengths <= r.usage.completion_tokens <= 36
    streamed, finishes = {}, {}
    for chunk in chat(client, n=3, stream=True, **ask):
        for c in chunk.choices:
            streamed[c.index] = streamed.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                finishes[c.index] = c.finish_reason
    assert sorted(streamed) == [0, 1, 2] and all(streamed.values())
    assert finishes == {0: "length", 1: "length", 2: "length"}


def test_prompt_batches_and_token_prompts(client):
    prompts = [PROMPT, "Once upon a time"]
    r = complete(client, prompt=prompts, n=2, max_tokens=8)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    singles = [complete(client, prompt=p, max_tokens=8) for p in prompts]
    assert [c.text for c in r.choices] == [s.choices[0].text for s in singles for _ in range(2)]
    assert r.usage.prompt_tokens == sum(s.usage.prompt_tokens for s in singles)
    ids = [int(t) for t in tern("tokenize", "-m", MODEL, "--no-bos", "-p", PROMPT).split()]
    by_ids = complete(client, prompt=ids, max_tokens=8)
    assert by_ids.choices[0].text == singles[0].choices[0].text
    assert by_ids.usage.prompt_tokens == len(ids)
    two = complete(client, prompt=[ids, ids[:2]], max_tokens=4)
    assert len(two.choices) == 2 and two.usage.prompt_tokens == len(ids) + 2


@pytest.mark.parametrize("body, needle", [
    (dict(n=65), "'n' must be in [1, 64]"),
    (dict(prompt=["a"] * 9, n=8), "more than 64 choices"),
    (dict(prompt=[]), "empty array"),
    (dict(prompt=[1, "a"]), "token ids"),
    (dict(prompt=[10 ** 9]), "outside the vocabulary"),
    (dict(prompt=["a", ""]), "a text is empty"),
])
def test_bad_choices_and_prompts_are_400(client, body, needle):
    with pytest.raises(openai.BadRequestError) as e:
        complete(client, **body)
    assert needle in e.value.response.json()["error"]["message"]


def test_too_many_stops_is_400(client):
    with pytest.raises(openai.BadRequestError):
        complete(client, stop=["a", "b", "c", "d", "e"])


def test_models_retrieve_gives_the_model_or_404(client):
    m = client.models.retrieve(MODEL)
    assert m.id == MODEL and m.object == "model"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("gpt-4o")
    assert error_code(e.value) == "model_not_found"


def test_unknown_route_is_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.files.list()  # GET /v1/files is not served
    assert error_code(e.value) == "not_found"
