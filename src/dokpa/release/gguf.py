"""Export a dokpa model folder as one GGUF file that llama.cpp (and Ollama, LM Studio, …) runs.

    python -m dokpa.release.gguf dokpa-workspace/demo/sft/model demo.gguf --dtype f16

    from dokpa.release.gguf import export_gguf, read_gguf
    export_gguf("dokpa-workspace/demo/sft/model", "demo.gguf", dtype="f32")
    meta, weights = read_gguf("demo.gguf")   # metadata dict, HF-named float32 arrays (permutation undone)

Uses the ``gguf`` package (a dokpa dependency). What goes into the file:

- architecture ``llama`` with its hyper-parameters; tensors under llama.cpp's names (``blk.N.attn_q`` …);
- the query and key projections with their rows permuted: HF's rotary embedding rotates dimension ``j`` of a
  head with ``j + head_dim/2`` ("rotate half"), llama.cpp's Llama kernel rotates neighbours ``2j, 2j+1``, so
  row ``j + head_dim/2`` of each head moves next to row ``j`` (keys per KV head);
- the tokenizer as a byte-level BPE (``tokenizer.ggml.model = "gpt2"``): tokens in id order in the
  ByteLevel alphabet, merges in rank order, pre-tokenizer ``gpt-2`` (the GPT-2 split regex, which is what
  ``ByteLevel(use_regex=True)`` applies); dokpa's special tokens are control tokens, ``<|end|>`` is the
  end-of-turn token, BOS is added in front of a prompt; the Jinja chat template;
- weights as f32, f16 (matrices; norms stay f32) or q8_0 (llama.cpp's 8-bit blocks of 32).

llama.cpp does not apply the tokenizer's NFC normalizer: NFC text (all text dokpa writes, and what Korean
keyboards type) tokenizes the same; decomposed Hangul jamo (NFD, e.g. some macOS file names) does not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from dokpa.model.config import ModelConfig
from dokpa.release.hf import check_model_folder

DTYPES = ("f32", "f16", "q8_0")
PRE_TOKENIZER = "gpt-2"  # llama.cpp's name for the GPT-2 split regex (LLAMA_VOCAB_PRE_TYPE_GPT2)

# HF name (per layer, after "model.layers.N.") -> llama.cpp name (after "blk.N.")
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_TOP_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_RE = re.compile(r"model\.layers\.(\d+)\.(.+)")
_BLK_RE = re.compile(r"blk\.(\d+)\.(.+)")


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as err:
        raise ImportError("GGUF export needs the gguf package: pip install gguf") from err
    return gguf


def gguf_name(hf_name: str) -> str:
    """llama.cpp's tensor name for an HF Llama parameter name; ValueError for a name it has no place for."""
    if hf_name in _TOP_NAMES:
        return _TOP_NAMES[hf_name]
    m = _LAYER_RE.fullmatch(hf_name)
    if m and m.group(2) in _LAYER_NAMES:
        return f"blk.{m.group(1)}.{_LAYER_NAMES[m.group(2)]}"
    raise ValueError(f"no GGUF name for parameter {hf_name!r} (not a Llama parameter)")


def hf_name(gguf_tensor_name: str) -> str:
    """Inverse of :func:`gguf_name`."""
    top = {v: k for k, v in _TOP_NAMES.items()}
    if gguf_tensor_name in top:
        return top[gguf_tensor_name]
    m = _BLK_RE.fullmatch(gguf_tensor_name)
    layer = {v: k for k, v in _LAYER_NAMES.items()}
    if m and m.group(2) in layer:
        return f"model.layers.{m.group(1)}.{layer[m.group(2)]}"
    raise ValueError(f"unknown GGUF tensor {gguf_tensor_name!r}")


def permute_rotary(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder the rows of a q/k projection [n_heads*head_dim, dim] from HF's rotate-half layout to the
    interleaved pairs llama.cpp rotates: within each head, rows (j, j + head_dim/2) become (2j, 2j+1)."""
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_rotary(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of :func:`permute_rotary`."""
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _heads_for(name: str, cfg: ModelConfig) -> int | None:
    if name.endswith("self_attn.q_proj.weight"):
        return cfg.n_heads
    if name.endswith("self_attn.k_proj.weight"):
        return cfg.n_kv_heads
    return None


def _vocab(tokenizer_json: dict[str, Any]) -> tuple[list[str], list[str], set[int]]:
    """Tokens in id order, merges as "a b" strings in rank order, and the ids of special tokens."""
    model = tokenizer_json.get("model", {})
    if model.get("type") != "BPE":
        raise ValueError(f"tokenizer.json: expected a BPE model, got {model.get('type')!r}")
    pre = tokenizer_json.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True) or pre.get("add_prefix_space"):
        raise ValueError(
            "tokenizer.json: GGUF export needs ByteLevel(add_prefix_space=False, use_regex=True) "
            f"pre-tokenization, got {pre}"
        )
    vocab: dict[str, int] = dict(model["vocab"])
    special = set()
    for t in tokenizer_json.get("added_tokens", []):
        vocab[t["content"]] = t["id"]
        if t.get("special"):
            special.add(t["id"])
    tokens = [""] * len(vocab)
    for token, i in vocab.items():
        if not 0 <= i < len(tokens) or tokens[i]:
            raise ValueError(f"tokenizer.json: token ids are not 0..{len(vocab) - 1} without gaps (id {i})")
        tokens[i] = token
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return tokens, merges, special


def _tensor_data(gguf: Any, name: str, w: np.ndarray, dtype: str) -> tuple[np.ndarray, Any]:
    q = gguf.GGMLQuantizationType
    if w.ndim == 1 or dtype == "f32":  # norms stay f32 whatever the type: tiny, and precision-sensitive
        return w.astype(np.float32), q.F32
    if dtype == "f16":
        return w.astype(np.float16), q.F16
    if w.shape[-1] % 32:
        raise ValueError(f"{name}: q8_0 needs rows that are a multiple of 32 wide, got {w.shape[-1]}")
    return gguf.quants.quantize(w.astype(np.float32), q.Q8_0), q.Q8_0


def export_gguf(
    model_dir: str | Path,
    out: str | Path,
    dtype: str = "f16",
    name: str | None = None,
    licence: str | None = None,
) -> Path:
    """Write a model folder (config.json, model.safetensors, tokenizer) as the GGUF file ``out``.

    ``dtype`` is "f32", "f16" or "q8_0" for the weight matrices. The file is written under a temporary name
    and renamed, so a killed export leaves no half file. Returns ``out``.
    """
    from safetensors.numpy import load_file

    if dtype not in DTYPES:
        raise ValueError(f"GGUF dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    gguf = _gguf()
    folder = check_model_folder(model_dir)
    cfg = ModelConfig.from_hf_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    tok_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tokens, merges, special = _vocab(tok_json)
    if len(tokens) != cfg.vocab_size:
        raise ValueError(f"{folder}: tokenizer has {len(tokens)} tokens but the model {cfg.vocab_size}")
    ids = {t: i for i, t in enumerate(tokens)}
    template_path = folder / "chat_template.jinja"
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = (
        template_path.read_text(encoding="utf-8") if template_path.is_file() else tok_cfg.get("chat_template")
    )

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    w = gguf.GGUFWriter(str(tmp), arch="llama")
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}
    w.add_name(name or folder.name)
    w.add_languages(["ko"])
    if licence:
        w.add_license(licence)
    w.add_vocab_size(cfg.vocab_size)
    w.add_context_length(cfg.max_seq_len)
    w.add_embedding_length(cfg.dim)
    w.add_block_count(cfg.n_layers)
    w.add_feed_forward_length(cfg.hidden_dim)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.norm_eps)
    w.add_file_type(file_type.get(dtype, gguf.LlamaFileType.MOSTLY_Q8_0))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(PRE_TOKENIZER)
    w.add_token_list(tokens)
    types = gguf.TokenType
    w.add_token_types([types.CONTROL if i in special else types.NORMAL for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.bos_id)
    w.add_eos_token_id(cfg.eos_id)
    w.add_pad_token_id(cfg.pad_id)
    if "<|end|>" in ids:
        w.add_eot_token_id(ids["<|end|>"])  # llama.cpp stops generation at the end of a turn
    w.add_add_bos_token(True)  # every training document began with <|bos|>
    w.add_add_eos_token(False)
    if template:
        w.add_chat_template(template)

    state = load_file(str(folder / "model.safetensors"))
    if cfg.tie_embeddings:
        state.pop("lm_head.weight", None)  # llama.cpp reuses token_embd when output.weight is absent
    for key in sorted(state, key=_tensor_order):
        arr = state[key]
        heads = _heads_for(key, cfg)
        if heads is not None:
            arr = permute_rotary(arr, heads)
        data, qtype = _tensor_data(gguf, key, arr, dtype)
        w.add_tensor(gguf_name(key), data, raw_dtype=qtype)
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    finally:
        w.close()
    os.replace(tmp, out)
    return out


def _tensor_order(hf: str) -> tuple[int, str]:
    # embeddings first, then layers in numeric order (not "1, 10, 2"), then the head, as converters do
    m = _LAYER_RE.fullmatch(hf)
    if m:
        return (1 + int(m.group(1)), m.group(2))
    return (0, hf) if "embed" in hf else (10**9, hf)


def read_gguf(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a GGUF file written by :func:`export_gguf`: its metadata and its weights as float32 arrays
    under HF names, in HF layout (q/k permutation undone, quantized tensors dequantized)."""
    gguf = _gguf()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    reader = gguf.GGUFReader(str(path))
    meta = {key: field.contents() for key, field in reader.fields.items() if not key.startswith("GGUF.")}
    n_heads = int(meta["llama.attention.head_count"])
    n_kv = int(meta["llama.attention.head_count_kv"])
    weights: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))  # GGUF lists dimensions innermost first
        arr = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        key = hf_name(t.name)
        if key.endswith("q_proj.weight"):
            arr = unpermute_rotary(arr, n_heads)
        elif key.endswith("k_proj.weight"):
            arr = unpermute_rotary(arr, n_kv)
        weights[key] = arr
    return meta, weights


def main(argv: list[str] | None = None) -> int:
    """``python -m dokpa.release.gguf MODEL_DIR OUT.gguf [--dtype f16]``."""
    p = argparse.ArgumentParser(prog="python -m dokpa.release.gguf", description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("out")
    p.add_argument("--dtype", choices=DTYPES, default="f16")
    args = p.parse_args(argv)
    try:
        path = export_gguf(args.model_dir, args.out, args.dtype)
    except (FileNotFoundError, ValueError, ImportError) as err:
        print(f"dokpa: error: {err}", file=sys.stderr)
        return 2
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
