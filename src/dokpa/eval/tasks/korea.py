"""Knowledge of Korea: the team's probe of Korean history, geography, law, language and culture.

    dokpa eval ... --task korea                        (korea_mc and korea_open)
    from dokpa.eval.tasks.korea import KoreaMCTask, KoreaOpenTask
    KoreaOpenTask(data_root).run(lm, limit=50)

Data: ``dokpa/eval/data/korea_probe.jsonl``, shipped inside the package (written by the dokpa team,
CC0-1.0; schema, counts and checks in ``data/README.md``). Every question carries four choices, the gold
index, a short canonical answer with accepted aliases, its category and a public source. The same questions
run two ways:

``korea_mc`` (multiple choice, KMMLU layout, scored by log-likelihood of the letters " A".." D")::

    {question}
    A. {choice}
    B. {choice}
    C. {choice}
    D. {choice}
    정답:

reports ``acc``/``acc_norm`` overall and per category (history, geography, law, language, culture).

``korea_open`` (generated short answer, greedy, cut at the first newline)::

    질문: {question}
    답:

reports ``match``: the prediction counts as right when the canonical answer or any alias occurs in it after
:func:`normalize_text` (NFKC, lower case, no spaces, punctuation or symbols), so "독도입니다." matches
"독도" and "1,947 m" matches "1947m". A gold answer that starts or ends with a digit must not touch another
digit ("6년" does not match "16년"). Chat models: build the task with ``chat=True`` (or pass ``chat=True``
to ``run``); the question is then sent as a user message through the chat template with a one-line
instruction to answer briefly.
"""

from __future__ import annotations

import importlib.resources
import json
import random
import time
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dokpa.eval.tasks.base import (
    N_EXAMPLES,
    EvalDataError,
    MCItem,
    MultipleChoiceTask,
    TaskResult,
    binomial_stderr,
    spread_limit,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from dokpa.eval.lm import EvalLM

CATEGORIES = ("history", "geography", "law", "language", "culture")
LETTERS = ("A", "B", "C", "D")
PROBE_FILE = "korea_probe.jsonl"
OPEN_INSTRUCTION = "다음 질문에 한 단어나 짧은 구로 답하세요."


def data_file(name: str) -> Traversable:
    """A file of the package's eval data folder (``dokpa/eval/data``), wherever the package is installed."""
    return importlib.resources.files("dokpa.eval").joinpath("data", name)


# ---- answer matching ------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """NFKC, lower case, and only letters, digits and marks kept (spaces, punctuation, symbols dropped).

    NFKC folds full-width digits and compatibility characters (㎞ -> km); dropping punctuation makes
    "87.4km" and "87.4 km" the same string, and "4·19" equal to "4.19".
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LNM")


def _occurs(needle: str, hay: str) -> bool:
    """``needle`` occurs in ``hay`` without a digit glued to a digit at either end."""
    start = hay.find(needle)
    while start != -1:
        end = start + len(needle)
        glued_left = needle[0].isdigit() and start > 0 and hay[start - 1].isdigit()
        glued_right = needle[-1].isdigit() and end < len(hay) and hay[end].isdigit()
        if not (glued_left or glued_right):
            return True
        start = hay.find(needle, start + 1)
    return False


def answer_matches(prediction: str, answers: Sequence[str]) -> bool:
    """True when any of ``answers`` occurs in ``prediction`` after :func:`normalize_text` (see module doc)."""
    pred = normalize_text(prediction)
    return any((gold := normalize_text(a)) and _occurs(gold, pred) for a in answers)


# ---- data -----------------------------------------------------------------------------------------------


@dataclass
class ProbeItem:
    """One knowledge-of-Korea question."""

    id: str
    category: str
    question: str
    choices: list[str]
    answer: int
    answer_text: str
    aliases: list[str] = field(default_factory=list)
    source: dict[str, str] = field(default_factory=dict)

    @property
    def golds(self) -> list[str]:
        """Every accepted open answer: the canonical one first, then the aliases."""
        return [self.answer_text, *self.aliases]


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def read_jsonl_records(text: str, where: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not a JSON object is an error."""
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalDataError(f"{where}: line {n} is not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise EvalDataError(f"{where}: line {n} is not a JSON object")
        records.append((n, obj))
    return records


def check_source(obj: dict[str, Any], where: str, n: int) -> dict[str, str]:
    """The item's ``source`` ({title, url}), or an error naming the line."""
    src = obj.get("source")
    if not (isinstance(src, dict) and isinstance(src.get("title"), str) and isinstance(src.get("url"), str)):
        raise EvalDataError(f"{where}: line {n} needs a source {{title, url}}")
    if not src["url"].startswith("https://"):
        raise EvalDataError(f"{where}: line {n}: source url must start with https://")
    return {"title": src["title"], "url": src["url"]}


def parse_probe(text: str, where: str) -> list[ProbeItem]:
    """Probe items of a JSONL text; any malformed line stops with an error naming it."""
    items, seen = [], set()
    for n, obj in read_jsonl_records(text, where):
        missing = [
            k for k in ("id", "category", "question", "choices", "answer", "answer_text") if k not in obj
        ]
        if missing:
            raise EvalDataError(f"{where}: line {n} lacks {', '.join(missing)}")
        if obj["id"] in seen:
            raise EvalDataError(f"{where}: line {n}: duplicate id {obj['id']!r}")
        seen.add(obj["id"])
        if obj["category"] not in CATEGORIES:
            raise EvalDataError(f"{where}: line {n}: category {obj['category']!r} is not one of {CATEGORIES}")
        choices = obj["choices"]
        if not (_str_list(choices) and len(choices) == len(LETTERS) and len(set(choices)) == len(choices)):
            raise EvalDataError(
                f"{where}: line {n}: choices must be {len(LETTERS)} distinct non-empty strings"
            )
        answer = obj["answer"]
        if not (isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(choices)):
            raise EvalDataError(f"{where}: line {n}: answer must be an index 0..{len(choices) - 1}")
        aliases = obj.get("aliases", [])
        if not (isinstance(obj["answer_text"], str) and obj["answer_text"].strip() and _str_list(aliases)):
            raise EvalDataError(f"{where}: line {n}: answer_text and aliases must be non-empty strings")
        items.append(
            ProbeItem(
                id=str(obj["id"]),
                category=obj["category"],
                question=obj["question"],
                choices=list(choices),
                answer=answer,
                answer_text=obj["answer_text"],
                aliases=list(aliases),
                source=check_source(obj, where, n),
            )
        )
    return items


def load_probe(path: str | Path | None = None) -> list[ProbeItem]:
    """The probe (the packaged file by default, or ``path``), validated."""
    if path is None:
        return parse_probe(data_file(PROBE_FILE).read_text(encoding="utf-8"), PROBE_FILE)
    path = Path(path)
    return parse_probe(path.read_text(encoding="utf-8"), str(path))


# ---- prompts --------------------------------------------------------------------------------------------


def mc_prompt(item: ProbeItem) -> str:
    """The question with lettered choices, ending in the answer cue (KMMLU's layout)."""
    lines = [item.question, *(f"{letter}. {c}" for letter, c in zip(LETTERS, item.choices, strict=True))]
    return "\n".join([*lines, "정답:"])


def open_prompt(question: str, chat: bool = False) -> str:
    """An open question: ``질문/답`` lines for a base model, a short instruction for a chat model."""
    return f"{OPEN_INSTRUCTION}\n질문: {question}" if chat else f"질문: {question}\n답:"


# ---- metrics --------------------------------------------------------------------------------------------


def open_metrics(
    items: Sequence[ProbeItem], predictions: Sequence[str]
) -> tuple[float, list[bool], dict[str, dict[str, float]]]:
    """(overall match rate, per-item correctness, {category: {"match", "n"}}) of generated answers."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} items but {len(predictions)} predictions")
    correct = [answer_matches(p, it.golds) for it, p in zip(items, predictions, strict=True)]
    groups: dict[str, list[bool]] = defaultdict(list)
    for it, ok in zip(items, correct, strict=True):
        groups[it.category].append(ok)
    breakdown = {cat: {"match": sum(v) / len(v), "n": float(len(v))} for cat, v in sorted(groups.items())}
    return (sum(correct) / len(correct) if correct else 0.0), correct, breakdown


# ---- tasks ----------------------------------------------------------------------------------------------


class KoreaMCTask(MultipleChoiceTask):
    """``korea_mc``: the probe as lettered multiple choice; few-shot examples are other probe items."""

    name = "korea_mc"
    group = "Korea"
    breakdown_keys = ("category",)

    def __init__(self, data_root: Path | None = None, path: str | Path | None = None) -> None:
        # data_root is the registry's shared-data folder; the probe ships with the package instead.
        super().__init__(Path(data_root) if data_root is not None else Path("."))
        self.path = Path(path) if path is not None else None

    def unavailable(self) -> str | None:
        if self.path is not None and not self.path.is_file():
            return f"{self.path} not found"
        return None

    def load_items(self) -> list[MCItem]:
        return [
            MCItem(
                id=it.id,
                context=mc_prompt(it),
                choices=list(LETTERS),
                gold=it.answer,
                meta={"category": it.category},
            )
            for it in load_probe(self.path)
        ]

    def load_fewshot(self) -> list[MCItem]:
        return self.items()


class PackagedGenerationTask:
    """The shell of a generation task whose data ships with dokpa: ``path`` points at another file of the
    same format; subclasses set ``name``, ``group``, ``max_new_tokens`` and :meth:`load`."""

    name = ""
    group = ""
    max_new_tokens = 32

    def __init__(
        self,
        data_root: Path | None = None,
        path: str | Path | None = None,
        chat: bool = False,
        max_new_tokens: int | None = None,
    ) -> None:
        # data_root is the registry's shared-data folder; these sets ship with the package instead.
        self.path = Path(path) if path is not None else None
        self.chat = chat
        if max_new_tokens is not None:
            self.max_new_tokens = max_new_tokens
        self._items: list[Any] | None = None

    def load(self, path: Path | None) -> list[Any]:
        """The task's items from ``path`` (None: the packaged file)."""
        raise NotImplementedError

    def unavailable(self) -> str | None:
        if self.path is not None and not self.path.is_file():
            return f"{self.path} not found"
        return None

    def items(self) -> list[Any]:
        if self._items is None:
            self._items = self.load(self.path)
            if not self._items:
                raise EvalDataError(f"{self.name}: the data file has no items")
        return self._items


class KoreaOpenTask(PackagedGenerationTask):
    """``korea_open``: the probe's questions answered in free text, scored by normalized match."""

    name = "korea_open"
    group = "Korea"
    max_new_tokens = 32

    def load(self, path: Path | None) -> list[ProbeItem]:
        return load_probe(path)

    def prompt(self, item: ProbeItem, shots: Sequence[ProbeItem] = (), chat: bool = False) -> str:
        """The open question, after ``shots`` solved examples (blank-line separated)."""
        prefix = "".join(f"질문: {ex.question}\n답: {ex.answer_text}\n\n" for ex in shots)
        if chat:
            return f"{OPEN_INSTRUCTION}\n\n{prefix}질문: {item.question}"
        return f"{prefix}{open_prompt(item.question)}"

    def run(
        self,
        lm: EvalLM,
        *,
        limit: int | None = None,
        shots: int = 0,
        seed: int = 0,
        chat: bool | None = None,
    ) -> TaskResult:
        """Generate an answer per question; ``match`` overall and per category."""
        start = time.perf_counter()
        chat = self.chat if chat is None else chat
        every = self.items()
        items = spread_limit(every, limit)
        rng = random.Random(seed)
        prompts = []
        for item in items:
            picked = [x for x in rng.sample(every, min(len(every), shots + 1)) if x.id != item.id][:shots]
            prompts.append(self.prompt(item, picked if shots > 0 else (), chat=chat))
        preds = lm.generate(
            prompts, max_new_tokens=self.max_new_tokens, stop=("\n",), chat=chat, desc=self.name
        )
        match, correct, breakdown = open_metrics(items, preds)
        examples = [
            {"id": it.id, "question": it.question, "answer": it.answer_text, "prediction": pr, "correct": ok}
            for it, pr, ok in list(zip(items, preds, correct, strict=True))[:N_EXAMPLES]
        ]
        n = len(items)
        return TaskResult(
            name=self.name,
            group=self.group,
            kind="generation",
            n=n,
            shots=shots,
            metrics={"match": match},
            chance={},
            stderr={"match": binomial_stderr(match, n)},
            breakdown=breakdown,
            seconds=time.perf_counter() - start,
            examples=examples,
        )


TASKS = {"korea_mc": KoreaMCTask, "korea_open": KoreaOpenTask}

__all__ = [
    "CATEGORIES",
    "TASKS",
    "KoreaMCTask",
    "KoreaOpenTask",
    "PackagedGenerationTask",
    "ProbeItem",
    "answer_matches",
    "load_probe",
    "normalize_text",
    "open_metrics",
]
