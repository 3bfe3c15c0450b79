"""Run a set of benchmarks on one model and gather results.json; `dokpa eval --model` and the eval stage.

    dokpa eval --model dokpa-workspace/demo/sft/model --tasks kobest,korea --limit 200 --out eval-out
    dokpa eval --model my-export/ --tasks all --shots 5 --chat

Tasks whose data is missing are skipped with the reason, never failed; the card says which and why.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dokpa.eval.lm import EvalLM


def run_suite(
    lm: EvalLM,
    names: Sequence[str],
    *,
    data_root: Path | None = None,
    jsonl_files: Sequence[Path] = (),
    limit: int | None = None,
    shots: int = 0,
    seed: int = 0,
    chat: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every named task (or group) on ``lm``; returns the results.json dict (without val_bpb/samples).

    ``chat`` sends generation tasks' prompts through the tokenizer's chat template (for fine-tuned models).
    """
    from dokpa.eval.tasks import build_tasks

    tasks = build_tasks(names, data_root, jsonl_files)
    results: dict[str, Any] = {
        "model": lm.name,
        "name": lm.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"tasks": list(names), "limit": limit, "shots": shots, "seed": seed, "chat": chat},
        "tasks": {},
        "skipped": {},
    }
    for task in tasks:
        why = task.unavailable()
        if why is not None:
            results["skipped"][task.name] = why
            log(f"skip {task.name}: {why}")
            continue
        kwargs: dict[str, Any] = {"limit": limit, "shots": shots, "seed": seed}
        if "chat" in inspect.signature(task.run).parameters:
            kwargs["chat"] = chat
        start = time.perf_counter()
        result = task.run(lm, **kwargs)
        result.seconds = round(time.perf_counter() - start, 3)
        results["tasks"][task.name] = result.to_json()
        summary = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
        log(f"{task.name}: {summary} (n={result.n}, {result.seconds:.1f} s)")
    return results


def history_entries(folder: Path) -> list[dict[str, Any]]:
    """Earlier results kept in a workspace's eval history (oldest first)."""
    import json

    if not folder.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def add_to_history(folder: Path, results: dict[str, Any], key: str) -> Path:
    """Keep a copy of ``results`` in the history folder, named by time and ``key`` (e.g. a config hash)."""
    from dokpa.workspace import write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    stamp = results["created"].replace(":", "").replace("-", "")[:15]
    path = folder / f"{stamp}-{key[:8]}.json"
    write_json_atomic(path, results)
    return path
