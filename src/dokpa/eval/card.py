"""The report card of an evaluation: Markdown and HTML with plots, from results.json (never from memory).

    from dokpa.eval.card import write_card
    write_card(results, out_dir, history=[older_results, ...], curves="curves.png")

Plots: each benchmark's headline metric against its chance level (with ±2 standard errors), and the same
metrics across the earlier runs kept in the workspace's eval history. The HTML page embeds its images, so it
is one file that can be mailed or attached to a release.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The metric a task is summarised by, in order of preference (every task has one of these).
HEADLINE_METRICS = ("acc", "f1", "match", "with_passage_acc", "exact_match")


def headline(task: dict[str, Any]) -> tuple[str, float]:
    """(metric name, value) summarising one task result of results.json."""
    metrics = task["metrics"]
    for name in HEADLINE_METRICS:
        if name in metrics:
            return name, float(metrics[name])
    name = next(iter(metrics))
    return name, float(metrics[name])


def task_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per task: group, name, n, headline metric, value, chance, stderr, all metrics."""
    rows = []
    for name, task in results.get("tasks", {}).items():
        metric, value = headline(task)
        rows.append(
            {
                "group": task.get("group", ""),
                "task": name,
                "n": task.get("n", 0),
                "shots": task.get("shots", 0),
                "metric": metric,
                "value": value,
                "chance": task.get("chance", {}).get(metric),
                "stderr": task.get("stderr", {}).get(metric, 0.0),
                "metrics": task["metrics"],
            }
        )
    return rows


def _run_label(results: dict[str, Any]) -> str:
    return str(results.get("name") or results.get("created") or "run")


def _history_label(results: dict[str, Any]) -> str:
    """A run's name with its creation time (MM-DD HH:MM): runs of one recipe share a name."""
    created = str(results.get("created", ""))
    stamp = created[5:16].replace("T", " ") if len(created) >= 16 else created
    return f"{str(results.get('name') or 'run')[:16]}\n{stamp}".strip()


def _fmt_part(values: dict[str, Any]) -> str:
    """One breakdown row's metrics; counts (``n``) as whole numbers."""
    return ", ".join(
        f"{k} {int(v)}" if k == "n" else f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
        for k, v in values.items()
    )


def plot_benchmarks(results: dict[str, Any], out_png: Path) -> Path | None:
    """Horizontal bars: each task's headline metric, ±2 standard errors, with its chance level marked."""
    rows = task_rows(results)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.38 * len(rows) + 1.4))
    ys = list(range(len(rows)))[::-1]
    ax.barh(
        ys,
        [r["value"] for r in rows],
        xerr=[2 * r["stderr"] for r in rows],
        color="#4c72b0",
        alpha=0.85,
        capsize=3,
    )
    for y, r in zip(ys, rows, strict=True):
        if r["chance"] is not None:
            ax.plot([r["chance"]] * 2, [y - 0.4, y + 0.4], color="#c44e52", linewidth=2)
    ax.set_yticks(ys, [f"{r['task']} ({r['metric']})" for r in rows], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (red: chance level; whiskers: ±2 standard errors)")
    ax.set_title(f"benchmarks: {_run_label(results)}")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def plot_history(history: Sequence[dict[str, Any]], out_png: Path) -> Path | None:
    """Each task's headline metric across runs (oldest first); None with fewer than two runs."""
    if len(history) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({name for run in history for name in run.get("tasks", {})})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = list(range(len(history)))
    for name in names:
        points = [
            (x, headline(run["tasks"][name])[1])
            for x, run in zip(xs, history, strict=True)
            if name in run["tasks"]
        ]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", linewidth=1, label=name)
    ax.set_xticks(xs, [_history_label(run) for run in history], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("headline metric")
    ax.set_title("benchmarks across runs in this workspace")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def render_markdown(results: dict[str, Any], plots: dict[str, str]) -> str:
    """The report card as Markdown; ``plots`` maps a plot's kind ("curves", "benchmarks", "history") to its
    file name beside the card."""
    lines = [f"# dokpa report card: {_run_label(results)}", ""]
    lines += [f"Model: `{results.get('model', '')}`  ", f"Created: {results.get('created', '')}", ""]
    bpb = results.get("val_bpb") or {}
    if bpb:
        lines += ["## Bits per byte on held-out text (lower is better)", ""]
        lines += ["| model | bits per byte |", "|---|---|"]
        lines += [f"| {label} | {value:.4f} |" for label, value in bpb.items()]
        lines.append("")
    if "curves" in plots:
        lines += [f"![training curves]({plots['curves']})", ""]
    rows = task_rows(results)
    if rows:
        lines += ["## Benchmarks", ""]
        lines += ["| group | task | n | shots | metric | score | ± stderr | chance | other metrics |"]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            others = ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if k != r["metric"])
            lines.append(
                f"| {r['group']} | {r['task']} | {r['n']} | {r['shots']} | {r['metric']} | {r['value']:.3f} "
                f"| {r['stderr']:.3f} | {_fmt(r['chance'])} | {others} |"
            )
        lines.append("")
    for kind, caption in (("benchmarks", "benchmarks against chance"), ("history", "across runs")):
        if kind in plots:
            lines += [f"![{caption}]({plots[kind]})", ""]
    breakdowns = [(n, t["breakdown"]) for n, t in results.get("tasks", {}).items() if t.get("breakdown")]
    for name, breakdown in breakdowns:
        lines += [f"### {name}: breakdown", "", "| part | metrics |", "|---|---|"]
        for part, values in breakdown.items():
            lines.append(f"| {part} | {_fmt_part(values)} |")
        lines.append("")
    skipped = results.get("skipped") or {}
    if skipped:
        lines += ["## Skipped", ""] + [f"- **{name}**: {why}" for name, why in skipped.items()] + [""]
    samples = results.get("samples") or []
    if samples:
        lines += ["## Sample answers", ""]
        for s in samples:
            lines += [f"**Q:** {s['prompt']}", "", f"**A:** {s['answer']}", ""]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,'Noto Sans KR',sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
.below{color:#999}.above{color:#1a7f37;font-weight:600}details{margin:.5em 0}
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def render_html(results: dict[str, Any], plot_files: dict[str, Path]) -> str:
    """The report card as one self-contained HTML page (plots embedded)."""
    e = html.escape
    out = [
        "<!doctype html><html lang='ko'><head><meta charset='utf-8'>",
        f"<title>dokpa report card: {e(_run_label(results))}</title><style>{_CSS}</style></head><body>",
        f"<h1>dokpa report card: {e(_run_label(results))}</h1>",
        f"<p>Model: <code>{e(str(results.get('model', '')))}</code><br>",
        f"Created: {e(str(results.get('created', '')))}</p>",
    ]
    bpb = results.get("val_bpb") or {}
    if bpb:
        out.append("<h2>Bits per byte on held-out text (lower is better)</h2>")
        out.append("<table><tr><th>model</th><th>bits per byte</th></tr>")
        out += [f"<tr><td>{e(k)}</td><td class='num'>{v:.4f}</td></tr>" for k, v in bpb.items()]
        out.append("</table>")
    if "curves" in plot_files:
        out.append(_img(plot_files["curves"], "training curves"))
    rows = task_rows(results)
    if rows:
        out.append("<h2>Benchmarks</h2><table><tr><th>group</th><th>task</th><th>n</th><th>shots</th>")
        out.append("<th>metric</th><th>score</th><th>± stderr</th><th>chance</th><th>other metrics</th></tr>")
        for r in rows:
            above = r["chance"] is not None and r["value"] - 2 * r["stderr"] > r["chance"]
            cls = "above" if above else ("below" if r["chance"] is not None else "")
            others = ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items() if k != r["metric"])
            out.append(
                f"<tr><td>{e(r['group'])}</td><td>{e(r['task'])}</td><td class='num'>{r['n']}</td>"
                f"<td class='num'>{r['shots']}</td><td>{e(r['metric'])}</td>"
                f"<td class='num {cls}'>{r['value']:.3f}</td><td class='num'>{r['stderr']:.3f}</td>"
                f"<td class='num'>{_fmt(r['chance'])}</td><td>{e(others)}</td></tr>"
            )
        out.append("</table><p>Green: more than two standard errors above chance.</p>")
    for kind, alt in (("benchmarks", "benchmarks against chance"), ("history", "benchmarks across runs")):
        if kind in plot_files:
            out.append(_img(plot_files[kind], alt))
    for name, task in results.get("tasks", {}).items():
        if task.get("breakdown"):
            out.append(f"<details><summary>{e(name)}: breakdown</summary><table>")
            for part, values in task["breakdown"].items():
                out.append(f"<tr><td>{e(part)}</td><td>{e(_fmt_part(values))}</td></tr>")
            out.append("</table></details>")
        if task.get("examples"):
            out.append(f"<details><summary>{e(name)}: examples</summary><pre>")
            for ex in task["examples"][:3]:
                out.append(e(str(ex)[:800]))
            out.append("</pre></details>")
    skipped = results.get("skipped") or {}
    if skipped:
        out.append("<h2>Skipped</h2><ul>")
        out += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in skipped.items()]
        out.append("</ul>")
    samples = results.get("samples") or []
    if samples:
        out.append("<h2>Sample answers</h2>")
        for s in samples:
            out.append(f"<p><b>Q:</b> {e(s['prompt'])}<br><b>A:</b> {e(s['answer'])}</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_card(
    results: dict[str, Any],
    out_dir: Path,
    history: Sequence[dict[str, Any]] = (),
    curves: Path | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, benchmarks.png and (with earlier runs) history.png into ``out_dir``.

    ``history`` holds earlier results.json contents, oldest first; this run is appended to it for the plot.
    ``curves`` is a training-curves PNG already in ``out_dir``. Returns the written paths by kind.
    """
    from dokpa.eval.report import write_text_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Path] = {}
    if curves is not None and curves.exists():
        plots["curves"] = curves
    if (p := plot_benchmarks(results, out_dir / "benchmarks.png")) is not None:
        plots["benchmarks"] = p
    if (p := plot_history([*history, results], out_dir / "history.png")) is not None:
        plots["history"] = p
    md = render_markdown(results, {k: v.name for k, v in plots.items()})
    write_text_atomic(out_dir / "report.md", md)
    write_text_atomic(out_dir / "report.html", render_html(results, plots))
    return {"report": out_dir / "report.md", "html": out_dir / "report.html", **plots}
