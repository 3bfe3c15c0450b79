"""Language tagging for Korean corpora: Hangul share first, py3langid for the rest.

Most Korean documents are settled by counting letters: when at least ``korean_share`` of the letters
are Hangul the document is Korean with score 1.0 and no model runs. Only mixed or non-Hangul text goes
to py3langid (langid.py's model, shipped inside the package; no download). Text without any letter
(numbers, punctuation, emoji) is tagged "zxx" (no linguistic content) with score 1.0.
"""

from __future__ import annotations

from functools import lru_cache

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from dokpa.data.foundry.lean import LeanFilter, StepTally
from dokpa.data.foundry.text import hangul_letters

NO_LANGUAGE = "zxx"  # ISO 639 'no linguistic content', as py3langid labels it


@lru_cache(maxsize=4)
def _identifier(langs: tuple[str, ...] | None):
    """py3langid's model, loaded once per process and language set: loading takes a second or two, and
    every prepare pass (one per source) and every LanguageFilter has its own tagger."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if langs is not None:
        identifier.set_languages(list(langs))
    return identifier


class LanguageTagger(PipelineStep):
    """Set ``metadata`` ``lang`` (ISO 639-1), ``lang_score`` (0-1) and ``hangul_share`` on every document.

    Args:
        korean_share: Hangul share of letters at or above which a document is "ko" with score 1.0.
        langs: restrict py3langid to these ISO 639-1 codes (None: all 97 of its languages). Restricting
            makes it faster and keeps rare look-alike labels away from short text.
        max_chars: only the first ``max_chars`` characters go to py3langid (it is linear in length and
            a prefix decides the language of a document).
    """

    name = "🇰🇷 language tag"
    type = "🏷 - TAGGER"
    _requires_dependencies = ("py3langid",)

    def __init__(self, korean_share: float = 0.5, langs: list[str] | None = None, max_chars: int = 10_000):
        super().__init__()
        if not 0.0 < korean_share <= 1.0:
            raise ValueError(f"korean_share must be in (0, 1], got {korean_share}")
        self.korean_share = korean_share
        self.langs = list(langs) if langs is not None else None
        self.max_chars = max_chars
        self._identifier = None

    def _model(self):
        if self._identifier is None:
            self._identifier = _identifier(tuple(self.langs) if self.langs is not None else None)
        return self._identifier

    def identify(self, text: str) -> tuple[str, float, float]:
        """(lang, score, hangul_share) of ``text``; the Hangul shortcut scores 1.0."""
        hangul, letters = hangul_letters(text[: self.max_chars] if len(text) > self.max_chars else text)
        if not letters:  # digits, punctuation, emoji only: no language to find
            return NO_LANGUAGE, 1.0, 0.0
        share = hangul / letters
        if share >= self.korean_share:
            return "ko", 1.0, share
        lang, score = self._model().classify(text[: self.max_chars])
        return lang, float(score), share

    def tag(self, doc: Document) -> Document:
        """Write lang, lang_score and hangul_share into ``doc.metadata``."""
        lang, score, share = self.identify(doc.text)
        doc.metadata["lang"] = lang
        doc.metadata["lang_score"] = round(score, 4)
        doc.metadata["hangul_share"] = round(share, 4)
        return doc

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Tag every document and pass it on."""
        tally = StepTally(self)
        try:
            for doc in data:
                start = tally.clock()
                self.tag(doc)
                tally.seconds.add(tally.clock() - start)
                tally.counts[f"lang_{doc.metadata['lang']}"] += 1
                tally.counts["hangul_shortcut" if doc.metadata["lang_score"] == 1.0 else "langid_model"] += 1
                yield doc
        finally:
            tally.fold()

    def __getstate__(self):
        # the model is rebuilt lazily in each worker; no need to ship ~MBs of arrays to every process
        state = self.__dict__.copy()
        state["_identifier"] = None
        return state


class LanguageFilter(LeanFilter):
    """Keep documents in ``keep`` languages above thresholds; tags untagged documents itself.

    Drop reasons: ``not_korean:{lang}`` (language not kept), ``not_korean:low_score`` (kept language
    below ``min_score``), ``not_korean:low_hangul_share`` (below ``min_hangul_share``).
    """

    name = "🇰🇷 language filter"

    def __init__(
        self,
        keep: list[str] | None = None,
        min_score: float = 0.0,
        min_hangul_share: float = 0.0,
        korean_share: float = 0.5,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.keep = list(keep) if keep is not None else ["ko"]
        self.min_score = min_score
        self.min_hangul_share = min_hangul_share
        self.tagger = LanguageTagger(korean_share=korean_share)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep, or drop with a ``not_korean:...`` reason."""
        if "lang" not in doc.metadata or "hangul_share" not in doc.metadata:
            self.tagger.tag(doc)
        lang = doc.metadata["lang"]
        if lang not in self.keep:
            return False, f"not_korean:{lang}"
        if doc.metadata.get("lang_score", 0.0) < self.min_score:
            return False, "not_korean:low_score"
        if doc.metadata["hangul_share"] < self.min_hangul_share:
            return False, "not_korean:low_hangul_share"
        return True
