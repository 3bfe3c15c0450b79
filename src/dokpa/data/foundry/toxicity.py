"""Korean toxicity tagging with a profanity/slur lexicon that sees through common obfuscations.

Lexicon file (UTF-8, one entry per line; ``#`` starts a comment, blank lines are ignored):

* ``term``   exact: substring of the NFC, lowercased text (for Latin-keyboard spellings such as "tlqkf").
* ``~term``  obfuscation-tolerant: matched in the *squeezed* text (below), so 시1발, 씨@발, 시.발, "시 발",
  "ㅅㅣ발" all read as 시발; a term of 3+ syllables also matches with spaces between its syllables
  ("미친 놈", "개 새끼").
* ``^term``  tolerant, and each syllable may also be written as its initial consonant: ^시발 covers ㅅㅂ,
  ㅅ발, 시ㅂ; ^개새끼 covers ㄱㅅㄲ and 개ㅅㄲ. Use it only where such an abbreviation is really used.
* ``!phrase`` exception: a hit that lies inside this phrase is not counted (!시발점, !등신대).

Squeezing (for ``~``/``^``): NFC, lowercase, then inside every eojeol every character that is not Hangul
(digits, punctuation, symbols, Latin) is removed; consonant+vowel jamo written apart are composed
(ㅅㅣ -> 시); runs of two or more one-letter eojeols are joined ("시 발" -> 시발; "이 시 발표" stays apart
from 발표, which is why the run rule is restricted to one-letter eojeols). Hits are counted leftmost-longest
without overlap; a term listed both exact and tolerant may be counted twice, so list each term once.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from datatrove.data import Document

from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.text import eojeols, nfc

__all__ = ["DEFAULT_LEXICON", "Lexicon", "ToxicityTagger", "squeeze"]

DEFAULT_LEXICON = Path(__file__).parent / "lexicon" / "ko_toxic.txt"
_CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONG = "ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"  # index + 1 is the final-consonant number
# Everything that is neither whitespace nor Hangul (syllables, conjoining/compatibility/extended jamo);
# the compatibility filler U+3164 is excluded on purpose, it is padding, not a letter.
_NOT_HANGUL = re.compile(
    r"[^\s\uac00-\ud7a3\u1100-\u11ff\u3131-\u3163\u3165-\u318e\ua960-\ua97f\ud7b0-\ud7ff]+"
)
_VOWEL = re.compile(f"[{_CHO}][{_JUNG}]")


def _compose(tok: str) -> str:
    """Compose compatibility jamo written apart (ㅅㅣㅂㅏㄹ -> 시발); other characters pass through."""
    out, i = [], 0
    while i < len(tok):
        lead, vowel = tok[i], tok[i + 1] if i + 1 < len(tok) else ""
        if lead in _CHO and vowel and vowel in _JUNG:
            tail = 0
            nxt = tok[i + 2] if i + 2 < len(tok) else ""
            if nxt and nxt in _JONG and not (i + 3 < len(tok) and tok[i + 3] in _JUNG):
                tail = _JONG.index(nxt) + 1
            out.append(chr(0xAC00 + (_CHO.index(lead) * 21 + _JUNG.index(vowel)) * 28 + tail))
            i += 3 if tail else 2
        else:
            out.append(tok[i])
            i += 1
    return "".join(out)


def squeeze(text: str) -> str:
    """The text obfuscation-tolerant terms are matched in (see the module docstring)."""
    out: list[str] = []
    run: list[str] = []
    for tok in _NOT_HANGUL.sub("", nfc(text).lower()).split():
        if _VOWEL.search(tok):
            tok = _compose(tok)
        if len(tok) == 1:
            run.append(tok)
            continue
        if run:
            out.append(_compose("".join(run)))  # "ㅅ ㅣ 발" -> 시발
            run = []
        out.append(tok)
    if run:
        out.append(_compose("".join(run)))
    return " ".join(out)


def _pattern(term: str) -> str:
    # 3+ syllables: spaces between syllables allowed ("미친 놈"); two-syllable terms rely on the one-letter
    # run rule instead, since an optional space would let "이 시 발표" read as 시발.
    return " ?".join(map(re.escape, term)) if len(term) >= 3 else re.escape(term)


def _initial_variants(term: str) -> set[str]:
    options = [(c, _CHO[(ord(c) - 0xAC00) // 588]) if "가" <= c <= "힣" else (c,) for c in term]
    if len(options) > 6:
        raise ValueError(f"^ entries are limited to 6 syllables: {term!r}")
    return {"".join(p) for p in itertools.product(*options)}


class Lexicon:
    """A compiled toxicity lexicon; ``tag(text)`` returns {"hits", "terms", "rate"}."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else DEFAULT_LEXICON
        exact: dict[str, str] = {}  # surface form -> lexicon term
        tolerant: dict[str, str] = {}
        exc_exact: set[str] = set()
        exc_tolerant: set[str] = set()
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            mark, body = (entry[0], entry[1:].strip()) if entry[0] in "~^!" else ("", entry)
            body = nfc(body).lower()
            core = squeeze(body).replace(" ", "")
            if not body or (mark and (not core or _NOT_HANGUL.search(body))):
                # Tolerant matching ignores non-Hangul characters, so "~씨8" would silently become "~씨".
                raise ValueError(f"{self.path}:{n}: {line!r}: ~ ^ ! entries must be Hangul (and spaces) only")
            if mark == "^" and len(core) < 2:
                raise ValueError(f"{self.path}:{n}: {line!r}: ^ needs 2+ letters (a lone ㅈ is not a word)")
            if mark == "!":
                exc_exact.add(body)
                exc_tolerant.add(core)
            elif mark == "":
                exact.setdefault(body, body)
            else:
                for form in _initial_variants(core) if mark == "^" else {core}:
                    tolerant.setdefault(form, core)
        self.terms = sorted(set(exact.values()) | set(tolerant.values()))
        self._exact, self._tolerant = exact, tolerant
        self._re_exact = self._alternation(exact)
        self._re_tolerant = self._alternation(tolerant, _pattern)
        self._re_exc_exact = self._alternation(exc_exact, lookahead=True)
        self._re_exc_tolerant = self._alternation(exc_tolerant, _pattern, lookahead=True)

    @staticmethod
    def _alternation(forms, to_pattern=re.escape, lookahead: bool = False) -> re.Pattern | None:
        if not forms:
            return None
        # Longest first: at one position the regex takes the first alternative that matches.
        body = "|".join(to_pattern(f) for f in sorted(forms, key=lambda f: (-len(f), f)))
        # Exceptions may overlap each other; a zero-width lookahead finds every start position.
        return re.compile(f"(?=({body}))" if lookahead else body)

    @staticmethod
    def _hits(text: str, terms: re.Pattern | None, exceptions: re.Pattern | None, forms: dict) -> list:
        if terms is None:
            return []
        spans = [(m.start(1), m.end(1)) for m in exceptions.finditer(text)] if exceptions else []
        found = []
        for m in terms.finditer(text):
            if not any(s <= m.start() and m.end() <= e for s, e in spans):
                key = m.group() if m.group() in forms else m.group().replace(" ", "")
                found.append((m.start(), forms[key]))
        return found

    def tag(self, text: str) -> dict:
        """Count lexicon hits in ``text``: hits, distinct terms (first-seen order), hits per 100 eojeols."""
        lowered = nfc(text).lower()
        found = self._hits(lowered, self._re_exact, self._re_exc_exact, self._exact)
        found += self._hits(squeeze(text), self._re_tolerant, self._re_exc_tolerant, self._tolerant)
        terms = list(dict.fromkeys(term for _, term in found))
        rate = 100.0 * len(found) / max(1, len(eojeols(text)))
        return {"hits": len(found), "terms": terms, "rate": round(rate, 3)}


class ToxicityTagger(LeanFilter):
    """Tag ``metadata["toxicity"] = {"hits", "terms", "rate"}`` (rate: hits per 100 eojeols).

    A tagger first: nothing is dropped unless ``drop_above`` is set, then documents whose rate exceeds it
    are dropped with reason "toxic". ``lexicon_path`` defaults to the shipped ``lexicon/ko_toxic.txt``.
    """

    name = "🇰🇷 toxicity"

    def __init__(
        self, lexicon_path: str | None = None, drop_above: float | None = None, exclusion_writer=None
    ):
        super().__init__(exclusion_writer)
        self.lexicon = Lexicon(lexicon_path)
        self.drop_above = drop_above

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Tag ``doc``; keep it unless ``drop_above`` is set and exceeded."""
        tag = self.lexicon.tag(doc.text)
        doc.metadata["toxicity"] = tag
        if tag["hits"]:
            self.stat_update("toxic_tagged")
        if self.drop_above is not None and tag["rate"] > self.drop_above:
            return False, "toxic"
        return True
