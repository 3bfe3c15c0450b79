"""A fast stand-in for Kiwi's word split, as FineWeb-2's quality heuristics see it.

datatrove splits kor_Hang text with Kiwi and keeps ``text[start:end]`` of every morpheme:
"영화를 봤다!" becomes ["영화", "를", "봤", "봤", "다", "!"] (the contracted 보+았 yields the
syllable twice). Kiwi runs at ~30k chars/s; ``fast_words`` approximates the same list ~40 times faster:

* non-Hangul text is cut the way Kiwi cuts it: URLs, e-mails, hashtags and mentions whole; numbers with their
  inner ``.,:/-``; Latin words (with a final abbreviation dot, "tab."); jamo runs (ㅋㅋㅋ); runs of one
  punctuation class (``...!!!``, ``~~``); brackets and emoji one by one;
* a run of Hangul syllables goes through three tables derived from Kiwi's analyses of calibration text
  by ``bench/quality_words_derive.py`` (stored in ``quality_words.txt``): whole frequent runs (``word``),
  else the longest known run-final ending (``suffix``: particles, verbal endings, contractions, 1-4
  syllables) whose stem is split again (three endings deep), plus a repeated syllable where the stem ends
  in a contraction (``contract``: 봤, 했 ...); a stem left over stays whole up to three syllables; longer
  ones (compound nouns, unspaced text) are cut around particle-like syllables, else in two-syllable pieces.

It is an approximation: counts and ratios move a little, which is why KoreanQualityFilter sends documents
whose decision is within a margin of a threshold to Kiwi.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from itertools import chain
from pathlib import Path

__all__ = [
    "duplicated_n_gram_chars",
    "fast_words",
    "load_tables",
    "repeated_cover_chars",
    "split_hangul",
    "stem_end",
    "top_n_gram_chars",
]

TABLES = Path(__file__).with_name("quality_words.txt")
_WORD: dict[str, tuple[str, ...]] = {}
_SUFFIX: dict[str, tuple[int, tuple[str, ...]]] = {}
_CONTRACT: frozenset[str] = frozenset()
_MAX_SUFFIX = 4

# Kiwi's token classes for everything that is not a Hangul syllable; the order of the alternatives matters.
_SS = "()\\[\\]{}<>\"'“”‘’「」『』《》〈〉【】"
_TOKEN = re.compile(
    r"(?P<h>[가-힣]+)"
    r"|(?:https?://|www\.)\S+"  # W_URL
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # W_EMAIL
    r"|[#@][^\W_]+"  # W_HASHTAG, W_MENTION
    r"|\d+(?:,\d{3}(?!\d)|[.:/-]\d+)*(?:\.(?![.\d]))?"  # SN, W_SERIAL: 1,000  3.14  10:30  1.2. (not 4,5)
    r"|[A-Za-z]+(?:\.[A-Za-z]+)*(?:\.(?!\.))?"  # SL (abbreviations keep their dot: "tab.", "e.g.")
    r"|[ㄱ-ㆎ]+"  # compatibility jamo (ㅋㅋ, ㅠㅠ): SW
    r"|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"  # SH
    r"|[.!?．。！？]+"  # SF
    r"|…+"  # SE
    r"|[,;:/·]+"  # SP
    r"|[-~]+"  # SO
    rf"|[{_SS}]"  # SS, one by one
    r"|[\U0001f000-\U0001faff][\ufe0e\ufe0f]?"  # emoji, one by one
    rf"|(?:[^\w\s.!?．。！？…,;:/·\-~{_SS}\U0001f000-\U0001faff]|_)+"  # SW runs
    r"|[^\W\d_]+"  # other letters
    r"|\S"
)


def load_tables(tables: dict[str, dict[str, str]] | None = None) -> None:
    """Load the split tables ({"suffix"|"contract"|"word": {key: spec}}), by default from quality_words.txt.

    A spec is '+' once per syllable of the key that the preceding morpheme also covers, then the surfaces
    joined by '/'.
    """
    global _CONTRACT
    if tables is None:
        tables = {"suffix": {}, "contract": {}, "word": {}}
        for line in TABLES.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                kind, key, spec = line.split("\t")
                tables[kind][key] = spec
    _WORD.clear()
    _WORD.update({key: tuple(spec.split("/")) for key, spec in tables["word"].items()})
    _SUFFIX.clear()
    for key, spec in tables["suffix"].items():
        tail = spec.lstrip("+")
        _SUFFIX[key] = (len(spec) - len(tail), tuple(tail.split("/")) if tail else ())
    _CONTRACT = frozenset(tables["contract"])
    split_hangul.cache_clear()
    _chunk_words.cache_clear()


def _ensure_loaded() -> None:
    if not _SUFFIX:
        load_tables()


def stem_end(run: str) -> int | None:
    """Where the outermost known ending of ``run`` starts (None when no ending matches)."""
    n = len(run)
    for k in range(min(_MAX_SUFFIX, n - 1), 0, -1):
        if run[n - k :] in _SUFFIX:
            return n - k
    return None


# Syllables that are usually a morpheme of their own (particles, endings, 하/있/되): inside long unknown runs
# (unspaced text such as "공부를선택할래요") they are cut out, the rest goes in two-syllable pieces.
_FUNCTION_SYLLABLES = frozenset("을를의는은에고다하했있되한인로서가이도만")


def _pieces(run: str) -> tuple[str, ...]:
    out: list[str] = []
    piece = ""
    for i, syllable in enumerate(run):
        if i and syllable in _FUNCTION_SYLLABLES:
            if piece:
                out.append(piece)
            out.append(syllable)
            piece = ""
        else:
            piece += syllable
            if len(piece) == 2:
                out.append(piece)
                piece = ""
    if piece:
        out.append(piece)
    return tuple(out)


@lru_cache(maxsize=1 << 17)
def split_hangul(run: str, depth: int = 0) -> tuple[str, ...]:
    """Kiwi-like surfaces of a run of Hangul syllables (see the module docstring)."""
    word = _WORD.get(run) if depth == 0 or len(run) > 1 else None  # 내 alone is 나+의, in 내가 it is 나
    if word is not None:
        return word
    cut = stem_end(run)
    if cut is None:
        return (run,) if len(run) <= 3 else _pieces(run)
    absorbed, tail = _SUFFIX[run[cut:]]
    stem = run[:cut]
    if len(stem) > 1 and stem in _WORD:
        head = _WORD[stem]
    else:
        head = split_hangul(stem, depth + 1) if depth < 3 else (stem,)
        if stem[-1] in _CONTRACT:
            head += (stem[-1],)
    if absorbed:
        head = (*head[:-1], head[-1] + run[cut : cut + absorbed])
    return head + tail


_ALL_HANGUL = re.compile("[가-힣]+")


@lru_cache(maxsize=1 << 18)
def _chunk_words(chunk: str) -> tuple[str, ...]:
    """The words of one whitespace-free chunk (an eojeol, a URL, ...); chunks repeat, so this is cached."""
    if _ALL_HANGUL.fullmatch(chunk):  # four chunks in five: one run, which _TOKEN would match whole
        return split_hangul(chunk)
    words: list[str] = []
    for m in _TOKEN.finditer(chunk):
        run = m.group("h")
        if run is None:
            words.append(m.group())
        else:
            words.extend(split_hangul(run))
    return tuple(words)


def fast_words(text: str) -> list[str]:
    """Approximate ``datatrove.utils.text.split_into_words(text, "kor_Hang")`` without Kiwi.

    No token of ``_TOKEN`` spans whitespace (and its look-aheads treat a chunk's end like a following
    space), so the text is cut at whitespace first and each chunk's words come from a cache: frequent
    eojeols cost one dictionary lookup.
    """
    if not _SUFFIX:
        load_tables()
    return list(chain.from_iterable(map(_chunk_words, text.split())))  # no Python-level loop per chunk


# -- GopherRepetitionFilter statistics on fast words ---------------------------------------------------
def top_n_gram_chars(words: list[str], n: int) -> int:
    """datatrove's find_top_duplicate on word tuples: characters of the most frequent n-gram times its count.

    Like ``Counter.most_common(1)`` it takes the first n-gram among equally frequent ones, so a document
    without a repeated n-gram scores its first one. datatrove compares n-grams as joined strings; tuples
    differ only where two different word sequences join to the same string, which the fast split's own error
    dwarfs.
    """
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    if len(set(grams)) == len(grams):  # the usual case: no repeat, the first n-gram is the top one
        return sum(map(len, words[:n])) + n - 1
    gram, count = Counter(grams).most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def repeated_cover_chars(words: list[str], n: int) -> int:
    """Characters of words inside a repeated occurrence of an n-gram: bounds duplicated m-grams, m >= n."""
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    if len(set(grams)) == len(grams):
        return 0
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(words)
    for i, gram in enumerate(grams):
        if gram in seen:
            covered[i : i + n] = [True] * n
        else:
            seen.add(gram)
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c)


def duplicated_n_gram_chars(words: list[str], n: int) -> int:
    """datatrove's find_all_duplicate over word tuples (its greedy scan: a repeat skips its whole n-gram)."""
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    unique: set[tuple[str, ...]] = set()
    repeated = idx = 0
    while idx < len(grams):
        if grams[idx] in unique:
            repeated += sum(map(len, grams[idx]))
            idx += n
        else:
            unique.add(grams[idx])
            idx += 1
    return repeated
