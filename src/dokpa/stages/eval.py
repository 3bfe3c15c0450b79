"""Eval: bits per byte, the Korean benchmark suite, sample answers and the report card.

    dokpa eval --config recipes/demo.toml
    dokpa eval --config recipes/demo.toml --set eval.tasks='["kobest","korea"]' --set eval.limit=100

Outputs `results.json` (for machines), `report.md` and `report.html` (the report card), `curves.png`,
`benchmarks.png`, `history.png` (when earlier runs exist) and `samples.json`. Every run is also kept in
`<workspace>/eval-history/`, which the card plots each benchmark against. Tasks whose data is absent are
skipped with the reason. The benchmark data is part of the stage's inputs (its hash), so new data re-runs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dokpa.config import Recipe
from dokpa.pipeline import StageContext, StageResult

NEEDS: tuple[str, ...] = ("tokenizer", "tokenize", "pretrain", "sft")
BENCHMARK_FOLDERS = ("kobest", "kmmlu", "korquad")


def data_root(recipe: Recipe) -> Path:
    """Where the benchmark data is read from."""
    from dokpa.eval.tasks import default_data_root

    return recipe.resolve(recipe.eval.data_root) if recipe.eval.data_root else default_data_root()


def config(recipe: Recipe) -> dict[str, Any]:
    """The recipe fields this stage depends on."""
    return {"eval": recipe.eval.model_dump(mode="json"), "seq_len": recipe.model.seq_len}


def external_inputs(recipe: Recipe) -> dict[str, Path]:
    """The prompts file, the extra task files and the benchmark folders that exist."""
    root = data_root(recipe)
    inputs = {"eval.prompts": recipe.resolve(recipe.eval.prompts)}
    inputs |= {f"eval.data.{name}": root / name for name in BENCHMARK_FOLDERS if (root / name).is_dir()}
    inputs |= {f"eval.jsonl.{i}": recipe.resolve(p) for i, p in enumerate(recipe.eval.jsonl_tasks)}
    return inputs


def run(ctx: StageContext) -> StageResult:
    """Measure both models on held-out text, run the benchmarks, sample answers, write the card."""
    from dokpa.eval.card import write_card
    from dokpa.eval.curves import plot_curves
    from dokpa.eval.lm import EvalLM
    from dokpa.eval.suite import add_to_history, history_entries, run_suite
    from dokpa.model.io import load_model
    from dokpa.serve.chat import stream_reply
    from dokpa.serve.sampling import SamplingParams
    from dokpa.stages.training import val_bpb_fn
    from dokpa.tokenizer.core import DokpaTokenizer
    from dokpa.workspace import fingerprint, write_json_atomic

    e = ctx.recipe.eval
    measure = val_bpb_fn(ctx, ctx.recipe.model.seq_len, batch_size=8, max_tokens=None)
    bpb = {"untrained (step 0)": ctx.upstream["pretrain"]["metrics"]["val_bpb_initial"]}
    models = {}
    for stage in ("pretrain", "sft"):
        models[stage] = load_model(ctx.input_path(stage, "model")).eval()
        bpb[f"after {stage}"] = measure(models[stage])

    scored = ctx.input_path(e.model, "model")
    lm = EvalLM(models[e.model], DokpaTokenizer.load(scored), name=f"{ctx.recipe.name}/{e.model}")
    results = run_suite(
        lm,
        e.tasks,
        data_root=data_root(ctx.recipe),
        jsonl_files=[ctx.recipe.resolve(p) for p in e.jsonl_tasks],
        limit=e.limit,
        shots=e.shots,
        seed=e.seed,
        chat=e.chat and e.model == "sft",
    )
    results["model"] = str(scored)

    tok = DokpaTokenizer.load(ctx.input_path("sft", "model"))
    prompts = json.loads(ctx.recipe.resolve(e.prompts).read_text(encoding="utf-8"))
    params = SamplingParams(
        temperature=e.temperature, top_k=e.top_k, top_p=e.top_p, max_new_tokens=e.max_new_tokens, seed=e.seed
    )
    samples = []
    for prompt in prompts:
        answer = "".join(stream_reply(models["sft"], tok, [{"role": "user", "content": prompt}], params))
        samples.append({"prompt": prompt, "answer": answer.strip()})
    results |= {"val_bpb": bpb, "samples": samples}

    curves = plot_curves(
        {s: ctx.workspace.stage_dir(s) / "metrics.jsonl" for s in ("pretrain", "sft")}, ctx.dir / "curves.png"
    )
    history_dir = ctx.workspace.root / "eval-history"
    written = write_card(results, ctx.dir, history=history_entries(history_dir), curves=curves)
    write_json_atomic(ctx.dir / "samples.json", samples)
    write_json_atomic(ctx.dir / "results.json", results)
    add_to_history(history_dir, results, fingerprint(config(ctx.recipe)))

    outputs = {"results": "results.json", "samples": "samples.json"}
    outputs |= {kind: path.name for kind, path in written.items()}
    metrics: dict[str, float] = {
        "val_bpb_initial": bpb["untrained (step 0)"],
        "val_bpb_pretrain": bpb["after pretrain"],
        "val_bpb_sft": bpb["after sft"],
        "val_bpb": bpb["after sft"],
    }
    for name, task in results["tasks"].items():
        for metric, value in task["metrics"].items():
            metrics[f"{name}.{metric}"] = value
    return StageResult(outputs=outputs, metrics=metrics, headline="val_bpb")
