"""The Korean data foundry as a sequence of datatrove runs, built from a recipe's `[data]` and `[curate]`.

    dokpa curate --config recipes/demo.toml
    dokpa curate --config my.toml --set curate.executor.kind=ray --set curate.executor.tasks=8

Runs, in order (each its own executor, so the same code runs locally, on Ray or on Slurm):

1. ``prepare/<source>``: read -> read errors -> main-text extraction (html, warc) -> normalize ->
   length -> language -> licence policy -> opt-out -> decontamination -> quality -> PII -> toxicity,
   into ``work/prepared/``. Every step here looks at one document at a time.
2. exact dedup (signature, find, filter) into ``work/exact/``.
3. MinHash near-dedup (signature, buckets, cluster, filter) into ``work/near/``.
4. repeated-line removal (count, merge) and the final pass (remove lines) into ``output/`` (dokpa's
   Document contract, one file per task).

Filters come before deduplication (the order of RefinedWeb, FineWeb and Dolma; FineWeb-2 dedups first):
the corpus-wide passes then only see what the filters keep, which on crawled or user text is a small share
(the FineWeb-2 heuristics drop 95% of NSMC reviews), and PII placeholders make copies that differ only in a
phone number exact duplicates. Duplicate cluster sizes therefore count kept-quality copies only.

Every filter writes what it drops to ``rejected/<NN_step>/``; ``tally/`` counts what came in and what was
kept; :func:`dokpa.data.foundry.ledger.assemble_ledger` checks that they balance. A dedup filter finds
its documents by position in its task's stream, so each dedup's signature and filter passes read the same
folder with the same task count; that is why every dedup ends by writing its own intermediate folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from dokpa.config import Recipe, SourceConfig
from dokpa.data.foundry.executors import make_executor, run_to_completion
from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.ledger import Tally, output_writer, rejection_writer
from dokpa.data.foundry.progress import Progress
from dokpa.data.foundry.writers import LeanJsonlWriter

# Step folders under rejected/, numbered in pipeline order so listings read top to bottom.
STEPS = (
    "01_read_error",
    "02_extract",
    "03_length",
    "04_language",
    "05_licence",
    "06_opt_out",
    "07_decontam",
    "08_quality",
    "09_toxicity",
    "10_exact_dedup",
    "11_near_dedup",
    "12_line_dedup",
)
EXTRACT_BY_DEFAULT = {"html", "warc"}


class LengthFilter(LeanFilter):
    """Drop documents left empty (reason "empty") or shorter than ``min_chars`` ("too_short")."""

    name = "📏 length"

    def __init__(self, min_chars: int = 1, exclusion_writer: JsonlWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.min_chars = min_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        n = len(doc.text.strip())
        if n == 0:
            return False, "empty"
        return (False, "too_short") if n < self.min_chars else True


def _reader_for(src: SourceConfig, recipe: Recipe) -> PipelineStep:
    from dokpa.data.foundry.readers import make_reader

    opts: dict[str, Any] = {}
    if src.format == "text":
        opts["split"] = src.split
    if src.format in ("jsonl", "parquet", "csv", "tsv"):
        opts.update(text_key=src.text_field, id_key=src.id_field)
    if src.glob:
        opts["glob"] = src.glob
    if src.url_prefix and src.format in ("html", "mediawiki"):
        opts["url_prefix" if src.format == "html" else "base_url"] = src.url_prefix
    return make_reader(src.format, recipe.resolve(src.path), src.name, src.licence, **opts)


def prepare_steps(recipe: Recipe, src: SourceConfig, root: Path) -> list[PipelineStep]:
    """Per-document steps that need no corpus-wide view, for one source."""
    from dokpa.data.foundry.langid import LanguageFilter, LanguageTagger
    from dokpa.data.foundry.normalize import KoreanNormalizer
    from dokpa.data.foundry.policy import LicencePolicyFilter, OptOutFilter
    from dokpa.data.foundry.readers import ReadErrorFilter

    c = recipe.curate

    def rejects(step: str) -> JsonlWriter:
        return rejection_writer(root, step, prefix=f"{src.name}_")

    steps: list[PipelineStep] = [
        _reader_for(src, recipe),
        Tally(root, f"in/{src.name}"),
        Progress(f"curate {src.name}"),
        ReadErrorFilter(exclusion_writer=rejects("01_read_error")),
    ]
    if src.extract if src.extract is not None else src.format in EXTRACT_BY_DEFAULT:
        from dokpa.data.foundry.extract import MainTextExtractor

        steps.append(MainTextExtractor(exclusion_writer=rejects("02_extract")))
    if c.normalize:
        steps.append(KoreanNormalizer())
    steps.append(LengthFilter(c.min_chars, exclusion_writer=rejects("03_length")))
    steps += [
        LanguageTagger(),
        LanguageFilter(
            keep=c.langid.keep,
            min_score=c.langid.min_score,
            min_hangul_share=c.langid.min_hangul_share,
            exclusion_writer=rejects("04_language"),
        ),
        LicencePolicyFilter(
            release=c.policy.release,
            allow_unknown=c.policy.allow_unknown,
            forbid_nd=c.policy.forbid_nd,
            exclusion_writer=rejects("05_licence"),
        ),
    ]
    if c.policy.opt_out:
        steps.append(
            OptOutFilter(file=str(recipe.resolve(c.policy.opt_out)), exclusion_writer=rejects("06_opt_out"))
        )
    if c.decontam.benchmarks:
        from dokpa.data.foundry.decontam import Decontaminate

        steps.append(
            Decontaminate(
                c.decontam.benchmarks,
                root=str(recipe.resolve(c.decontam.root)),
                n=c.decontam.n,
                exclusion_writer=rejects("07_decontam"),
            )
        )
    return steps + content_steps(recipe, src, rejects)


def content_steps(
    recipe: Recipe, src: SourceConfig, rejects: Callable[[str], JsonlWriter]
) -> list[PipelineStep]:
    """Quality, PII and toxicity of one source's documents (the end of its prepare pass)."""
    c = recipe.curate
    steps: list[PipelineStep] = []
    if src.quality if src.quality is not None else c.quality.enabled:
        from dokpa.data.foundry.quality import KoreanQualityFilter

        steps.append(KoreanQualityFilter(**c.quality.overrides, exclusion_writer=rejects("08_quality")))
    if c.pii.enabled:
        from dokpa.data.foundry.pii_step import PIIScrubber

        steps.append(PIIScrubber(types=c.pii.types))
    if c.toxicity.enabled:
        from dokpa.data.foundry.toxicity import ToxicityTagger

        lexicon = str(recipe.resolve(c.toxicity.lexicon)) if c.toxicity.lexicon else None
        steps.append(ToxicityTagger(lexicon, c.toxicity.drop_above, exclusion_writer=rejects("09_toxicity")))
    return steps


class Foundry:
    """Runs the passes of one curate folder; each pass resumes from datatrove's completion markers."""

    def __init__(self, recipe: Recipe, root: Path) -> None:
        self.recipe, self.root = recipe, root
        self.work = root / "work"
        self.exe = recipe.curate.executor

    def _run(self, name: str, pipeline: list[PipelineStep], tasks: int | None = None) -> None:
        executor = make_executor(self.exe, pipeline, self.work / "logs" / name, name, tasks=tasks)
        run_to_completion(executor)

    # Intermediate folders are scratch, read once or twice: uncompressed, since gzip was a third of the
    # time of a pass. No file_path metadata: it would name these files, and differ between runs.
    def _reader(self, folder: Path) -> JsonlReader:
        return JsonlReader(str(folder), glob_pattern="**/*.jsonl", compression=None, add_file_path=False)

    def _writer(self, folder: Path) -> JsonlWriter:
        return LeanJsonlWriter(str(folder), output_filename="${rank}.jsonl", compression=None)

    def run(self) -> Path:
        """All passes in order; returns the output folder."""
        recipe, work, root = self.recipe, self.work, self.root
        dedup = recipe.curate.dedup
        for src in recipe.data.sources:
            steps = prepare_steps(recipe, src, root)
            self._run(f"prepare-{src.name}", [*steps, self._writer(work / "prepared" / src.name)])
        current = work / "prepared"
        if not any(current.rglob("*.jsonl")):
            # Every document was rejected while preparing: nothing to deduplicate, and datatrove's readers
            # refuse an empty folder. The final pass still runs so the ledger counts zero kept.
            self._run("final", [Tally(root, "kept"), output_writer(root / "output")])
            (root / "output").mkdir(parents=True, exist_ok=True)
            return root / "output"
        if dedup.exact:
            from dokpa.data.foundry.dedup import exact_dedup_stages

            ex = exact_dedup_stages(
                str(work / "exact-sigs"), exclusion_writer=rejection_writer(root, "10_exact_dedup")
            )
            self._run("exact-1-signature", [self._reader(current), ex.signature])
            self._run("exact-2-find", [ex.find], tasks=1)
            self._run("exact-3-filter", [self._reader(current), ex.filter, self._writer(work / "exact")])
            current = work / "exact"
        if dedup.minhash:
            from dokpa.data.foundry.dedup import minhash_stages

            mh = minhash_stages(
                str(work / "minhash"),
                n_grams=dedup.n_grams,
                num_buckets=dedup.num_buckets,
                hashes_per_bucket=dedup.hashes_per_bucket,
                exclusion_writer=rejection_writer(root, "11_near_dedup"),
            )
            self._run("near-1-signature", [self._reader(current), mh.signature])
            self._run("near-2-buckets", [mh.buckets], tasks=dedup.num_buckets)
            self._run("near-3-cluster", [mh.cluster], tasks=1)
            self._run("near-4-filter", [self._reader(current), mh.filter, self._writer(work / "near")])
            current = work / "near"
        final: list[PipelineStep] = [self._reader(current)]
        if dedup.lines:
            from dokpa.data.foundry.dedup import line_dedup_stages

            ln = line_dedup_stages(
                str(work / "lines"),
                min_docs=dedup.line_min_docs,
                exclusion_writer=rejection_writer(root, "12_line_dedup"),
            )
            self._run("lines-1-count", [self._reader(current), ln.count])
            self._run("lines-2-merge", [ln.merge], tasks=1)
            final.append(ln.remove)
        final += [Tally(root, "kept"), output_writer(root / "output")]
        self._run("final", final)
        return root / "output"


def reset(root: Path) -> None:
    """Remove a curate folder's outputs (a different config must not resume the old run)."""
    for name in ("work", "output", "rejected", "tally", "card"):
        shutil.rmtree(root / name, ignore_errors=True)
