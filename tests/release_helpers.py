"""Shared fixtures for the release tests: one tiny model trained on Korean text, as a complete model folder.

    from release_helpers import trained_folder, heldout_text
    folder = trained_folder(tmp_path_factory)   # trained once per test session, then reused

The model is trained (not random) so its logits, greedy continuations and bits per byte mean something:
a quantization or export error shows as a change in what it learned, not in noise.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dokpa.model import ModelConfig, Transformer, save_model
from dokpa.release.hf import complete_hf_folder
from eval_helpers import korean_texts, tiny_tokenizer, train_briefly

_CACHE: dict[str, Path] = {}
HELDOUT_DOCS = 2  # the last bills are kept out of training: bits per byte is measured on them


def heldout_text() -> str:
    """Korean text the tiny model never trained on."""
    return "\n".join(korean_texts()[-HELDOUT_DOCS:])


def _train(folder: Path, steps: int) -> Path:
    tok = tiny_tokenizer(folder)
    cfg = ModelConfig(
        vocab_size=tok.vocab_size,
        dim=64,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        hidden_dim=192,
        max_seq_len=256,
    )
    model = Transformer(cfg)
    model.init_weights(0)
    summary = train_briefly(model, tok, korean_texts()[:-HELDOUT_DOCS], folder.parent / "train-run", steps)
    assert summary["final_loss"] < math.log(tok.vocab_size) - 1.5  # it learned something
    save_model(model.eval(), folder)
    tok.save(folder)
    return complete_hf_folder(folder)


def trained_folder(factory: pytest.TempPathFactory, steps: int = 150) -> Path:
    """A complete model folder with a 2-layer GQA model trained on the konlpy corpus (cached per session)."""
    if "model" not in _CACHE:
        _CACHE["model"] = _train(factory.mktemp("release-model") / "model", steps)
    return _CACHE["model"]
