"""The foundry's ledger: every input document ends kept or rejected with the step and reason.

Three pieces, all safe to re-run per task (files are named by rank and rewritten whole):
- :func:`rejection_writer` is the exclusion writer of every filter: the whole document plus ``step``
  and ``reason`` go to ``rejected/<step>/<rank>.jsonl.zst``, so a rejection can be inspected or undone
  (Zstandard at level 3 through a buffered writer: datatrove's gzip writer took a fifth of a pass over
  short reviews, most of them rejected).
- :class:`Tally` counts the documents passing a point of the pipeline (by source) into
  ``tally/<label>/<rank>.json``.
- :func:`assemble_ledger` adds it all up and checks ``in == kept + rejected``, per source too.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter

from dokpa.data.documents import read_jsonl
from dokpa.data.foundry.writers import LeanJsonlWriter


class LedgerError(RuntimeError):
    """The counts do not balance: some document was lost or counted twice."""


def document_record(doc: Document) -> dict[str, Any]:
    """A datatrove Document as dokpa's flat Document contract (id, text, source, licence, url, meta)."""
    meta = dict(doc.metadata)
    return {
        "id": doc.id,
        "text": doc.text,
        "source": meta.pop("source", "unknown"),
        "licence": meta.pop("licence", "unknown"),
        "url": meta.pop("url", None),
        "meta": meta,
    }


def _rejection_adapter(step: str):
    def adapt(self: JsonlWriter, doc: Document) -> dict[str, Any]:
        record = document_record(doc)
        record["step"] = step
        record["reason"] = record["meta"].pop("filter_reason", None) or "unspecified"
        return record

    return adapt


def rejection_writer(root: Path, step: str, prefix: str = "") -> JsonlWriter:
    """Exclusion writer for one filter: rejected documents, with step and reason, under root/rejected/step.

    ``prefix`` keeps the files of runs that share a step (one per source) apart.
    """
    return LeanJsonlWriter(
        str(root / "rejected" / step),
        output_filename=prefix + "${rank}.jsonl.zst",
        compression="zstd",
        adapter=_rejection_adapter(step),
    )


def output_writer(folder: Path) -> JsonlWriter:
    """Writer of kept documents in dokpa's Document contract."""

    def adapt(self: JsonlWriter, doc: Document) -> dict[str, Any]:
        return document_record(doc)

    return LeanJsonlWriter(str(folder), output_filename="${rank}.jsonl.gz", compression="gzip", adapter=adapt)


class Tally(PipelineStep):
    """Count documents (total and per source) passing this point; pass them on unchanged."""

    name = "🧮 tally"
    type = "📒 - LEDGER"

    def __init__(self, root: str | Path, label: str) -> None:
        super().__init__()
        self.folder = Path(root) / "tally" / label

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counts: Counter[str] = Counter()
        for doc in data or ():
            counts[doc.metadata.get("source", "unknown")] += 1
            yield doc
        # Written when the task's stream is exhausted; a killed task rewrites it whole on re-run.
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{rank:05d}.json.tmp"
        tmp.write_text(
            json.dumps({"total": sum(counts.values()), "by_source": dict(counts)}), encoding="utf-8"
        )
        os.replace(tmp, self.folder / f"{rank:05d}.json")


def read_tally(root: Path, label: str) -> Counter[str]:
    """Per-source counts of one tally point (and sub-labels such as ``in/<source>``), summed over tasks."""
    total: Counter[str] = Counter()
    for path in sorted((root / "tally" / label).rglob("*.json")):
        total.update(json.loads(path.read_text(encoding="utf-8"))["by_source"])
    return total


def iter_rejected(root: Path, step: str | None = None):
    """Rejected records (dicts), optionally of one step, in a stable order."""
    steps = [step] if step else sorted(p.name for p in (root / "rejected").glob("*") if p.is_dir())
    for s in steps:
        for path in sorted((root / "rejected" / s).glob("*.jsonl.*")):
            yield from read_jsonl(path)


def assemble_ledger(root: Path, in_label: str = "in", kept_label: str = "kept") -> dict[str, Any]:
    """Add up tallies and rejections; LedgerError unless in == kept + rejected, overall and per source."""
    n_in, n_kept = read_tally(root, in_label), read_tally(root, kept_label)
    by_step: dict[str, Counter[str]] = {}
    by_source_rejected: Counter[str] = Counter()
    for rec in iter_rejected(root):
        by_step.setdefault(rec["step"], Counter())[rec["reason"]] += 1
        by_source_rejected[rec["source"]] += 1
    rejected = sum(by_source_rejected.values())
    by_reason: Counter[str] = Counter()
    for reasons in by_step.values():
        by_reason.update(reasons)
    ledger = {
        "in": sum(n_in.values()),
        "kept": sum(n_kept.values()),
        "rejected": rejected,
        "by_step": {step: dict(sorted(c.items())) for step, c in by_step.items()},
        "by_reason": dict(by_reason.most_common()),
        "by_source": {
            src: {"in": n_in[src], "kept": n_kept[src], "rejected": by_source_rejected[src]}
            for src in sorted(set(n_in) | set(n_kept) | set(by_source_rejected))
        },
    }
    if ledger["in"] != ledger["kept"] + ledger["rejected"]:
        raise LedgerError(
            f"ledger does not balance: in={ledger['in']} kept={ledger['kept']} rejected={rejected}"
        )
    for src, c in ledger["by_source"].items():
        if c["in"] != c["kept"] + c["rejected"]:
            raise LedgerError(f"ledger does not balance for source {src!r}: {c}")
    return ledger
