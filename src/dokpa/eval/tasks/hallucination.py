"""Hallucination: the same questions closed-book and with a source passage, plus questions the passage
does not answer.

    dokpa eval ... --task hallucination
    from dokpa.eval.tasks.hallucination import HallucinationTask
    HallucinationTask(data_root).run(lm)

Data: ``dokpa/eval/data/hallucination.jsonl`` (written by the dokpa team, CC0-1.0; see ``data/README.md``).
Each item has a short Korean passage, a self-contained question, ``answerable`` and the accepted answers.
About a third of the questions are not answered by their passage; the right behaviour there is to say so
("지문에 나와 있지 않습니다").

Every answerable question is asked twice, closed-book and with its passage; every unanswerable one with
its passage. Base-model prompts::

    질문: {question}                       (closed-book)
    답:

    다음 지문을 읽고 질문에 답하세요. 지문에 답이 없으면 "지문에 나와 있지 않습니다"라고 답하세요.

    지문: {passage}                        (with passage)
    질문: {question}
    답:

With ``chat=True`` (task argument or ``run`` argument) the same text without the trailing ``답:`` goes
through the chat template as one user message. Metrics, all fractions in 0..1:

- ``closed_book_acc``: answerable questions answered right without the passage;
- ``with_passage_acc``: answerable questions answered right with the passage;
- ``grounded_rate``: answerable questions answered right with the passage *and* supported by it
  (:func:`is_grounded`: every number of the answer and most of its words occur in the passage), over all
  answerable questions; the gap to ``with_passage_acc`` is right answers padded with outside material;
- ``abstention_rate``: unanswerable questions where the model abstains (:func:`is_abstention`);
- ``false_answer_rate``: unanswerable questions where the model gives an answer instead (an empty
  output counts as neither);
- ``answerable_abstention_rate``: answerable questions where the model abstains although the passage
  answers them, so that always saying "모릅니다" does not look like good behaviour.

"Right" is :func:`dokpa.eval.tasks.korea.answer_matches` (gold or alias inside the normalized answer) and not
an abstention. ``breakdown`` has the same rates per category and a ``counts`` row.
"""

from __future__ import annotations

import random
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dokpa.eval.tasks.base import N_EXAMPLES, EvalDataError, TaskResult, binomial_stderr, spread_limit
from dokpa.eval.tasks.korea import (
    CATEGORIES,
    PackagedGenerationTask,
    answer_matches,
    check_source,
    data_file,
    normalize_text,
    read_jsonl_records,
)

if TYPE_CHECKING:
    from dokpa.eval.lm import EvalLM

HALLUCINATION_FILE = "hallucination.jsonl"
ABSTAIN_ANSWER = "지문에 나와 있지 않습니다"
PASSAGE_INSTRUCTION = f'다음 지문을 읽고 질문에 답하세요. 지문에 답이 없으면 "{ABSTAIN_ANSWER}"라고 답하세요.'
CLOSED_INSTRUCTION = "다음 질문에 짧게 답하세요."

# Abstention: any of these, searched in the lower-cased answer with all whitespace removed ("알 수 없" and
# "알수없" both match). They cover "I don't know", "cannot tell", "the passage does not mention / state /
# contain", "no information", and a few English forms for models that switch language.
ABSTENTION_PHRASES: tuple[str, ...] = (
    "모르",  # 모릅니다, 모르겠습니다
    "알수없",
    "알수가없",
    "나와있지않",
    "나오지않",
    "나와있는내용이없",
    "언급되어있지않",
    "언급되지않",
    "언급돼있지않",
    "언급이없",
    "언급하지않",
    "명시되어있지않",
    "명시되지않",
    "명시돼있지않",
    "제시되어있지않",
    "제시되지않",
    "적혀있지않",
    "쓰여있지않",
    "포함되어있지않",
    "정보가없",
    "정보는없",
    "확인할수없",
    "답할수없",
    "찾을수없",
    "판단할수없",
    "notmentioned",
    "notstated",
    "don'tknow",
    "donotknow",
    "cannotbedetermined",
    "noinformation",
)
# "...없습니다" / "...않습니다" said about the passage itself: "지문에는 그 내용이 없습니다".
_ABOUT_PASSAGE = re.compile(r"(지문|본문|제시문|주어진글|위글|이글)[^.!?]{0,20}(없|않)")

# Particles and endings dropped from the end of a word before looking it up in the passage, longest first.
_ENDINGS = tuple(
    sorted(
        [
            *["이었습니다", "였습니다", "했습니다", "되었습니다", "합니다", "입니다", "습니다", "됩니다"],
            *["이에요", "예요", "이었다", "였다", "했다", "되었다", "이다", "이며", "이고"],
            *["에서는", "으로는", "에서", "으로", "까지", "부터", "에게", "한테"],
            *["은", "는", "이", "가", "을", "를", "에", "의", "로", "와", "과", "도", "만", "요", "다"],
        ],
        key=len,
        reverse=True,
    )
)
GROUNDED_MIN_SUPPORT = 0.75  # share of an answer's words that must occur in the passage


def is_abstention(text: str) -> bool:
    """True when ``text`` declines to answer (see :data:`ABSTENTION_PHRASES`); empty text is not one."""
    squashed = "".join(text.lower().split())
    if not squashed:
        return False
    return any(p in squashed for p in ABSTENTION_PHRASES) or bool(_ABOUT_PASSAGE.search(squashed))


def _stem(word: str) -> str:
    """``word`` normalized, without up to two trailing particles or endings (at least one letter stays)."""
    w = normalize_text(word)
    for _ in range(2):
        for end in _ENDINGS:
            if w.endswith(end) and len(w) > len(end):
                w = w[: -len(end)]
                break
        else:
            break
    return w


def is_grounded(prediction: str, passage: str) -> bool:
    """True when the answer stays inside the passage: every number in it occurs in the passage, and at least
    :data:`GROUNDED_MIN_SUPPORT` of its words (particles and endings dropped) occur there too.

    A lexical check, not an entailment model: it catches answers that add names, dates or figures the
    passage does not contain, which is how a right answer picks up invented detail.
    """
    pred, text = normalize_text(prediction), normalize_text(passage)
    if not pred:
        return False
    if not set(re.findall(r"\d+", pred)) <= set(re.findall(r"\d+", text)):
        return False
    stems = [s for s in (_stem(w) for w in prediction.split()) if s]
    if not stems:
        return False
    supported = sum(s in text for s in stems)
    return supported / len(stems) >= GROUNDED_MIN_SUPPORT


# ---- data -----------------------------------------------------------------------------------------------


@dataclass
class HallucinationItem:
    """One question with its passage; ``answer_text``/``aliases`` are meaningful when ``answerable``."""

    id: str
    category: str
    passage: str
    question: str
    answerable: bool
    answer_text: str
    aliases: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)

    @property
    def golds(self) -> list[str]:
        return [self.answer_text, *self.aliases]


def parse_hallucination(text: str, where: str) -> list[HallucinationItem]:
    """Items of a hallucination JSONL text; a malformed line stops with an error naming it."""
    items, seen = [], set()
    for n, obj in read_jsonl_records(text, where):
        missing = [k for k in ("id", "passage", "question", "answerable", "answer_text") if k not in obj]
        if missing:
            raise EvalDataError(f"{where}: line {n} lacks {', '.join(missing)}")
        if obj["id"] in seen:
            raise EvalDataError(f"{where}: line {n}: duplicate id {obj['id']!r}")
        seen.add(obj["id"])
        if not isinstance(obj["answerable"], bool):
            raise EvalDataError(f"{where}: line {n}: answerable must be true or false")
        category = obj.get("category", "other")
        if category not in (*CATEGORIES, "other"):
            raise EvalDataError(f"{where}: line {n}: category {category!r} is not one of {CATEGORIES}")
        aliases = obj.get("aliases", [])
        texts = [obj["passage"], obj["question"], obj["answer_text"], *aliases]
        if not all(isinstance(t, str) and t.strip() for t in texts) or not isinstance(aliases, list):
            raise EvalDataError(f"{where}: line {n}: passage, question, answer_text and aliases must be text")
        items.append(
            HallucinationItem(
                id=str(obj["id"]),
                category=category,
                passage=obj["passage"],
                question=obj["question"],
                answerable=obj["answerable"],
                answer_text=obj["answer_text"],
                aliases=list(aliases),
                source=check_source(obj, where, n),
            )
        )
    return items


def load_hallucination(path: str | Path | None = None) -> list[HallucinationItem]:
    """The hallucination set (the packaged file by default, or ``path``), validated."""
    if path is None:
        text = data_file(HALLUCINATION_FILE).read_text(encoding="utf-8")
        return parse_hallucination(text, HALLUCINATION_FILE)
    path = Path(path)
    return parse_hallucination(path.read_text(encoding="utf-8"), str(path))


# ---- prompts --------------------------------------------------------------------------------------------


def closed_prompt(
    item: HallucinationItem, shots: Sequence[HallucinationItem] = (), chat: bool = False
) -> str:
    """The question alone, after ``shots`` solved closed-book examples."""
    prefix = "".join(f"질문: {ex.question}\n답: {ex.answer_text}\n\n" for ex in shots)
    if chat:
        return f"{CLOSED_INSTRUCTION}\n\n{prefix}질문: {item.question}"
    return f"{prefix}질문: {item.question}\n답:"


def passage_prompt(
    item: HallucinationItem, shots: Sequence[HallucinationItem] = (), chat: bool = False
) -> str:
    """The instruction, ``shots`` solved examples with their passages, then the passage and the question."""
    blocks = [f"지문: {ex.passage}\n질문: {ex.question}\n답: {ex.answer_text}" for ex in shots]
    blocks.append(f"지문: {item.passage}\n질문: {item.question}" + ("" if chat else "\n답:"))
    return PASSAGE_INSTRUCTION + "\n\n" + "\n\n".join(blocks)


# ---- metrics --------------------------------------------------------------------------------------------


def _rate(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _rates(
    items: Sequence[HallucinationItem], closed_book: Sequence[str | None], with_passage: Sequence[str]
) -> dict[str, list[bool]]:
    """Per-item outcomes behind every metric (lists over the answerable or the unanswerable items)."""
    out: dict[str, list[bool]] = defaultdict(list)
    for item, cb, wp in zip(items, closed_book, with_passage, strict=True):
        abstained = is_abstention(wp)
        if item.answerable:
            right = answer_matches(wp, item.golds) and not abstained
            out["closed_book_acc"].append(
                cb is not None and answer_matches(cb, item.golds) and not is_abstention(cb)
            )
            out["with_passage_acc"].append(right)
            out["grounded_rate"].append(right and is_grounded(wp, item.passage))
            out["answerable_abstention_rate"].append(abstained)
        else:
            out["abstention_rate"].append(abstained)
            out["false_answer_rate"].append(bool(wp.strip()) and not abstained)
    return out


METRICS = (
    "closed_book_acc",
    "with_passage_acc",
    "grounded_rate",
    "abstention_rate",
    "false_answer_rate",
    "answerable_abstention_rate",
)


def hallucination_metrics(
    items: Sequence[HallucinationItem], closed_book: Sequence[str | None], with_passage: Sequence[str]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(metrics, breakdown) of predictions aligned with ``items`` (module docstring has the definitions).

    ``closed_book`` holds the closed-book answer of each answerable item (entries of unanswerable items are
    ignored and may be None); ``with_passage`` the answer given with the passage.
    """
    if not (len(items) == len(closed_book) == len(with_passage)):
        raise ValueError(
            f"{len(items)} items, {len(closed_book)} closed-book, {len(with_passage)} with-passage"
        )
    outcomes = _rates(items, closed_book, with_passage)
    metrics = {m: _rate(outcomes[m]) for m in METRICS}
    breakdown: dict[str, dict[str, float]] = {}
    by_cat: dict[str, list[int]] = defaultdict(list)
    for k, item in enumerate(items):
        by_cat[item.category].append(k)
    for cat, ks in sorted(by_cat.items()):
        sub = _rates([items[k] for k in ks], [closed_book[k] for k in ks], [with_passage[k] for k in ks])
        row = {m: _rate(sub[m]) for m in METRICS if sub[m]}
        row["n"] = float(len(ks))
        breakdown[cat] = row
    answerable = sum(it.answerable for it in items)
    breakdown["counts"] = {
        "answerable": float(answerable),
        "unanswerable": float(len(items) - answerable),
        "with_passage_correct": float(sum(outcomes["with_passage_acc"])),
        "grounded": float(sum(outcomes["grounded_rate"])),
    }
    return metrics, breakdown


# ---- task -----------------------------------------------------------------------------------------------


def _spread_both(items: Sequence[HallucinationItem], limit: int | None) -> list[HallucinationItem]:
    """``limit`` items keeping the answerable / unanswerable mix (at least one of each when limit >= 2)."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    ans = [it for it in items if it.answerable]
    una = [it for it in items if not it.answerable]
    n_una = round(limit * len(una) / len(items))
    if limit >= 2 and ans and una:
        n_una = min(max(n_una, 1), limit - 1)
    chosen = {id(it) for it in spread_limit(una, n_una)} if n_una else set()
    chosen |= {id(it) for it in spread_limit(ans, limit - n_una)} if limit - n_una else set()
    return [it for it in items if id(it) in chosen]


class HallucinationTask(PackagedGenerationTask):
    """``hallucination``: closed-book vs with-passage answers, and abstention on unanswerable questions."""

    name = "hallucination"
    group = "Hallucination"
    max_new_tokens = 48

    def load(self, path: Path | None) -> list[HallucinationItem]:
        return load_hallucination(path)

    def run(
        self,
        lm: EvalLM,
        *,
        limit: int | None = None,
        shots: int = 0,
        seed: int = 0,
        chat: bool | None = None,
    ) -> TaskResult:
        """Ask every question with its passage and every answerable one closed-book; score the answers."""
        start = time.perf_counter()
        chat = self.chat if chat is None else chat
        every = self.items()
        items = _spread_both(every, limit)
        rng = random.Random(seed)
        answerable_pool = [x for x in every if x.answerable]
        passage_prompts, closed_prompts, closed_index = [], [], []
        for k, item in enumerate(items):
            # Few-shot examples never share the item's passage (they would give its answer away).
            others = [x for x in every if x.passage != item.passage]
            demo = rng.sample(others, min(len(others), shots)) if shots > 0 else []
            passage_prompts.append(passage_prompt(item, demo, chat=chat))
            if item.answerable:
                pool = [x for x in answerable_pool if x.passage != item.passage]
                closed_demo = rng.sample(pool, min(len(pool), shots)) if shots > 0 else []
                closed_prompts.append(closed_prompt(item, closed_demo, chat=chat))
                closed_index.append(k)
        gen = {"max_new_tokens": self.max_new_tokens, "stop": ("\n",), "chat": chat}
        with_passage = lm.generate(passage_prompts, desc=f"{self.name} (passage)", **gen)
        closed_out = (
            lm.generate(closed_prompts, desc=f"{self.name} (closed-book)", **gen) if closed_prompts else []
        )
        closed_book: list[str | None] = [None] * len(items)
        for k, pred in zip(closed_index, closed_out, strict=True):
            closed_book[k] = pred
        metrics, breakdown = hallucination_metrics(items, closed_book, with_passage)
        counts = breakdown["counts"]
        denominators = {
            "closed_book_acc": counts["answerable"],
            "with_passage_acc": counts["answerable"],
            "grounded_rate": counts["answerable"],
            "answerable_abstention_rate": counts["answerable"],
            "abstention_rate": counts["unanswerable"],
            "false_answer_rate": counts["unanswerable"],
        }
        examples = [
            {
                "id": it.id,
                "answerable": it.answerable,
                "question": it.question,
                "answer": it.answer_text,
                "closed_book": cb,
                "with_passage": wp,
                "abstained": is_abstention(wp),
            }
            for it, cb, wp in list(zip(items, closed_book, with_passage, strict=True))[:N_EXAMPLES]
        ]
        return TaskResult(
            name=self.name,
            group=self.group,
            kind="generation",
            n=len(items),
            shots=shots,
            metrics=metrics,
            chance={},
            stderr={m: binomial_stderr(metrics[m], int(denominators[m])) for m in METRICS},
            breakdown=breakdown,
            seconds=time.perf_counter() - start,
            examples=examples,
        )


TASKS = {"hallucination": HallucinationTask}

__all__ = [
    "ABSTENTION_PHRASES",
    "TASKS",
    "HallucinationItem",
    "HallucinationTask",
    "hallucination_metrics",
    "is_abstention",
    "is_grounded",
    "load_hallucination",
]
