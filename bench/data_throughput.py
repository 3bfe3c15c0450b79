"""Whole Korean data pipeline: dokpa's foundry against FineWeb-2's kor_Hang configuration in datatrove.

Run from the repository root (needs ../shared/data/nsmc; LibreOffice pages are used when installed:
`apt-get install libreoffice-help-ko`):

    .venv/bin/python bench/data_throughput.py                         # 100k reviews + 500 help pages
    .venv/bin/python bench/data_throughput.py --nsmc 20000 --libreoffice 200

Both pipelines read the same input with the same readers, on one task and one worker (one core), and
write their kept documents; wall-clock time covers every pass. The reference is what FineWeb-2 runs
per language (fineweb-2-pipeline.py), minus GlotLID, whose model is a download:
    trafilatura (HTML) -> MinHash 5-gram, 14x8 on Kiwi words (datatrove, 4 passes)
    -> GopherRepetition + FineWebQuality + GopherQuality (kor_Hang thresholds, Kiwi words)
    -> FTFY -> PII formatter.
dokpa runs its default curate recipe (extraction, normalization, language id, licence policy, exact,
MinHash and line dedup, quality, PII, toxicity). Prints MB/s per core of each, the speed ratio, and the
agreement of keep/drop decisions per document (overall, and quality step against quality chain).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig

from dokpa.config import Recipe
from dokpa.data.documents import iter_documents
from dokpa.data.foundry.extract import MainTextExtractor
from dokpa.data.foundry.ledger import iter_rejected
from dokpa.data.foundry.pipeline import Foundry
from dokpa.data.foundry.progress import quiet_datatrove_logs
from dokpa.data.foundry.readers import make_reader
from dokpa.data.foundry.reference import fineweb2_kor_hang_filters, kiwi_tokenizer

ROOT = Path(__file__).resolve().parents[1]
NSMC = ROOT.parent / "shared" / "data" / "nsmc" / "reviews.jsonl.gz"
LIBREOFFICE = Path("/usr/share/libreoffice/help/ko")


class KiwiMinhashSignature(MinhashDedupSignature):
    """datatrove's signature step as FineWeb-2 runs it for kor_Hang (Kiwi words), with the Kiwi model
    that the installed kiwipiepy_model ships (see dokpa.data.foundry.reference.kiwi_tokenizer)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.word_tokenizer = kiwi_tokenizer()


def make_input(folder: Path, n_reviews: int, n_pages: int) -> int:
    """Write the shared input; return its size in bytes."""
    folder.mkdir(parents=True)
    with gzip.open(NSMC, "rt", encoding="utf-8") as f:
        (folder / "nsmc.jsonl").write_text("".join(itertools.islice(f, n_reviews)), encoding="utf-8")
    size = (folder / "nsmc.jsonl").stat().st_size
    if n_pages and LIBREOFFICE.is_dir():
        pages = sorted(LIBREOFFICE.rglob("*.html"))
        step = max(1, len(pages) // n_pages)
        for i, page in enumerate(pages[::step][:n_pages]):
            target = folder / "help" / f"{i:05d}.html"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(page, target)
            size += target.stat().st_size
    return size


def readers(inp: Path) -> list:
    out = [make_reader("jsonl", inp / "nsmc.jsonl", "nsmc", "CC0-1.0")]
    if (inp / "help").is_dir():
        out.append(make_reader("html", inp / "help", "help", "MPL-2.0"))
    return out


def run_reference(inp: Path, work: Path) -> set[str]:
    """FineWeb-2's kor_Hang steps; returns the kept ids."""
    hashes = HashConfig(hash_fc="xxhash", precision=64)
    cfg = MinhashConfig(hash_config=hashes, num_buckets=14, hashes_per_bucket=8)
    extracted = JsonlWriter(str(work / "extracted"), output_filename="${rank}_nsmc.jsonl.gz")
    stages = [[readers(inp)[0], extracted]]
    if (inp / "help").is_dir():  # main-text extraction for the web pages only, as dokpa does
        pages = JsonlWriter(str(work / "extracted"), output_filename="${rank}_help.jsonl.gz")
        stages.append([readers(inp)[1], MainTextExtractor(), pages])
    stages += [
        [
            JsonlReader(str(work / "extracted")),
            KiwiMinhashSignature(str(work / "sigs"), config=cfg, language="kor_Hang"),
        ],
        [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)],
        [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg)],
        [
            JsonlReader(str(work / "extracted")),
            MinhashDedupFilter(str(work / "remove")),
            *fineweb2_kor_hang_filters(),
            FTFYFormatter(),
            PIIFormatter(),
            JsonlWriter(str(work / "out")),
        ],
    ]
    buckets_stage = len(stages) - 3
    for i, pipeline in enumerate(stages):
        tasks = cfg.num_buckets if i == buckets_stage else 1
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=1, logging_dir=str(work / f"logs{i}")).run()
    return kept_ids(work / "out", "id")


def run_dokpa(inp: Path, work: Path) -> set[str]:
    """dokpa's default curate recipe over the same sources; returns the kept ids."""
    sources = [{"name": "nsmc", "path": str(inp / "nsmc.jsonl"), "format": "jsonl", "licence": "CC0-1.0"}]
    if (inp / "help").is_dir():
        sources.append({"name": "help", "path": str(inp / "help"), "format": "html", "licence": "MPL-2.0"})
    recipe = Recipe.model_validate({"data": {"sources": sources}})
    Foundry(recipe, work).run()
    return kept_ids(work / "output", "id")


def kept_ids(folder: Path, key: str) -> set[str]:
    return {doc[key] for doc in iter_documents(folder)}


def all_ids(inp: Path) -> set[str]:
    with open(inp / "nsmc.jsonl", encoding="utf-8") as f:
        ids = {f"nsmc/{json.loads(line)['id']}" for line in f if line.strip()}
    return ids | {f"help/{p.name}" for p in (inp / "help").glob("*.html")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsmc", type=int, default=100_000, help="NSMC reviews")
    parser.add_argument("--libreoffice", type=int, default=500, help="LibreOffice help pages")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not NSMC.exists():
        sys.exit(f"needs {NSMC}")
    quiet_datatrove_logs()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dokpa-bench-"))
    size = make_input(work / "input", args.nsmc, args.libreoffice)
    ids = all_ids(work / "input")

    timings, kept = {}, {}
    for name, fn in (("dokpa", run_dokpa), ("fineweb2-kor_Hang", run_reference)):
        t0 = time.perf_counter()
        kept[name] = fn(work / "input", work / name)
        timings[name] = time.perf_counter() - t0

    ours, ref = kept["dokpa"], kept["fineweb2-kor_Hang"]
    agree = sum((i in ours) == (i in ref) for i in ids) / len(ids)
    dropped_by_ours_quality = {r["id"] for r in iter_rejected(work / "dokpa", "08_quality")}
    mb = size / 1e6
    n_pages = len(ids) - args.nsmc
    print(f"input: {len(ids):,} documents, {mb:.1f} MB ({args.nsmc:,} NSMC reviews, {n_pages} help pages)")
    for name, seconds in timings.items():
        print(f"{name:>18}: {seconds:7.1f} s  {mb / seconds:6.3f} MB/s per core  kept {len(kept[name]):,}")
    print(f"speed ratio dokpa / fineweb2-kor_Hang: {timings['fineweb2-kor_Hang'] / timings['dokpa']:.2f}x")
    print(f"keep/drop agreement, whole pipeline: {agree:.4f}")
    print(
        f"  kept by both {len(ours & ref):,}, only dokpa {len(ours - ref):,}, only ref. {len(ref - ours):,}"
    )
    ref_drops = ids - ref
    print(
        f"  of the reference's {len(ref_drops):,} drops, dokpa's quality step dropped the same "
        f"{len(dropped_by_ours_quality & ref_drops):,}"
    )
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
