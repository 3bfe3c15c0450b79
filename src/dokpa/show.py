"""What the CLI prints: one line per stage, the status table, and the demo's closing summary."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dokpa.pipeline import STAGES
from dokpa.workspace import Workspace

console = Console(highlight=False)

_MARK = {"cached": "[green]✓ cached [/]", "ran": "[cyan]▶ ran    [/]", "resumed": "[yellow]↻ resumed[/]"}


def _fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def headline(manifest: dict[str, Any]) -> str:
    """`name=value` of the stage's headline metric, or an empty string."""
    key = manifest.get("headline")
    if not key or key not in manifest.get("metrics", {}):
        return ""
    return f"{key}={_fmt_metric(manifest['metrics'][key])}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def stage_line(name: str, outcome: str, manifest: dict[str, Any], ws: Workspace) -> None:
    """Print one line for a stage that was run or skipped."""
    took = "" if outcome == "cached" else f" in {_duration(manifest.get('duration_s'))}"
    console.print(
        f"{_MARK[outcome]} [bold]{name:<9}[/]{took}  {headline(manifest)}  [dim]{ws.stage_dir(name)}[/]"
    )


def status_table(ws: Workspace) -> Table:
    """A table of every stage in the workspace with its state, time and key metric."""
    table = Table(title=f"dokpa workspace {ws.root}")
    for col in ("stage", "state", "finished", "took", "key metric"):
        table.add_column(col)
    known = set(ws.stages())
    for name in [s for s in STAGES if s in known] + sorted(known - set(STAGES)):
        m = ws.read_manifest(name) or {}
        state = m.get("state", "?")
        colour = {"done": "green", "running": "yellow", "failed": "red"}.get(state, "white")
        finished = m.get("finished_at") or m.get("started_at") or ""
        if finished:
            finished = datetime.fromisoformat(finished).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(name, f"[{colour}]{state}[/]", finished, _duration(m.get("duration_s")), headline(m))
    return table


def _val_bpb_series(metrics_path: Path) -> list[tuple[int, float]]:
    from dokpa.eval.curves import read_metrics

    return [(r["step"], r["val_bpb"]) for r in read_metrics(metrics_path) if r.get("val_bpb") is not None]


def demo_summary(ws: Workspace) -> None:
    """Where every artifact is, validation bits-per-byte falling, and the SFT model's sample answers."""
    console.rule("[bold]dokpa demo: artifacts")
    for name in STAGES:
        m = ws.read_manifest(name) or {}
        for out_name, out in m.get("outputs", {}).items():
            console.print(f"  {name:<9} {out_name:<12} {ws.stage_dir(name) / out['path']}")
    console.rule("[bold]validation bits per byte (held-out text)")
    for stage in ("pretrain", "sft"):
        series = _val_bpb_series(ws.stage_dir(stage) / "metrics.jsonl")
        if series:
            trail = "  →  ".join(f"step {s}: {b:.3f}" for s, b in series)
            console.print(f"  {stage:<9} {trail}")
    _benchmark_summary(ws)
    samples_path = ws.stage_dir("eval") / "samples.json"
    if samples_path.exists():
        console.rule("[bold]sample answers from the fine-tuned model")
        for s in json.loads(samples_path.read_text(encoding="utf-8")):
            console.print(f"  [bold]Q:[/] {s['prompt']}")
            console.print(f"  [bold]A:[/] {s['answer']}\n")
    sft_model = ws.stage_dir("sft") / "model"
    console.print(f"Chat with it: [bold]dokpa chat {sft_model}[/]")
    console.print(f"Stage status: [bold]dokpa status {ws.root}[/]")


def _benchmark_summary(ws: Workspace) -> None:
    """One line per benchmark of the eval stage's results.json: headline score against chance."""
    results_path = ws.stage_dir("eval") / "results.json"
    if not results_path.exists():
        return
    from dokpa.eval.card import task_rows

    results = json.loads(results_path.read_text(encoding="utf-8"))
    rows = task_rows(results)
    if not rows:
        return
    console.rule("[bold]benchmarks (the scored model: " + str(results.get("name", "")) + ")")
    for r in rows:
        chance = f"  chance {r['chance']:.3f}" if r["chance"] is not None else ""
        console.print(
            f"  {r['task']:<18} {r['metric']:<17} {r['value']:.3f} ± {r['stderr']:.3f}{chance}  (n={r['n']})"
        )
    card = ws.stage_dir("eval") / "report.html"
    if card.exists():
        console.print(f"  report card: {card}")
