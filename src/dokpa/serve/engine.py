"""The serving engine: continuous batching over a KV cache with one slot per running request.

    from dokpa.serve.engine import Engine, GenerationRequest
    engine = Engine(model, tokenizer, max_batch=8).start()
    handle = engine.submit(GenerationRequest(prompt_ids, SamplingParams(...), stop=["\\n\\n"]), sink)

A background thread runs the loop: admit waiting requests into free slots (one prefill each), then one
decode step for every running request together. Requests join and leave the batch between steps, so a
short answer never waits for a long one. Events (text pieces, logprobs, the finish reason) go to each
request's ``sink`` from the engine thread; the server turns them into HTTP responses.

Admission control: at most ``max_batch`` requests run and at most ``max_waiting`` wait; ``submit`` raises
:class:`QueueFull` beyond that and :class:`EngineClosed` after :meth:`Engine.stop` began. A request can be
cancelled at any time (client gone, timeout); its slot is free at the next step.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from dokpa.model.llama import Transformer
from dokpa.serve.batch_forward import SlotCache, decode_step, prefill
from dokpa.serve.sampling import SamplingParams, sample_next
from dokpa.serve.text_stream import StopTextStream


class QueueFull(RuntimeError):
    """Every slot is busy and the waiting queue is full."""


class EngineClosed(RuntimeError):
    """The engine is shutting down and takes no new requests."""


@dataclass
class GenerationRequest:
    """One sequence to generate. ``logprobs``: None for none, k >= 0 for the chosen token's log
    probability plus the k most likely alternatives at each step."""

    prompt: list[int]
    params: SamplingParams
    stop: Sequence[str] = ()
    logprobs: int | None = None
    timeout: float | None = None  # seconds from submission; the request ends with "timeout" after it
    ignore_eos: bool = False  # run to max_new_tokens even past EOS (benchmarks, as vLLM's option)


@dataclass
class TokenLogprob:
    """A generated token's log probability (under the model, before temperature and filters)."""

    token: str
    token_bytes: bytes
    logprob: float
    top: list[tuple[str, bytes, float]] = field(default_factory=list)


@dataclass
class Event:
    """What the engine reports for one request: new text, and at the end the finish reason and counts."""

    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None  # "stop" | "length" | "abort" | "timeout" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


Sink = Callable[[Event], None]


@dataclass
class _Sequence:
    id: int
    request: GenerationRequest
    sink: Sink
    stream: StopTextStream
    generator: torch.Generator | None
    deadline: float | None
    slot: int = -1
    position: int = 0  # where the next fed token goes (= tokens cached so far)
    last_token: int = 0
    generated: int = 0
    cancelled: bool = False
    first_token_at: float | None = None


class Handle:
    """A submitted request: ``cancel()`` it when its client goes away."""

    def __init__(self, engine: Engine, seq: _Sequence) -> None:
        self._engine, self._seq = engine, seq

    def cancel(self) -> None:
        """Stop generating for this request (idempotent); it finishes with reason ``abort``."""
        self._seq.cancelled = True
        self._engine._wake()


@dataclass
class EngineStats:
    """Counts for /metrics and admission decisions."""

    running: int
    waiting: int
    max_batch: int
    max_waiting: int


class Engine:
    """Continuous-batching generator over one model; thread-safe ``submit``."""

    def __init__(
        self,
        model: Transformer,
        tokenizer,
        *,
        max_batch: int = 8,
        max_waiting: int = 64,
        max_len: int | None = None,
    ) -> None:
        if max_batch < 1 or max_waiting < 0:
            raise ValueError(f"max_batch must be >= 1 and max_waiting >= 0, got {max_batch}, {max_waiting}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self.max_len = min(max_len or model.config.max_seq_len, model.config.max_seq_len)
        weight = model.model.embed_tokens.weight
        self.cache = SlotCache(model.config, max_batch, self.max_len, weight.device, weight.dtype)
        self.token_bytes = tokenizer.token_bytes()
        self.stop_ids = frozenset({tokenizer.eos_id, tokenizer.end_id})
        self._ids = itertools.count()
        self._waiting: deque[_Sequence] = deque()
        self._running: dict[int, _Sequence] = {}  # slot -> sequence
        self._cond = threading.Condition()
        self._closed = False
        self._stop_loop = False
        self._thread: threading.Thread | None = None

    # ---- public API ----------------------------------------------------------------------------
    def start(self) -> Engine:
        """Start the engine thread (idempotent); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="dokpa-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, drain_timeout: float = 30.0) -> None:
        """Refuse new requests, let running and waiting ones finish (up to ``drain_timeout`` seconds),
        abort the rest, and end the thread."""
        with self._cond:
            self._closed = True
        deadline = time.monotonic() + drain_timeout
        while self.stats().running + self.stats().waiting and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._cond:
            for seq in [*self._waiting, *self._running.values()]:
                seq.cancelled = True
            self._stop_loop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def stats(self) -> EngineStats:
        """Running and waiting request counts."""
        with self._cond:
            return EngineStats(len(self._running), len(self._waiting), self.max_batch, self.max_waiting)

    def submit(self, request: GenerationRequest, sink: Sink) -> Handle:
        """Queue ``request``; ``sink`` receives its events on the engine thread."""
        if not request.prompt:
            raise ValueError("the prompt is empty")
        if len(request.prompt) >= self.max_len:
            raise ValueError(
                f"the prompt has {len(request.prompt)} tokens; this model's window is {self.max_len}, "
                "and at least one token must be left for the answer"
            )
        if any(not 0 <= t < len(self.token_bytes) for t in request.prompt):
            raise ValueError(f"prompt token ids must be in [0, {len(self.token_bytes)})")
        params = request.params
        generator = None
        if params.seed is not None and params.temperature > 0:
            generator = torch.Generator(device="cpu").manual_seed(params.seed)
        now = time.monotonic()
        seq = _Sequence(
            id=next(self._ids),
            request=request,
            sink=sink,
            stream=StopTextStream(self.token_bytes, request.stop),
            generator=generator,
            deadline=now + request.timeout if request.timeout else None,
        )
        with self._cond:
            if self._closed:
                raise EngineClosed("the server is shutting down")
            if len(self._running) + len(self._waiting) >= self.max_batch + self.max_waiting:
                raise QueueFull(
                    f"all {self.max_batch} slots are busy and {self.max_waiting} requests are waiting"
                )
            self._waiting.append(seq)
            self._cond.notify_all()
        return Handle(self, seq)

    # ---- the loop --------------------------------------------------------------------------------
    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop_loop and not self._waiting and not self._running:
                    self._cond.wait(timeout=0.5)
                if self._stop_loop and not self._waiting and not self._running:
                    return
                # Waiting requests whose client left or whose time ran out never take a slot.
                now = time.monotonic()
                dropped = [
                    s for s in self._waiting if s.cancelled or (s.deadline is not None and now > s.deadline)
                ]
                for seq in dropped:
                    self._waiting.remove(seq)
                admitted = []
                free = [s for s in range(self.max_batch) if s not in self._running]
                while free and self._waiting:
                    seq = self._waiting.popleft()
                    seq.slot = free.pop(0)
                    self._running[seq.slot] = seq
                    admitted.append(seq)
            for seq in dropped:
                self._expired(seq)
            try:
                for seq in admitted:
                    self._start(seq)
                self._step()
            except Exception as err:  # a failed forward must not take the server down with it
                for seq in list(self._running.values()):
                    self._finish(seq, "error", error=f"{type(err).__name__}: {err}")

    def _start(self, seq: _Sequence) -> None:
        """Prefill one admitted sequence into its slot and sample its first token."""
        if self._expired(seq):
            return
        logits, cache = prefill(self.model, seq.request.prompt, self.max_len)
        self.cache.load_prefix(seq.slot, cache)
        seq.position = len(seq.request.prompt)
        self._advance(seq, logits)

    def _step(self) -> None:
        """One decode step for every running sequence."""
        # a snapshot: _expired may finish (and remove) a sequence while we look
        live = [seq for seq in list(self._running.values()) if not self._expired(seq)]
        if not live:
            return
        logits = decode_step(
            self.model,
            self.cache,
            [s.slot for s in live],
            [s.last_token for s in live],
            [s.position for s in live],
        )
        for seq, row in zip(live, logits, strict=True):
            seq.position += 1
            self._advance(seq, row)

    def _expired(self, seq: _Sequence) -> bool:
        """Finish ``seq`` if it was cancelled or ran past its deadline; True if it did."""
        if seq.cancelled:
            self._finish(seq, "abort")
        elif seq.deadline is not None and time.monotonic() > seq.deadline:
            self._finish(seq, "timeout", error="the request ran past its timeout")
        else:
            return False
        return True

    def _advance(self, seq: _Sequence, logits: torch.Tensor) -> None:
        """Sample the next token of ``seq`` from ``logits`` [V] and report it."""
        req = seq.request
        token = sample_next(logits, req.params, seq.generator)
        seq.generated += 1
        if seq.first_token_at is None:
            seq.first_token_at = time.monotonic()
        logprobs = [self._logprob(logits, token, req.logprobs)] if req.logprobs is not None else []
        if token in self.stop_ids and not req.ignore_eos:
            self._finish(seq, "stop", text=seq.stream.finish(), logprobs=logprobs)
            return
        text = seq.stream.feed(token)
        if seq.stream.stopped:
            self._finish(seq, "stop", text=text, logprobs=logprobs)
        elif seq.generated >= req.params.max_new_tokens or seq.position + 1 >= self.max_len:
            # prompt + answer never exceed the window (the last token is never fed back, but counts)
            self._finish(seq, "length", text=text + seq.stream.finish(), logprobs=logprobs)
        else:
            seq.last_token = token
            seq.sink(Event(text=text, logprobs=logprobs))

    def _logprob(self, logits: torch.Tensor, token: int, k: int) -> TokenLogprob:
        logp = torch.log_softmax(logits.float(), dim=-1)
        top = []
        if k > 0:
            values, ids = torch.topk(logp, min(k, logp.numel()))
            top = [
                (self._piece(int(i)), self.token_bytes[int(i)], float(v))
                for v, i in zip(values, ids, strict=True)
            ]
        return TokenLogprob(self._piece(token), self.token_bytes[token], float(logp[token]), top)

    def _piece(self, token: int) -> str:
        return self.token_bytes[token].decode("utf-8", errors="replace")

    def _finish(
        self,
        seq: _Sequence,
        reason: str,
        *,
        text: str = "",
        logprobs: list[TokenLogprob] | None = None,
        error: str | None = None,
    ) -> None:
        with self._cond:
            if self._running.get(seq.slot) is seq:
                del self._running[seq.slot]
            elif seq in self._waiting:
                self._waiting.remove(seq)
        seq.sink(
            Event(
                text=text,
                logprobs=logprobs or [],
                finish_reason=reason,
                prompt_tokens=len(seq.request.prompt),
                completion_tokens=seq.generated,
                error=error,
            )
        )
