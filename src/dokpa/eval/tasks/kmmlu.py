"""KMMLU: 45 subjects of Korean expert-level multiple-choice questions (HAERAE-HUB).

Data: ``<data_root>/kmmlu/<Subject>-{dev,test}.csv`` with columns ``question, answer (1-4), A, B, C, D``
(file names matched case-insensitively). ``test`` is scored; few-shot examples come from ``dev``.

Prompt and choices as lm-evaluation-harness's ``kmmlu`` (multiple-choice) tasks::

    {question}
    A. {A}
    B. {B}
    C. {C}
    D. {D}
    정답：

scored with the continuations " A", " B", " C", " D". The ``kmmlu`` task runs all subjects and reports
the overall micro average (every question counts once) plus a breakdown per subject (KMMLU's names, e.g.
``Korean-History``) and per category (``STEM``, ``Applied Science``, ``HUMSS``, ``Other``: the paper's
grouping, as the harness's ``kmmlu_<category>`` groups). ``kmmlu_<subject>`` (e.g. ``kmmlu_accounting``)
runs one subject.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from dokpa.eval.tasks.base import EvalDataError, MCItem, MultipleChoiceTask

LETTERS = ["A", "B", "C", "D"]

# Subject -> category, as lm-evaluation-harness tags its kmmlu_<subject> tasks (from the KMMLU paper).
KMMLU_CATEGORY: dict[str, str] = {
    **dict.fromkeys(
        [
            "Biology",
            "Chemical-Engineering",
            "Chemistry",
            "Civil-Engineering",
            "Computer-Science",
            "Ecology",
            "Electrical-Engineering",
            "Information-Technology",
            "Materials-Engineering",
            "Math",
            "Mechanical-Engineering",
        ],
        "STEM",
    ),
    **dict.fromkeys(
        [
            "Aviation-Engineering-and-Maintenance",
            "Electronics-Engineering",
            "Energy-Management",
            "Environmental-Science",
            "Gas-Technology-and-Engineering",
            "Geomatics",
            "Industrial-Engineer",
            "Machine-Design-and-Manufacturing",
            "Maritime-Engineering",
            "Nondestructive-Testing",
            "Railway-and-Automotive-Engineering",
            "Telecommunications-and-Wireless-Technology",
        ],
        "Applied Science",
    ),
    **dict.fromkeys(
        [
            "Accounting",
            "Criminal-Law",
            "Economics",
            "Education",
            "Korean-History",
            "Law",
            "Management",
            "Political-Science-and-Sociology",
            "Psychology",
            "Social-Welfare",
            "Taxation",
        ],
        "HUMSS",
    ),
    **dict.fromkeys(
        [
            "Agricultural-Sciences",
            "Construction",
            "Fashion",
            "Food-Processing",
            "Health",
            "Interior-Architecture-and-Design",
            "Marketing",
            "Patent",
            "Public-Safety",
            "Real-Estate",
            "Refrigerating-Machinery",
        ],
        "Other",
    ),
}
KMMLU_SUBJECTS: list[str] = sorted(KMMLU_CATEGORY)
KMMLU_CATEGORIES = ["STEM", "Applied Science", "HUMSS", "Other"]


def subject_task_name(subject: str) -> str:
    """``Korean-History`` -> ``kmmlu_korean_history``."""
    return "kmmlu_" + subject.lower().replace("-", "_")


def kmmlu_prompt(question: str, options: Sequence[str]) -> str:
    """The question, the four lettered options and the answer cue."""
    lines = [question.strip(), *(f"{letter}. {opt}" for letter, opt in zip(LETTERS, options, strict=True))]
    return "\n".join([*lines, "정답："])


def read_kmmlu_csv(path: Path, subject: str) -> list[MCItem]:
    """Items of one KMMLU CSV; EvalDataError naming the file and row on bad input."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("question", "answer", *LETTERS) if c not in (reader.fieldnames or [])]
        if missing:
            raise EvalDataError(f"{path}: missing column(s) {missing}; header is {reader.fieldnames}")
        items = []
        for n, row in enumerate(reader, start=2):
            if None in row or any(row[c] is None for c in ("question", "answer", *LETTERS)):
                raise EvalDataError(f"{path}: row {n} has a different number of columns than the header")
            answer = row["answer"].strip()
            if answer not in ("1", "2", "3", "4"):
                raise EvalDataError(f"{path}: row {n}: answer must be 1-4, got {answer!r}")
            items.append(
                MCItem(
                    id=f"{subject}/{n}",
                    context=kmmlu_prompt(row["question"], [row[c] for c in LETTERS]),
                    choices=list(LETTERS),
                    gold=int(answer) - 1,
                    meta={"subject": subject, "category": KMMLU_CATEGORY[subject]},
                )
            )
    return items


class KmmluTask(MultipleChoiceTask):
    """KMMLU over ``subjects`` (default: all 45) with subject and category breakdowns."""

    group = "KMMLU"

    def __init__(self, data_root: Path, subjects: Sequence[str] | None = None) -> None:
        super().__init__(data_root)
        unknown = [s for s in subjects or () if s not in KMMLU_CATEGORY]
        if unknown:
            raise ValueError(f"unknown KMMLU subject(s) {unknown}; known: {', '.join(KMMLU_SUBJECTS)}")
        self.subjects = list(subjects) if subjects else list(KMMLU_SUBJECTS)
        single = len(self.subjects) == 1
        self.name = subject_task_name(self.subjects[0]) if single else "kmmlu"
        self.breakdown_keys = () if single else ("subject", "category")

    @property
    def folder(self) -> Path:
        return self.data_root / "kmmlu"

    def split_path(self, subject: str, split: str) -> Path | None:
        """``<Subject>-<split>.csv`` in the KMMLU folder, whatever the file name's case."""
        wanted = f"{subject}-{split}.csv".lower()
        if self.folder.is_dir():
            for p in self.folder.iterdir():
                if p.name.lower() == wanted:
                    return p
        return None

    def unavailable(self) -> str | None:
        if not self.folder.is_dir():
            return f"{self.folder} not found"
        missing = [f"{s}-test.csv" for s in self.subjects if self.split_path(s, "test") is None]
        if missing:
            shown = ", ".join(missing[:3])
            return f"{self.folder}: {len(missing)} of {len(self.subjects)} subjects missing ({shown})"
        return None

    def load_items(self) -> list[MCItem]:
        items = []
        for s in self.subjects:
            path = self.split_path(s, "test")
            if path is None:
                raise EvalDataError(f"{self.folder}: {s}-test.csv not found")
            items += read_kmmlu_csv(path, s)
        return items

    def load_fewshot(self) -> list[MCItem]:
        return [
            item for s in self.subjects if (p := self.split_path(s, "dev")) for item in read_kmmlu_csv(p, s)
        ]

    def fewshot_candidates(self, item: MCItem) -> list[MCItem]:
        """The item's own subject's dev questions (the harness draws few-shot examples per subject)."""
        return [ex for ex in self.fewshot_pool() if ex.meta["subject"] == item.meta["subject"]]
