"""dokpa.release.quant: int8 weight-only quantization (torchao) on a trained tiny model.

python -m pytest tests/test_release_quant.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dokpa.model import load_model
from dokpa.release.quant import bpb_cost, quantize_int8
from dokpa.tokenizer.core import DokpaTokenizer
from release_helpers import heldout_text, trained_folder

pytest.importorskip("torchao")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return trained_folder(tmp_path_factory)


def test_int8_logits_stay_close(folder) -> None:
    tok = DokpaTokenizer.load(folder)
    fp, q = load_model(folder).eval(), quantize_int8(load_model(folder))
    assert type(q.model.layers[0].self_attn.q_proj.weight).__name__ == "Int8Tensor"
    assert q.model.embed_tokens.weight.dtype == torch.float32  # a lookup table, left as it is
    x = torch.tensor([tok.encode(heldout_text()[:600], bos=True)[:200]])
    with torch.no_grad():
        a, b = fp(x), q(x)
    # per-row int8 rounding moves each logit by a small fraction of their spread, and rarely the top-1 token
    assert (a - b).abs().max() < 0.05 * a.std()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.95


def test_bpb_cost_is_small(folder) -> None:
    tok = DokpaTokenizer.load(folder)
    tokens = np.array(tok.encode(heldout_text(), bos=True), dtype=np.int64)
    byte_lens = np.array([len(b) for b in tok.token_bytes()])
    model = load_model(folder)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = bpb_cost(model, tokens, byte_lens, seq_len=128, max_tokens=4096)
    assert abs(r["delta"]) < 0.01 and abs(r["rel_pct"]) < 0.5, r
    assert r["bpb_fp"] < 6.0  # trained: far below the ~8 bits per byte of a uniform guess
    assert 0.24 < r["linear_bytes_int8"] / r["linear_bytes_fp"] < 0.3  # int8 + per-row scales
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the model is untouched


def test_refuses_a_model_off_the_cpu(folder) -> None:
    with pytest.raises(ValueError, match="CPU serving"):
        quantize_int8(load_model(folder).to("meta"))
