"""`dokpa serve` under load, with clients that leave, and while shutting down (a real server process).

- 64 concurrent streaming requests against 8 slots and 16 waiting places: every request either completes
  (a finish reason and ``data: [DONE]``) or is refused with a clear 429; nothing hangs; afterwards
  /metrics shows zero running and zero waiting.
- A streaming client that disconnects mid-answer frees its slot.
- SIGTERM while a request streams: the request finishes, then the server exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest

from serve_helpers import metric, running_server, server_process, tiny_model_folder

BODY = {"messages": [{"role": "user", "content": "헌법 제1조를 설명해 주세요."}], "stream": True}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory.mktemp("load"))


async def stream_one(
    client: httpx.AsyncClient, url: str, max_tokens: int, seed: int
) -> tuple[int, str | None, bool]:
    """(status, finish reason, saw [DONE]) of one streamed chat completion."""
    body = {**BODY, "max_tokens": max_tokens, "seed": seed, "temperature": 0.8}
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            payload = json.loads(await r.aread())
            assert set(payload["error"]) >= {"message", "type"}, payload
            return r.status_code, None, False
        reason, done = None, False
        async for line in r.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                done = True
                continue
            for choice in json.loads(data)["choices"]:
                reason = choice.get("finish_reason") or reason
        return 200, reason, done


def test_64_concurrent_streams_complete_or_get_429(model_dir) -> None:
    with running_server(model_dir, "--max-batch", "8", "--max-waiting", "16") as url:

        async def burst() -> list[tuple[int, str | None, bool]]:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(timeout=httpx.Timeout(120.0), limits=limits) as client:
                jobs = [stream_one(client, url, 16 + (i % 5) * 8, i) for i in range(64)]
                return await asyncio.wait_for(asyncio.gather(*jobs), timeout=300)

        results = asyncio.run(burst())
        ok = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] != 200]
        assert all(status == 429 for status, _, _ in refused), refused
        assert len(ok) >= 24  # 8 running + 16 waiting are always admitted
        assert all(reason in ("stop", "length") and done for _, reason, done in ok), ok
        assert metric(url, "dokpa_num_requests_running") == 0
        assert metric(url, "dokpa_num_requests_waiting") == 0
        # still serving
        assert (
            httpx.post(
                url + "/v1/chat/completions", json={**BODY, "stream": False, "max_tokens": 4}
            ).status_code
            == 200
        )


@pytest.fixture(scope="module")
def long_model_dir(tmp_path_factory):
    """A long window; with greedy decoding this random model never reaches EOS (it repeats one token),
    so a request runs exactly max_tokens unless something else ends it."""
    return tiny_model_folder(tmp_path_factory.mktemp("long"), max_seq_len=1024)


def test_disconnected_client_frees_its_slot(long_model_dir) -> None:
    with running_server(long_model_dir, "--max-batch", "1", "--max-waiting", "0") as url:
        body = {**BODY, "max_tokens": 900, "temperature": 0}
        with (
            httpx.Client(timeout=60) as client,
            client.stream("POST", url + "/v1/chat/completions", json=body) as r,
        ):
            assert r.status_code == 200
            next(line for line in r.iter_lines() if line.startswith("data: {"))  # the answer has started
        # the client is gone: the only slot frees within a few decode steps
        deadline = time.monotonic() + 60
        while metric(url, "dokpa_num_requests_running") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(url, "dokpa_num_requests_running") == 0
        assert metric(url, "dokpa_generation_tokens_total") < 900  # ended early, not by finishing
        again = httpx.post(
            url + "/v1/chat/completions", json={**BODY, "stream": False, "max_tokens": 3}, timeout=60
        )
        assert again.status_code == 200


def test_sigterm_lets_the_running_request_finish(long_model_dir) -> None:
    with server_process(long_model_dir, "--max-batch", "2") as (url, proc):
        body = {**BODY, "max_tokens": 600, "temperature": 0, "stream_options": {"include_usage": True}}
        reason, done, usage = None, False, None
        with (
            httpx.Client(timeout=120) as client,
            client.stream("POST", url + "/v1/chat/completions", json=body) as r,
        ):
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data: "))
            proc.send_signal(signal.SIGTERM)  # mid-answer
            for line in lines:
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    chunk = json.loads(line[6:])
                    usage = chunk.get("usage") or usage
                    for choice in chunk["choices"]:
                        reason = choice.get("finish_reason") or reason
        # the whole answer came, then the server exited (uvicorn re-raises the signal it handled)
        assert done and reason == "length" and usage["completion_tokens"] == 600
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
