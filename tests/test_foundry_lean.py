"""LeanFilter keeps datatrove's stats (same keys and totals) with a cheaper loop; quality per source."""

from __future__ import annotations

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from dokpa.config import Recipe
from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.pipeline import prepare_steps
from dokpa.data.foundry.quality import KoreanQualityFilter


def _decide(doc: Document) -> bool | tuple[bool, str]:
    n = len(doc.text)
    if n % 3 == 0:
        return False, "three"
    return (False, "five") if n % 5 == 0 else True


class Lean(LeanFilter):
    name = "lean"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return _decide(doc)


class Plain(BaseFilter):
    name = "lean"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return _decide(doc)


def _docs() -> list[Document]:
    return [Document(text="가" * (i % 17 + 1), id=str(i)) for i in range(200)]


def test_lean_filter_matches_base_filter_stats() -> None:
    lean, plain = Lean(), Plain()
    kept_lean = [d.id for d in lean.run(iter(_docs()))]
    kept_plain = [d.id for d in plain.run(iter(_docs()))]
    assert kept_lean == kept_plain
    ours, theirs = lean.stats.stats, plain.stats.stats
    expected = {"total", "forwarded", "dropped", "dropped_three", "dropped_five", "doc_len"}
    assert set(ours) == set(theirs) >= expected
    for key in theirs:
        assert ours[key].total == theirs[key].total and ours[key].n == theirs[key].n, key
        assert ours[key].mean == pytest.approx(theirs[key].mean)
        assert ours[key].variance == pytest.approx(theirs[key].variance)
        assert (ours[key].min, ours[key].max) == (theirs[key].min, theirs[key].max)
    assert lean.stats.time_stats.n == 200 and lean.stats.time_stats.total > 0


def test_lean_filter_writes_rejections_with_reason() -> None:
    written: list[Document] = []

    class Writer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, doc: Document, rank: int = 0) -> None:
            written.append(doc)

    step = Lean(exclusion_writer=Writer())
    kept = list(step.run(iter(_docs())))
    assert len(kept) + len(written) == 200
    assert {d.metadata["filter_reason"] for d in written} == {"three", "five"}


def test_quality_can_be_switched_per_source(tmp_path) -> None:
    recipe = Recipe.model_validate(
        {
            "data": {
                "sources": [
                    {"name": "web", "path": str(tmp_path), "format": "text"},
                    {"name": "law", "path": str(tmp_path), "format": "text", "quality": False},
                ]
            }
        }
    )
    has_quality = {
        src.name: any(isinstance(s, KoreanQualityFilter) for s in prepare_steps(recipe, src, tmp_path))
        for src in recipe.data.sources
    }
    assert has_quality == {"web": True, "law": False}
