"""Main-text extraction from HTML with trafilatura, as a filter: a page with no main text is dropped.

The filter replaces ``doc.text`` (raw HTML from the HTML/WARC readers) with the extracted plain text, or
drops the document with reason ``no_main_text`` (nothing left after removing navigation, menus, footers
and other boilerplate). Settings favour precision, as FineWeb does with datatrove's ``Trafilatura``, and
go further where trafilatura 1.11 measurably let boilerplate or nothing through on the Korean LibreOffice
help pages (200 sampled pages, measured when choosing; tests/test_foundry_readers.py checks 40):
- HTML5 page chrome (``<header>`` outside an article, ``<footer>``, ``<nav>``, ``<aside>``) is pruned
  before extraction: otherwise the site header ("LibreOffice 7.4 Help") was kept on 38% of pages;
- tables are left out: with them, 17 of 200 table-heavy pages came back with no text at all;
- no fallback extractors (readability/jusText): twice as fast, and body recall was higher without them.

Each extraction runs in datatrove's ``ExtractorSandbox`` (a forked child process) when ``timeout`` is
set, so a pathological page that hangs lxml or trafilatura costs ``timeout`` seconds and is dropped
with reason ``extract_timeout`` instead of stalling the task.
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline

from dokpa.data.foundry.lean import LeanFilter

DEFAULT_PRUNE_XPATH = ["//header[not(ancestor::article)]", "//footer", "//nav", "//aside"]


class MainTextExtractor(LeanFilter):
    """Replace HTML with its trafilatura main text; drop pages without any (reason ``no_main_text``).

    Args:
        favour_precision: trafilatura's ``favor_precision`` (less text, less boilerplate).
        include_tables: keep table cell text.
        no_fallback: skip trafilatura's fallback extractors.
        prune_xpath: elements removed before extraction (default ``DEFAULT_PRUNE_XPATH``; [] for none).
        include_comments: keep user comment sections.
        deduplicate: trafilatura's cross-document segment cache; off by default because it makes the
            result depend on document order (dokpa's RepeatedLineRemover handles templated lines).
        timeout: seconds per page in a sandboxed child process; 0 or None extracts in-process.
        min_chars: extracted text shorter than this (after strip) counts as no main text.
        exclusion_writer: datatrove writer for dropped documents (the ledger).
    """

    name = "⛏ main text"
    _requires_dependencies = ("trafilatura",)

    def __init__(
        self,
        favour_precision: bool = True,
        include_tables: bool = False,
        no_fallback: bool = True,
        prune_xpath: list[str] | None = None,
        include_comments: bool = False,
        deduplicate: bool = False,
        timeout: float | None = 5.0,
        min_chars: int = 1,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.favour_precision = favour_precision
        self.include_tables = include_tables
        self.no_fallback = no_fallback
        self.prune_xpath = list(DEFAULT_PRUNE_XPATH if prune_xpath is None else prune_xpath)
        self.include_comments = include_comments
        self.deduplicate = deduplicate
        self.timeout = timeout
        self.min_chars = min_chars
        self._sandbox = None

    def extract(self, html: str, url: str | None = None) -> str | Exception | None:
        """Main text of ``html`` (None when there is none); an exception is returned, not raised,
        so the sandboxed child survives it."""
        try:
            import trafilatura

            return trafilatura.extract(
                html,
                url=url,
                favor_precision=self.favour_precision,
                include_comments=self.include_comments,
                include_tables=self.include_tables,
                no_fallback=self.no_fallback,
                prune_xpath=self.prune_xpath or None,
                include_images=False,
                include_links=False,
                include_formatting=False,
                deduplicate=self.deduplicate,
                output_format="txt",
                with_metadata=False,
            )
        except Exception as e:
            return e

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Swap the HTML for its main text, or drop with the reason extraction failed."""
        url = doc.metadata.get("url")
        try:
            if self._sandbox is not None:
                result = self._sandbox.process_document((doc.text, url), self.extract)
            else:
                result = self.extract(doc.text, url)
        except TimeoutError:
            return False, "extract_timeout"
        except EOFError:  # the sandboxed child died (e.g. OOM-killed on a huge page)
            return False, "extract_crash"
        except Exception:
            return False, "extract_error"
        if isinstance(result, Exception):
            return False, "extract_error"
        if not result or len(result.strip()) < max(self.min_chars, 1):
            return False, "no_main_text"
        doc.metadata["html_chars"] = len(doc.text)
        doc.text = result.strip()
        return True

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Filter ``data``, inside one sandbox process per task when a timeout is set."""
        if not self.timeout:
            yield from super().run(data, rank, world_size)
            return
        import trafilatura  # noqa: F401  (imported before the fork so the child starts warm)
        from datatrove.pipeline.extractors.base import ExtractorSandbox

        with ExtractorSandbox(timeout=self.timeout, warmup_text=("<html></html>", None)) as sandbox:
            self._sandbox = sandbox
            try:
                yield from super().run(data, rank, world_size)
            finally:
                self._sandbox = None
