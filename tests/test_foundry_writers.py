"""LeanJsonlWriter writes the rows, files and stats datatrove's JsonlWriter writes, and real zstd."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from datatrove.data import Document
from datatrove.pipeline.writers import JsonlWriter

from dokpa.data.documents import read_jsonl
from dokpa.data.foundry import writers
from dokpa.data.foundry.writers import LeanJsonlWriter


def _docs(n: int = 300) -> list[Document]:
    return [
        Document(text="리뷰 " * (i % 7 + 1), id=str(i), metadata={"lang": "ko", "n": i} if i % 3 else {})
        for i in range(n)
    ]


def _rows(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        return [orjson.loads(line) for line in f]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_same_rows_files_and_stats_as_datatrove(tmp_path: Path, monkeypatch, compression) -> None:
    monkeypatch.setattr(writers, "BUFFER_BYTES", 500)  # several flushes per file
    lean = LeanJsonlWriter(str(tmp_path / "lean"), compression=compression)
    plain = JsonlWriter(str(tmp_path / "plain"), compression=compression)
    for writer in (lean, plain):
        assert [d.id for d in writer.run(iter(_docs()), rank=3)] == [str(i) for i in range(300)]
    name = "00003.jsonl" + (".gz" if compression else "")
    assert _rows(tmp_path / "lean" / name) == _rows(tmp_path / "plain" / name)
    ours, theirs = lean.stats.stats, plain.stats.stats
    assert set(ours) == set(theirs)
    for key in theirs:
        assert (ours[key].total, ours[key].n) == (theirs[key].total, theirs[key].n), key
        assert ours[key].variance == pytest.approx(theirs[key].variance)
    assert lean.stats.time_stats.n == 300


def test_zstd_files_read_back_and_a_rerun_rewrites_them(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(writers, "BUFFER_BYTES", 500)
    for _ in range(2):  # a resumed task writes its file again, whole
        with LeanJsonlWriter(str(tmp_path), output_filename="x_${rank}.jsonl.zst", compression="zstd") as w:
            for doc in _docs():
                w.write(doc, rank=1)
    path = tmp_path / "x_00001.jsonl.zst"
    assert [row["id"] for row in read_jsonl(path)] == [str(i) for i in range(300)]
    assert w.stats.stats["total"].total == 300


def test_document_templated_names_use_datatrove_path(tmp_path: Path) -> None:
    with LeanJsonlWriter(str(tmp_path), output_filename="${lang}/${rank}.jsonl", compression=None) as w:
        for doc in _docs(30):
            if doc.metadata:
                w.write(doc, rank=0)
    assert len(_rows(tmp_path / "ko" / "00000.jsonl")) == 20
