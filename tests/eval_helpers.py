"""Shared fixtures for the eval tests: a tiny Korean tokenizer, a tiny random model, the shared data.

from eval_helpers import tiny_lm, shared_data
lm = tiny_lm(tmp_path)             # EvalLM over a random-init 2-layer model and a 1k-vocab tokenizer
root = shared_data()               # ../shared/data, or pytest.skip when it is absent
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest
import torch

from dokpa.eval.lm import EvalLM
from dokpa.model import ModelConfig, Transformer, save_model
from dokpa.tokenizer.core import DokpaTokenizer
from dokpa.tokenizer.train import train_tokenizer

CORPUS = importlib.resources.files("konlpy") / "data/corpus"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def korean_texts() -> list[str]:
    """The Korean constitution and ten bills shipped with konlpy: real text nobody on the team wrote."""
    files = [CORPUS / "kolaw/constitution.txt", *sorted((CORPUS / "kobill").iterdir(), key=lambda p: p.name)]
    return [f.read_text(encoding="utf-8") for f in files]


def tiny_tokenizer(folder: Path, vocab_size: int = 1000) -> DokpaTokenizer:
    """A byte-level BPE trained on :func:`korean_texts`, saved in ``folder``."""
    return train_tokenizer(korean_texts(), folder, vocab_size=vocab_size)


def tiny_model(vocab_size: int, seed: int = 0, max_seq_len: int = 256, sharpen: float = 1.0) -> Transformer:
    """A random-init 2-layer model. ``sharpen`` scales the matrices so outputs are far from uniform
    (tests that compare two scorers want distinct, confident log-likelihoods)."""
    cfg = ModelConfig(
        vocab_size=vocab_size,
        dim=64,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        hidden_dim=128,
        max_seq_len=max_seq_len,
    )
    model = Transformer(cfg)
    model.init_weights(seed)
    if sharpen != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 2:
                    p.mul_(sharpen)
    return model.eval()


def tiny_lm(folder: Path, seed: int = 0, max_seq_len: int = 256, sharpen: float = 1.0) -> EvalLM:
    """An :class:`EvalLM` over a fresh tiny tokenizer (trained into ``folder``) and a random model."""
    tok = tiny_tokenizer(folder)
    return EvalLM(tiny_model(tok.vocab_size, seed, max_seq_len, sharpen), tok, name="tiny")


def save_lm(lm: EvalLM, folder: Path) -> Path:
    """Write ``lm`` as a model folder (weights, config, tokenizer files) that ``EvalLM.load`` reads."""
    save_model(lm.model, folder)
    lm.tokenizer.save(folder)
    return folder


def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the calling test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found (shared benchmark data)")
    return SHARED_DATA


def train_briefly(
    model: Transformer, tok: DokpaTokenizer, texts: list[str], run_dir: Path, steps: int
) -> dict:
    """Train ``model`` in place with dokpa's trainer on ``texts`` (128-token windows, batch 8, lr 3e-3),
    on one thread; returns the trainer's summary. Tests use it for models whose scores mean something."""
    import numpy as np

    from dokpa.data.loader import TokenLoader
    from dokpa.train.trainer import TrainConfig, train

    ids = [t for text in texts for t in tok.encode(text, bos=True, eos=True)]
    loader = TokenLoader(np.array(ids, dtype=np.int32), seq_len=128, batch_size=8, seed=0)
    cfg = TrainConfig(
        steps=steps,
        batch_size=8,
        lr=3e-3,
        warmup_steps=10,
        eval_every=10**9,
        ckpt_every=10**9,
        keep_checkpoints=1,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model gains nothing from threads on a shared runner
    try:
        return train(model, loader, run_dir, cfg, progress_desc="tiny")
    finally:
        torch.set_num_threads(threads)
