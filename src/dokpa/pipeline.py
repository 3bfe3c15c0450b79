"""Stages in pipeline order, and the runner that skips a stage whose config and inputs are unchanged.

Each stage lives in ``dokpa.stages.<name>`` and exposes ``NEEDS`` (upstream stages), ``config(recipe)``
(the part of the recipe it depends on), ``external_inputs(recipe)`` (files outside the workspace whose
content it reads) and ``run(ctx) -> StageResult``. Modules are imported only when a stage runs, so the
CLI starts fast.
"""

from __future__ import annotations

import importlib
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from dokpa.config import Recipe
from dokpa.workspace import Workspace, base_manifest, fingerprint, sha256_path

STAGES: tuple[str, ...] = ("curate", "tokenizer", "tokenize", "pretrain", "sft", "eval", "release")


class StageError(RuntimeError):
    """A stage cannot run as asked (for example, its upstream stage has not run); one-line message."""


@dataclass
class StageResult:
    """What a stage hands back: output paths (relative to its folder) and metrics."""

    outputs: dict[str, str]
    metrics: dict[str, Any] = field(default_factory=dict)
    headline: str | None = None  # the metric `dokpa status` shows


@dataclass
class StageContext:
    """Everything a stage needs to run."""

    recipe: Recipe
    workspace: Workspace
    dir: Path
    upstream: dict[str, dict[str, Any]]
    resume: bool = True

    def input_path(self, stage: str, output: str) -> Path:
        """Absolute path of an upstream stage's named output."""
        rel = self.upstream[stage]["outputs"][output]["path"]
        return self.workspace.stage_dir(stage) / rel


def stage_module(name: str) -> ModuleType:
    """Import the module implementing a stage."""
    if name not in STAGES:
        raise StageError(f"unknown stage {name!r}; stages are: {', '.join(STAGES)}")
    return importlib.import_module(f"dokpa.stages.{name}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _outputs_exist(stage_dir: Path, manifest: dict[str, Any]) -> bool:
    return all((stage_dir / o["path"]).exists() for o in manifest.get("outputs", {}).values())


def plan_stage(name: str, recipe: Recipe, ws: Workspace) -> dict[str, Any]:
    """The manifest this stage would start with now; raises StageError if an upstream stage is not done."""
    module = stage_module(name)
    upstream_hashes: dict[str, str] = {}
    for dep in module.NEEDS:
        m = ws.read_manifest(dep)
        if not m or m.get("state") != "done":
            raise StageError(f"stage {name!r} needs stage {dep!r} first: run `dokpa {dep} --config RECIPE`")
        upstream_hashes[dep] = m["outputs_hash"]
    files = {f"file:{key}": sha256_path(path) for key, path in module.external_inputs(recipe).items()}
    return base_manifest(name, module.config(recipe), {**upstream_hashes, **files})


def run_stage(
    name: str,
    recipe: Recipe,
    ws: Workspace,
    *,
    force: bool = False,
    resume: bool = True,
    require_resume: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Run one stage unless its cached result is still valid.

    Returns ``(outcome, manifest)`` with outcome "cached", "ran" or "resumed". A stage whose last attempt
    had the same fingerprint but did not finish (killed, failed) keeps its folder so it can resume from
    its checkpoints; any other change wipes the folder first so no stale file survives.
    ``require_resume`` refuses to start over when there is no such interrupted attempt.
    """
    module = stage_module(name)
    manifest = plan_stage(name, recipe, ws)
    stage_dir = ws.stage_dir(name)
    old = ws.read_manifest(name)
    same = old is not None and old.get("fingerprint") == manifest["fingerprint"]
    if same and not force and old.get("state") == "done" and _outputs_exist(stage_dir, old):
        return "cached", old
    resuming = same and resume and not force and old.get("state") != "done"
    if require_resume and not resuming:
        why = "it never ran" if old is None else "its config or inputs changed"
        raise StageError(f"nothing to resume for stage {name!r}: {why}")
    if stage_dir.exists() and not resuming:
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)

    upstream = {dep: ws.read_manifest(dep) or {} for dep in module.NEEDS}
    manifest.update(state="running", started_at=_now())
    ws.write_manifest(name, manifest)
    t0 = time.time()
    ctx = StageContext(recipe=recipe, workspace=ws, dir=stage_dir, upstream=upstream, resume=resume)
    try:
        result: StageResult = module.run(ctx)
    except BaseException as err:  # also KeyboardInterrupt: the manifest must say the stage did not finish
        manifest.update(state="failed", error=f"{type(err).__name__}: {err}", finished_at=_now())
        ws.write_manifest(name, manifest)
        raise
    outputs = {k: {"path": v, "sha256": sha256_path(stage_dir / v)} for k, v in result.outputs.items()}
    manifest.update(
        state="done",
        finished_at=_now(),
        duration_s=round(time.time() - t0, 3),
        outputs=outputs,
        outputs_hash=fingerprint({k: o["sha256"] for k, o in outputs.items()}),
        metrics=result.metrics,
        headline=result.headline,
    )
    ws.write_manifest(name, manifest)
    return ("resumed" if resuming else "ran"), manifest
