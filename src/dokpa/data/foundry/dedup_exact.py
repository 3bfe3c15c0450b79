"""Exact deduplication across datatrove tasks: signature -> find duplicates -> filter.

The key is the NFC, whitespace-folded text (so NFD input and re-wrapped copies count as the same), hashed
to 128 bits. Of each group of identical documents the first by ``(task rank, index in task)`` is kept and
every later copy is dropped with reason ``"exact_duplicate"``. The layout follows datatrove's exact dedup,
but datatrove orders equal hashes by (priority, doc index) only, so which copy survives across tasks is not
deterministic there; here the finder sorts by (hash, rank, index).

Run as three executors::

    sig, find, filt = exact_dedup_stages("work/exact", finder_workers=1)
    LocalPipelineExecutor([reader, sig], tasks=N)
    LocalPipelineExecutor([find], tasks=finder_workers)
    LocalPipelineExecutor([reader, filt, writer], tasks=N)   # same reader and N as stage 1

Memory: each finder task holds 20 bytes per document of its hash slice; raise ``finder_workers`` to split.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.typeshelper import StatHints

from dokpa.data.foundry._dedup_util import (
    U4,
    check_doc_count,
    fold,
    hash128,
    hash_slice,
    read_array,
    write_doc_count,
)
from dokpa.data.foundry.lean import LeanFilter

SIG_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8"), ("doc", "<u4")])
SIG_EXT = ".exact.sig"
DUP_EXT = ".exact.dups"
REASON = "exact_duplicate"


class ExactDedupSignature(PipelineStep):
    """Stage 1: hash every document's folded NFC text; writes sorted signatures per finder slice."""

    type = "🫂 - DEDUP"
    name = "🇰🇷 exact dedup 1: signatures"

    def __init__(self, output_folder: DataFolderLike, finder_workers: int = 1):
        super().__init__()
        if finder_workers < 1:
            raise ValueError("finder_workers must be >= 1")
        self.output_folder = get_datafolder(output_folder)
        self.finder_workers = finder_workers

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> None:
        """Consume the documents of this task and write ``{slice:04d}/{rank:05d}.exact.sig`` files."""
        hi: list[int] = []
        lo: list[int] = []
        with self.track_time():
            for doc in data:
                self.stat_update(StatHints.total)
                h, low = hash128(fold(doc.text))
                hi.append(h)
                lo.append(low)
            sigs = np.empty(len(hi), dtype=SIG_DTYPE)
            sigs["hi"], sigs["lo"], sigs["doc"] = hi, lo, np.arange(len(hi))
            sigs.sort(order=["hi", "lo", "doc"])
            slices = hash_slice(sigs["hi"], self.finder_workers)
            # every slice gets a file, even an empty one, so the finder sees every task
            for s in range(self.finder_workers):
                with self.output_folder.open(f"{s:04d}/{rank:05d}{SIG_EXT}", "wb") as f:
                    f.write(sigs[slices == s].tobytes())
            write_doc_count(self.output_folder, rank, len(hi))


class ExactDedupFind(PipelineStep):
    """Stage 2 (``tasks = finder_workers``): find every copy after the first of each hash in one slice."""

    type = "🫂 - DEDUP"
    name = "🇰🇷 exact dedup 2: find"

    def __init__(self, input_folder: DataFolderLike, output_folder: DataFolderLike):
        super().__init__()
        self.input_folder = get_datafolder(input_folder)
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        """Write ``{rank:04d}/{task:05d}.exact.dups``: sorted indices of the documents to drop per task."""
        if data is not None:
            raise ValueError("ExactDedupFind reads signatures, not documents: give it no reader")
        slices = sorted(self.input_folder.list_files(glob_pattern=f"*/*{SIG_EXT}"))
        n_slices = len({p.split("/")[0] for p in slices})
        if not slices:
            raise FileNotFoundError(f"no {SIG_EXT} files in {self.input_folder.path}: run stage 1 first")
        if n_slices != world_size:
            raise ValueError(
                f"signatures were written for {n_slices} finder slices: run with tasks={n_slices}"
            )
        files = [p for p in slices if p.startswith(f"{rank:04d}/")]
        with self.track_time():
            tasks = [int(p.split("/")[1].removesuffix(SIG_EXT)) for p in files]
            parts = [read_array(self.input_folder, p, SIG_DTYPE) for p in files]
            sigs = np.concatenate(parts) if parts else np.empty(0, SIG_DTYPE)
            task = np.concatenate(
                [np.full(len(p), t, dtype=U4) for p, t in zip(parts, tasks, strict=True)] or [np.empty(0, U4)]
            )
            # lexsort: last key is primary -> (hi, lo, task, doc); the first of each run is the one kept
            order = np.lexsort((sigs["doc"], task, sigs["lo"], sigs["hi"]))
            sigs, task = sigs[order], task[order]
            dup = np.zeros(len(sigs), dtype=bool)
            dup[1:] = (sigs["hi"][1:] == sigs["hi"][:-1]) & (sigs["lo"][1:] == sigs["lo"][:-1])
            self.stat_update("documents", value=len(sigs))
            self.stat_update("duplicates", value=int(dup.sum()))
            for t in tasks:
                docs = np.sort(sigs["doc"][dup & (task == t)]).astype(U4)
                with self.output_folder.open(f"{rank:04d}/{t:05d}{DUP_EXT}", "wb") as f:
                    f.write(docs.tobytes())


class ExactDedup(LeanFilter):
    """Stage 3: drop the documents stage 2 marked, with reason ``"exact_duplicate"``.

    A BaseFilter: dropped documents go to ``exclusion_writer`` (when given) with
    ``metadata["filter_reason"]``. ``signature_folder`` (stage 1's output) enables the check that this task
    saw the same documents as stage 1.
    """

    name = "🇰🇷 exact dedup 3: filter"

    def __init__(
        self,
        input_folder: DataFolderLike,
        signature_folder: DataFolderLike | None = None,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer)
        self.input_folder = get_datafolder(input_folder)
        self.signature_folder = get_datafolder(signature_folder) if signature_folder else None
        self._drop = np.empty(0, dtype=U4)
        self._pos = 0
        self._seen = 0

    def _load_drops(self, rank: int) -> np.ndarray:
        paths = self.input_folder.list_files(glob_pattern=f"*/*{DUP_EXT}")
        folders = sorted({p.split("/")[0] for p in paths})
        if not folders:
            raise FileNotFoundError(
                f"no {DUP_EXT} files in {self.input_folder.path}: run ExactDedupFind first"
            )
        parts = []
        for folder in folders:
            path = f"{folder}/{rank:05d}{DUP_EXT}"
            if not self.input_folder.exists(path):
                raise FileNotFoundError(f"{path} missing: stage 1 ran with fewer tasks than this filter")
            parts.append(read_array(self.input_folder, path, U4))
        return np.sort(np.concatenate(parts))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep unless this document's index in the task was marked by stage 2 (documents come in order)."""
        idx = self._seen
        self._seen += 1
        if self._pos < len(self._drop) and self._drop[self._pos] == idx:
            self._pos += 1
            return False, REASON
        return True

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Filter this task's documents, then check that they matched stage 1's."""
        self._drop, self._pos, self._seen = self._load_drops(rank), 0, 0
        yield from super().run(data, rank, world_size)
        if self._pos != len(self._drop):
            raise RuntimeError(
                f"task {rank} saw {self._seen} documents but stage 2 marked {self._drop[self._pos]}"
            )
        if self.signature_folder is not None:
            check_doc_count(self.signature_folder, rank, self._seen, "ExactDedup")


class ExactDedupStages(NamedTuple):
    """The three exact-dedup steps, in run order."""

    signature: ExactDedupSignature
    find: ExactDedupFind
    filter: ExactDedup


def exact_dedup_stages(
    folder: str, finder_workers: int = 1, exclusion_writer: DiskWriter | None = None
) -> ExactDedupStages:
    """Build the three exact-dedup steps working under ``folder`` (signatures/ and dups/ subfolders)."""
    sigs, dups = f"{folder}/signatures", f"{folder}/dups"
    return ExactDedupStages(
        ExactDedupSignature(sigs, finder_workers=finder_workers),
        ExactDedupFind(sigs, dups),
        ExactDedup(dups, signature_folder=sigs, exclusion_writer=exclusion_writer),
    )
