"""KoreanNormalizer: NFC, mojibake repair, invisible characters out, whitespace tidy.

What it never does is NFKC: compatibility folding would turn ㈜ into (주), ① into 1 and full-width ＡＢ into
AB, and the model should see those as people write them. ftfy runs with datatrove's FTFYFormatter choices
(fix encoding, not formatting: no ligature, width or quote folding) plus NFC and line-break fixes.
"""

from __future__ import annotations

import re

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from dokpa.data.foundry.lean import StepTally
from dokpa.data.foundry.text import nfc

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"  # ZWSP, ZWNJ, ZWJ, word joiner, BOM/ZWNBSP
HANGUL_FILLERS = "\u3164\u115f\u1160\uffa0"  # compatibility, choseong, jungseong and half-width fillers
NBSPS = "\u00a0\u202f\u2007"  # no-break, narrow no-break and figure spaces -> plain space
_DELETE = str.maketrans(dict.fromkeys(ZERO_WIDTH + HANGUL_FILLERS))
_TO_SPACE = str.maketrans(dict.fromkeys(NBSPS, " "))
_TRAILING = re.compile(r"[ \t\u3000]+$", re.MULTILINE)
# Text made only of these characters gives ftfy nothing to do (with our config, on NFC text): no mojibake is
# possible without Latin-1/Cyrillic/Greek letters or C1 controls, no HTML entity without "&", no control or
# line-break character. Checking this runs at ~500 Mchar/s against ftfy's ~2, and most Korean text passes.
FTFY_INERT = re.compile(
    "[\t\n -%'-~"  # printable ASCII except "&"
    "\u00b7\u2010-\u2027\u2030-\u205e"  # middle dot, general punctuation (no U+2028/2029 separators)
    "\u2460-\u24ff\u3000-\u303f\u3200-\u33ff"  # ① ②, CJK punctuation, ㈜ ㎞
    "\u3131-\u318e\uac00-\ud7a3\u4e00-\u9fff"  # Hangul jamo and syllables, CJK ideographs
    "\uff01-\uff9f\uffa1-\uffdc]*"  # full-width forms, half-width katakana and jamo
)


def ftfy_config(unescape_html: str | bool = "auto"):
    """The ftfy configuration: repair encoding, keep formatting (see module docstring)."""
    from ftfy import TextFixerConfig

    return TextFixerConfig(
        unescape_html=unescape_html,
        remove_terminal_escapes=True,
        fix_encoding=True,
        restore_byte_a0=True,
        replace_lossy_sequences=True,
        decode_inconsistent_utf8=True,
        fix_c1_controls=True,
        fix_latin_ligatures=False,  # ﬁ stays ﬁ
        fix_character_width=False,  # ＡＢＣ and half-width ｶﾀｶﾅ stay; this fix is NFKC on width forms
        uncurl_quotes=False,  # “ ” ‘ ’ stay curly
        fix_line_breaks=True,  # CRLF, CR, U+2028/2029/0085 -> LF
        fix_surrogates=True,
        remove_control_chars=True,
        normalization="NFC",
        explain=False,  # an explanation per call costs time we do not need
    )


class KoreanNormalizer(PipelineStep):
    """Normalize document text for Korean corpora (NFC, never NFKC).

    Steps: NFC; ftfy mojibake/control-character repair; delete zero-width characters and Hangul fillers;
    NBSP-like spaces -> space; strip trailing whitespace of every line; collapse runs of more than
    ``max_blank_lines`` blank lines; strip blank lines at both ends. When ``record_changes`` is set,
    ``metadata["normalize"]`` counts what changed (keys nfc, ftfy, zero_width, filler, nbsp, whitespace),
    only on documents that changed.
    """

    name = "🇰🇷 normalize"
    type = "✂️ - FORMAT"
    _requires_dependencies = ("ftfy",)

    def __init__(
        self,
        fix_mojibake: bool = True,
        unescape_html: str | bool = "auto",
        max_blank_lines: int = 2,
        record_changes: bool = True,
    ):
        super().__init__()
        if max_blank_lines < 0:
            raise ValueError(f"max_blank_lines must be >= 0, got {max_blank_lines}")
        self.fix_mojibake = fix_mojibake
        self.unescape_html = unescape_html
        self.max_blank_lines = max_blank_lines
        self.record_changes = record_changes
        self._blank_runs = re.compile("\n{" + str(max_blank_lines + 2) + ",}")
        self._config = None

    def normalize(self, text: str) -> tuple[str, dict[str, int]]:
        """Return (normalized text, counts of changes by kind; zero counts left out)."""
        changes: dict[str, int] = {}
        out = nfc(text)
        if out != text:
            changes["nfc"] = 1
        if self.fix_mojibake:
            import ftfy

            if self._config is None:
                self._config = ftfy_config(self.unescape_html)
            fixed = out if FTFY_INERT.fullmatch(out) else ftfy.fix_text(out, config=self._config)
            if fixed != out:
                changes["ftfy"] = 1
                out = fixed
        for kind, chars in (("zero_width", ZERO_WIDTH), ("filler", HANGUL_FILLERS), ("nbsp", NBSPS)):
            n = sum(out.count(c) for c in chars)
            if n:
                changes[kind] = n
        if "zero_width" in changes or "filler" in changes:
            out = out.translate(_DELETE)
        if "nbsp" in changes:
            out = out.translate(_TO_SPACE)
        out = nfc(out)  # deleting a filler can leave jamo that now compose
        before = len(out)
        out = _TRAILING.sub("", out)
        out = self._blank_runs.sub("\n" * (self.max_blank_lines + 1), out).strip("\n")
        if len(out) != before:
            changes["whitespace"] = before - len(out)
        return out, changes

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Normalize every document's text in place and pass it on."""
        tally = StepTally(self)
        try:
            for doc in data:
                start = tally.clock()
                doc.text, changes = self.normalize(doc.text)
                tally.seconds.add(tally.clock() - start)
                tally.counts["documents"] += 1
                if changes:
                    tally.counts["changed"] += 1
                    for kind, n in changes.items():
                        tally.observe(f"normalize_{kind}", n)
                    if self.record_changes:
                        doc.metadata["normalize"] = changes
                tally.observe("doc_len", len(doc.text))
                yield doc
        finally:
            tally.fold()
