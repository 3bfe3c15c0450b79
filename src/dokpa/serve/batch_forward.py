"""Forward passes for a serving batch: many sequences of different lengths, each in its own cache slot.

The model (`dokpa.model.llama.Transformer`) knows one cache with one length. A serving engine holds a
slot per running request, each at its own position, so this module runs the model's layers with
per-row positions: every row writes its new keys and values at its own position and attends to its own
prefix only. The weights are the model's; nothing here changes the model class (kept free of serving
logic, as the trainer keeps it free of parallelism).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dokpa.model.config import ModelConfig
from dokpa.model.llama import KVCache, Transformer, apply_rope


class SlotCache:
    """Keys and values for ``slots`` sequences, [n_layers, slots, n_kv_heads, max_len, head_dim]."""

    def __init__(
        self, cfg: ModelConfig, slots: int, max_len: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        shape = (cfg.n_layers, slots, cfg.n_kv_heads, max_len, cfg.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len

    def load_prefix(self, slot: int, cache: KVCache) -> None:
        """Copy a single-sequence cache (batch 1, e.g. from a prefill) into ``slot``."""
        n = cache.length
        self.k[:, slot, :, :n] = cache.k[:, 0, :, :n]
        self.v[:, slot, :, :n] = cache.v[:, 0, :, :n]


@torch.inference_mode()
def prefill(model: Transformer, prompt: list[int], max_len: int) -> tuple[torch.Tensor, KVCache]:
    """Run ``prompt`` through the model into a fresh batch-1 cache; returns (last logits [V], cache)."""
    weight = model.model.embed_tokens.weight
    cache = KVCache(model.config, 1, max_len, device=weight.device, dtype=weight.dtype)
    x = torch.tensor([prompt], dtype=torch.long, device=weight.device)
    return model(x, cache)[0, -1], cache


@torch.inference_mode()
def decode_step(
    model: Transformer, cache: SlotCache, slots: list[int], tokens: list[int], positions: list[int]
) -> torch.Tensor:
    """One new token per row: row i feeds ``tokens[i]`` at ``positions[i]`` of cache slot ``slots[i]``.

    Returns logits [rows, vocab]. Keys beyond a row's position are masked, so rows never see each other's
    (or stale) cache entries.
    """
    cfg = model.config
    dev = model.model.embed_tokens.weight.device
    rows = len(slots)
    slot_idx = torch.tensor(slots, device=dev)
    pos = torch.tensor(positions, device=dev)
    # Attend over the longest prefix in the batch; shorter rows mask the rest.
    span = max(positions) + 1
    mask = (torch.arange(span, device=dev)[None, :] <= pos[:, None])[:, None, None, :]
    cos = model.rope_cos[pos][:, None, None, :]  # [rows, 1, 1, head_dim]: broadcast over heads
    sin = model.rope_sin[pos][:, None, None, :]
    rep = cfg.n_heads // cfg.n_kv_heads

    h = model.model.embed_tokens(torch.tensor(tokens, device=dev))[:, None, :]
    for i, layer in enumerate(model.model.layers):
        attn = layer.self_attn
        x = layer.input_layernorm(h)
        q = attn.q_proj(x).view(rows, 1, cfg.n_heads, cfg.head_dim).transpose(1, 2)
        k = attn.k_proj(x).view(rows, 1, cfg.n_kv_heads, cfg.head_dim).transpose(1, 2)
        v = attn.v_proj(x).view(rows, 1, cfg.n_kv_heads, cfg.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        cache.k[i, slot_idx, :, pos] = k[:, :, 0]
        cache.v[i, slot_idx, :, pos] = v[:, :, 0]
        keys = cache.k[i, slot_idx, :, :span]
        values = cache.v[i, slot_idx, :, :span]
        if rep > 1:
            keys = keys.repeat_interleave(rep, dim=1)
            values = values.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        h = h + attn.o_proj(y.transpose(1, 2).reshape(rows, 1, cfg.n_heads * cfg.head_dim))
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return model.lm_head(model.model.norm(h))[:, 0]
