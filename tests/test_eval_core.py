"""dokpa.eval.lm and tasks.base: encoding rules, prefix reuse == plain scoring == a naive reference,
greedy generation with stop strings, and the multiple-choice bookkeeping."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from dokpa.eval.lm import EvalLM, encode_pair, hidden_states
from dokpa.eval.tasks.base import (
    MCItem,
    MultipleChoiceTask,
    TaskResult,
    binomial_stderr,
    macro_f1,
    spread_limit,
)
from dokpa.serve.generate import generate
from dokpa.serve.sampling import SamplingParams
from eval_helpers import korean_texts, save_lm, tiny_lm, tiny_model


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> EvalLM:
    # Sharpened weights: confident, context-dependent log-likelihoods, so a scorer that mixes up
    # positions or rows gives visibly different numbers.
    return tiny_lm(tmp_path_factory.mktemp("tok"), max_seq_len=96, sharpen=4.0)


def naive_loglikelihood(lm: EvalLM, context: str, continuation: str) -> tuple[float, bool]:
    """Reference: one full forward of Transformer.forward per request, lm-eval's left truncation."""
    ctx, cont = encode_pair(lm.tokenizer, context, continuation)
    seq = (ctx + cont)[-(lm.window + 1) :]
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(torch.tensor([seq[:-1]]))[0].float(), dim=-1)
    positions = range(len(seq) - 1 - len(cont), len(seq) - 1)
    total = sum(float(logp[p, t]) for p, t in zip(positions, cont, strict=True))
    greedy = all(int(logp[p].argmax()) == t for p, t in zip(positions, cont, strict=True))
    return total, greedy


def greedy_continuation(lm: EvalLM, context: str, n: int = 3) -> str | None:
    """Text of the model's own next ``n`` greedy tokens after ``context``, if it re-encodes to them."""
    ctx = lm.tokenizer.encode(context, bos=True)[-(lm.window - n) :]
    params = SamplingParams(temperature=0, top_k=0, top_p=1.0, max_new_tokens=n)
    tokens = list(generate(lm.model, ctx, params))
    text = lm.tokenizer.decode(tokens)
    return text if tokens and encode_pair(lm.tokenizer, context, text)[1] == tokens else None


def make_requests(lm: EvalLM, n_contexts: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    """Shared and unshared contexts, short and long (past the window), 1..4 choices each, and the
    model's own greedy continuations (is_greedy must come out True for those)."""
    rng = random.Random(seed)
    lines = [ln.strip() for text in korean_texts() for ln in text.splitlines() if len(ln.strip()) > 8]
    requests = []
    for _ in range(n_contexts):
        start = rng.randrange(len(lines) - 8)
        context = " ".join(lines[start : start + 8])[: rng.randint(3, 400)]
        if (own := greedy_continuation(lm, context)) is not None:
            requests.append((context, own))
        context += rng.choice(["", " ", "  "])
        for _ in range(rng.randint(1, 4)):
            requests.append((context, rng.choice(["", " "]) + rng.choice(lines)[: rng.randint(1, 25)]))
    rng.shuffle(requests)
    return requests


# ---- encoding ------------------------------------------------------------------------------------


def test_encode_pair_moves_trailing_space_and_prepends_bos(lm: EvalLM) -> None:
    tok = lm.tokenizer
    ctx, cont = encode_pair(tok, "대한민국의 수도는 ", "서울")
    assert ctx == [tok.bos_id, *tok.encode("대한민국의 수도는")]
    assert cont == tok.encode("대한민국의 수도는 서울")[len(ctx) - 1 :]
    assert tok.decode(cont) == " 서울"
    # Several trailing spaces all move; the continuation keeps its own leading space too.
    ctx2, cont2 = encode_pair(tok, "질문:  ", " 답")
    assert ctx2 == [tok.bos_id, *tok.encode("질문:")]
    assert tok.decode(cont2) == "   답"


def test_encode_pair_takes_continuation_from_the_whole_encoding(lm: EvalLM) -> None:
    # Cut a word in the middle: BPE merges across the boundary, so the whole encoding differs from
    # encode(context) + encode(continuation); the harness scores whole[len(ctx):].
    tok = lm.tokenizer
    text = "대한민국은 민주공화국이다"
    for cut in range(1, len(text)):
        ctx, cont = encode_pair(tok, text[:cut], text[cut:])
        whole = tok.encode(text)
        assert ctx[1:] == tok.encode(text[:cut].rstrip())
        assert cont == whole[len(ctx) - 1 :]


def test_empty_continuation_is_refused(lm: EvalLM) -> None:
    with pytest.raises(ValueError, match="request 1: the continuation"):
        lm.loglikelihood([("가", " 나"), ("가", "")])


# ---- scoring -------------------------------------------------------------------------------------


def test_hidden_states_plus_head_equal_forward(lm: EvalLM) -> None:
    x = torch.tensor([lm.tokenizer.encode("모든 국민은 법 앞에 평등하다.", bos=True)])
    with torch.no_grad():
        torch.testing.assert_close(lm.model.lm_head(hidden_states(lm.model, x)), lm.model(x))


def test_reuse_equals_plain_equals_naive(lm: EvalLM) -> None:
    requests = make_requests(lm)
    longest = max(len(encode_pair(lm.tokenizer, c, x)[0]) for c, x in requests)
    assert longest > lm.window  # some contexts are truncated from the left
    shared = lm.loglikelihood(requests, reuse_prefix=True, batch_size=5)
    plain = lm.loglikelihood(requests, reuse_prefix=False, batch_size=7)
    naive = [naive_loglikelihood(lm, c, x) for c, x in requests]
    for (a, ga), (b, gb), (c, gc) in zip(shared, plain, naive, strict=True):
        assert a == pytest.approx(b, abs=1e-4) and a == pytest.approx(c, abs=1e-4)
        assert ga == gb == gc
    assert any(g for _, g in naive) and not all(g for _, g in naive)
    assert len({round(a, 3) for a, _ in shared}) > len(requests) // 2  # distinct, informative scores


def test_continuation_longer_than_the_window_scores_its_last_tokens(lm: EvalLM) -> None:
    """A toy window shorter than an answer (a KorQuAD answer on the demo model): the continuation's
    last ``window`` tokens are scored, conditioned on its earlier tokens, by both scorers alike."""
    small = EvalLM(tiny_model(lm.tokenizer.vocab_size, seed=3, max_seq_len=16, sharpen=4.0), lm.tokenizer)
    long_answer = " " + korean_texts()[0][:200]
    requests = [("헌법 전문:", long_answer), ("헌법 전문:", " 대한민국"), ("", long_answer)]
    ctx, cont = encode_pair(small.tokenizer, *requests[0])
    assert len(cont) > small.window
    shared = small.loglikelihood(requests, reuse_prefix=True)
    plain = small.loglikelihood(requests, reuse_prefix=False)
    seq = (ctx + cont)[-(small.window + 1) :]  # the last window+1 tokens, every target a continuation token
    with torch.no_grad():
        logp = torch.log_softmax(small.model(torch.tensor([seq[:-1]]))[0].float(), dim=-1)
    want = sum(float(logp[p, t]) for p, t in enumerate(seq[1:]))
    assert shared[0][0] == pytest.approx(want, abs=1e-4) and plain[0][0] == pytest.approx(want, abs=1e-4)
    for (a, ga), (b, gb) in zip(shared, plain, strict=True):
        assert a == pytest.approx(b, abs=1e-4) and ga == gb


def test_batch_size_does_not_change_scores(lm: EvalLM) -> None:
    requests = make_requests(lm, n_contexts=12, seed=1)
    one = lm.loglikelihood(requests, batch_size=1)
    many = lm.loglikelihood(requests, batch_size=64)
    for (a, ga), (b, gb) in zip(one, many, strict=True):
        assert a == pytest.approx(b, abs=1e-4) and ga == gb


def test_single_token_continuations_read_from_context_logits(lm: EvalLM) -> None:
    context = "대한민국의 주권은 국민에게 있고,"
    candidates = [" 국민", " 대한민국", " 법률", " 권리", " 모든", "의", "은", " A", " B"]
    letters = [x for x in candidates if len(encode_pair(lm.tokenizer, context, x)[1]) == 1]
    assert len(letters) >= 4
    got = lm.loglikelihood([(context, x) for x in letters])
    ids = lm.tokenizer.encode(context, bos=True)
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(torch.tensor([ids]))[0, -1].float(), -1)
    for (score, greedy), x in zip(got, letters, strict=True):
        (token,) = encode_pair(lm.tokenizer, context, x)[1]
        assert score == pytest.approx(float(logp[token]), abs=1e-4)
        assert greedy == (int(logp.argmax()) == token)
    # Probabilities of a full distribution's subset stay below one.
    assert sum(math.exp(s) for s, _ in got) < 1.0


def test_load_from_folder_scores_the_same(lm: EvalLM, tmp_path: Path) -> None:
    folder = save_lm(lm, tmp_path / "sft" / "model")
    loaded = EvalLM.load(folder)
    assert loaded.name == "sft"
    requests = make_requests(lm, n_contexts=5, seed=2)
    for (a, _), (b, _) in zip(lm.loglikelihood(requests), loaded.loglikelihood(requests), strict=True):
        assert a == pytest.approx(b, abs=1e-5)


# ---- generation ----------------------------------------------------------------------------------


def test_generate_is_greedy_and_cut_at_stop(lm: EvalLM) -> None:
    prompt = "대한민국은"
    ids = lm.tokenizer.encode(prompt, bos=True)
    params = SamplingParams(temperature=0, max_new_tokens=12)
    stops = {lm.tokenizer.eos_id, lm.tokenizer.end_id}
    reference = lm.tokenizer.decode(list(generate(lm.model, ids, params, stops)))
    (free,) = lm.generate([prompt], max_new_tokens=12, stop=())
    assert free == reference.strip()
    assert len(free) >= 2
    stop = free.strip()[1]  # a character the greedy output contains
    (cut,) = lm.generate([prompt], max_new_tokens=12, stop=[stop])
    assert cut == reference[: reference.index(stop)].strip()
    assert stop not in cut


def test_generate_chat_uses_the_template(lm: EvalLM) -> None:
    ids = lm.tokenizer.encode_chat([{"role": "user", "content": "안녕?"}], add_generation_prompt=True)
    params = SamplingParams(temperature=0, max_new_tokens=8)
    stops = {lm.tokenizer.eos_id, lm.tokenizer.end_id}
    expected = lm.tokenizer.decode(list(generate(lm.model, ids, params, stops))).strip()
    assert lm.generate(["안녕?"], max_new_tokens=8, stop=(), chat=True) == [expected]


def test_generate_truncates_long_prompts_from_the_left(lm: EvalLM) -> None:
    long_prompt = korean_texts()[0][:2000]
    (out,) = lm.generate([long_prompt], max_new_tokens=5, stop=())
    assert isinstance(out, str)


# ---- multiple-choice bookkeeping ---------------------------------------------------------------


class ListTask(MultipleChoiceTask):
    """A task over items given in code (the real scorer, no files)."""

    name = "list_task"
    breakdown_keys = ("kind",)
    report_f1 = True

    def __init__(self, items: list[MCItem], fewshot: list[MCItem] | None = None) -> None:
        super().__init__(Path("."))
        self._given, self._given_fewshot = items, fewshot or []

    def load_items(self) -> list[MCItem]:
        return self._given

    def load_fewshot(self) -> list[MCItem]:
        return self._given_fewshot


def test_accuracy_follows_loglikelihoods(lm: EvalLM) -> None:
    rng = random.Random(0)
    lines = [ln.strip() for ln in korean_texts()[0].splitlines() if len(ln.strip()) > 20]
    raw = [
        MCItem(
            str(k), rng.choice(lines)[:40], [rng.choice(lines)[:n] for n in (5, 9, 14)], 0, {"kind": k % 2}
        )
        for k in range(30)
    ]
    preds = ListTask(raw).predict(lm, raw)
    # Gold = the model's own pick for even items, a different choice for odd ones: acc is known.
    items = [
        MCItem(
            p.item.id, p.item.context, p.item.choices, p.pred if k % 2 == 0 else (p.pred + 1) % 3, p.item.meta
        )
        for k, p in enumerate(preds)
    ]
    result = ListTask(items).run(lm)
    assert result.metrics["acc"] == pytest.approx(0.5)
    assert result.breakdown["0"]["acc"] == 1.0 and result.breakdown["1"]["acc"] == 0.0
    assert result.chance == {"acc": pytest.approx(1 / 3), "acc_norm": pytest.approx(1 / 3)}
    assert result.stderr["acc"] == pytest.approx(binomial_stderr(0.5, 30))
    # acc_norm divides by the choice's length in characters.
    for p in preds:
        norm = [ll / len(c) for ll, c in zip(p.loglikelihoods, p.item.choices, strict=True)]
        assert p.pred_norm == norm.index(max(norm))
    json.dumps(result.to_json())  # JSON-ready
    assert TaskResult(**result.to_json()) == result


def test_fewshot_prefix_is_seeded_and_never_the_item_itself() -> None:
    pool = [MCItem(str(k), f"질문 {k}", ["예", "아니오"], k % 2) for k in range(10)]
    task = ListTask(pool, fewshot=pool)  # few-shot pool == evaluated items
    for item in pool:
        prefix = task.fewshot_prefix(item, 3, random.Random(7))
        parts = prefix.split("\n\n")
        assert parts[-1] == "" and len(parts) == 4
        assert item.context + " " not in prefix
        for part in parts[:-1]:
            k = int(part.split()[1])
            assert part == f"질문 {k} " + ["예", "아니오"][k % 2]
    assert task.fewshot_prefix(pool[0], 3, random.Random(1)) == task.fewshot_prefix(
        pool[0], 3, random.Random(1)
    )
    assert task.fewshot_prefix(pool[0], 0, random.Random(1)) == ""
    with pytest.raises(ValueError, match="no few-shot split"):
        ListTask(pool).fewshot_prefix(pool[0], 2, random.Random(0))


def test_small_helpers() -> None:
    assert spread_limit(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread_limit(list(range(3)), 10) == [0, 1, 2]
    assert spread_limit(list(range(3)), None) == [0, 1, 2]
    assert binomial_stderr(0.5, 101) == pytest.approx(0.05)
    # sklearn's f1_score([0,0,1,1], [0,1,1,1], average="macro") = (2/3 + 4/5) / 2
    assert macro_f1([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert macro_f1([0, 1], [0, 1]) == 1.0
