"""PIIScrubber: the datatrove step that replaces Korean PII with placeholder tokens (see ``foundry.pii``)."""

from __future__ import annotations

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from dokpa.data.foundry.lean import StepTally
from dokpa.data.foundry.pii import PHONE_BACKENDS, PII_TYPES, count_spans, find_pii, replace_spans


class PIIScrubber(PipelineStep):
    """Replace PII spans with ``<|rrn|>``, ``<|tel|>`` ... and record what was replaced.

    A document with PII gets ``metadata["pii"] = {type: count}`` (non-zero counts only); a clean document
    gets no ``pii`` key, so readers should use ``doc.metadata.get("pii", {})``. Stats (per task, summed
    by datatrove): ``pii_docs`` (documents touched), ``pii_{type}`` (spans replaced, per type) and
    ``pii_{rrn,frn}_checksum_valid`` (how many of those carried a valid pre-2020 check digit).

    Args:
        types: PII types to replace (default: all of ``PII_TYPES``); the others are left as they are.
        phone_backend: "regex" (default: measured more accurate and as fast on Korean text), "phonenumbers"
            (libphonenumber's matcher) or "both".
    """

    name = "🇰🇷 pii"
    type = "✂️ - FORMAT"

    def __init__(self, types: list[str] | None = None, phone_backend: str = "regex"):
        super().__init__()
        self.types = tuple(PII_TYPES if types is None else types)
        unknown = set(self.types) - set(PII_TYPES)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {PII_TYPES}")
        if phone_backend not in PHONE_BACKENDS:
            raise ValueError(f"phone_backend must be one of {PHONE_BACKENDS}, got {phone_backend!r}")
        self.phone_backend = phone_backend

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Scrub every document's text in place and yield it."""
        tally = StepTally(self)
        try:
            for doc in data:
                tally.counts[StatHints.total] += 1
                start = tally.clock()
                spans = find_pii(doc.text, self.types, self.phone_backend)
                if spans:
                    doc.text = replace_spans(doc.text, spans)
                    counts = count_spans(spans)
                    doc.metadata["pii"] = counts
                    tally.counts["pii_docs"] += 1
                    for typ, n in counts.items():
                        tally.observe(f"pii_{typ}", n)
                    for typ in ("rrn", "frn"):
                        valid = sum(1 for sp in spans if sp.type == typ and sp.checksum_valid)
                        if valid:
                            tally.observe(f"pii_{typ}_checksum_valid", valid)
                tally.seconds.add(tally.clock() - start)
                yield doc
        finally:
            tally.fold()
