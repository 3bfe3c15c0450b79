"""Next-token sampling: temperature, top-k and nucleus (top-p)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplingParams:
    """Decoding settings. ``temperature=0`` means greedy; ``top_k=0`` and ``top_p=1`` disable those
    filters; ``seed`` makes sampling reproducible."""

    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    max_new_tokens: int = 128
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")


def filtered_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Temperature-scaled float32 logits [V] with tokens outside top-k / top-p set to -inf."""
    x = logits.detach().float().flatten() / params.temperature
    if 0 < params.top_k < x.numel():
        kth = torch.topk(x, params.top_k).values[-1]
        x = x.masked_fill(x < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_x, order = torch.sort(x, descending=True)
        probs = torch.softmax(sorted_x, dim=-1)
        # drop a token when the tokens strictly more likely already cover top_p; the top one always stays
        drop_sorted = (probs.cumsum(-1) - probs) >= params.top_p
        # Explicitly: a top_p below float32's smallest value rounds to 0 and would drop every token.
        drop_sorted[0] = False
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        x = x.masked_fill(drop, float("-inf"))
    return x


def sample_next(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None
) -> int:
    """Pick the next token id from ``logits`` [V]. Sampling runs on the CPU so that a given
    ``generator`` (a CPU ``torch.Generator``) gives the same draw whatever device the model uses."""
    if params.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(filtered_logits(logits, params), dim=-1).cpu()
    return int(torch.multinomial(probs, 1, generator=generator))
