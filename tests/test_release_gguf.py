"""dokpa.release.gguf: the GGUF file read back with gguf.GGUFReader (no llama.cpp needed).

    python -m pytest tests/test_release_gguf.py -q

Tensor names and shapes, the rotary permutation (undone, it gives our weights back; applied, llama.cpp's
interleaved rotation gives the same attention scores as HF's rotate-half), and the tokenizer metadata.
tests/test_release_llamacpp.py runs the file in llama.cpp itself when llama-cpp-python is installed.
"""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from dokpa.model import ModelConfig, Transformer, save_model
from dokpa.model.llama import apply_rope, rope_tables
from dokpa.release.gguf import export_gguf, gguf_name, main, permute_rotary, read_gguf, unpermute_rotary
from dokpa.release.hf import complete_hf_folder
from dokpa.tokenizer.core import DokpaTokenizer
from eval_helpers import tiny_tokenizer
from release_helpers import trained_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return trained_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def untied_folder(tmp_path_factory):
    """Untied head, plain multi-head attention, non-default RoPE base and norm eps."""
    root = tmp_path_factory.mktemp("untied")
    tok = tiny_tokenizer(root / "model")
    cfg = ModelConfig(
        vocab_size=tok.vocab_size,
        dim=64,
        n_layers=2,
        n_heads=2,
        n_kv_heads=2,
        hidden_dim=128,
        max_seq_len=128,
        tie_embeddings=False,
        rope_theta=5e5,
        norm_eps=1e-6,
    )
    model = Transformer(cfg)
    model.init_weights(1)
    save_model(model, root / "model")
    return complete_hf_folder(root / "model")


def _expected_names(n_layers: int, tied: bool) -> set[str]:
    names = {"token_embd.weight", "output_norm.weight"} | (set() if tied else {"output.weight"})
    for i in range(n_layers):
        names |= {f"blk.{i}.{n}.weight" for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output")}
        names |= {f"blk.{i}.{n}.weight" for n in ("ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
    return names


@pytest.mark.parametrize("which", ["folder", "untied_folder"])
def test_f32_roundtrip_names_shapes_and_weights(which, request, tmp_path) -> None:
    src = request.getfixturevalue(which)
    cfg = json.loads((src / "config.json").read_text())
    path = export_gguf(src, tmp_path / "m.gguf", dtype="f32")
    reader = gguf.GGUFReader(str(path))
    ours = load_file(str(src / "model.safetensors"))
    tied = cfg["tie_word_embeddings"]
    assert {t.name for t in reader.tensors} == _expected_names(cfg["num_hidden_layers"], tied)
    for t in reader.tensors:
        hf = next(k for k in ours if gguf_name(k) == t.name)
        assert tuple(int(d) for d in reversed(t.shape)) == ours[hf].shape, t.name
        if t.name.endswith(("attn_q.weight", "attn_k.weight")):
            assert not np.array_equal(t.data.reshape(ours[hf].shape), ours[hf])  # really permuted
    _, weights = read_gguf(path)
    expected = {k: v for k, v in ours.items() if not (tied and k == "lm_head.weight")}
    assert weights.keys() == expected.keys()
    for k, v in expected.items():
        np.testing.assert_array_equal(weights[k], v, err_msg=k)


@pytest.mark.parametrize(("dtype", "rtol"), [("f16", 1e-3), ("q8_0", 1 / 127)])
def test_lower_precision_roundtrip(folder, tmp_path, dtype, rtol) -> None:
    path = export_gguf(folder, tmp_path / "m.gguf", dtype=dtype)
    meta, weights = read_gguf(path)
    assert meta["general.file_type"] == {"f16": 1, "q8_0": 7}[dtype]
    for k, v in load_file(str(folder / "model.safetensors")).items():
        if v.ndim == 1:
            np.testing.assert_array_equal(weights[k], v)  # norms stay f32
        else:
            # f16: relative rounding; q8_0: at most half a step of a block's scale (max|w|/127)
            assert np.abs(weights[k] - v).max() <= rtol * np.abs(v).max(), k
    assert path.stat().st_size < (export_gguf(folder, tmp_path / "f32.gguf", "f32").stat().st_size * 0.55)


def test_permutation_turns_rotate_half_into_interleaved_pairs() -> None:
    """With permuted q/k rows, llama.cpp's rotation of neighbouring pairs (2j, 2j+1) by angle pos*theta_j
    gives the same attention scores as HF's rotate-half on the original rows."""
    cfg = ModelConfig(
        vocab_size=10, dim=64, n_layers=1, n_heads=4, n_kv_heads=2, hidden_dim=64, max_seq_len=16
    )
    gen = torch.Generator().manual_seed(0)
    # float64, so the comparison is of the algebra and not of float32 rounding in a different order
    wq, wk = (torch.randn(n, 64, generator=gen, dtype=torch.float64) for n in (64, 32))
    x = torch.randn(16, 64, generator=gen, dtype=torch.float64)
    cos, sin = (t.double() for t in rope_tables(cfg))
    hd = cfg.head_dim

    def heads(y, n):  # [T, n*hd] -> [1, n, T, hd]
        return y.view(16, n, hd).transpose(0, 1)[None]

    q_hf = apply_rope(heads(x @ wq.T, 4), cos, sin)
    k_hf = apply_rope(heads(x @ wk.T, 2), cos, sin)

    def rope_pairs(y):  # llama.cpp's "normal" rope: rotate (y[2j], y[2j+1]) by the angle of frequency j
        c, s = cos[:, : hd // 2], sin[:, : hd // 2]
        a, b = y[..., 0::2], y[..., 1::2]
        return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)

    pq = torch.from_numpy(permute_rotary(wq.numpy(), 4))
    pk = torch.from_numpy(permute_rotary(wk.numpy(), 2))
    q_ll, k_ll = rope_pairs(heads(x @ pq.T, 4)), rope_pairs(heads(x @ pk.T, 2))
    for h in range(4):  # query head h reads KV head h // 2
        torch.testing.assert_close(q_ll[0, h] @ k_ll[0, h // 2].T, q_hf[0, h] @ k_hf[0, h // 2].T)
    np.testing.assert_array_equal(unpermute_rotary(pq.numpy(), 4), wq.numpy())


def test_tokenizer_metadata(folder, tmp_path) -> None:
    meta, _ = read_gguf(export_gguf(folder, tmp_path / "m.gguf", dtype="f32", licence="Apache-2.0"))
    tok = DokpaTokenizer.load(folder)
    vocab = tok.backend.get_vocab(with_added_tokens=True)
    assert meta["general.architecture"] == "llama" and meta["general.license"] == "Apache-2.0"
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "gpt-2"
    assert meta["tokenizer.ggml.tokens"] == sorted(vocab, key=vocab.get)
    merges = json.loads((folder / "tokenizer.json").read_text())["model"]["merges"]
    assert meta["tokenizer.ggml.merges"] == [" ".join(m) if isinstance(m, list) else m for m in merges]
    types = meta["tokenizer.ggml.token_type"]
    assert [i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL] == sorted(tok.special_ids)
    assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]) == (
        tok.bos_id,
        tok.eos_id,
    )
    assert meta["tokenizer.ggml.eot_token_id"] == tok.end_id and meta["tokenizer.ggml.add_bos_token"] is True
    assert meta["tokenizer.chat_template"] == tok.chat_template
    assert meta["llama.attention.head_count_kv"] == 2 and meta["llama.rope.dimension_count"] == 16


def test_bad_input_is_one_line(folder, tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="dtype"):
        export_gguf(folder, tmp_path / "m.gguf", dtype="q4")
    assert main([str(tmp_path / "nope"), str(tmp_path / "m.gguf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dokpa: error: model folder not found") and "\n" not in err
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*tmp*"))
