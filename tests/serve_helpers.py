"""A real `dokpa serve` process on 127.0.0.1 for the server tests, and a tiny model folder to serve.

folder = tiny_model_folder(tmp_path)             # tokenizer trained on konlpy text + a random tiny model
with running_server(folder, "--api-key", "sk-a") as base_url:
    OpenAI(base_url=base_url + "/v1", api_key="sk-a").models.list()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from eval_helpers import save_lm, tiny_lm

ROOT = Path(__file__).resolve().parents[1]


def tiny_model_folder(folder: Path, max_seq_len: int = 192, seed: int = 0) -> Path:
    """A servable model folder: a 1k-vocab Korean BPE and a sharpened random 2-layer model.

    Sharpened weights give confident, varied tokens, so sampling with different seeds differs and greedy
    decoding is stable; EOS comes rarely, so most answers end by length or by a stop string.
    """
    return save_lm(tiny_lm(folder / "tok", seed=seed, max_seq_len=max_seq_len, sharpen=2.0), folder / "model")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll /health until the server answers; fail with its output if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"dokpa serve exited with {proc.returncode}:\n{out[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base_url + "/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"dokpa serve did not answer /health within {timeout} s")


@contextlib.contextmanager
def server_process(model: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``dokpa serve MODEL ARGS`` on a free port; yields (base URL, process); stops it at the end."""
    port = free_port()
    cmd = [sys.executable, "-m", "dokpa.cli", "serve", str(model), "--port", str(port), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, proc)
        yield base_url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_server(model: Path, *args: str) -> Iterator[str]:
    """Like :func:`server_process`, yielding only the base URL."""
    with server_process(model, *args) as (base_url, _):
        yield base_url


def metric(base_url: str, name: str) -> float:
    """One unlabelled value from /metrics (e.g. ``dokpa_num_requests_running``)."""
    for line in httpx.get(base_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)
