"""Int8 weight-only quantization for CPU serving (torchao), and what it costs in bits per byte.

    from dokpa.model import load_model
    from dokpa.release.quant import quantize_int8, bpb_cost
    model = quantize_int8(load_model("dokpa-workspace/demo/sft/model"))   # in place; returns the model
    report = bpb_cost(load_model(folder), tokens, byte_lens, seq_len=256)   # {"bpb_fp", "bpb_int8", ...}

Every ``nn.Linear`` weight (attention, MLP and the output head) is stored as int8 with one float scale per
output row; activations stay in floating point, so nothing needs calibration data. The embedding table is
a lookup, not a matmul, and stays as it is; with tied embeddings the head gets its own int8 copy. Needs
``torchao`` (``pip install -e '.[export]'``), checked with torch 2.13 on CPU.

What it buys is memory, not speed: in eager PyTorch (how dokpa serves) torchao 0.18's weight-only matmul
turns the int8 weights back into floats on every call, so resident weights take a quarter of the bytes but
greedy decoding is slower (bench/int8_cpu.py: 0.57x on the demo model, 2 cores). Speed needs
``torch.compile`` or an int8 kernel (``torch._weight_int8pack_mm``, or int8 activations too): not done here.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from dokpa.train.bpb import evaluate_bpb


def _torchao() -> Any:
    # torchao logs that its CUDA-only kernels (mxfp8, cutlass) do not load on a CPU build of torch, and torch
    # warns about enum registration while it imports; neither concerns int8 weight-only on CPU.
    quiet = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        import torchao.quantization as tq
    except ImportError as err:
        raise ImportError("int8 quantization needs torchao: pip install -e '.[export]'") from err
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    return tq


def _linear_weight_bytes(model: nn.Module) -> int:
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            w = module.weight
            # torchao's tensor subclasses keep int8 data plus per-row scales; count what they hold
            inner = [getattr(w, a) for a in getattr(w, "tensor_data_names", [])] or [w]
            total += sum(t.numel() * t.element_size() for t in inner if isinstance(t, torch.Tensor))
    return total


def quantize_int8(model: nn.Module) -> nn.Module:
    """Quantize every linear layer of ``model`` to int8 weights (per output row scales), in place.

    Returns ``model``, now for inference only (no training: the weights are not Parameters of floats).
    ValueError if the model is not on the CPU or not in a floating dtype (int8 weight-only targets
    CPU serving; on a GPU use bf16).
    """
    p = next(model.parameters())
    if p.device.type != "cpu":
        raise ValueError(f"int8 weight-only quantization is for CPU serving; the model is on {p.device}")
    if not p.is_floating_point():
        raise ValueError(f"model weights must be floating point to quantize, got {p.dtype}")
    tq = _torchao()
    model.eval()
    tq.quantize_(model, tq.Int8WeightOnlyConfig(), filter_fn=lambda m, _fqn: isinstance(m, nn.Linear))
    return model


@torch.no_grad()
def bpb_cost(
    model: nn.Module,
    tokens: np.ndarray,
    token_bytes_len: np.ndarray,
    seq_len: int,
    batch_size: int = 8,
    max_tokens: int | None = None,
) -> dict[str, float]:
    """Bits per byte of ``model`` and of an int8 copy on the same held-out ``tokens``; ``model`` is unchanged.

    Returns ``bpb_fp`` (the model as given), ``bpb_int8``, ``delta`` (int8 - fp, bits per byte),
    ``rel_pct`` (delta as a percentage of bpb_fp) and the linear-weight sizes in bytes before and after.
    """
    quantized = quantize_int8(copy.deepcopy(model))
    bpb_fp = evaluate_bpb(model, tokens, token_bytes_len, seq_len, batch_size, max_tokens)
    bpb_q = evaluate_bpb(quantized, tokens, token_bytes_len, seq_len, batch_size, max_tokens)
    return {
        "bpb_fp": bpb_fp,
        "bpb_int8": bpb_q,
        "delta": bpb_q - bpb_fp,
        "rel_pct": 100.0 * (bpb_q - bpb_fp) / bpb_fp,
        "linear_bytes_fp": _linear_weight_bytes(model),
        "linear_bytes_int8": _linear_weight_bytes(quantized),
    }
