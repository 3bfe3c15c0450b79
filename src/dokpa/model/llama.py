"""A Llama-compatible decoder-only transformer.

Parameter names match ``transformers.LlamaForCausalLM`` so a saved state dict loads there unchanged.
The module holds no parallelism or training logic (torchtitan style): sharding, compilation and
mixed precision are applied from the outside.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dokpa.model.config import ModelConfig


class RMSNorm(nn.Module):
    """Root-mean-square norm; statistics in float32 whatever the activation dtype (as in HF Llama)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


def rope_tables(
    cfg: ModelConfig, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [max_seq_len, head_dim] in float32, HF layout (frequencies repeated in two halves)."""
    hd = cfg.head_dim
    inv_freq = 1.0 / (
        cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64, device=device).float() / hd)
    )
    t = torch.arange(cfg.max_seq_len, dtype=torch.int64, device=device).float()
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` [B, H, T, D] by position tables ``cos``/``sin`` [T, D] (rotate-half convention)."""
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    return x * cos + _rotate_half(x) * sin


class KVCache:
    """Pre-allocated keys/values for all layers, [n_layers, B, n_kv_heads, max_len, head_dim].

    ``length`` is the number of positions already cached; a forward pass writes its new positions
    after them in every layer and then advances ``length``.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        batch_size: int,
        max_len: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if max_len > cfg.max_seq_len:
            raise ValueError(f"cache max_len {max_len} exceeds the model's max_seq_len {cfg.max_seq_len}")
        shape = (cfg.n_layers, batch_size, cfg.n_kv_heads, max_len, cfg.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store new k/v [B, Hkv, T, D] for ``layer``; return all cached k/v up to and including them."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} positions needed, capacity {self.max_len}")
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, n: int) -> None:
        """Mark ``n`` more positions as cached (called once per forward, after all layers)."""
        self.length += n

    def reset(self) -> None:
        """Forget everything cached (the buffers are reused)."""
        self.length = 0


class Attention(nn.Module):
    """Grouped-query self-attention with RoPE; no biases."""

    def __init__(self, cfg: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads = cfg.n_heads
        self.n_kv_heads = cfg.n_kv_heads
        self.head_dim = cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)

        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.update(self.layer_idx, k, v)
        rep = self.n_heads // self.n_kv_heads
        if rep > 1:
            # query head h reads kv head h // rep, the same grouping as HF's repeat_kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)

        if past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        elif t == 1:
            y = F.scaled_dot_product_attention(q, k, v)  # one new query sees the whole cache
        else:
            # SDPA's is_causal aligns the mask top-left, which is wrong when keys include a cached
            # prefix; query i (absolute position past+i) may see keys 0..past+i.
            q_pos = torch.arange(past, past + t, device=x.device)[:, None]
            k_pos = torch.arange(past + t, device=x.device)[None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=k_pos <= q_pos)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.up_proj = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.down_proj = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    """Pre-norm decoder layer."""

    def __init__(self, cfg: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.self_attn = Attention(cfg, layer_idx)
        self.post_attention_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """Embeddings, layers and final norm; lives under the name ``model`` like HF's ``LlamaModel``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)


class Transformer(nn.Module):
    """Llama-style causal LM. ``forward(input_ids, cache=None) -> logits [B, T, vocab]``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.tie_weights()
        # Non-persistent: derived from the config, so they stay out of the state dict (as in HF).
        cos, sin = rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def tie_weights(self) -> None:
        """Make lm_head share the embedding matrix when the config asks for it. Call again after
        anything that replaces parameters (e.g. ``to_empty`` from the meta device)."""
        if self.config.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def reset_rope(self, device: torch.device | str | None = None) -> None:
        """Recompute the RoPE tables in float32 (needed after meta-device construction)."""
        if device is None:
            device = self.model.embed_tokens.weight.device
        cos, sin = rope_tables(self.config, device)
        self.rope_cos = cos
        self.rope_sin = sin

    @torch.no_grad()
    def init_weights(self, seed: int) -> None:
        """Deterministic initialisation from ``seed`` (identical on any device): N(0, 0.02) for
        embeddings and projections, residual-output projections (o_proj, down_proj) scaled by
        1/sqrt(2*n_layers) so the residual stream's variance does not grow with depth; norms = 1."""
        gen = torch.Generator(device="cpu").manual_seed(seed)
        std = 0.02
        out_std = std / math.sqrt(2 * self.config.n_layers)
        seen: set[int] = set()
        for name, p in self.named_parameters():  # fixed registration order, each tied tensor once
            if id(p) in seen:
                continue
            seen.add(id(p))
            if name.endswith("norm.weight"):
                p.fill_(1.0)
                continue
            s = out_std if name.endswith(("o_proj.weight", "down_proj.weight")) else std
            w = torch.empty(p.shape, dtype=torch.float32).normal_(0.0, s, generator=gen)
            p.copy_(w)
        self.reset_rope()

    def hidden_states(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Final-norm hidden states [B, T, dim]: ``forward`` without the LM head.

        Scorers that need logits at a few positions only run the head on those rows (for a small model
        the vocabulary projection is the largest matmul).
        """
        t = input_ids.shape[1]
        start = cache.length if cache is not None else 0
        if start + t > self.config.max_seq_len:
            raise ValueError(f"sequence length {start + t} exceeds max_seq_len {self.config.max_seq_len}")
        cos = self.rope_cos[start : start + t]
        sin = self.rope_sin[start : start + t]
        h = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            h = layer(h, cos, sin, cache)
        if cache is not None:
            cache.advance(t)
        return self.model.norm(h)

    def forward(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits for every input position. With ``cache`` the inputs continue the cached prefix."""
        return self.lm_head(self.hidden_states(input_ids, cache))
