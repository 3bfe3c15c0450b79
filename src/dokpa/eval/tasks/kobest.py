"""KoBEST (Korean Balanced Evaluation of Significant Tasks): BoolQ, COPA, WiC, HellaSwag, SentiNeg.

Data: ``<data_root>/kobest/<Task>/{train,dev,test}.tsv`` as released in SKT-LSL/KoBEST_datarepo. The
``test`` split is scored; few-shot examples come from ``train``. Prompts and choices follow
lm-evaluation-harness's ``kobest_*`` tasks so the numbers compare with published ones:

- BoolQ:     ``{paragraph} 질문: {question} 답변: `` -> 아니오 / 예
- COPA:      ``{premise}  왜냐하면`` (cause) or ``{premise}  그래서`` (effect) -> the two alternatives
- WiC:       ``문장1: {s1} 문장2: {s2} 두 문장에서 {word}가 같은 뜻으로 쓰였나?`` -> 아니오 / 예
- HellaSwag: ``문장: {context}`` -> the four endings (``acc_norm`` is the headline here)
- SentiNeg:  ``문장: {sentence} 긍부정:`` -> 부정 / 긍정 (the negated-sentence test set)

Each choice is scored as the continuation ``" " + choice``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

from dokpa.eval.tasks.base import EvalDataError, MCItem, MultipleChoiceTask

YES_NO = ["아니오", "예"]
COPA_CONNECTIVE = {"원인": " 왜냐하면", "결과": " 그래서"}  # as the harness: premise + " " + connective


def read_tsv(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a KoBEST TSV as dicts; EvalDataError naming the file and row on a malformed line."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise EvalDataError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise EvalDataError(f"{path}: missing column(s) {missing}; header is {header}")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise EvalDataError(f"{path}: row {n} has {len(row)} columns, expected {len(header)}")
        out.append(dict(zip(header, row, strict=True)))
    return out


def parse_bool(value: str, where: str) -> int:
    """1 for True/TRUE/true, 0 for False/FALSE/false."""
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise EvalDataError(f"{where}: expected True or False, got {value!r}")
    return int(v == "true")


def parse_label(value: str, n_choices: int, where: str, base: int = 0) -> int:
    """An integer label in ``base .. base + n_choices - 1``, returned 0-based."""
    try:
        label = int(value.strip()) - base
    except ValueError:
        raise EvalDataError(f"{where}: label {value!r} is not an integer") from None
    if not 0 <= label < n_choices:
        raise EvalDataError(f"{where}: label {value!r} out of range for {n_choices} choices")
    return label


class KobestTask(MultipleChoiceTask):
    """One KoBEST task: subclasses give the folder, columns and the row -> item mapping."""

    group = "KoBEST"
    folder = ""
    columns: tuple[str, ...] = ()
    report_f1 = True
    eval_split = "test"
    fewshot_split = "train"

    def split_path(self, split: str) -> Path:
        return self.data_root / "kobest" / self.folder / f"{split}.tsv"

    def required_paths(self) -> list[Path]:
        return [self.split_path(self.eval_split)]

    def make_item(self, row: dict[str, str], where: str) -> MCItem:
        raise NotImplementedError

    def read_split(self, split: str) -> list[MCItem]:
        path = self.split_path(split)
        rows = read_tsv(path, self.columns)
        return [self.make_item(row, f"{path}: row {n}") for n, row in enumerate(rows, start=2)]

    def load_items(self) -> list[MCItem]:
        return self.read_split(self.eval_split)

    def load_fewshot(self) -> list[MCItem]:
        return self.read_split(self.fewshot_split) if self.split_path(self.fewshot_split).is_file() else []


class BoolQ(KobestTask):
    name = "kobest_boolq"
    folder = "BoolQ"
    columns = ("ID", "Text", "Question", "Answer")

    def make_item(self, row: dict[str, str], where: str) -> MCItem:
        return MCItem(
            id=row["ID"],
            context=f"{row['Text']} 질문: {row['Question']} 답변: ",
            choices=list(YES_NO),
            gold=parse_bool(row["Answer"], where),
        )


class COPA(KobestTask):
    name = "kobest_copa"
    folder = "COPA"
    columns = ("ID", "sentence", "question", "1", "2", "Answer")

    def make_item(self, row: dict[str, str], where: str) -> MCItem:
        kind = row["question"].strip()
        if kind not in COPA_CONNECTIVE:
            raise EvalDataError(f"{where}: question must be 원인 or 결과, got {kind!r}")
        return MCItem(
            id=row["ID"],
            context=f"{row['sentence']} {COPA_CONNECTIVE[kind]}",
            choices=[row["1"], row["2"]],
            gold=parse_label(row["Answer"], 2, where, base=1),
            meta={"question": kind},
        )


class WiC(KobestTask):
    name = "kobest_wic"
    folder = "WiC"
    columns = ("ID", "Target", "SENTENCE1", "SENTENCE2", "ANSWER")

    def make_item(self, row: dict[str, str], where: str) -> MCItem:
        return MCItem(
            id=row["ID"],
            context=(
                f"문장1: {row['SENTENCE1']} 문장2: {row['SENTENCE2']} "
                f"두 문장에서 {row['Target']}가 같은 뜻으로 쓰였나?"
            ),
            choices=list(YES_NO),
            gold=parse_bool(row["ANSWER"], where),
        )


class HellaSwag(KobestTask):
    name = "kobest_hellaswag"
    folder = "HellaSwag"
    columns = ("context", "choice1", "choice2", "choice3", "choice4", "label")

    def make_item(self, row: dict[str, str], where: str) -> MCItem:
        return MCItem(
            id=where.rsplit(" ", 1)[-1],  # the file has no id column: the row number
            context=f"문장: {row['context']}",
            choices=[row[f"choice{k}"] for k in range(1, 5)],
            gold=parse_label(row["label"], 4, where),
        )


class SentiNeg(KobestTask):
    name = "kobest_sentineg"
    folder = "SentiNeg"
    columns = ("ID", "Label", "Text")

    def make_item(self, row: dict[str, str], where: str) -> MCItem:
        return MCItem(
            id=row["ID"],
            context=f"문장: {row['Text']} 긍부정:",
            choices=["부정", "긍정"],
            gold=parse_label(row["Label"], 2, where),
        )


KOBEST_TASKS: dict[str, Callable[[Path], MultipleChoiceTask]] = {
    cls.name: cls for cls in (BoolQ, COPA, WiC, HellaSwag, SentiNeg)
}
