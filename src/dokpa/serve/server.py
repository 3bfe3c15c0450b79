"""The OpenAI-compatible HTTP server: FastAPI over the continuous-batching engine.

    dokpa serve dokpa-workspace/demo/sft/model --port 8000 --api-key sk-local
    # then, from any OpenAI client:
    #   OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="sk-local").chat.completions.create(...)

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streaming as server-sent events
ending with ``data: [DONE]``, ``stream_options.include_usage``, ``n``, ``seed``, ``stop``, logprobs),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus) and ``GET /`` (the web chat page).
Every error is OpenAI-shaped (``{"error": {"message", "type", "param", "code"}}``): 400 for a bad field
(named in ``param``), 401 for a missing or wrong key, 404 for an unknown model, 429 when every slot is
busy and the waiting queue is full, 503 while shutting down, 504 when a request runs past its timeout.
A client that disconnects frees its slot at the next decode step. On shutdown (SIGINT/SIGTERM) the
server stops taking requests and lets running ones finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dokpa.serve.engine import Engine, EngineClosed, Event, GenerationRequest, QueueFull, TokenLogprob
from dokpa.serve.metrics import ServerMetrics
from dokpa.serve.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
    error_body,
    new_id,
    now,
)
from dokpa.serve.sampling import SamplingParams


class APIError(Exception):
    """An error answered as an OpenAI-shaped JSON body with ``status``."""

    def __init__(
        self, status: int, message: str, type_: str, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def response(self) -> JSONResponse:
        return JSONResponse(
            error_body(self.message, self.type, self.param, self.code), status_code=self.status
        )


@dataclass
class ServerConfig:
    """Settings of one server."""

    model_name: str
    api_keys: tuple[str, ...] = ()
    request_timeout: float | None = 600.0
    drain_timeout: float = 30.0


@dataclass
class _Choice:
    text: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    end: Event | None = None


_ERRORS = {404: "not_found_error", 405: "invalid_request_error"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 429, 503, 504)
}


def create_app(engine: Engine, config: ServerConfig) -> FastAPI:
    """The FastAPI app serving ``engine``; the engine thread starts and stops with the app."""
    metrics = ServerMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        yield
        await asyncio.to_thread(engine.stop, config.drain_timeout)

    app = FastAPI(title="dokpa", version="1", lifespan=lifespan)
    app.state.engine, app.state.metrics = engine, metrics

    # ---- errors, all OpenAI-shaped --------------------------------------------------------------
    @app.exception_handler(APIError)
    async def _api_error(_: Request, err: APIError) -> JSONResponse:
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        return APIError(400, message, "invalid_request_error", param).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(err.detail), _ERRORS.get(err.status_code, "invalid_request_error")),
            status_code=err.status_code,
            headers=getattr(err, "headers", None),
        )

    @app.middleware("http")
    async def _count(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.requests.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    def check_key(request: Request) -> None:
        if not config.api_keys:
            return
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in config.api_keys:
            raise APIError(
                401,
                "Incorrect or missing API key: send 'Authorization: Bearer <key>'",
                "invalid_request_error",
                code="invalid_api_key",
            )

    def check_model(name: str | None) -> None:
        if name is not None and name != config.model_name:
            raise APIError(
                404, f"The model '{name}' does not exist; this server serves '{config.model_name}'",
                "not_found_error", "model", "model_not_found",
            )  # fmt: skip

    # ---- plain endpoints ----------------------------------------------------------------------
    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus() -> Response:
        stats = engine.stats()
        return Response(metrics.render(stats.running, stats.waiting), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def web_chat() -> HTMLResponse:
        page = resources.files("dokpa.serve") / "web" / "index.html"
        return HTMLResponse(page.read_text(encoding="utf-8"))

    @app.get("/v1/models", response_model=ModelList, dependencies=[Depends(check_key)], responses=_RESPONSES)
    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=config.model_name, created=now(), max_model_len=engine.max_len)])

    # ---- generation ---------------------------------------------------------------------------
    def sampling(req: ChatCompletionRequest | CompletionRequest, prompt_len: int, i: int) -> SamplingParams:
        room = engine.max_len - prompt_len
        wanted = getattr(req, "max_completion_tokens", None) or req.max_tokens
        if room < 1:
            raise APIError(
                400, f"the prompt has {prompt_len} tokens; this model's window is {engine.max_len}",
                "invalid_request_error", "messages" if isinstance(req, ChatCompletionRequest) else "prompt",
                "context_length_exceeded",
            )  # fmt: skip
        if wanted is not None and wanted > room:
            raise APIError(
                400,
                f"max_tokens is {wanted} but only {room} tokens fit after the {prompt_len}-token prompt "
                f"(window {engine.max_len})",
                "invalid_request_error", "max_tokens", "context_length_exceeded",
            )  # fmt: skip
        return SamplingParams(
            temperature=req.temperature,
            top_k=req.top_k,
            top_p=req.top_p,
            max_new_tokens=wanted or room,
            seed=None if req.seed is None else req.seed + i,  # n choices of one seed differ, reproducibly
        )

    def submit_all(
        prompts: list[list[int]], req: ChatCompletionRequest | CompletionRequest, logprobs: int | None
    ) -> tuple[asyncio.Queue, list[Any]]:
        """Submit every (prompt, choice); events arrive on one queue as (choice index, event)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        gen_requests = [
            GenerationRequest(p, sampling(req, len(p), j), req.stop, logprobs, config.request_timeout)
            for p in prompts
            for j in range(req.n)
        ]
        handles: list[Any] = []

        def sink_for(index: int):
            def sink(event: Event) -> None:
                # RuntimeError: the event loop is gone (shutdown), nobody is listening
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(queue.put_nowait, (index, event))

            return sink

        try:
            for index, gen in enumerate(gen_requests):
                handles.append(engine.submit(gen, sink_for(index)))
        except QueueFull as err:
            for h in handles:
                h.cancel()
            raise APIError(
                429, f"server busy: {err}; retry later", "rate_limit_error", code="queue_full"
            ) from None
        except EngineClosed as err:
            for h in handles:
                h.cancel()
            raise APIError(503, str(err), "service_unavailable", code="shutting_down") from None
        except ValueError as err:
            for h in handles:
                h.cancel()
            raise APIError(400, str(err), "invalid_request_error", "prompt") from None
        return queue, handles

    class Tracker:
        """Per-request latency metrics: time to first token per choice, then inter-token latency."""

        def __init__(self, started: float) -> None:
            self.started, self.last = started, {}

        def observe(self, index: int, event: Event) -> None:
            t = time.monotonic()
            if index in self.last:
                metrics.itl.observe(t - self.last[index])
            else:
                metrics.ttft.observe(t - self.started)
            self.last[index] = t
            if event.finish_reason is not None:
                metrics.prompt_tokens.inc(event.prompt_tokens)
                metrics.generation_tokens.inc(event.completion_tokens)

        def close(self, handles: list[Any]) -> None:
            for h in handles:
                h.cancel()  # a no-op for finished choices; frees the slots of a client that left
            metrics.e2e.observe(time.monotonic() - self.started)

    async def events(
        queue: asyncio.Queue, handles: list[Any], started: float
    ) -> AsyncIterator[tuple[int, Event]]:
        """Engine events until every choice has ended; cancels what is left if the consumer stops."""
        tracker, open_ = Tracker(started), len(handles)
        try:
            while open_:
                index, event = await queue.get()
                tracker.observe(index, event)
                open_ -= event.finish_reason is not None
                yield index, event
        finally:
            tracker.close(handles)

    async def collect(
        request: Request, queue: asyncio.Queue, handles: list[Any], started: float
    ) -> list[_Choice]:
        """Every choice's text and end, watching for the client going away meanwhile."""
        tracker, choices, open_ = Tracker(started), [_Choice() for _ in handles], len(handles)
        try:
            while open_:
                try:
                    index, event = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    continue
                tracker.observe(index, event)
                c = choices[index]
                c.text.append(event.text)
                c.logprobs += event.logprobs
                if event.finish_reason is not None:
                    c.end = event
                    open_ -= 1
        finally:
            tracker.close(handles)
        return choices

    def raise_for_end(ends: list[Event | None]) -> None:
        for end in ends:
            if end is None or end.finish_reason == "abort":
                raise APIError(499, "client closed the request", "invalid_request_error")
            if end.finish_reason == "timeout":
                raise APIError(504, f"request timed out after {config.request_timeout} s", "timeout")
            if end.finish_reason == "error":
                raise APIError(500, f"generation failed: {end.error}", "server_error")

    def usage(ends: list[Event], prompts: list[list[int]]) -> dict[str, int]:
        """Each distinct prompt counts once (it is read once whatever ``n``), every choice's tokens count."""
        prompt = sum(len(p) for p in prompts)
        completion = sum(e.completion_tokens for e in ends)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def finish_reason(end: Event) -> str:
        return end.finish_reason if end.finish_reason in ("stop", "length") else "stop"

    def chat_logprobs(items: list[TokenLogprob]) -> dict[str, Any]:
        return {
            "content": [
                {
                    "token": t.token,
                    "logprob": t.logprob,
                    "bytes": list(t.token_bytes),
                    "top_logprobs": [{"token": s, "logprob": lp, "bytes": list(b)} for s, b, lp in t.top],
                }
                for t in items
            ]
        }

    def completion_logprobs(items: list[TokenLogprob], offset: int) -> dict[str, Any]:
        offsets, pos = [], offset
        for t in items:
            offsets.append(pos)
            pos += len(t.token)
        return {
            "tokens": [t.token for t in items],
            "token_logprobs": [t.logprob for t in items],
            "top_logprobs": [{s: lp for s, _, lp in t.top} for t in items],
            "text_offset": offsets,
        }

    def sse(payload: dict[str, Any] | str) -> str:
        body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        return f"data: {body}\n\n"

    @app.post("/v1/chat/completions", dependencies=[Depends(check_key)], responses=_RESPONSES)
    async def chat_completions(req: ChatCompletionRequest, request: Request) -> Any:
        check_model(req.model)
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages
        ]
        try:
            prompt = engine.tokenizer.encode_chat(messages, add_generation_prompt=True)
        except ValueError as err:
            raise APIError(400, str(err), "invalid_request_error", "messages") from None
        k = (req.top_logprobs or 0) if req.logprobs else None
        started = time.monotonic()
        queue, handles = submit_all([prompt], req, k)
        rid, created, model = new_id("chatcmpl"), now(), config.model_name
        if not req.stream:
            choices = await collect(request, queue, handles, started)
            raise_for_end([c.end for c in choices])
            return {
                "id": rid, "object": "chat.completion", "created": created, "model": model,
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": "".join(c.text)},
                        "logprobs": chat_logprobs(c.logprobs) if req.logprobs else None,
                        "finish_reason": finish_reason(c.end),
                    }
                    for i, c in enumerate(choices)
                ],
                "usage": usage([c.end for c in choices], [prompt]),
            }  # fmt: skip
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        async def stream() -> AsyncIterator[str]:
            base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
            extra = {"usage": None} if include_usage else {}
            for i in range(req.n):
                delta = {"role": "assistant", "content": ""}
                yield sse(
                    {
                        **base,
                        "choices": [{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}],
                        **extra,
                    }
                )
            ends: list[Event] = []
            async for i, ev in events(queue, handles, started):  # its finally frees the slots
                if ev.finish_reason in ("timeout", "error", "abort"):
                    message = ev.error or ev.finish_reason
                    yield sse(
                        error_body(f"generation ended: {message}", "server_error", code=ev.finish_reason)
                    )
                    break
                if ev.text or ev.logprobs:
                    lp = chat_logprobs(ev.logprobs) if req.logprobs else None
                    choice = {
                        "index": i,
                        "delta": {"content": ev.text},
                        "logprobs": lp,
                        "finish_reason": None,
                    }
                    yield sse({**base, "choices": [choice], **extra})
                if ev.finish_reason is not None:
                    ends.append(ev)
                    choice = {"index": i, "delta": {}, "logprobs": None, "finish_reason": finish_reason(ev)}
                    yield sse({**base, "choices": [choice], **extra})
            else:
                if include_usage:
                    yield sse({**base, "choices": [], "usage": usage(ends, [prompt])})
            yield sse("[DONE]")

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.post("/v1/completions", dependencies=[Depends(check_key)], responses=_RESPONSES)
    async def completions(req: CompletionRequest, request: Request) -> Any:
        check_model(req.model)
        texts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if any(not t for t in texts):
            raise APIError(400, "prompt: must not be empty", "invalid_request_error", "prompt")
        prompts = [engine.tokenizer.encode(t, bos=True) for t in texts]
        started = time.monotonic()
        queue, handles = submit_all(prompts, req, req.logprobs)
        rid, created, model = new_id("cmpl"), now(), config.model_name
        want_logprobs = req.logprobs is not None

        def prefix(index: int) -> str:
            return texts[index // req.n] if req.echo else ""

        if not req.stream:
            choices = await collect(request, queue, handles, started)
            raise_for_end([c.end for c in choices])
            return {
                "id": rid, "object": "text_completion", "created": created, "model": model,
                "choices": [
                    {
                        "index": i, "text": prefix(i) + "".join(c.text),
                        "logprobs": (
                            completion_logprobs(c.logprobs, len(prefix(i))) if want_logprobs else None
                        ),
                        "finish_reason": finish_reason(c.end),
                    }
                    for i, c in enumerate(choices)
                ],
                "usage": usage([c.end for c in choices], prompts),
            }  # fmt: skip
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        async def stream() -> AsyncIterator[str]:
            base = {"id": rid, "object": "text_completion", "created": created, "model": model}
            extra = {"usage": None} if include_usage else {}
            ends: list[Event] = []
            echoed: set[int] = set()
            async for i, ev in events(queue, handles, started):
                if ev.finish_reason in ("timeout", "error", "abort"):
                    message = ev.error or ev.finish_reason
                    yield sse(
                        error_body(f"generation ended: {message}", "server_error", code=ev.finish_reason)
                    )
                    break
                text = ev.text
                if i not in echoed:
                    echoed.add(i)
                    text = prefix(i) + text
                done = ev.finish_reason is not None
                if done:
                    ends.append(ev)
                if text or ev.logprobs or done:
                    lp = completion_logprobs(ev.logprobs, 0) if req.logprobs is not None else None
                    choice = {
                        "index": i,
                        "text": text,
                        "logprobs": lp,
                        "finish_reason": finish_reason(ev) if done else None,
                    }
                    yield sse({**base, "choices": [choice], **extra})
            else:
                if include_usage:
                    yield sse(
                        {
                            **base,
                            "choices": [],
                            "usage": usage(ends, prompts),
                        }
                    )
            yield sse("[DONE]")

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return app
