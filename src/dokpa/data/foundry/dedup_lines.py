"""Repeated-line removal for templated sites: count -> merge -> remove.

A line (NFC, whitespace-folded; blank lines never count) is *repeated* in a group of documents (by default
the ``source`` metadata; ``group_by="url_host"`` groups web pages by host) when it occurs in at least
``min_docs`` documents of the group and in at least ``min_doc_frac`` of them. Navigation bars, menus,
footers and "related topics" headings of a help site or a news site are exactly that.

Policy: the first occurrence is kept (``keep_first=True``): the document that comes first by
``(task rank, index in task)`` keeps its copy and every other document loses it. Like C4's span dedup this
keeps one copy of a line that is real content shared by many pages (a disclaimer, a legal notice, an error
table) instead of losing it from the corpus altogether, and one leftover menu among thousands of pages
costs nothing. ``keep_first=False`` removes every copy. A document with nothing left is dropped with reason
``"empty_after_line_dedup"`` (its text unchanged, so the ledger shows what it was); every document gets
``metadata["lines_removed"]``.

Three stages rather than two so that the last one loads only the repeated lines, not every distinct line
of the corpus::

    count, merge, remove = line_dedup_stages("work/lines")
    LocalPipelineExecutor([reader, count], tasks=N)
    LocalPipelineExecutor([merge], tasks=merge_workers)
    LocalPipelineExecutor([reader, remove, writer], tasks=N)     # same reader and N as stage 1
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import NamedTuple

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.typeshelper import StatHints

from dokpa.data.foundry._dedup_util import (
    check_doc_count,
    fold,
    group_value,
    hash64,
    hash_slice,
    read_array,
    write_doc_count,
)
from dokpa.data.foundry.lean import LeanFilter

REASON = "empty_after_line_dedup"
LINE_DTYPE = np.dtype([("g", "<u8"), ("h", "<u8"), ("count", "<u4"), ("first", "<u8")])
COUNT_EXT = ".lines"
REPEATED_EXT = ".repeated"
_BLANK_RUNS = re.compile(r"\n{3,}")


def _aggregate(rec: np.ndarray) -> np.ndarray:
    """Merge records with equal (group, line): add counts, keep the smallest first position."""
    if len(rec) == 0:
        return rec
    rec = rec[np.lexsort((rec["first"], rec["h"], rec["g"]))]
    new = np.ones(len(rec), dtype=bool)
    new[1:] = (rec["g"][1:] != rec["g"][:-1]) | (rec["h"][1:] != rec["h"][:-1])
    starts = np.flatnonzero(new)
    out = rec[starts].copy()  # sorted by first within a key, so this holds the minimum
    out["count"] = np.add.reduceat(rec["count"], starts)
    return out


class RepeatedLineCounter(PipelineStep):
    """Stage 1: per task, in how many documents of each group every distinct line occurs."""

    type = "🫂 - DEDUP"
    name = "🇰🇷 line dedup 1: count"

    def __init__(
        self,
        output_folder: DataFolderLike,
        group_by: str = "source",
        merge_workers: int = 1,
        chunk: int = 2_000_000,
    ):
        super().__init__()
        if merge_workers < 1:
            raise ValueError("merge_workers must be >= 1")
        self.output_folder = get_datafolder(output_folder)
        self.group_by = group_by
        self.merge_workers = merge_workers
        self.chunk = chunk  # records buffered before they are aggregated (bounds memory)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> None:
        """Consume this task's documents; write ``{slice:04d}/{rank:05d}.lines`` and group sizes."""
        table = np.empty(0, dtype=LINE_DTYPE)
        groups: Counter[str] = Counter()
        gs: list[int] = []
        hs: list[int] = []
        firsts: list[int] = []

        def flush() -> np.ndarray:
            rec = np.empty(len(gs), dtype=LINE_DTYPE)
            rec["g"], rec["h"], rec["count"], rec["first"] = gs, hs, 1, firsts
            for buffer in (gs, hs, firsts):
                buffer.clear()
            return _aggregate(np.concatenate([table, rec]))

        count = 0
        with self.track_time():
            for idx, doc in enumerate(data):
                self.stat_update(StatHints.total)
                name = group_value(doc.metadata, self.group_by)
                groups[name] += 1
                g, pos = hash64(name), (rank << 32) | idx
                for h in {hash64(key) for line in doc.text.split("\n") if (key := fold(line))}:
                    gs.append(g)
                    hs.append(h)
                    firsts.append(pos)
                if len(gs) >= self.chunk:
                    table = flush()
                count = idx + 1
            table = flush()
            slices = hash_slice(table["h"], self.merge_workers)
            for s in range(self.merge_workers):
                with self.output_folder.open(f"{s:04d}/{rank:05d}{COUNT_EXT}", "wb") as f:
                    f.write(table[slices == s].tobytes())
            with self.output_folder.open(f"groups/{rank:05d}.json", "w") as f:
                json.dump({str(hash64(k)): [k, v] for k, v in groups.items()}, f, ensure_ascii=False)
            write_doc_count(self.output_folder, rank, count)


class RepeatedLineMerge(PipelineStep):
    """Stage 2 (``tasks = merge_workers``): sum the counts of one hash slice, keep the repeated lines."""

    type = "🫂 - DEDUP"
    name = "🇰🇷 line dedup 2: merge"

    def __init__(
        self,
        input_folder: DataFolderLike,
        output_folder: DataFolderLike,
        min_docs: int = 10,
        min_doc_frac: float = 0.05,
    ):
        super().__init__()
        if min_docs < 2:
            raise ValueError("min_docs must be >= 2 (a line in one document is not repeated)")
        self.input_folder = get_datafolder(input_folder)
        self.output_folder = get_datafolder(output_folder)
        self.min_docs = min_docs
        self.min_doc_frac = min_doc_frac

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        """Write ``{rank:04d}.repeated``: (group, line, count, first position) of every repeated line."""
        if data is not None:
            raise ValueError("RepeatedLineMerge reads counts, not documents: give it no reader")
        paths = sorted(self.input_folder.list_files(glob_pattern=f"*/*{COUNT_EXT}"))
        n_slices = len({p.split("/")[0] for p in paths})
        if n_slices != world_size:
            raise ValueError(f"counts were written for {n_slices} merge slices: run with tasks={n_slices}")
        with self.track_time():
            sizes: Counter[int] = Counter()
            for path in self.input_folder.list_files(subdirectory="groups", glob_pattern="*.json"):
                with self.input_folder.open(path, "r") as f:
                    for g, (_name, n) in json.load(f).items():
                        sizes[int(g)] += n
            parts = [
                read_array(self.input_folder, p, LINE_DTYPE) for p in paths if p.startswith(f"{rank:04d}/")
            ]
            table = _aggregate(np.concatenate(parts)) if parts else np.empty(0, dtype=LINE_DTYPE)
            group_docs = np.array([sizes[int(g)] for g in table["g"]], dtype=np.float64)
            repeated = table[
                (table["count"] >= self.min_docs) & (table["count"] >= self.min_doc_frac * group_docs)
            ]
            self.stat_update("distinct_lines", value=len(table))
            self.stat_update("repeated_lines", value=len(repeated))
            with self.output_folder.open(f"{rank:04d}{REPEATED_EXT}", "wb") as f:
                f.write(repeated.tobytes())


class RepeatedLineRemover(LeanFilter):
    """Stage 3: remove repeated lines from each document; drop it if nothing is left.

    A BaseFilter (dropped documents go to ``exclusion_writer`` with reason ``"empty_after_line_dedup"``)
    that also edits the text of the documents it keeps. Runs of blank lines left behind are folded to one.
    """

    name = "🇰🇷 line dedup 3: remove"

    def __init__(
        self,
        input_folder: DataFolderLike,
        signature_folder: DataFolderLike | None = None,
        group_by: str = "source",
        keep_first: bool = True,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer)
        self.input_folder = get_datafolder(input_folder)
        self.signature_folder = get_datafolder(signature_folder) if signature_folder else None
        self.group_by = group_by
        self.keep_first = keep_first
        self._repeated: dict[int, dict[int, int]] = {}
        self._rank = 0
        self._seen = 0

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Strip repeated lines (documents come in task order, which decides who keeps a first copy)."""
        pos = (self._rank << 32) | self._seen
        self._seen += 1
        table = self._repeated.get(hash64(group_value(doc.metadata, self.group_by)), {})
        kept, removed = [], 0
        for line in doc.text.split("\n") if table else ():
            key = fold(line)
            first = table.get(hash64(key)) if key else None
            if first is not None and not (self.keep_first and first == pos):
                removed += 1
            else:
                kept.append(line)
        doc.metadata["lines_removed"] = removed
        if not removed:
            return True
        self.stat_update("lines_removed", value=removed)
        text = _BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip()
        if not text:
            return False, REASON
        doc.text = text
        return True

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Load every slice's repeated lines, filter this task, then check it saw stage 1's documents."""
        paths = self.input_folder.list_files(glob_pattern=f"*{REPEATED_EXT}")
        if not paths:
            raise FileNotFoundError(
                f"no {REPEATED_EXT} files in {self.input_folder.path}: run the merge first"
            )
        self._repeated = {}
        for path in paths:
            for g, h, first in read_array(self.input_folder, path, LINE_DTYPE)[["g", "h", "first"]].tolist():
                self._repeated.setdefault(g, {})[h] = first
        self._rank, self._seen = rank, 0
        yield from super().run(data, rank, world_size)
        if self.signature_folder is not None:
            check_doc_count(self.signature_folder, rank, self._seen, "RepeatedLineRemover")


class LineDedupStages(NamedTuple):
    """The three line-dedup steps, in run order."""

    count: RepeatedLineCounter
    merge: RepeatedLineMerge
    remove: RepeatedLineRemover


def line_dedup_stages(
    folder: str,
    group_by: str = "source",
    min_docs: int = 10,
    min_doc_frac: float = 0.05,
    keep_first: bool = True,
    merge_workers: int = 1,
    exclusion_writer: DiskWriter | None = None,
) -> LineDedupStages:
    """Build the three line-dedup steps working under ``folder`` (counts/ and repeated/ subfolders)."""
    counts, repeated = f"{folder}/counts", f"{folder}/repeated"
    return LineDedupStages(
        RepeatedLineCounter(counts, group_by=group_by, merge_workers=merge_workers),
        RepeatedLineMerge(counts, repeated, min_docs=min_docs, min_doc_frac=min_doc_frac),
        RepeatedLineRemover(
            repeated,
            signature_folder=counts,
            group_by=group_by,
            keep_first=keep_first,
            exclusion_writer=exclusion_writer,
        ),
    )
