"""KorQuAD 1.0 reading comprehension: generated answers scored by exact match and character-level F1.

Data: ``<data_root>/korquad/KorQuAD_v1.0_dev.json`` (SQuAD layout: data -> paragraphs -> qas). Each question
is asked as::

    제목: {title}
    본문: {context}
    질문: {question}
    답변:

and the model's greedy continuation, cut at the first newline, is the prediction. Scores use the official
KorQuAD 1.0 evaluation (the SQuAD 1.1 script adapted by the KorQuAD authors): quotes, angle and book-title
brackets and parentheses become spaces, text is lower-cased, ASCII punctuation removed and whitespace
collapsed; exact match compares the normalized strings and F1 counts common characters (Korean words
are not split reliably, so the official F1 is per character, spaces ignored). Each question scores the
best value over its gold answers. Metrics are fractions in 0..1 (the official script prints percents).
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dokpa.eval.tasks.base import N_EXAMPLES, EvalDataError, TaskResult, spread_limit

if TYPE_CHECKING:
    from dokpa.eval.lm import EvalLM

KORQUAD_FILE = "KorQuAD_v1.0_dev.json"
# The official script replaces these with a space before removing ASCII punctuation.
_SPACED = re.compile("['\"《》<>〈〉()‘’]")
_ASCII_PUNCT = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """KorQuAD 1.0's answer normalization (see the module docstring)."""
    text = _SPACED.sub(" ", text).lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalized strings are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def char_f1(prediction: str, gold: str) -> float:
    """F1 over the multiset of characters of the normalized strings, spaces excluded."""
    pred = [ch for ch in normalize_answer(prediction) if ch != " "]
    ref = [ch for ch in normalize_answer(gold) if ch != " "]
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of ``prediction`` against its best-matching gold answer."""
    return max(exact_match(prediction, g) for g in golds), max(char_f1(prediction, g) for g in golds)


@dataclass
class QAItem:
    id: str
    title: str
    context: str
    question: str
    answers: list[str]


def read_korquad(path: Path) -> list[QAItem]:
    """Questions of a KorQuAD 1.0 JSON file, in file order."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise EvalDataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise EvalDataError(f"{path}: expected an object with a 'data' list (SQuAD layout)")
    items = []
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(article.get("paragraphs", [])):
            for qa in para.get("qas", []):
                answers = [ans.get("text", "") for ans in qa.get("answers", [])]
                if not answers or "question" not in qa or "context" not in para:
                    raise EvalDataError(
                        f"{path}: data[{a}].paragraphs[{p}]: question {qa.get('id')} is malformed"
                    )
                items.append(
                    QAItem(
                        id=str(qa.get("id", f"{a}-{p}-{len(items)}")),
                        title=article.get("title", "").replace("_", " "),
                        context=para["context"],
                        question=qa["question"],
                        answers=answers,
                    )
                )
    return items


def korquad_prompt(item: QAItem) -> str:
    """The question with its passage, ending in the answer cue."""
    return f"제목: {item.title}\n본문: {item.context}\n질문: {item.question}\n답변:"


class KorQuADTask:
    """KorQuAD 1.0 dev, generated answers; few-shot examples come from other articles of the same file."""

    name = "korquad"
    group = "KorQuAD"
    max_new_tokens = 32

    def __init__(self, data_root: Path) -> None:
        self.path = Path(data_root) / "korquad" / KORQUAD_FILE
        self._items: list[QAItem] | None = None

    def unavailable(self) -> str | None:
        return None if self.path.is_file() else f"{self.path} not found"

    def items(self) -> list[QAItem]:
        if self._items is None:
            self._items = read_korquad(self.path)
        return self._items

    def run(self, lm: EvalLM, *, limit: int | None = None, shots: int = 0, seed: int = 0) -> TaskResult:
        """Generate an answer per question; exact match and F1 against the gold answers."""
        start = time.perf_counter()
        every = self.items()
        items = spread_limit(every, limit)
        rng = random.Random(seed)
        prompts = []
        for item in items:
            prefix = ""
            if shots > 0:
                others = [x for x in rng.sample(every, min(len(every), shots * 4)) if x.title != item.title]
                prefix = "".join(korquad_prompt(x) + " " + x.answers[0] + "\n\n" for x in others[:shots])
            prompts.append(prefix + korquad_prompt(item))
        preds = lm.generate(prompts, max_new_tokens=self.max_new_tokens, stop=("\n",), desc=self.name)
        ems, f1s = [], []
        for item, pred in zip(items, preds, strict=True):
            em, f1 = best_over_golds(pred, item.answers)
            ems.append(em)
            f1s.append(f1)
        n = len(items)
        em_mean, f1_mean = sum(ems) / n, sum(f1s) / n
        f1_var = sum((x - f1_mean) ** 2 for x in f1s) / (n - 1) if n > 1 else 0.0
        examples = [
            {"id": it.id, "question": it.question, "answers": it.answers, "prediction": pr}
            for it, pr in list(zip(items, preds, strict=True))[:N_EXAMPLES]
        ]
        return TaskResult(
            name=self.name,
            group=self.group,
            kind="generation",
            n=n,
            shots=shots,
            metrics={"exact_match": em_mean, "f1": f1_mean},
            chance={},
            stderr={
                "exact_match": math.sqrt(em_mean * (1 - em_mean) / (n - 1)) if n > 1 else 0.0,
                "f1": math.sqrt(f1_var / n),
            },
            seconds=time.perf_counter() - start,
            examples=examples,
        )
