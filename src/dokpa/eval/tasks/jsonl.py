"""Your own multiple-choice task from a JSONL file, no code needed.

    dokpa eval ... --task-file my_quiz.jsonl          (the task is named after the file: my_quiz)
    build_tasks([], jsonl_files=[Path("my_quiz.jsonl")])

One question per line::

    {"id": "q1", "question": "대한민국의 수도는?", "choices": ["서울", "부산", "대구"], "answer": 0}
    {"id": "q2", "question": "독도가 있는 바다는?", "choices": ["동해", "서해"], "answer": "동해"}

- ``question`` (or ``context``): the text before the answer. A ``question`` is shown as
  ``{question}\\n답:`` (change it with the ``prompt`` option); a ``context`` is used exactly as written.
- ``choices``: two or more distinct, non-empty strings. Each is scored as the continuation ``" " + choice``.
- ``answer``: the 0-based index of the right choice, or its exact text.
- ``id``: optional (default: the line number); any other field (e.g. ``"category"``) is kept as metadata.

An optional first line ``{"options": {...}}`` sets, for the whole file:

- ``prompt``: template for ``question`` items, with ``{question}`` (default ``"{question}\\n답:"``);
- ``show_choices``: true to list the choices in the prompt as ``A. ...``, ``B. ...`` and score the letters
  (KMMLU style) instead of the choice texts;
- ``breakdown``: a field name, or a list of them, to report accuracy per value (e.g. ``"category"``);
- ``group``: the report-card group (default ``custom``).

Few-shot examples (``--shots``) come from a sibling file ``<name>.fewshot.jsonl`` in the same format; without
one, few-shot runs are refused. Blank lines and lines starting with ``//`` are skipped. A malformed line
stops the task with an error naming the file, the line and the problem.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from dokpa.eval.tasks.base import EvalDataError, MCItem, MultipleChoiceTask

DEFAULT_PROMPT = "{question}\n답:"
_KNOWN = {"id", "question", "context", "choices", "answer"}
_OPTIONS = {"prompt", "show_choices", "breakdown", "group"}


def fewshot_path(path: Path) -> Path:
    """``quiz.jsonl`` -> ``quiz.fewshot.jsonl`` beside it."""
    return path.with_name(f"{path.stem}.fewshot{path.suffix}")


def _read_lines(path: Path) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """The options (empty if none) and the (line number, object) records of a JSONL file."""
    options: dict[str, Any] = {}
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalDataError(f"{path}: line {n}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise EvalDataError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}")
        if set(obj) == {"options"}:
            if records or options:
                raise EvalDataError(f"{path}: line {n}: the options line must come first")
            if not isinstance(obj["options"], dict):
                raise EvalDataError(f"{path}: line {n}: options must be an object")
            unknown = set(obj["options"]) - _OPTIONS
            if unknown:
                raise EvalDataError(
                    f"{path}: line {n}: unknown option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}"
                )
            options = obj["options"]
            continue
        records.append((n, obj))
    return options, records


def parse_item(obj: dict[str, Any], where: str, options: dict[str, Any], default_id: str = "") -> MCItem:
    """One record -> MCItem; EvalDataError naming ``where`` and the problem."""
    choices = obj.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        raise EvalDataError(f"{where}: 'choices' must be a list of at least 2 strings")
    if not all(isinstance(c, str) and c.strip() for c in choices):
        raise EvalDataError(f"{where}: every choice must be a non-empty string")
    if len(set(choices)) != len(choices):
        raise EvalDataError(f"{where}: choices must be distinct")
    answer = obj.get("answer")
    if isinstance(answer, bool) or answer is None:
        raise EvalDataError(f"{where}: 'answer' must be a choice index or the choice text")
    if isinstance(answer, int):
        if not 0 <= answer < len(choices):
            raise EvalDataError(f"{where}: answer {answer} out of range for {len(choices)} choices")
        gold = answer
    elif isinstance(answer, str):
        if answer not in choices:
            raise EvalDataError(f"{where}: answer {answer!r} is not one of the choices")
        gold = choices.index(answer)
    else:
        raise EvalDataError(
            f"{where}: 'answer' must be an int index or a string, got {type(answer).__name__}"
        )

    if isinstance(obj.get("context"), str):
        context = obj["context"]
    elif isinstance(obj.get("question"), str):
        context = obj["question"]
    else:
        raise EvalDataError(f"{where}: needs a 'question' or 'context' string")
    if options.get("show_choices"):
        if len(choices) > 26:
            raise EvalDataError(f"{where}: show_choices supports at most 26 choices")
        letters = list(string.ascii_uppercase[: len(choices)])
        listed = "\n".join(f"{letter}. {c}" for letter, c in zip(letters, choices, strict=True))
        context = f"{context}\n{listed}"
        choices = letters
    if "context" not in obj:
        try:
            context = str(options.get("prompt", DEFAULT_PROMPT)).format(question=context)
        except (KeyError, IndexError, ValueError) as e:
            raise EvalDataError(f"{where}: the prompt option must contain {{question}} only ({e})") from None
    meta = {k: v for k, v in obj.items() if k not in _KNOWN}
    return MCItem(
        id=str(obj.get("id", default_id or where)),
        context=context,
        choices=list(choices),
        gold=gold,
        meta=meta,
    )


class JsonlTask(MultipleChoiceTask):
    """A multiple-choice task read from a user's JSONL file (format in the module docstring)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.parent)
        self.path = Path(path)
        self.name = self.path.name.removesuffix(".jsonl").removesuffix(".json")
        self.options: dict[str, Any] = {}
        if self.path.is_file():  # options now, so group and breakdown are known before the run
            self.options, _ = _read_lines(self.path)
        breakdown = self.options.get("breakdown", ())
        self.breakdown_keys = (breakdown,) if isinstance(breakdown, str) else tuple(breakdown)
        self.group = str(self.options.get("group", "custom"))

    def unavailable(self) -> str | None:
        return None if self.path.is_file() else f"{self.path} not found"

    def _read(self, path: Path) -> list[MCItem]:
        _, records = _read_lines(path)  # the main file's options apply to its few-shot file too
        items = [parse_item(obj, f"{path}: line {n}", self.options, f"line {n}") for n, obj in records]
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise EvalDataError(f"{path}: id {dup!r} appears more than once")
        return items

    def load_items(self) -> list[MCItem]:
        items = self._read(self.path)
        if not items:
            raise EvalDataError(f"{self.path}: no questions found")
        return items

    def load_fewshot(self) -> list[MCItem]:
        extra = fewshot_path(self.path)
        return self._read(extra) if extra.is_file() else []
