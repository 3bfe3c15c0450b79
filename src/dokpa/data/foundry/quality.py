"""KoreanQualityFilter: FineWeb-2's kor_Hang quality heuristics in one fast datatrove filter.

It applies, in FineWeb-2's order and with datatrove's semantics and reason strings, the heuristics of
GopherRepetitionFilter (dup_line_frac, top_{n}_gram, duplicated_{n}_n_grams), FineWebQualityFilter
(line_punct_ratio, short_line_ratio, char_dup_ratio, list_ratio) and GopherQualityFilter (gopher_short_doc ...
gopher_enough_stop_words); ``dokpa.data.foundry.reference`` builds the same chain from datatrove's classes.

The difference is the word split. datatrove splits Korean with Kiwi (~30k chars/s); most heuristics never
look at words, and those that do (n-gram repetition, word counts, average word length, alpha share,
stopwords) are evaluated here on ``fast_words``, an approximation of Kiwi's morpheme surfaces. Each word-based
value gets a verdict: clearly pass, clearly fail, or *uncertain* (within a margin of its threshold). A clear
failure drops the document; if nothing clearly fails but something is uncertain, the document is re-judged
exactly with Kiwi words (``word_split="fast"``, the default). ``"fast_only"`` never calls Kiwi; ``"kiwi"``
always does (and then equals the reference chain, reasons included).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
)
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

from dokpa.data.foundry import reference as ref
from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.quality_words import (
    duplicated_n_gram_chars,
    fast_words,
    repeated_cover_chars,
    top_n_gram_chars,
)

__all__ = ["DEFAULT_MARGINS", "KoreanQualityFilter"]

# Margins inside which a fast-split value is "uncertain" and Kiwi decides: a share of the threshold, except
# "alpha" (absolute) and "stop_words" (distance in found stopwords from min_stop_words - 0.5; 0: never
# uncertain, 1: one or two found). Tuned on calibration documents the tests and bench do not measure (NSMC
# reviews 600,000+ and later movies, LibreOffice pages 300-700, KorQuAD contexts 400+): >= 99.8% agreement
# on each with Kiwi called for 0-4% of the characters. "doc_words" (gopher_short_doc, 50 words) sends most
# documents to Kiwi, since the fast count errs by about 3.5 words there: at 0.075 (±3.75 words) the NSMC
# calibration reviews agree 99.95% with 1.0% re-checked, at 0.03 (±1.5) 99.82% with 0.5%, twice as fast.
DEFAULT_MARGINS: dict[str, float] = {
    "n_grams": 0.15,
    "list_ratio": 0.1,
    "doc_words": 0.03,
    "avg_word_length": 0.05,
    "symbol_ratio": 0.2,
    "alpha": 0.02,
    "stop_words": 0.0,
}
_PUNCTUATION = frozenset(PUNCTUATION_SET)
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
_KIWI_BAD_NUMBER = re.compile("[0-9,]{20,}")  # KiwiTokenizer strips these, then mis-slices: leave it to Kiwi


class _Fail(Exception):
    """A clear failure of one heuristic: the document is dropped with ``reason``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class KoreanQualityFilter(LeanFilter):
    """FineWeb-2 kor_Hang quality filter with a fast Korean word split (see the module docstring).

    Thresholds default to FineWeb-2's kor_Hang values (``dokpa.data.foundry.reference``); ``None`` or 0
    disables a check as in datatrove. ``margins`` overrides entries of ``DEFAULT_MARGINS``; ``kiwi_model``
    is the Kiwi model type used when Kiwi is called (None: as the reference chain).
    """

    name = "🇰🇷 Korean quality"

    def __init__(
        self,
        dup_para_frac: float | None = 0,
        dup_para_char_frac: float | None = 0,
        dup_line_frac: float | None = ref.DUP_LINE_FRAC,
        dup_line_char_frac: float | None = 0,
        top_n_grams: Sequence[Sequence[float]] = ref.TOP_N_GRAMS,
        dup_n_grams: Sequence[Sequence[float]] = ref.DUP_N_GRAMS,
        line_punct_thr: float = ref.LINE_PUNCT_THR,
        line_punct_exclude_zero: bool = False,
        stop_chars: Sequence[str] | None = None,
        short_line_thr: float = 999,
        short_line_length: int = 30,
        char_duplicates_ratio: float = ref.CHAR_DUPLICATES_RATIO,
        new_line_ratio: float = ref.NEW_LINE_RATIO,
        min_doc_words: int | None = ref.GOPHER_DEFAULTS["min_doc_words"],
        max_doc_words: int | None = ref.GOPHER_DEFAULTS["max_doc_words"],
        min_avg_word_length: float | None = ref.MIN_AVG_WORD_LENGTH,
        max_avg_word_length: float | None = ref.MAX_AVG_WORD_LENGTH,
        max_symbol_word_ratio: float | None = ref.GOPHER_DEFAULTS["max_symbol_word_ratio"],
        max_bullet_lines_ratio: float | None = ref.GOPHER_DEFAULTS["max_bullet_lines_ratio"],
        max_ellipsis_lines_ratio: float | None = ref.GOPHER_DEFAULTS["max_ellipsis_lines_ratio"],
        max_non_alpha_words_ratio: float | None = ref.MAX_NON_ALPHA_WORDS_RATIO,
        min_stop_words: int | None = ref.MIN_STOP_WORDS,
        stop_words: Sequence[str] = ref.KOR_STOP_WORDS,
        word_split: str = "fast",
        margins: dict[str, float] | None = None,
        kiwi_model: str | None = None,
        exclusion_writer: Any = None,
    ):
        super().__init__(exclusion_writer)
        if word_split not in ("fast", "fast_only", "kiwi"):
            raise ValueError(f"word_split must be 'fast', 'fast_only' or 'kiwi', not {word_split!r}")
        unknown = set(margins or {}) - set(DEFAULT_MARGINS)
        if unknown:
            raise ValueError(f"unknown margins {sorted(unknown)}; known: {sorted(DEFAULT_MARGINS)}")
        self.dup_para_frac, self.dup_para_char_frac = dup_para_frac, dup_para_char_frac
        self.dup_line_frac, self.dup_line_char_frac = dup_line_frac, dup_line_char_frac
        self.top_n_grams = [(int(n), float(f)) for n, f in top_n_grams]
        self.dup_n_grams = [(int(n), float(f)) for n, f in dup_n_grams]
        self.line_punct_thr, self.line_punct_exclude_zero = line_punct_thr, line_punct_exclude_zero
        self.stop_chars = tuple(TERMINAL_PUNCTUATION) if stop_chars is None else tuple(stop_chars)
        self.short_line_thr, self.short_line_length = short_line_thr, short_line_length
        self.char_duplicates_ratio, self.new_line_ratio = char_duplicates_ratio, new_line_ratio
        self.min_doc_words, self.max_doc_words = min_doc_words, max_doc_words
        self.min_avg_word_length, self.max_avg_word_length = min_avg_word_length, max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio, self.max_ellipsis_lines_ratio = (
            max_bullet_lines_ratio,
            max_ellipsis_lines_ratio,
        )
        self.max_non_alpha_words_ratio = max_non_alpha_words_ratio
        self.min_stop_words, self.stop_words = min_stop_words, frozenset(stop_words)
        self.word_split, self.kiwi_model = word_split, kiwi_model
        self.margins = {**DEFAULT_MARGINS, **(margins or {})}

    # -- decision ---------------------------------------------------------------------------------------
    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep (True) or drop ``(False, reason)``, the first failing heuristic, as the reference chain."""
        text = doc.text
        if not text:
            return False, "empty"
        exact = self.word_split == "kiwi" or (
            self.word_split == "fast" and _KIWI_BAD_NUMBER.search(text) is not None
        )
        words = self._kiwi_words(text) if exact else fast_words(text)
        reason, final = self._judge(text, words, exact)
        if not final and self.word_split == "fast":
            self.stat_update("kiwi_rechecks")
            reason, _ = self._judge(text, self._kiwi_words(text), True)
        return True if reason is None else (False, reason)

    def _kiwi_words(self, text: str) -> list[str]:
        return ref.kiwi_tokenizer(self.kiwi_model).word_tokenize(text)

    def _judge(self, text: str, words: list[str], exact: bool) -> tuple[str | None, bool]:
        """(reason of the first failure or None, whether that verdict is final).

        With ``exact`` (Kiwi words) every verdict is final. On fast words, a clear failure is final (its
        reason is the first heuristic that failed on fast words, which may be an uncertain one); without one,
        any uncertain heuristic makes the verdict provisional.
        """
        self._first: str | None = None  # per-call state; a datatrove filter runs one document at a time
        self._uncertain = False
        self._exact = exact
        try:
            self._repetition(text, words)
            self._fineweb(text, words)
            self._gopher(text, words)
        except _Fail as fail:
            return self._first or fail.reason, True
        return self._first, not self._uncertain

    def _check(self, failed: bool, reason: str, value: float = 0.0, thr: float = 0.0, margin: float = -1.0):
        """Record one heuristic; ``margin`` >= 0 marks word-based values that may be uncertain."""
        if margin >= 0 and not self._exact and abs(value - thr) <= margin:
            self._uncertain = True
            if failed and self._first is None:
                self._first = reason
            return
        if failed:
            raise _Fail(reason)

    def _rel(self, key: str, thr: float) -> float:
        return self.margins[key] * abs(thr)

    # -- GopherRepetitionFilter ---------------------------------------------------------------------------
    def _repetition(self, text: str, words: list[str]) -> None:
        if self.dup_para_frac or self.dup_para_char_frac:
            paragraphs = _PARAGRAPHS.split(text.strip())
            dups, dup_chars = find_duplicates(paragraphs)
            self._check(
                bool(self.dup_para_frac) and dups / len(paragraphs) > self.dup_para_frac, "dup_para_frac"
            )
            self._check(
                bool(self.dup_para_char_frac) and dup_chars / len(text) > self.dup_para_char_frac,
                "dup_para_char_frac",
            )
        if "\n" in text:
            lines = _LINES.split(text)
            dups, dup_chars = find_duplicates(lines)
        else:  # one line (most short texts): nothing can repeat
            lines, dups, dup_chars = [text], 0, 0
        self._check(bool(self.dup_line_frac) and dups / len(lines) > self.dup_line_frac, "dup_line_frac")
        self._check(
            bool(self.dup_line_char_frac) and dup_chars / len(text) > self.dup_line_char_frac,
            "dup_line_char_frac",
        )
        margin = self.margins["n_grams"]
        # No repeated word pair means no repeated n-gram for any n >= 2: each top n-gram is the first one.
        no_repeat = len(set(pairwise(words))) == len(words) - 1
        for n, frac in self.top_n_grams:
            if len(words) >= n:
                if self._exact:
                    grams = find_top_duplicate(get_n_grams(words, n))
                elif no_repeat and n >= 2:
                    grams = sum(map(len, words[:n])) + n - 1
                else:
                    grams = top_n_gram_chars(words, n)
                value = grams / len(text)
                self._check(value > frac, f"top_{n}_gram", value, frac, margin * frac)
        if not self.dup_n_grams:
            return
        if not self._exact and no_repeat and margin < 1 and min(n for n, _ in self.dup_n_grams) >= 2:
            return  # no repeated word pair: every duplicated n-gram share is 0, clearly below its threshold
        if not self._exact:
            # Most documents repeat too little for any n: one cheap bound clears all of them.
            n0, low = min(n for n, _ in self.dup_n_grams), min(f for _, f in self.dup_n_grams)
            if repeated_cover_chars(words, n0) / len(text) < (1 - margin) * low:
                return
        for n, frac in self.dup_n_grams:
            grams = find_all_duplicate(words, n) if self._exact else duplicated_n_gram_chars(words, n)
            value = grams / len(text)
            self._check(value > frac, f"duplicated_{n}_n_grams", value, frac, margin * frac)

    # -- FineWebQualityFilter -----------------------------------------------------------------------------
    def _fineweb(self, text: str, words: list[str]) -> None:
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            raise _Fail("empty")
        ratio = sum(1 for line in lines if line.endswith(self.stop_chars)) / len(lines)
        self._check(
            ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero),
            "line_punct_ratio",
        )
        ratio = sum(1 for line in lines if len(line) <= self.short_line_length) / len(lines)
        self._check(ratio > self.short_line_thr, "short_line_ratio")
        ratio = find_duplicates(lines)[1] / len(text.replace("\n", ""))
        self._check(ratio > self.char_duplicates_ratio, "char_dup_ratio")
        if not words:  # datatrove divides by zero here; a text without a single word is not kept
            raise _Fail("no_words")
        ratio = text.count("\n") / len(words)
        thr = self.new_line_ratio
        self._check(ratio > thr, "list_ratio", ratio, thr, self._rel("list_ratio", thr))

    # -- GopherQualityFilter ------------------------------------------------------------------------------
    def _gopher(self, text: str, words: list[str]) -> None:
        n_words = len(words)
        lengths = [len(w) for w in words if not _PUNCTUATION.issuperset(w)]
        n_non_symbol = len(lengths)
        if self.min_doc_words:
            thr = self.min_doc_words
            self._check(
                n_non_symbol < thr, "gopher_short_doc", n_non_symbol, thr, self._rel("doc_words", thr)
            )
        if self.max_doc_words:
            thr = self.max_doc_words
            self._check(n_non_symbol > thr, "gopher_long_doc", n_non_symbol, thr, self._rel("doc_words", thr))
        if not n_words:  # only reachable with min_doc_words disabled; datatrove would divide by zero
            raise _Fail("no_words")
        if lengths:  # datatrove's mean of nothing is nan, which fails no comparison
            avg = sum(lengths) / n_non_symbol
            for thr, failed, reason in (
                (
                    self.min_avg_word_length,
                    avg < (self.min_avg_word_length or 0),
                    "gopher_below_avg_threshold",
                ),
                (
                    self.max_avg_word_length,
                    avg > (self.max_avg_word_length or 0),
                    "gopher_above_avg_threshold",
                ),
            ):
                if thr:
                    self._check(failed, reason, avg, thr, self._rel("avg_word_length", thr))
        if self.max_symbol_word_ratio:
            thr = self.max_symbol_word_ratio
            for count, reason in (
                (text.count("#"), "gopher_too_many_hashes"),
                (text.count("...") + text.count("…"), "gopher_too_many_ellipsis"),
            ):
                self._check(
                    count / n_words > thr, reason, count / n_words, thr, self._rel("symbol_ratio", thr)
                )
        lines = text.splitlines()
        if self.max_bullet_lines_ratio:
            bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
            self._check(bullets / len(lines) > self.max_bullet_lines_ratio, "gopher_too_many_bullets")
        if self.max_ellipsis_lines_ratio:
            ellipsis = sum(s.rstrip().endswith(("...", "…")) for s in lines)
            self._check(ellipsis / len(lines) > self.max_ellipsis_lines_ratio, "gopher_too_many_end_ellipsis")
        if self.max_non_alpha_words_ratio:
            thr = self.max_non_alpha_words_ratio
            ratio = sum(1 for w in words if w.isalpha() or any(c.isalpha() for c in w)) / n_words
            self._check(ratio < thr, "gopher_below_alpha_threshold", ratio, thr, self.margins["alpha"])
        if self.min_stop_words:
            found = len(self.stop_words.intersection(words))
            thr = self.min_stop_words
            margin = self.margins["stop_words"]
            self._check(found < thr, "gopher_enough_stop_words", found, thr - 0.5, margin)
