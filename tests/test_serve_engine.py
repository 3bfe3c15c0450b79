"""The continuous-batching engine and the stop-string text stream, without HTTP.

Checked: requests that join and leave the batch at different times get exactly the tokens a lone
`generate` gives them (greedy and seeded sampling); the batched decode step equals full forwards; stop
strings split across tokens are cut and never leak into streamed text; admission control and cancel.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from dokpa.serve.batch_forward import SlotCache, decode_step, prefill
from dokpa.serve.engine import Engine, EngineClosed, Event, GenerationRequest, QueueFull
from dokpa.serve.generate import generate
from dokpa.serve.sampling import SamplingParams
from dokpa.serve.text_stream import StopTextStream
from eval_helpers import korean_texts, tiny_lm

PROMPTS = [
    "대한민국의 모든 권력은",
    "헌법 제1조",
    "국회의원의 임기는 몇 년인가",
    "대통령은",
    "모든 국민은 법 앞에",
    "국회",
]


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return tiny_lm(tmp_path_factory.mktemp("engine"), max_seq_len=96, sharpen=2.0)


class Collector:
    """Gathers one request's events; ``done`` is set at its finish event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.done = threading.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if event.finish_reason is not None:
            self.done.set()

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events)

    @property
    def end(self) -> Event:
        return self.events[-1]


def run_all(engine: Engine, requests: list[GenerationRequest], stagger: float = 0.0) -> list[Collector]:
    sinks = []
    for r in requests:
        sinks.append(Collector())
        engine.submit(r, sinks[-1])
        time.sleep(stagger)  # later requests join a batch that is already decoding
    for s in sinks:
        assert s.done.wait(60)
    return sinks


def test_decode_step_equals_full_forward(lm) -> None:
    model = lm.model
    seqs = [lm.tokenizer.encode(p, bos=True) for p in PROMPTS[:3]]
    cache = SlotCache(model.config, 4, 64, torch.device("cpu"), torch.float32)
    slots = [2, 0, 3]  # any slot order
    for slot, ids in zip(slots, seqs, strict=True):
        _, single = prefill(model, ids[:-1], 64)
        cache.load_prefix(slot, single)
    logits = decode_step(model, cache, slots, [ids[-1] for ids in seqs], [len(ids) - 1 for ids in seqs])
    with torch.no_grad():
        for row, ids in enumerate(seqs):
            full = model(torch.tensor([ids]))[0, -1]
            torch.testing.assert_close(logits[row], full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_batched_requests_match_lone_generation(lm, temperature) -> None:
    tok = lm.tokenizer
    engine = Engine(lm.model, tok, max_batch=3).start()  # 6 requests, 3 slots: joins and leaves
    try:
        params = [
            SamplingParams(temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=6 + 4 * i, seed=i)
            for i in range(len(PROMPTS))
        ]
        requests = [
            GenerationRequest(tok.encode(p, bos=True), sp) for p, sp in zip(PROMPTS, params, strict=True)
        ]
        sinks = run_all(engine, requests, stagger=0.01)
    finally:
        engine.stop()
    for req, sink in zip(requests, sinks, strict=True):
        ids = list(generate(lm.model, req.prompt, req.params, {tok.eos_id, tok.end_id}))
        assert sink.text == tok.decode(ids)
        by_eos = sink.end.finish_reason == "stop"
        assert sink.end.completion_tokens == len(ids) + by_eos
        assert sink.end.finish_reason in ("stop", "length")
        assert sink.end.prompt_tokens == len(req.prompt)


def test_window_limit_ends_with_length(lm) -> None:
    tok = lm.tokenizer
    prompt = tok.encode(korean_texts()[0], bos=True)[:90]  # 6 positions left in a 96-token window
    engine = Engine(lm.model, tok, max_batch=2).start()
    try:
        (sink,) = run_all(
            engine, [GenerationRequest(prompt, SamplingParams(temperature=0, max_new_tokens=50))]
        )
        with pytest.raises(ValueError, match="window"):
            engine.submit(GenerationRequest(prompt + prompt[:6], SamplingParams()), Collector())
    finally:
        engine.stop()
    assert sink.end.finish_reason in ("length", "stop")
    if sink.end.finish_reason == "length":
        assert sink.end.completion_tokens == 6


def test_stop_string_split_over_tokens_is_cut() -> None:
    pieces = ["안녕", "하세", "요. 다", "음 줄", "입니다"]
    token_bytes = [p.encode() for p in pieces]
    stream = StopTextStream(token_bytes, stop=["요. 다음", "zzz"])
    shown = "".join(stream.feed(i) for i in range(3))
    assert shown == "안녕하세"  # "요. 다" could be the start of the stop string: held back
    assert stream.feed(3) == "" and stream.stopped
    assert stream.text == "안녕하세"
    # no stop string: everything comes out, split Hangul bytes included
    hangul = "한국어".encode()
    split = [hangul[:2], hangul[2:5], hangul[5:]]
    free = StopTextStream(split, stop=["없음"])
    assert "".join(free.feed(i) for i in range(3)) + free.finish() == "한국어"


def test_held_back_text_is_released_at_the_end() -> None:
    stream = StopTextStream([b"abc", b"de"], stop=["def"])
    assert stream.feed(0) == "abc"
    assert stream.feed(1) == ""  # "de" may start "def"
    assert stream.finish() == "de" and stream.text == "abcde"


def test_admission_control_and_cancel(lm) -> None:
    tok = lm.tokenizer
    engine = Engine(lm.model, tok, max_batch=1, max_waiting=0)
    # not started: nothing runs, so the one place (a slot, no waiting room) fills deterministically
    long = SamplingParams(temperature=0.9, max_new_tokens=80, seed=0)
    first, second = Collector(), Collector()
    h1 = engine.submit(GenerationRequest(tok.encode("헌법", bos=True), long), first)
    with pytest.raises(QueueFull):
        engine.submit(GenerationRequest(tok.encode("국회", bos=True), long), second)
    h1.cancel()
    engine.start()
    assert first.done.wait(30) and first.end.finish_reason == "abort"
    h2 = engine.submit(GenerationRequest(tok.encode("국회", bos=True), long), second)
    h2.cancel()
    assert second.done.wait(30) and second.end.finish_reason == "abort"
    assert engine.stats().running == engine.stats().waiting == 0
    engine.stop()
    with pytest.raises(EngineClosed):
        engine.submit(GenerationRequest(tok.encode("국회", bos=True), long), Collector())


def test_timeout_ends_a_request(lm) -> None:
    tok = lm.tokenizer
    engine = Engine(lm.model, tok, max_batch=1)
    sink = Collector()
    engine.submit(GenerationRequest(tok.encode("헌법", bos=True), SamplingParams(), timeout=0.01), sink)
    time.sleep(0.05)
    engine.start()
    try:
        assert sink.done.wait(30) and sink.end.finish_reason == "timeout"
    finally:
        engine.stop()


def test_int8_server_answers(tmp_path) -> None:
    pytest.importorskip("torchao")
    from fastapi.testclient import TestClient

    from dokpa.serve.launch import build_app
    from serve_helpers import tiny_model_folder

    app = build_app(tiny_model_folder(tmp_path), quantize="int8")
    q_proj = app.state.engine.model.model.layers[0].self_attn.q_proj.weight
    assert q_proj.qdata.dtype == torch.int8  # a torchao Int8Tensor: int8 data, per-row scales
    with TestClient(app) as client:
        r = client.post(
            "/v1/completions", json={"prompt": "대한민국 헌법", "max_tokens": 8, "temperature": 0}
        )
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1
    with pytest.raises(ValueError, match="unknown quantization"):
        build_app(tiny_model_folder(tmp_path / "b"), quantize="int4")


def test_cancelling_one_running_request_leaves_the_others_alone(lm) -> None:
    """Regression (found by the fuzzer under CI load): a request cancelled while others decode used to
    change the running table mid-step, and every request in the batch ended with an error."""
    tok = lm.tokenizer
    engine = Engine(lm.model, tok, max_batch=3)
    params = SamplingParams(temperature=0, max_new_tokens=60)
    sinks = [Collector() for _ in range(3)]
    handles = [
        engine.submit(GenerationRequest(tok.encode(p, bos=True), params, ignore_eos=True), s)
        for p, s in zip(PROMPTS[:3], sinks, strict=True)
    ]
    engine.start()
    while not sinks[1].events:  # all three are decoding
        time.sleep(0.001)
    handles[1].cancel()
    try:
        assert all(s.done.wait(60) for s in sinks)
    finally:
        engine.stop()
    assert [s.end.finish_reason for s in sinks] == ["length", "abort", "length"]
    assert sinks[0].end.completion_tokens == sinks[2].end.completion_tokens == 60
