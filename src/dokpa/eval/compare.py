"""Compare two evaluation runs: `dokpa eval compare RUN_A RUN_B`.

    dokpa eval compare dokpa-workspace/demo dokpa-workspace/demo-long
    dokpa eval compare runs/a/eval/results.json runs/b/eval/results.json

A run is a results.json file, a folder holding one (an eval stage folder or an `dokpa eval` output), or a
workspace (its `eval/` stage). Every metric both runs have is listed with the difference B - A; a
difference larger than twice its standard error (both runs' errors combined) is marked as significant.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class CompareError(ValueError):
    """A run that cannot be found or read; the message names the path."""


def find_results(run: str | Path) -> Path:
    """The results.json a run argument points at."""
    path = Path(run)
    for candidate in (path, path / "results.json", path / "eval" / "results.json"):
        if candidate.is_file():
            return candidate
    raise CompareError(f"{run}: no results.json there (give a results.json, an eval folder or a workspace)")


def load_results(run: str | Path) -> dict[str, Any]:
    """Read a run's results.json."""
    path = find_results(run)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CompareError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(results, dict) or "tasks" not in results:
        raise CompareError(f"{path}: not an eval results file (no 'tasks')")
    return results


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows (task, metric, a, b, delta, stderr of delta, significant) for every metric both runs have."""
    rows: list[dict[str, Any]] = []
    for label in sorted(set(a.get("val_bpb") or {}) & set(b.get("val_bpb") or {})):
        va, vb = a["val_bpb"][label], b["val_bpb"][label]
        rows.append({"task": "val_bpb", "metric": label, "a": va, "b": vb, "delta": vb - va, "se": None})
    for task in sorted(set(a["tasks"]) & set(b["tasks"])):
        ta, tb = a["tasks"][task], b["tasks"][task]
        for metric in ta["metrics"]:
            if metric not in tb["metrics"]:
                continue
            va, vb = float(ta["metrics"][metric]), float(tb["metrics"][metric])
            sa, sb = ta.get("stderr", {}).get(metric), tb.get("stderr", {}).get(metric)
            se = math.sqrt(sa**2 + sb**2) if sa is not None and sb is not None else None
            rows.append({"task": task, "metric": metric, "a": va, "b": vb, "delta": vb - va, "se": se})
    for row in rows:
        row["significant"] = row["se"] is not None and row["se"] > 0 and abs(row["delta"]) > 2 * row["se"]
    return rows


def print_comparison(run_a: str | Path, run_b: str | Path) -> list[dict[str, Any]]:
    """Load two runs, print the comparison table (rich) and return its rows."""
    from rich.console import Console
    from rich.table import Table

    a, b = load_results(run_a), load_results(run_b)
    rows = compare(a, b)
    table = Table(title=f"A = {run_a}   B = {run_b}")
    for col in ("task", "metric", "A", "B", "B - A", "± 2 se", ""):
        table.add_column(col, justify="right" if col in ("A", "B", "B - A", "± 2 se") else "left")
    for r in rows:
        better_low = r["task"] == "val_bpb"  # bits per byte: lower is better
        good = (r["delta"] < 0) if better_low else (r["delta"] > 0)
        mark = ("[green]better[/green]" if good else "[red]worse[/red]") if r["significant"] else ""
        se = "" if r["se"] is None else f"{2 * r['se']:.3f}"
        table.add_row(
            r["task"], r["metric"], f"{r['a']:.4f}", f"{r['b']:.4f}", f"{r['delta']:+.4f}", se, mark
        )
    only = sorted(set(a["tasks"]) ^ set(b["tasks"]))
    console = Console()
    console.print(table)
    if only:
        console.print(f"tasks in only one run: {', '.join(only)}")
    return rows
