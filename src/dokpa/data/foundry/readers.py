"""Readers: raw sources -> datatrove Documents with stable ids and provenance metadata.

``make_reader(format, path, name, licence, **opts)`` builds one reader for text|jsonl|parquet|csv|tsv|
html|warc|mediawiki. Each is a datatrove ``BaseDiskReader`` (datatrove's own JSONL/Parquet/CSV/WARC
readers subclassed, or our folder readers), so files are sharded across tasks the datatrove way.

Every document gets ``id = "{name}/{...}"`` and metadata ``source``, ``licence`` and ``url`` where known.
A record that cannot be parsed is never dropped silently and never stops the run: it comes out as a
document with ``metadata["read_error"] = kind`` (text empty or the raw record, cut to
``ERROR_TEXT_CHARS``) and ``ReadErrorFilter`` right after the reader drops it into the ledger.

Ids: text ``{name}/{relpath}`` (split=file) or ``{name}/{relpath}#{n}`` (paragraph/line, 1-based);
jsonl/csv/tsv/parquet ``{name}/{id field}`` or ``{name}/{relpath}#{row}`` (1-based) when a row has none;
html ``{name}/{relpath}``; warc ``{name}/{WARC-Record-ID}``; mediawiki ``{name}/{page id}``.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.readers.csv import CsvReader
from datatrove.pipeline.readers.jsonl import JsonlReader
from datatrove.pipeline.readers.parquet import ParquetReader

from dokpa.data.foundry.decode import decode_text, norm_newlines
from dokpa.data.foundry.html_readers import FoundryWarcReader, HtmlFolderReader
from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.mediawiki import MediaWikiReader
from dokpa.data.foundry.reader_base import RecordMixin, SourceMixin

__all__ = [
    "FoundryCsvReader",
    "FoundryJsonlReader",
    "FoundryParquetReader",
    "FoundryWarcReader",
    "HtmlFolderReader",
    "MediaWikiReader",
    "ReadErrorFilter",
    "TextFolderReader",
    "make_reader",
]

FORMATS = ("text", "jsonl", "parquet", "csv", "tsv", "html", "warc", "mediawiki")
SPLITS = ("file", "paragraph", "line")
DEFAULT_GLOBS = {
    "text": "**/*.txt",
    "jsonl": "**/*.jsonl*",
    "parquet": "**/*.parquet",
    "csv": "**/*.csv*",
    "tsv": "**/*.tsv*",
    "html": "**/*.htm*",
    "warc": "**/*.warc*",
    "mediawiki": "**/*.xml*",
}
_BLANK_LINES = re.compile(r"\n(?:[ \t\u3000]*\n)+")
_SURROGATE = re.compile("[\udc80-\udcff]")  # bytes that failed to decode, kept by errors="surrogateescape"


class FoundryJsonlReader(RecordMixin, JsonlReader):
    """JSONL (.gz/.zst) rows; a bad line (JSON or UTF-8) becomes an error document, not a skip."""

    name = "🐿 Jsonl (dokpa)"

    def __init__(
        self,
        data_folder,
        source: str,
        licence: str = "unknown",
        text_key: str = "text",
        id_key: str = "id",
        url_key: str | None = "url",
        licence_key: str | None = None,
        keep_fields: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(data_folder, text_key=text_key, id_key=id_key, **kwargs)
        self._init_record(source, licence, url_key, licence_key, keep_fields)

    def read_records(self, filepath: str) -> DocumentsPipeline:
        import orjson

        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for row, raw in enumerate(f, 1):
                if not raw.strip():
                    continue  # blank lines separate nothing in JSONL; they are not records
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raw_text = raw.decode("utf-8", errors="replace")
                    yield self.error_document("encoding", f"{filepath}#{row}", raw=raw_text, detail=str(e))
                    continue
                try:
                    data = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    yield self.error_document("json", f"{filepath}#{row}", raw=line, detail=str(e))
                    continue
                yield self.record_document(data, filepath, row)


class FoundryCsvReader(RecordMixin, CsvReader):
    """CSV/TSV rows with a header; rows with the wrong field count or undecodable bytes are error docs."""

    name = "🔢 Csv (dokpa)"

    def __init__(
        self,
        data_folder,
        source: str,
        licence: str = "unknown",
        text_key: str = "text",
        id_key: str = "id",
        url_key: str | None = "url",
        licence_key: str | None = None,
        keep_fields: list[str] | None = None,
        delimiter: str = ",",
        quoting: str = "minimal",
        encoding: str = "utf-8",
        **kwargs,
    ):
        super().__init__(data_folder, text_key=text_key, id_key=id_key, **kwargs)
        self._init_record(source, licence, url_key, licence_key, keep_fields)
        if quoting not in ("minimal", "none"):
            raise ValueError(f"quoting must be 'minimal' or 'none', got {quoting!r}")
        self.delimiter, self.quoting, self.encoding = delimiter, quoting, encoding

    def read_records(self, filepath: str) -> DocumentsPipeline:
        import csv

        csv.field_size_limit(2**31 - 1)  # long documents in one cell are legitimate
        quoting = csv.QUOTE_NONE if self.quoting == "none" else csv.QUOTE_MINIMAL
        with self.data_folder.open(
            filepath,
            "rt",
            compression=self.compression,
            encoding=self.encoding,
            errors="surrogateescape",
            newline="",
        ) as f:
            reader = csv.reader(f, delimiter=self.delimiter, quoting=quoting)
            header = next(reader, None)
            if header is None:
                return
            row = 0
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    row += 1
                    yield self.error_document("csv", f"{filepath}#{row}", detail=str(e))
                    continue
                if not fields:
                    continue  # a blank line is no record (csv.DictReader skips them too)
                row += 1
                raw = self.delimiter.join(fields)
                if _SURROGATE.search(raw):
                    yield self.error_document(
                        "encoding", f"{filepath}#{row}", raw=_SURROGATE.sub("\ufffd", raw)
                    )
                elif len(fields) != len(header):
                    detail = f"{len(fields)} fields, header has {len(header)}"
                    yield self.error_document("csv_fields", f"{filepath}#{row}", raw=raw, detail=detail)
                else:
                    yield self.record_document(dict(zip(header, fields, strict=True)), filepath, row)


class FoundryParquetReader(RecordMixin, ParquetReader):
    """Parquet rows (datatrove's batched reader); null or non-string text becomes an error document."""

    name = "📒 Parquet (dokpa)"

    def __init__(
        self,
        data_folder,
        source: str,
        licence: str = "unknown",
        text_key: str = "text",
        id_key: str = "id",
        url_key: str | None = "url",
        licence_key: str | None = None,
        keep_fields: list[str] | None = None,
        **kwargs,
    ):
        super().__init__(data_folder, text_key=text_key, id_key=id_key, **kwargs)
        self._init_record(source, licence, url_key, licence_key, keep_fields)

    def read_records(self, filepath: str) -> DocumentsPipeline:
        yield from ParquetReader.read_file(self, filepath)


class TextFolderReader(SourceMixin, BaseDiskReader):
    """Plain-text files (UTF-8, else CP949/EUC-KR; CRLF -> LF), one document per file, paragraph or line."""

    name = "📄 Text folder"

    def __init__(self, data_folder, source: str, licence: str = "unknown", split: str = "file", **kwargs):
        super().__init__(data_folder, **kwargs)
        self._init_source(source, licence)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split = split

    def read_records(self, filepath: str) -> DocumentsPipeline:
        with self.data_folder.open(filepath, "rb") as f:
            data = f.read()
        text, encoding = decode_text(data)
        if encoding is None:
            yield self.error_document("encoding", filepath, raw=text, detail="not UTF-8, CP949 or EUC-KR")
            return
        text = norm_newlines(text)
        if self.split == "file":
            if text.strip():
                yield self.make_document(text, filepath, {"encoding": encoding})
            else:
                yield self.error_document("empty_text", filepath)
        elif self.split == "paragraph":
            paragraphs = (p.strip("\n") for p in _BLANK_LINES.split(text))
            for n, para in enumerate((p for p in paragraphs if p.strip()), 1):
                yield self.make_document(para, f"{filepath}#{n}", {"encoding": encoding})
        else:
            for n, line in enumerate(text.split("\n"), 1):
                if line.strip():
                    yield self.make_document(line, f"{filepath}#{n}", {"encoding": encoding})


class ReadErrorFilter(LeanFilter):
    """Drops documents a reader marked with ``metadata["read_error"]``; reason ``read_error:{kind}``."""

    name = "🧯 read errors"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep unless the reader flagged the record as unreadable."""
        kind = doc.metadata.get("read_error")
        return (False, f"read_error:{kind}") if kind else True


def _exact_glob(name: str) -> str:
    """A glob matching exactly ``name``. It must contain a wildcard or bracket: datatrove prefixes
    patterns without one with "*" (so "a.txt" would also match "data.txt")."""
    escaped = glob.escape(name)
    if escaped != name:
        return escaped
    i = next((i for i, ch in enumerate(name) if ch.isalnum()), None)
    if i is None:
        raise ValueError(f"cannot build an exact glob for file name {name!r}; pass its folder and a glob")
    return f"{escaped[:i]}[{name[i]}]{escaped[i + 1 :]}"


_CLASSES = {
    "text": TextFolderReader,
    "jsonl": FoundryJsonlReader,
    "parquet": FoundryParquetReader,
    "csv": FoundryCsvReader,
    "tsv": FoundryCsvReader,
    "html": HtmlFolderReader,
    "warc": FoundryWarcReader,
    "mediawiki": MediaWikiReader,
}


def make_reader(
    format: str, path: str | Path, name: str, licence: str = "unknown", **opts: Any
) -> BaseDiskReader:
    """Build the reader for ``format`` over ``path`` (a folder, a single file, or an fsspec URL).

    ``opts`` go to the reader class (e.g. ``text_key``, ``id_key``, ``split``, ``url_prefix``,
    ``base_url``, ``glob_pattern``, ``limit``); ``glob`` is accepted as an alias of ``glob_pattern``.
    A folder is searched recursively with a per-format default glob (``DEFAULT_GLOBS``).
    """
    if format not in FORMATS:
        raise ValueError(f"source {name!r}: format must be one of {FORMATS}, got {format!r}")
    if "glob" in opts:
        opts["glob_pattern"] = opts.pop("glob")
    if format == "tsv":
        opts.setdefault("delimiter", "\t")
    folder = str(path)
    local = Path(folder)
    if "://" not in folder and local.is_file():  # one file: read its folder, matching only that name
        folder, opts["glob_pattern"] = str(local.parent), _exact_glob(local.name)
    elif "://" not in folder and not local.exists():
        raise FileNotFoundError(f"source {name!r}: {folder} does not exist")
    opts.setdefault("glob_pattern", DEFAULT_GLOBS[format])
    return _CLASSES[format](folder, source=name, licence=licence, **opts)
