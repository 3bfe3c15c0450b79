"""Tokenizer: train a Korean byte-level BPE on the curated training documents (held-out ones excluded).

    dokpa tokenizer --config recipes/demo.toml

Outputs `tokenizer.json`, `chat_template.jinja`, `tokenizer_config.json` and `report.json` (bytes per
token and tokens per eojeol on the held-out documents).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dokpa.config import Recipe
from dokpa.pipeline import StageContext, StageError, StageResult

NEEDS: tuple[str, ...] = ("curate",)


def config(recipe: Recipe) -> dict[str, Any]:
    """The recipe fields this stage depends on."""
    return {
        "tokenizer": recipe.tokenizer.model_dump(mode="json"),
        "heldout_fraction": recipe.data.heldout_fraction,
    }


def external_inputs(recipe: Recipe) -> dict[str, Path]:
    """None: everything comes from the curate stage."""
    return {}


def run(ctx: StageContext) -> StageResult:
    """Train the tokenizer and measure it on held-out text."""
    from dokpa.data.documents import iter_documents
    from dokpa.data.split import is_heldout
    from dokpa.tokenizer.report import tokenizer_report
    from dokpa.tokenizer.train import train_tokenizer
    from dokpa.workspace import write_json_atomic

    fraction = ctx.recipe.data.heldout_fraction
    docs = list(iter_documents(ctx.input_path("curate", "documents")))
    if not docs:
        raise StageError(
            "curate kept no documents to train a tokenizer on: see why with "
            f"`dokpa data inspect {ctx.workspace.root}`"
        )
    train_texts = [d["text"] for d in docs if not is_heldout(d["id"], fraction)]
    heldout_texts = [d["text"] for d in docs if is_heldout(d["id"], fraction)]
    cfg = ctx.recipe.tokenizer
    tok = train_tokenizer(train_texts, ctx.dir, vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency)
    report = tokenizer_report(tok, heldout_texts or train_texts)
    report["measured_on"] = "heldout" if heldout_texts else "train (no held-out documents)"
    report["vocab_size"] = tok.vocab_size
    write_json_atomic(ctx.dir / "report.json", report)
    return StageResult(
        outputs={
            "tokenizer": "tokenizer.json",
            "chat_template": "chat_template.jinja",
            "tokenizer_config": "tokenizer_config.json",
            "report": "report.json",
        },
        metrics={k: report[k] for k in ("bytes_per_token", "tokens_per_eojeol", "vocab_size")},
        headline="bytes_per_token",
    )
