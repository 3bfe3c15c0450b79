"""EvalLM: a model folder as a scorer (log-likelihood of continuations) and a greedy generator.

Usage::

    from dokpa.eval.lm import EvalLM
    lm = EvalLM.load("workspace/sft/model")
    lm.loglikelihood([("대한민국의 수도는", " 서울"), ("대한민국의 수도는", " 부산")])
    lm.generate(["질문: 독도는 어느 나라 땅인가?\\n답:"], max_new_tokens=16)

Encoding follows lm-evaluation-harness so scores are comparable with its ``hf`` backend: trailing spaces of
the context move to the continuation, the continuation's ids are ``encode(context + continuation)`` after
the context's ids, and BOS starts the context. Inputs longer than the model's window lose tokens from the
left.

Speed (``reuse_prefix=True``): a multiple-choice question asks for the same context with every choice.
Requests are grouped by their (truncated) context; each distinct context runs once, several contexts of
the same token length together as one batch, into a KV cache. The first continuation token is read
straight from the context's last position (so single-token choices such as KMMLU's " A".." D" cost no
extra forward at all); longer continuations run as one right-padded batch on a copy of the cached
prefix, expanded to one row per continuation. ``reuse_prefix=False`` is the plain scorer: every
(context, continuation) pair as a full sequence, right-padded batches sorted by length.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from dokpa.model.io import load_model
from dokpa.model.llama import KVCache, Transformer
from dokpa.serve.generate import generate as generate_ids
from dokpa.serve.sampling import SamplingParams
from dokpa.tokenizer.core import DokpaTokenizer

# Context tokens per prefill batch (rows x length): keeps the prefix cache of a batch of long few-shot
# prompts bounded while short zero-shot prompts still batch widely.
_PREFILL_TOKENS_PER_ROW = 512


def encode_pair(tokenizer: DokpaTokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation ids the way lm-evaluation-harness forms them (BOS before the context).

    Trailing whitespace of the context is moved to the front of the continuation; the continuation's ids
    are the tail of ``encode(context + continuation)`` after ``len(encode(context))`` tokens, so a BPE merge
    across the boundary is scored as the harness scores it.
    """
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation)
    ctx = tokenizer.encode(context)
    return [tokenizer.bos_id, *ctx], whole[len(ctx) :]


def _fit_window(ctx: list[int], cont: list[int], window: int) -> tuple[list[int], list[int]]:
    """Context and continuation cut so that context + continuation[:-1] fits ``window`` positions.

    The context loses tokens from the left. A continuation longer than the whole window (a long KorQuAD
    answer on a toy model) keeps its last ``window`` tokens scored; its earlier tokens become context.
    """
    if len(cont) > window:
        ctx, cont = ctx + cont[: len(cont) - window], cont[len(cont) - window :]
    keep = window - (len(cont) - 1)
    return (ctx[-keep:] if len(ctx) > keep else ctx), cont


def hidden_states(model: Transformer, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
    """Final-norm hidden states [B, T, dim] (:meth:`Transformer.hidden_states`): the scorers run the LM
    head only on continuation rows."""
    return model.hidden_states(input_ids, cache)


def _score_rows(
    model: Transformer, h: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of ``targets`` [N] under hidden rows ``h`` [N, dim]; whether each is the argmax."""
    logits = model.lm_head(h).float()
    logp = torch.log_softmax(logits, dim=-1)
    return logp.gather(1, targets[:, None])[:, 0], logits.argmax(-1) == targets


class EvalLM:
    """A :class:`Transformer` with its tokenizer, for benchmark scoring and greedy generation."""

    def __init__(self, model: Transformer, tokenizer: DokpaTokenizer, name: str = "model") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> EvalLM:
        """Load ``folder``'s model and tokenizer; named after the folder (its parent for ``.../model``)."""
        folder = Path(folder)
        name = folder.parent.name if folder.name == "model" and folder.parent.name else folder.name
        return cls(load_model(folder, device=device), DokpaTokenizer.load(folder), name=name or "model")

    @property
    def device(self) -> torch.device:
        return self.model.model.embed_tokens.weight.device

    @property
    def window(self) -> int:
        return self.model.config.max_seq_len

    # ---- log-likelihood ------------------------------------------------------------------------------
    def loglikelihood(
        self,
        requests: Sequence[tuple[str, str]],
        *,
        reuse_prefix: bool = True,
        batch_size: int = 32,
        desc: str | None = None,
    ) -> list[tuple[float, bool]]:
        """``(sum of log p(continuation | context), continuation is the greedy output)`` per request."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        pairs = []
        for i, (context, continuation) in enumerate(requests):
            ctx, cont = encode_pair(self.tokenizer, context, continuation)
            if not cont:
                raise ValueError(f"request {i}: the continuation {continuation!r} encodes to no tokens")
            pairs.append(_fit_window(ctx, cont, self.window))
        results: list[tuple[float, bool]] = [(0.0, False)] * len(pairs)
        with (
            torch.inference_mode(),
            tqdm(total=len(pairs), desc=desc or "loglikelihood", disable=None, leave=False) as bar,
        ):
            scorer = self._score_shared if reuse_prefix else self._score_full
            scorer(pairs, results, batch_size, bar)
        return results

    def _score_full(
        self, pairs: list[tuple[list[int], list[int]]], results: list, batch_size: int, bar: tqdm
    ) -> None:
        """Baseline: each request as one full sequence; right-padded batches of similar length."""
        order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            seqs = [(pairs[i][0] + pairs[i][1])[:-1] for i in chunk]
            x = torch.zeros((len(chunk), max(map(len, seqs))), dtype=torch.long)
            for r, s in enumerate(seqs):
                x[r, : len(s)] = torch.tensor(s)
            h = hidden_states(self.model, x.to(self.device))
            rows, cols, targets = [], [], []
            for r, i in enumerate(chunk):
                ctx, cont = pairs[i]
                rows += [r] * len(cont)
                cols += range(len(ctx) - 1, len(ctx) - 1 + len(cont))
                targets += cont
            logp, greedy = _score_rows(self.model, h[rows, cols], torch.tensor(targets, device=self.device))
            self._collect(chunk, [len(pairs[i][1]) for i in chunk], logp, greedy, results)
            bar.update(len(chunk))

    def _score_shared(
        self, pairs: list[tuple[list[int], list[int]]], results: list, batch_size: int, bar: tqdm
    ) -> None:
        """Prefix reuse: each distinct context once; same-length contexts prefilled as one batch."""
        by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, (ctx, _) in enumerate(pairs):
            by_context[tuple(ctx)].append(i)
        by_length: dict[int, list[tuple[int, ...]]] = defaultdict(list)
        for ctx in by_context:
            by_length[len(ctx)].append(ctx)
        for length in sorted(by_length, reverse=True):
            contexts = by_length[length]
            rows_per_batch = max(1, min(batch_size, batch_size * _PREFILL_TOKENS_PER_ROW // length))
            for start in range(0, len(contexts), rows_per_batch):
                group = contexts[start : start + rows_per_batch]
                members = [by_context[c] for c in group]
                self._score_group(pairs, group, members, results, batch_size)
                bar.update(sum(map(len, members)))

    def _score_group(
        self,
        pairs: list[tuple[list[int], list[int]]],
        contexts: list[tuple[int, ...]],
        members: list[list[int]],
        results: list,
        batch_size: int,
    ) -> None:
        """Score every request of ``contexts`` (all of one token length); ``members[j]`` are context j's."""
        model, dev = self.model, self.device
        length = len(contexts[0])
        weight = model.model.embed_tokens.weight
        prefix = KVCache(model.config, len(contexts), length, device=dev, dtype=weight.dtype)
        h_last = hidden_states(model, torch.tensor(contexts, device=dev), prefix)[:, -1]

        # First continuation token of every request: read from its context's last position.
        flat = [(j, i) for j, idx in enumerate(members) for i in idx]
        firsts = torch.tensor([pairs[i][1][0] for _, i in flat], device=dev)
        logp0, greedy0 = _score_rows(model, h_last[[j for j, _ in flat]], firsts)
        token_logp = {i: [logp0[n : n + 1]] for n, (_, i) in enumerate(flat)}
        token_greedy = {i: [greedy0[n : n + 1]] for n, (_, i) in enumerate(flat)}

        # The rest: continuation tokens fed on top of a per-request copy of the cached prefix.
        longer = [(j, i) for j, i in flat if len(pairs[i][1]) > 1]
        longer.sort(key=lambda ji: len(pairs[ji[1]][1]))  # similar lengths together: less padding
        for start in range(0, len(longer), batch_size):
            chunk = longer[start : start + batch_size]
            feeds = [pairs[i][1][:-1] for _, i in chunk]
            width = max(map(len, feeds))
            cache = KVCache(model.config, len(chunk), length + width, device=dev, dtype=weight.dtype)
            rows = torch.tensor([j for j, _ in chunk], device=dev)
            cache.k[:, :, :, :length] = prefix.k.index_select(1, rows)
            cache.v[:, :, :, :length] = prefix.v.index_select(1, rows)
            cache.length = length
            x = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, f in enumerate(feeds):
                x[r, : len(f)] = torch.tensor(f)
            h = hidden_states(model, x.to(dev), cache)
            sel_r = [r for r, f in enumerate(feeds) for _ in f]
            sel_c = [c for f in feeds for c in range(len(f))]
            targets = torch.tensor([t for _, i in chunk for t in pairs[i][1][1:]], device=dev)
            logp, greedy = _score_rows(model, h[sel_r, sel_c], targets)
            for (_, i), lp, g in zip(
                chunk,
                torch.split(logp, [len(f) for f in feeds]),
                torch.split(greedy, [len(f) for f in feeds]),
                strict=True,
            ):
                token_logp[i].append(lp)
                token_greedy[i].append(g)

        idx = [i for _, i in flat]
        self._collect(
            idx,
            [len(pairs[i][1]) for i in idx],
            torch.cat([t for i in idx for t in token_logp[i]]),
            torch.cat([t for i in idx for t in token_greedy[i]]),
            results,
        )

    @staticmethod
    def _collect(
        idx: Sequence[int], lengths: Sequence[int], logp: torch.Tensor, greedy: torch.Tensor, results: list
    ) -> None:
        """Sum per-token scores (flattened in ``idx`` order, ``lengths`` tokens each) into ``results``."""
        sums = torch.split(logp.double().cpu(), list(lengths))
        flags = torch.split(greedy.cpu(), list(lengths))
        for i, s, g in zip(idx, sums, flags, strict=True):
            results[i] = (float(s.sum()), bool(g.all()))

    # ---- generation ----------------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 64,
        stop: Sequence[str] = ("\n",),
        chat: bool = False,
        desc: str | None = None,
    ) -> list[str]:
        """Greedy continuation of each prompt, cut at the first stop string (not included) and stripped.

        ``chat=True`` sends each prompt as a user message through the tokenizer's chat template. Generation
        also ends at EOS or the end-of-turn token, and when the window is full (prompts longer than
        ``window - max_new_tokens`` lose tokens from the left).
        """
        params = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens)
        stop_ids = {self.tokenizer.eos_id, self.tokenizer.end_id}
        room = max(1, self.window - max_new_tokens)
        outputs = []
        for prompt in tqdm(prompts, desc=desc or "generate", disable=None, leave=False):
            if chat:
                ids = self.tokenizer.encode_chat(
                    [{"role": "user", "content": prompt}], add_generation_prompt=True
                )
            else:
                ids = self.tokenizer.encode(prompt, bos=True)
            ids = ids[-room:]
            new: list[int] = []
            text = ""
            for token in generate_ids(self.model, ids, params, stop_ids):
                new.append(token)
                text = self.tokenizer.decode(new)
                if any(s in text for s in stop):
                    break
            outputs.append(_cut_at_stop(text, stop).strip())
        return outputs


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        if s:
            pos = text.find(s)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut]
