"""Conformance of `dokpa serve` with the OpenAI API, driven by the official `openai` client over HTTP.

One real server process on 127.0.0.1 serves a tiny model for the whole module. Checked: streamed text
equals non-streamed text for the same seed; usage counts are exact (prompt tokens from the tokenizer,
completion tokens from an offline greedy run); n=3 with a seed gives three choices in order, the same on
every call; stop strings end with finish_reason "stop" and are not in the text; logprobs; wrong key ->
401, bad field -> 400 naming the field, unknown model -> 404, and the server keeps serving after each.
"""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from dokpa.serve.chat import load_chat_model
from dokpa.serve.generate import generate
from dokpa.serve.launch import default_model_name
from dokpa.serve.sampling import SamplingParams
from serve_helpers import running_server, tiny_model_folder

KEY = "sk-dokpa-test"
QUESTION = [{"role": "user", "content": "대한민국의 수도는 어디인가요?"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> object:
    return tiny_model_folder(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def server(model_dir) -> object:
    with running_server(model_dir, "--api-key", KEY, "--api-key", "sk-second", "--max-batch", "4") as url:
        yield url


@pytest.fixture(scope="module")
def client(server) -> OpenAI:
    return OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def model_name(client) -> str:
    (model,) = client.models.list().data
    return model.id


def stream_text(stream) -> tuple[dict[int, str], dict[int, str | None], object]:
    """Concatenated text and finish reason per choice index, and the last chunk."""
    texts: dict[int, str] = {}
    reasons: dict[int, str | None] = {}
    last = None
    for chunk in stream:
        last = chunk
        for c in chunk.choices:
            delta = c.delta.content if hasattr(c, "delta") else c.text
            texts[c.index] = texts.get(c.index, "") + (delta or "")
            if c.finish_reason:
                reasons[c.index] = c.finish_reason
    return texts, reasons, last


def test_models_and_health(server, client, model_name, model_dir) -> None:
    assert model_name == default_model_name(model_dir)
    assert httpx.get(server + "/health").json() == {"status": "ok"}
    assert client.models.list().data[0].id == model_name
    # a second key works too
    other = OpenAI(base_url=server + "/v1", api_key="sk-second", max_retries=0)
    assert other.models.list().data[0].id == model_name


def test_streamed_equals_non_streamed_for_a_seed(client, model_name) -> None:
    kwargs = dict(model=model_name, messages=QUESTION, temperature=0.9, top_p=0.95, seed=11, max_tokens=40)
    full = client.chat.completions.create(**kwargs)
    texts, reasons, _ = stream_text(client.chat.completions.create(**kwargs, stream=True))
    assert texts[0] == full.choices[0].message.content and texts[0]
    assert reasons[0] == full.choices[0].finish_reason
    # the same for the completions endpoint
    ckw = dict(model=model_name, prompt="대한민국 헌법 제1조", temperature=0.9, seed=5, max_tokens=30)
    full_c = client.completions.create(**ckw)
    texts_c, _, _ = stream_text(client.completions.create(**ckw, stream=True))
    assert texts_c[0] == full_c.choices[0].text and texts_c[0]


def test_usage_is_exact(client, model_name, model_dir) -> None:
    model, tok = load_chat_model(model_dir)
    prompt = tok.encode_chat(QUESTION, add_generation_prompt=True)
    r = client.chat.completions.create(model=model_name, messages=QUESTION, temperature=0, max_tokens=25)
    # an offline greedy run gives the same tokens; a stop by EOS/END counts that token, as vLLM does
    ids = list(
        generate(model, prompt, SamplingParams(temperature=0, max_new_tokens=25), {tok.eos_id, tok.end_id})
    )
    assert r.choices[0].message.content == tok.decode(ids)
    expected = len(ids) + (r.choices[0].finish_reason == "stop")
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (len(prompt), expected)
    assert r.usage.total_tokens == len(prompt) + expected
    # streamed usage (stream_options.include_usage): the last chunk, with no choices
    _, _, last = stream_text(
        client.chat.completions.create(
            model=model_name, messages=QUESTION, temperature=0, max_tokens=25, stream=True,
            stream_options={"include_usage": True},
        )
    )  # fmt: skip
    assert last.choices == [] and last.usage.model_dump() == r.usage.model_dump()
    # completions: prompt with BOS, max_tokens reached -> finish_reason "length"
    c = client.completions.create(model=model_name, prompt="헌법", max_tokens=7, temperature=1.0, seed=3)
    assert c.usage.prompt_tokens == len(tok.encode("헌법", bos=True))
    assert c.choices[0].finish_reason in ("length", "stop")
    if c.choices[0].finish_reason == "length":
        assert c.usage.completion_tokens == 7


def test_n_choices_with_a_seed_are_ordered_and_reproducible(client, model_name) -> None:
    kwargs = dict(model=model_name, messages=QUESTION, n=3, seed=123, temperature=1.0, max_tokens=20)
    first = client.chat.completions.create(**kwargs)
    again = client.chat.completions.create(**kwargs)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert [c.message.content for c in first.choices] == [c.message.content for c in again.choices]
    assert len({c.message.content for c in first.choices}) > 1  # three different samples
    streamed, _, _ = stream_text(client.chat.completions.create(**kwargs, stream=True))
    assert [streamed[i] for i in range(3)] == [c.message.content for c in first.choices]
    assert (
        first.usage.prompt_tokens
        == client.chat.completions.create(
            model=model_name, messages=QUESTION, max_tokens=1
        ).usage.prompt_tokens
    )  # the prompt counts once, whatever n


def test_stop_strings_end_the_text(client, model_name) -> None:
    base = dict(model=model_name, prompt="대한민국은 민주공화국이다.", temperature=0, max_tokens=40)
    free = client.completions.create(**base).choices[0].text
    assert len(free) > 6
    stop = free[3:5]  # a string the greedy answer certainly produces, possibly across tokens
    stopped = client.completions.create(**base, stop=[stop, "없는문자열"])
    choice = stopped.choices[0]
    assert choice.finish_reason == "stop"
    assert stop not in choice.text and free.startswith(choice.text)
    assert choice.text == free[: free.index(stop)]
    texts, reasons, _ = stream_text(client.completions.create(**base, stop=stop, stream=True))
    assert texts[0] == choice.text and reasons[0] == "stop"


def test_logprobs(client, model_name) -> None:
    r = client.chat.completions.create(
        model=model_name, messages=QUESTION, temperature=0, max_tokens=10, logprobs=True, top_logprobs=3
    )
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for item in content:
        assert item.logprob <= 0 and len(item.top_logprobs) == 3
        # greedy: the chosen token is the most likely one
        assert item.logprob == pytest.approx(item.top_logprobs[0].logprob, abs=1e-5)
    c = client.completions.create(model=model_name, prompt="헌법", max_tokens=5, temperature=0, logprobs=2)
    lp = c.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == c.usage.completion_tokens


def test_errors_are_openai_shaped_and_the_server_keeps_serving(server, client, model_name) -> None:
    bad_key = OpenAI(base_url=server + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad_key.chat.completions.create(model=model_name, messages=QUESTION)
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
    no_key = httpx.post(server + "/v1/chat/completions", json={"model": model_name, "messages": QUESTION})
    assert no_key.status_code == 401 and "error" in no_key.json()

    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=QUESTION, temperature=7)
    assert e.value.status_code == 400 and e.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=[{"role": "robot", "content": "x"}])
    assert e.value.param.startswith("messages")
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=QUESTION, max_tokens=10**6)
    assert e.value.param == "max_tokens" and e.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model_name, messages=QUESTION, stop=["a", "b", "c", "d", "e"])
    assert e.value.param == "stop"
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-9", messages=QUESTION)
    assert e.value.param == "model"
    raw = httpx.post(
        server + "/v1/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"

    ok = client.chat.completions.create(model=model_name, messages=QUESTION, max_tokens=5)
    assert ok.choices[0].message.role == "assistant"


def test_web_page_and_metrics_are_served(server) -> None:
    page = httpx.get(server + "/")
    assert page.status_code == 200 and "/v1/chat/completions" in page.text
    text = httpx.get(server + "/metrics").text
    for name in (
        "dokpa_requests_total",
        "dokpa_time_to_first_token_seconds_bucket",
        "dokpa_inter_token_latency_seconds_bucket",
        "dokpa_num_requests_running",
        "dokpa_num_requests_waiting",
    ):
        assert name in text, name
