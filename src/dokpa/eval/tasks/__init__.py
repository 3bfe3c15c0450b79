"""The task registry: every benchmark by name, groups of them, and where their data lives.

    from dokpa.eval.tasks import build_tasks
    for task in build_tasks(["kobest", "kmmlu_accounting"], jsonl_files=[Path("my_quiz.jsonl")]):
        if (why := task.unavailable()) is None:
            print(task.run(lm, limit=200).metrics)

Task names: ``kobest_boolq``, ``kobest_copa``, ``kobest_wic``, ``kobest_hellaswag``, ``kobest_sentineg``,
``kmmlu`` (45 subjects, per subject / category / overall), ``kmmlu_<subject>`` (one subject, e.g.
``kmmlu_korean_history``), ``korquad``, ``korea_mc``, ``korea_open``, ``hallucination``. Groups:
``kobest``, ``kmmlu``, ``korquad``, ``korea``, ``hallucination`` and ``all``. A JSONL file passed in
``jsonl_files`` becomes a task named after the file's stem (format: :mod:`dokpa.eval.tasks.jsonl`).

The knowledge-of-Korea and hallucination tasks live in ``korea.py`` and ``hallucination.py``; they are
imported only when built. Each of those modules exposes ``TASKS: dict[name, factory(data_root)]`` (or a
module attribute named like the task); if the module is absent the task is a :class:`SkippedTask`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dokpa.eval.tasks.base import EvalDataError, MCItem, MultipleChoiceTask, Task, TaskResult
from dokpa.eval.tasks.jsonl import JsonlTask
from dokpa.eval.tasks.kmmlu import KMMLU_SUBJECTS, KmmluTask, subject_task_name
from dokpa.eval.tasks.kobest import KOBEST_TASKS
from dokpa.eval.tasks.korquad import KorQuADTask

if TYPE_CHECKING:
    from dokpa.eval.lm import EvalLM

__all__ = [
    "GROUPS",
    "TASKS",
    "EvalDataError",
    "MCItem",
    "MultipleChoiceTask",
    "SkippedTask",
    "Task",
    "TaskResult",
    "build_tasks",
    "default_data_root",
]

DATA_ENV = "DOKPA_EVAL_DATA"


@dataclass
class SkippedTask:
    """A task that cannot run here; ``unavailable()`` says why."""

    name: str
    group: str
    reason: str

    def unavailable(self) -> str | None:
        return self.reason

    def run(self, lm: EvalLM, *, limit: int | None = None, shots: int = 0, seed: int = 0) -> TaskResult:
        raise RuntimeError(f"{self.name} is unavailable: {self.reason}")


def _external(module: str, name: str, group: str) -> Callable[[Path], Task]:
    """A factory that imports ``dokpa.eval.tasks.<module>`` only when the task is built."""

    def factory(data_root: Path) -> Task:
        try:
            mod = importlib.import_module(f"dokpa.eval.tasks.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"dokpa.eval.tasks.{module}":
                raise  # a missing dependency inside the module is a real error
            return SkippedTask(name, group, f"dokpa.eval.tasks.{module} is not installed")
        make = getattr(mod, "TASKS", {}).get(name) or getattr(mod, name, None)
        if make is None:
            return SkippedTask(name, group, f"dokpa.eval.tasks.{module} defines no task {name!r}")
        return make(data_root)

    return factory


TASKS: dict[str, Callable[[Path], Task]] = {
    **KOBEST_TASKS,
    "kmmlu": KmmluTask,
    **{subject_task_name(s): (lambda root, s=s: KmmluTask(root, subjects=[s])) for s in KMMLU_SUBJECTS},
    "korquad": KorQuADTask,
    "korea_mc": _external("korea", "korea_mc", "Korea"),
    "korea_open": _external("korea", "korea_open", "Korea"),
    "hallucination": _external("hallucination", "hallucination", "Hallucination"),
}

GROUPS: dict[str, list[str]] = {
    "kobest": list(KOBEST_TASKS),
    "kmmlu": ["kmmlu"],
    "korquad": ["korquad"],
    "korea": ["korea_mc", "korea_open"],
    "hallucination": ["hallucination"],
}
GROUPS["all"] = [name for group in list(GROUPS.values()) for name in group]


def default_data_root() -> Path:
    """``$DOKPA_EVAL_DATA``, else the first existing ``../shared/data`` (beside the working directory,
    then beside this source checkout), else ``Path("../shared/data")``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    checkout = Path(__file__).resolve().parents[4]
    for candidate in (Path.cwd().parent / "shared" / "data", checkout.parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return Path("../shared/data")


def build_tasks(
    names: Sequence[str], data_root: Path | None = None, jsonl_files: Sequence[Path] = ()
) -> list[Task]:
    """Tasks for ``names`` (task or group names, in order, duplicates dropped) plus one per JSONL file."""
    root = Path(data_root) if data_root is not None else default_data_root()
    wanted: list[str] = []
    for name in names:
        expanded = GROUPS.get(name, [name])
        for n in expanded:
            if n not in TASKS:
                known = ", ".join(
                    [*GROUPS, *(t for t in TASKS if not t.startswith("kmmlu_")), "kmmlu_<subject>"]
                )
                raise ValueError(f"unknown eval task {n!r}; known: {known}")
            if n not in wanted:
                wanted.append(n)
    tasks: list[Task] = [TASKS[n](root) for n in wanted]
    taken = set(wanted)
    for path in jsonl_files:
        task = JsonlTask(Path(path))
        if task.name in taken:
            raise ValueError(f"{path}: task name {task.name!r} (the file's stem) is already taken")
        taken.add(task.name)
        tasks.append(task)
    return tasks
