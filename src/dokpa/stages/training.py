"""Helpers shared by the pretrain and sft stages: trainer config, validation and the exported model folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from dokpa.config import OptimSection
from dokpa.pipeline import StageContext

TOKENIZER_FILES = ("tokenizer.json", "chat_template.jinja", "tokenizer_config.json")


def tokenizer_files(ctx: StageContext) -> dict[str, Path]:
    """The tokenizer files of the tokenizer stage, to be copied beside every checkpoint and model."""
    folder = ctx.input_path("tokenizer", "tokenizer").parent
    return {name: folder / name for name in TOKENIZER_FILES}


def trainer_config(section: OptimSection, steps: int):  # -> TrainConfig (imported lazily: torch is heavy)
    """Build the trainer's config from a recipe section."""
    from dokpa.train.trainer import TrainConfig

    return TrainConfig(
        steps=steps,
        batch_size=section.batch_size,
        grad_accum=section.grad_accum,
        lr=section.lr,
        min_lr_ratio=section.min_lr_ratio,
        warmup_steps=min(section.warmup_steps, steps),
        schedule=section.schedule,
        weight_decay=section.weight_decay,
        grad_clip=section.grad_clip,
        eval_every=section.eval_every,
        eval_max_tokens=section.eval_max_tokens,
        ckpt_every=section.ckpt_every,
        keep_checkpoints=section.keep_checkpoints,
        seed=section.seed,
    )


def val_bpb_fn(
    ctx: StageContext, seq_len: int, batch_size: int, max_tokens: int | None
) -> Callable[[nn.Module], float]:
    """A function measuring bits per byte of a model on the held-out shards."""
    from dokpa.data.shards import load_tokens
    from dokpa.tokenizer.core import DokpaTokenizer
    from dokpa.train.bpb import evaluate_bpb

    tok = DokpaTokenizer.load(ctx.input_path("tokenizer", "tokenizer").parent)
    byte_lens = np.array([len(b) for b in tok.token_bytes()], dtype=np.int64)
    val = load_tokens(ctx.input_path("tokenize", "shards"), "val")

    def measure(model: nn.Module) -> float:
        return evaluate_bpb(
            model, val, byte_lens, seq_len=seq_len, batch_size=batch_size, max_tokens=max_tokens
        )

    return measure


def export_model(model: nn.Module, folder: Path, extra_files: dict[str, Path]) -> None:
    """Write a self-contained model folder (weights, config, tokenizer, generation config) that `dokpa chat`
    and HF ``AutoModelForCausalLM``/``AutoTokenizer`` load."""
    from dokpa.model.io import save_model
    from dokpa.release.hf import complete_hf_folder

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp)
    for name, src in extra_files.items():
        shutil.copy2(src, tmp / name)
    if "tokenizer.json" in extra_files:
        complete_hf_folder(tmp)  # generation_config.json and BOS: transformers loads the folder as it is
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def train_and_export(
    ctx: StageContext, model: nn.Module, loader: Any, section: OptimSection, steps: int, seq_len: int
) -> dict[str, Any]:
    """Run the trainer (resuming an interrupted attempt), export ``model/`` and return the stage metrics."""
    from dokpa.train.trainer import train

    extra = tokenizer_files(ctx)
    summary = train(
        model,
        loader,
        ctx.dir,
        trainer_config(section, steps),
        val_fn=val_bpb_fn(ctx, seq_len, section.batch_size, section.eval_max_tokens),
        extra_files=extra,
        resume=ctx.resume,
        progress_desc=ctx.dir.name,
    )
    export_model(model, ctx.dir / "model", extra)
    return {
        "val_bpb": summary["val_bpb_final"],
        "val_bpb_initial": summary["val_bpb_initial"],
        "final_loss": summary["final_loss"],
        "steps": steps,
        "tokens_seen": summary["tokens_seen"],
        "elapsed_s": summary["elapsed_s"],
    }
