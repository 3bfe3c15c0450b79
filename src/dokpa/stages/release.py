"""Release: an open-weight bundle folder with everything needed to use, judge and reproduce the model.

    dokpa release --config recipes/demo.toml
    dokpa release --config recipes/demo.toml --set release.gguf_dtype='"q8_0"' --set release.licence=MIT

Writes ``WORKSPACE/release/bundle/``:

    README.md, README.ko.md   model card (English with Hub front matter, Korean)
    LICENSE                   the weights' licence (release.licence)
    hf/                       Hugging Face model folder: AutoModelForCausalLM / AutoTokenizer load it as it is
    <name>-<dtype>.gguf       the same model for llama.cpp
    quantization.json         int8 weight-only cost in bits per byte on held-out text (release.quant_report)
    data/                     data card (JSON, Markdown) and its plots, from the curate stage
    eval/                     results.json, report card and plots, from the eval stage
    logs/                     metrics.jsonl of pretrain and sft, training curves, every stage's manifest.json
    SHA256SUMS                checksum of every file above

It runs after eval, so `dokpa run` and `dokpa demo` end with a bundle; its inputs are the upstream stages'
outputs, so it re-runs only when the model, data card, evaluation or this section changes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

from dokpa.config import Recipe
from dokpa.pipeline import StageContext, StageError, StageResult

NEEDS: tuple[str, ...] = ("curate", "tokenizer", "tokenize", "pretrain", "sft", "eval")
BUNDLE = "bundle"
_SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


def config(recipe: Recipe) -> dict[str, Any]:
    """The recipe fields this stage depends on."""
    return {
        "release": recipe.release.model_dump(mode="json"),
        "name": recipe.name,
        "seq_len": recipe.model.seq_len,
    }


def external_inputs(recipe: Recipe) -> dict[str, Path]:
    """None: everything comes from upstream stages."""
    return {}


def licence_text(spdx: str, author: str) -> str:
    """The LICENSE file for an SPDX id: the full text for Apache-2.0 (shipped with dokpa), else a notice that
    names the licence and where its text is."""
    if not _SPDX_ID.fullmatch(spdx):
        raise StageError(
            f"release.licence: not an SPDX licence id: {spdx!r} (e.g. Apache-2.0, MIT, CC-BY-4.0)"
        )
    shipped = importlib.resources.files("dokpa.release") / "licences" / f"{spdx}.txt"
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return (
        f"The model weights in this folder are released by {author} under the licence with SPDX identifier\n"
        f"{spdx}. Its full text: https://spdx.org/licenses/{spdx}.html\n"
    )


def _copy(src: Path, dst: Path) -> None:
    if not src.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def _quant_report(ctx: StageContext, model_dir: Path) -> dict[str, Any]:
    """int8 weight-only's cost in bits per byte on the held-out shards, or why it was not measured."""
    if importlib.util.find_spec("torchao") is None:
        return {"skipped": "torchao is not installed (pip install -e '.[export]')"}
    import numpy as np

    from dokpa.data.shards import load_tokens
    from dokpa.model.io import load_model
    from dokpa.release.quant import bpb_cost
    from dokpa.tokenizer.core import DokpaTokenizer

    tok = DokpaTokenizer.load(model_dir)
    byte_lens = np.array([len(b) for b in tok.token_bytes()], dtype=np.int64)
    val = load_tokens(ctx.input_path("tokenize", "shards"), "val")
    report = bpb_cost(load_model(model_dir), val, byte_lens, seq_len=ctx.recipe.model.seq_len)
    return {
        **report,
        "method": "torchao Int8WeightOnlyConfig on every nn.Linear",
        "val_tokens": len(val),
    }


def _checksums(bundle: Path) -> str:
    lines = []
    for f in sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
        lines.append(f"{h.hexdigest()}  {f.relative_to(bundle).as_posix()}")
    return "\n".join(lines) + "\n"


def run(ctx: StageContext) -> StageResult:
    """Assemble the bundle: HF folder, GGUF, quantization report, cards, licence, data card, eval, logs."""
    from dokpa.model.config import ModelConfig
    from dokpa.release.card import CardFacts, model_card
    from dokpa.release.gguf import export_gguf
    from dokpa.release.hf import complete_hf_folder
    from dokpa.workspace import write_json_atomic

    r = ctx.recipe.release
    ws = ctx.workspace
    tmp = ctx.dir / f"{BUNDLE}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "LICENSE").write_text(licence_text(r.licence, r.author), encoding="utf-8")

    hf = tmp / "hf"
    shutil.copytree(ctx.input_path(r.model, "model"), hf)
    complete_hf_folder(hf)  # folders written before dokpa added generation_config.json get it here
    gguf_file = f"{ctx.recipe.name}-{r.gguf_dtype}.gguf"
    export_gguf(hf, tmp / gguf_file, dtype=r.gguf_dtype, name=ctx.recipe.name, licence=r.licence)
    quant = _quant_report(ctx, hf) if r.quant_report else {"skipped": "release.quant_report = false"}
    write_json_atomic(tmp / "quantization.json", quant)

    for key in ("card_json", "card_md", "lengths", "removals", "languages"):
        if key in ctx.upstream["curate"].get("outputs", {}):
            src = ctx.input_path("curate", key)
            _copy(src, tmp / "data" / src.relative_to(ws.stage_dir("curate")))
    for key in ("results", "report", "html", "benchmarks", "history"):
        if key in ctx.upstream["eval"].get("outputs", {}):
            _copy(ctx.input_path("eval", key), tmp / "eval" / ctx.input_path("eval", key).name)
    _copy(ctx.input_path("eval", "curves"), tmp / "logs" / "curves.png")
    for stage in ("pretrain", "sft"):
        _copy(ctx.input_path(stage, "metrics"), tmp / "logs" / f"{stage}.metrics.jsonl")
    for stage in NEEDS:
        _copy(ws.stage_dir(stage) / "manifest.json", tmp / "logs" / "manifests" / f"{stage}.json")

    data_card_path = tmp / "data" / "data_card.json"
    facts = CardFacts(
        name=ctx.recipe.name,
        licence=r.licence,
        author=r.author,
        config=ModelConfig.from_hf_config(json.loads((hf / "config.json").read_text(encoding="utf-8"))),
        gguf_file=gguf_file,
        gguf_dtype=r.gguf_dtype,
        data_card=json.loads(data_card_path.read_text(encoding="utf-8")) if data_card_path.is_file() else {},
        results=json.loads(ctx.input_path("eval", "results").read_text(encoding="utf-8")),
        pretrain=ctx.upstream["pretrain"].get("metrics", {}),
        sft=ctx.upstream["sft"].get("metrics", {}) if r.model == "sft" else None,
        quant=quant,
        version=ctx.upstream["eval"].get("dokpa_version", ""),
        commit=ctx.upstream["eval"].get("git_commit"),
    )
    (tmp / "README.md").write_text(model_card(facts, "en"), encoding="utf-8")
    (tmp / "README.ko.md").write_text(model_card(facts, "ko"), encoding="utf-8")
    (tmp / "SHA256SUMS").write_text(_checksums(tmp), encoding="utf-8")

    bundle = ctx.dir / BUNDLE
    shutil.rmtree(bundle, ignore_errors=True)
    tmp.rename(bundle)  # a killed release never leaves a bundle that looks complete

    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    metrics: dict[str, Any] = {
        "n_params": facts.config.n_params(),
        "bundle_mb": round(size / 1e6, 2),
        "gguf_mb": round((bundle / gguf_file).stat().st_size / 1e6, 2),
        "files": sum(1 for p in bundle.rglob("*") if p.is_file()),
    }
    if "delta" in quant:
        metrics |= {"int8_bpb": quant["bpb_int8"], "int8_bpb_delta": quant["delta"]}
    outputs = {
        "bundle": BUNDLE,
        "hf": f"{BUNDLE}/hf",
        "gguf": f"{BUNDLE}/{gguf_file}",
        "card": f"{BUNDLE}/README.md",
        "card_ko": f"{BUNDLE}/README.ko.md",
        "licence": f"{BUNDLE}/LICENSE",
        "checksums": f"{BUNDLE}/SHA256SUMS",
    }
    return StageResult(outputs=outputs, metrics=metrics, headline="bundle_mb")
