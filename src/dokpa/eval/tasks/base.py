"""Task building blocks: multiple-choice items, results, and the log-likelihood multiple-choice scorer.

A multiple-choice task turns each :class:`MCItem` into one request per choice,
``(fewshot prefix + item.context, target_delimiter + choice)``, exactly as lm-evaluation-harness forms
them, and picks the choice with the highest summed log-likelihood (``acc``) or the highest
log-likelihood per character of the choice (``acc_norm``). Few-shot examples are drawn with ``seed``
from the task's few-shot split and joined before the question with a blank line.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dokpa.eval.lm import EvalLM

N_EXAMPLES = 5  # items kept with their prediction for the report card


class EvalDataError(ValueError):
    """Benchmark data that cannot be read: the message names the file, the row and the problem."""


@dataclass
class MCItem:
    """One multiple-choice question: the text before the answer, the choices, the gold index."""

    id: str
    context: str
    choices: list[str]
    gold: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """One scored item: the full prompt and the summed log-likelihood of each choice."""

    item: MCItem
    prompt: str
    loglikelihoods: list[float]

    @property
    def pred(self) -> int:
        """The choice with the highest log-likelihood (``acc``)."""
        return max(range(len(self.loglikelihoods)), key=self.loglikelihoods.__getitem__)

    @property
    def pred_norm(self) -> int:
        """The choice with the highest log-likelihood per character of the choice (``acc_norm``)."""
        norm = [ll / max(1, len(c)) for ll, c in zip(self.loglikelihoods, self.item.choices, strict=True)]
        return max(range(len(norm)), key=norm.__getitem__)

    def to_example(self) -> dict[str, Any]:
        """The report card's view of this item."""
        return {
            "id": self.item.id,
            "prompt": self.prompt,
            "choices": self.item.choices,
            "gold": self.item.gold,
            "pred": self.pred,
            "pred_norm": self.pred_norm,
            "loglikelihoods": [round(x, 4) for x in self.loglikelihoods],
        }


@dataclass
class TaskResult:
    """What one task measured; every metric is a fraction in 0..1."""

    name: str
    group: str
    kind: str  # "multiple_choice" | "generation"
    n: int
    shots: int
    metrics: dict[str, float]
    chance: dict[str, float]
    stderr: dict[str, float]
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``tasks`` entries of results.json)."""
        return asdict(self)


class Task(Protocol):
    """Anything the eval stage can run."""

    name: str
    group: str

    def unavailable(self) -> str | None:
        """None when the task can run, else why it is skipped (e.g. its data folder is missing)."""
        ...

    def run(self, lm: EvalLM, *, limit: int | None = None, shots: int = 0, seed: int = 0) -> TaskResult:
        """Score ``lm``; ``limit`` caps the items, ``shots`` few-shot examples drawn with ``seed``."""
        ...


def binomial_stderr(p: float, n: int) -> float:
    """Standard error of a mean of ``n`` 0/1 outcomes with mean ``p`` (sample variance, as lm-eval)."""
    return math.sqrt(p * (1.0 - p) / (n - 1)) if n > 1 else 0.0


def spread_limit(items: Sequence[Any], limit: int | None) -> list[Any]:
    """``limit`` items spread evenly over ``items`` (all of them when ``limit`` is None or large).

    Evenly spaced rather than the first ``limit``: benchmark files are often ordered (by subject, by label),
    and a prefix would measure one corner of the task.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    return [items[(k * len(items)) // limit] for k in range(limit)]


def macro_f1(golds: Sequence[int], preds: Sequence[int]) -> float:
    """Macro-averaged F1 over the gold labels present (scikit-learn's ``f1_score(average="macro")``)."""
    labels = sorted(set(golds) | set(preds))
    scores = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(golds, preds, strict=True))
        fp = sum(p == label != g for g, p in zip(golds, preds, strict=True))
        fn = sum(g == label != p for g, p in zip(golds, preds, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


class MultipleChoiceTask:
    """Base class: subclasses set ``name``/``group`` and implement :meth:`load_items` (and few-shot)."""

    name = "multiple_choice"
    group = "custom"
    target_delimiter = " "
    fewshot_delimiter = "\n\n"
    # meta keys whose values get their own acc/acc_norm/n row in TaskResult.breakdown
    breakdown_keys: tuple[str, ...] = ()
    report_f1 = False  # KoBEST reports macro F1 next to accuracy

    def __init__(self, data_root: Path) -> None:
        self.data_root = Path(data_root)
        self._items: list[MCItem] | None = None
        self._fewshot: list[MCItem] | None = None

    # ---- data ------------------------------------------------------------------------------------
    def required_paths(self) -> list[Path]:
        """Files or folders that must exist for the task to run."""
        return []

    def unavailable(self) -> str | None:
        """Why the task cannot run (its data is missing), or None."""
        for p in self.required_paths():
            if not p.exists():
                return f"{p} not found"
        return None

    def load_items(self) -> list[MCItem]:
        """The evaluation items, in file order."""
        raise NotImplementedError

    def load_fewshot(self) -> list[MCItem]:
        """Items few-shot examples are drawn from (the train or dev split); empty if there is none."""
        return []

    def items(self) -> list[MCItem]:
        if self._items is None:
            self._items = self.load_items()
            if not self._items:
                raise EvalDataError(f"{self.name}: no items found under {self.data_root}")
        return self._items

    def fewshot_pool(self) -> list[MCItem]:
        if self._fewshot is None:
            self._fewshot = self.load_fewshot()
        return self._fewshot

    # ---- prompts ---------------------------------------------------------------------------------
    def answer_text(self, item: MCItem) -> str:
        """The gold answer as it follows the context in a few-shot example."""
        return item.choices[item.gold]

    def fewshot_candidates(self, item: MCItem) -> list[MCItem]:
        """The examples ``item``'s few-shot prefix is drawn from (by default the whole few-shot split)."""
        return self.fewshot_pool()

    def fewshot_prefix(self, item: MCItem, shots: int, rng: random.Random) -> str:
        """``shots`` solved examples (never ``item`` itself) joined by blank lines, ending in one."""
        if shots <= 0:
            return ""
        pool = self.fewshot_candidates(item)
        if not pool:
            raise EvalDataError(f"{self.name}: {shots}-shot asked for, but there is no few-shot split")
        # One spare draw, so the item itself can be dropped when the pool is the evaluated split.
        picked = [ex for ex in rng.sample(pool, min(len(pool), shots + 1)) if ex is not item][:shots]
        parts = [ex.context + self.target_delimiter + self.answer_text(ex) for ex in picked]
        return self.fewshot_delimiter.join(parts) + self.fewshot_delimiter

    # ---- scoring ---------------------------------------------------------------------------------
    def predict(
        self, lm: EvalLM, items: Sequence[MCItem], *, shots: int = 0, seed: int = 0
    ) -> list[Prediction]:
        """Score every choice of every item by log-likelihood (one batched call for the whole task)."""
        rng = random.Random(seed)
        prompts = [self.fewshot_prefix(item, shots, rng) + item.context for item in items]
        requests = [
            (prompt, self.target_delimiter + choice)
            for prompt, item in zip(prompts, items, strict=True)
            for choice in item.choices
        ]
        scores = iter(lm.loglikelihood(requests, desc=self.name))
        return [
            Prediction(item, prompt, [next(scores)[0] for _ in item.choices])
            for prompt, item in zip(prompts, items, strict=True)
        ]

    def run(self, lm: EvalLM, *, limit: int | None = None, shots: int = 0, seed: int = 0) -> TaskResult:
        """Accuracy, normalized accuracy and breakdowns over ``limit`` items (all by default)."""
        start = time.perf_counter()
        items = spread_limit(self.items(), limit)
        preds = self.predict(lm, items, shots=shots, seed=seed)
        correct = [p.pred == p.item.gold for p in preds]
        correct_norm = [p.pred_norm == p.item.gold for p in preds]
        n = len(items)
        acc, acc_norm = sum(correct) / n, sum(correct_norm) / n
        chance = sum(1.0 / len(item.choices) for item in items) / n
        metrics = {"acc": acc, "acc_norm": acc_norm}
        if self.report_f1:
            metrics["f1"] = macro_f1([item.gold for item in items], [p.pred for p in preds])
        return TaskResult(
            name=self.name,
            group=self.group,
            kind="multiple_choice",
            n=n,
            shots=shots,
            metrics=metrics,
            chance={"acc": chance, "acc_norm": chance},
            stderr={"acc": binomial_stderr(acc, n), "acc_norm": binomial_stderr(acc_norm, n)},
            breakdown=self.breakdown(items, correct, correct_norm),
            seconds=time.perf_counter() - start,
            examples=[p.to_example() for p in preds[:N_EXAMPLES]],
        )

    def breakdown(
        self, items: Sequence[MCItem], correct: Sequence[bool], correct_norm: Sequence[bool]
    ) -> dict[str, dict[str, float]]:
        """acc / acc_norm / n per value of each ``breakdown_keys`` meta field (e.g. KMMLU subject)."""
        table: dict[str, dict[str, float]] = {}
        for key in self.breakdown_keys:
            groups: dict[str, list[int]] = defaultdict(list)
            for k, item in enumerate(items):
                if key in item.meta:
                    groups[str(item.meta[key])].append(k)
            for value in sorted(groups):
                ks = groups[value]
                table[value] = {
                    "acc": sum(correct[k] for k in ks) / len(ks),
                    "acc_norm": sum(correct_norm[k] for k in ks) / len(ks),
                    "chance": sum(1.0 / len(items[k].choices) for k in ks) / len(ks),
                    "n": float(len(ks)),
                }
        return table
