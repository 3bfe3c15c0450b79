"""MinHash near-duplicate removal on eojeol n-grams of NFC text, built on datatrove's four MinHash stages.

Shingles are n-grams of eojeols (whitespace-split NFC text) instead of datatrove's NFD ``simplify_text`` plus
a language word tokenizer: NFD splits every syllable into jamo, and a morpheme tokenizer (Kiwi) is slow and
makes a 5-gram span only 2-3 eojeols. The Jaccard similarity J this module aims at is the one of eojeol
5-gram shingle sets; documents shorter than n eojeols get one shingle, their whole folded text.

S-curve (20 buckets x 8 hashes). Banding alone detects a pair with probability 1 - (1 - J^8)^20; with
ideal min-wise hashes, J = 0.6 / 0.7 / 0.75 / 0.8 / 0.85 -> 0.29 / 0.70 / 0.88 / 0.98 / 1.0 (FineWeb-2's
14 x 8: 0.21 / 0.56 / 0.77 / 0.92 / 0.99). No banding of <= 256 hashes gives both recall and precision of
0.95 at J >= 0.8 when many pairs lie at 0.5-0.7, so the buckets stage also *verifies* each candidate pair:
it estimates J from all 160 hashes (a b-bit sketch: the low 16 bits of each min-hash, 320 bytes per
document, written by stage 1) and drops pairs below ``verify_threshold`` = 0.75, the middle of the 0.7-0.8
grey zone. Result: 0.00 / 0.09 / 0.52 / 0.93 / 1.0 (J = 0.82: 0.98). On planted pairs from real Korean
text (tests/test_foundry_dedup.py) this measures recall 0.98-1.0 and precision 0.99-1.0 at J >= 0.8 (grey
zone excluded) where banding alone, 14 x 8 or 20 x 8, has precision 0.75-0.84. ``verify_threshold=None``
gives datatrove's behaviour. datatrove's bucket stage links consecutive equal signatures, so a candidate is
verified against its neighbour in that order only (a member failing against its neighbour but passing
against another is left out; it needs two documents equal on 8 hashes yet below the threshold: rare).

Stages (4 executors, in order; stage 1 and 4 use the same reader and task count)::

    sig, buckets, cluster, filt = minhash_stages("work/minhash")
    LocalPipelineExecutor([reader, sig], tasks=N)
    LocalPipelineExecutor([buckets], tasks=20)          # num_buckets, or a multiple of it
    LocalPipelineExecutor([cluster], tasks=1)
    LocalPipelineExecutor([reader, filt, writer], tasks=N)

Of each cluster datatrove keeps its union-find root (deterministic for given input, not the first copy).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.dedup.minhash import (
    SENTINEL,
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupSignature,
)
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from dokpa.data.foundry._dedup_util import U4, check_doc_count, read_array, write_doc_count
from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.text import eojeols, nfc

REASON = "near_duplicate"
SKETCH_DTYPE = np.dtype("<u2")


def eojeol_shingles(text: str, n: int = 5) -> list[str]:
    """The shingles MinHash sees: n-grams of eojeols of NFC text joined by a space (whole text if shorter)."""
    words = eojeols(text)
    if 0 < len(words) < n:
        return [" ".join(words)]
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def make_minhash_config(
    n_grams: int = 5,
    num_buckets: int = 20,
    hashes_per_bucket: int = 8,
    seed: int = 1,
    hash_precision: int = 64,
) -> MinhashConfig:
    """A datatrove MinhashConfig from plain values (xxhash, as FineWeb-2)."""
    return MinhashConfig(
        n_grams=n_grams,
        num_buckets=num_buckets,
        hashes_per_bucket=hashes_per_bucket,
        seed=seed,
        hash_config=HashConfig(precision=hash_precision, hash_fc="xxhash"),
    )


class _EojeolTokenizer(WordTokenizer):
    """Whitespace tokenizer over NFC text, handed to datatrove so it loads no language model."""

    def word_tokenize(self, text: str) -> list[str]:
        return eojeols(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [line for line in nfc(text).splitlines() if line.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError("not used by MinHash")


def _sketch_path(rank: int) -> str:
    return f"sketch/{rank:05d}.minhash.sketch"


class EojeolMinhashSignature(MinhashDedupSignature):
    """Stage 1: datatrove's MinHash signatures over eojeol n-gram shingles, plus a verification sketch.

    Besides datatrove's bucket files it writes, per task, one row of ``num_buckets * hashes_per_bucket``
    uint16 (the low 16 bits of every min-hash; a chance match has probability 2^-16) per document, in
    document order, so the buckets stage can estimate J of any candidate pair.
    """

    name = "🇰🇷 minhash 1: signatures"

    def __init__(self, output_folder: DataFolderLike, config: MinhashConfig | None = None, **params: int):
        if config is not None and params:
            raise ValueError("pass either config or n_grams/num_buckets/... values, not both")
        super().__init__(
            output_folder, config=config or make_minhash_config(**params), language=_EojeolTokenizer()
        )
        self._last_sig: list[list[int]] | None = None

    def get_shingles(self, text: str) -> np.ndarray:
        """Hashed eojeol n-grams, shape (count, 1) uint64 as datatrove expects."""
        shingles = eojeol_shingles(text, self.config.n_grams)
        return np.fromiter(
            (self._hash_func(s) for s in shingles), dtype=np.uint64, count=len(shingles)
        ).reshape((-1, 1))

    def get_signature(self, shingles: np.ndarray) -> list[list[int]]:
        """datatrove's signature, remembered so the sketch row of the same document can be written."""
        self._last_sig = super().get_signature(shingles)
        return self._last_sig

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> None:
        """Run datatrove's stage 1 while writing one sketch row per document (zeros when no shingles)."""
        width = self.config.num_buckets * self.config.hashes_per_bucket
        empty = np.zeros(width, dtype=SKETCH_DTYPE).tobytes()
        count = 0

        def tapped(docs: DocumentsPipeline, out) -> DocumentsPipeline:
            nonlocal count
            for doc in docs:
                self._last_sig = None
                yield doc
                # resumed when datatrove asks for the next document: this one has been signed (or skipped)
                sig = self._last_sig
                out.write(
                    empty if sig is None else (np.array(sig).ravel() & 0xFFFF).astype(SKETCH_DTYPE).tobytes()
                )
                count += 1

        with self.output_folder.open(_sketch_path(rank), "wb") as out:
            super().run(tapped(data, out), rank, world_size)
        write_doc_count(self.output_folder, rank, count)


class VerifiedMinhashBuckets(MinhashDedupBuckets):
    """Stage 2: datatrove's bucket matching, then candidate pairs below ``verify_threshold`` are dropped."""

    name = "🇰🇷 minhash 2: buckets + verify"

    def __init__(
        self,
        input_folder: DataFolderLike,
        output_folder: DataFolderLike,
        config: MinhashConfig | None = None,
        verify_threshold: float | None = 0.75,
        **params: int,
    ):
        if config is not None and params:
            raise ValueError("pass either config or n_grams/num_buckets/... values, not both")
        super().__init__(input_folder, output_folder, config=config or make_minhash_config(**params))
        self.verify_threshold = verify_threshold

    def _sketch_rows(self, keys: np.ndarray) -> np.ndarray:
        """Rows of the stage-1 sketches for sorted unique keys ``file << 32 | doc``."""
        width = self.config.num_buckets * self.config.hashes_per_bucket
        row_bytes = width * SKETCH_DTYPE.itemsize
        rows = np.empty((len(keys), width), dtype=SKETCH_DTYPE)
        files = (keys >> np.uint64(32)).astype(np.int64)
        for file_id in np.unique(files):
            path = _sketch_path(int(file_id))
            if not self.input_folder.exists(path):
                raise FileNotFoundError(f"{path} missing: signatures must come from EojeolMinhashSignature")
            with self.input_folder.open(path, "rb") as f:
                for i in np.flatnonzero(files == file_id):
                    f.seek(int(keys[i] & np.uint64(0xFFFFFFFF)) * row_bytes)
                    row = f.read(row_bytes)
                    if len(row) != row_bytes:
                        raise RuntimeError(f"{path} is shorter than its signatures: rerun stage 1")
                    rows[i] = np.frombuffer(row, dtype=SKETCH_DTYPE)
        return rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        """Find this bucket's candidate pairs (datatrove), then keep only the verified ones."""
        super().run(data, rank, world_size)
        if self.verify_threshold is None:
            return
        bucket, worker = divmod(rank, world_size // self.config.num_buckets)
        path = f"{bucket:05d}_{worker:02d}.dups"
        pairs = read_array(self.output_folder, path, U4).reshape(-1, 4)
        from_index = pairs[:, 0] == SENTINEL  # matches against a prebuilt index carry no sketch: keep them
        left = (pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1]
        right = (pairs[:, 2].astype(np.uint64) << np.uint64(32)) | pairs[:, 3]
        keys = np.unique(np.concatenate([left[~from_index], right[~from_index]]))
        rows = self._sketch_rows(keys)
        sim = np.ones(len(pairs))
        a, b = np.searchsorted(keys, left[~from_index]), np.searchsorted(keys, right[~from_index])
        sim[~from_index] = (rows[a] == rows[b]).mean(axis=1)
        keep = from_index | (sim >= self.verify_threshold)
        self.stat_update("candidate_pairs", value=len(pairs))
        self.stat_update("rejected_pairs", value=int((~keep).sum()))
        with self.output_folder.open(path, "wb") as f:
            f.write(pairs[keep].tobytes())


class NearDuplicateFilter(LeanFilter):
    """Stage 4: drop all but one document of each cluster (reason ``"near_duplicate"``).

    Reads the ``.remove`` / ``.sizes`` (/ ``.clusters``) files of datatrove's MinhashDedupCluster. Not
    datatrove's MinhashDedupFilter, which drops without a reason, is no BaseFilter, and skips the cluster
    sizes of every task that has nothing to remove (the kept root of a cross-task cluster gets none).
    Every document gets ``metadata["minhash_cluster_size"]`` (1 when unique); ``load_cluster_ids`` also
    sets ``metadata["minhash_cluster_id"]`` (-1 when unique).
    """

    name = "🇰🇷 minhash 4: filter"

    def __init__(
        self,
        input_folder: DataFolderLike,
        signature_folder: DataFolderLike | None = None,
        exclusion_writer: DiskWriter | None = None,
        load_cluster_ids: bool = False,
    ):
        super().__init__(exclusion_writer)
        self.data_folder = get_datafolder(input_folder)
        self.signature_folder = get_datafolder(signature_folder) if signature_folder else None
        self.load_cluster_ids = load_cluster_ids
        self._remove: set[int] = set()
        self._sizes: dict[int, int] = {}
        self._ids: dict[int, int] = {}
        self._seen = 0

    def _pairs(self, path: str) -> dict[int, int]:
        if not self.data_folder.exists(path):
            return {}
        return {int(k): int(v) for k, v in read_array(self.data_folder, path, U4).reshape(-1, 2)}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Tag the cluster size (and id); drop non-root cluster members (documents come in order)."""
        idx = self._seen
        self._seen += 1
        doc.metadata["minhash_cluster_size"] = self._sizes.get(idx, 1)
        if self.load_cluster_ids:
            doc.metadata["minhash_cluster_id"] = self._ids.get(idx, -1)
        return (False, REASON) if idx in self._remove else True

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """Load this task's cluster results, filter, then check the task saw stage 1's documents."""
        remove_path = f"{rank:06d}.remove"
        self._remove = set()
        if self.data_folder.exists(remove_path):
            self._remove = set(read_array(self.data_folder, remove_path, U4).tolist())
        self._sizes = self._pairs(f"{rank:06d}.sizes")
        self._ids = self._pairs(f"{rank:06d}.clusters") if self.load_cluster_ids else {}
        self._seen = 0
        yield from super().run(data, rank, world_size)
        if self._remove and max(self._remove) >= self._seen:
            raise RuntimeError(f"task {rank} saw {self._seen} documents, fewer than the clusters refer to")
        if self.signature_folder is not None:
            check_doc_count(self.signature_folder, rank, self._seen, "NearDuplicateFilter")


class MinhashStages(NamedTuple):
    """The four MinHash steps, in run order."""

    signature: EojeolMinhashSignature
    buckets: VerifiedMinhashBuckets
    cluster: MinhashDedupCluster
    filter: NearDuplicateFilter


def minhash_stages(
    folder: str,
    n_grams: int = 5,
    num_buckets: int = 20,
    hashes_per_bucket: int = 8,
    seed: int = 1,
    hash_precision: int = 64,
    verify_threshold: float | None = 0.75,
    exclusion_writer: DiskWriter | None = None,
    save_cluster_ids: bool = False,
) -> MinhashStages:
    """Build the four MinHash steps working under ``folder`` (signatures/, buckets/, clusters/).

    Run stage 2 with ``tasks=num_buckets`` (or a multiple) and stage 3 with ``tasks=1``.
    ``save_cluster_ids`` also tags ``metadata["minhash_cluster_id"]`` (handy for inspection and tests).
    """
    config = make_minhash_config(n_grams, num_buckets, hashes_per_bucket, seed, hash_precision)
    sigs, buckets, clusters = f"{folder}/signatures", f"{folder}/buckets", f"{folder}/clusters"
    return MinhashStages(
        EojeolMinhashSignature(sigs, config=config),
        VerifiedMinhashBuckets(sigs, buckets, config=config, verify_threshold=verify_threshold),
        MinhashDedupCluster(
            buckets, clusters, config=config, save_cluster_size=True, save_cluster_id=save_cluster_ids
        ),
        NearDuplicateFilter(
            clusters,
            signature_folder=sigs,
            exclusion_writer=exclusion_writer,
            load_cluster_ids=save_cluster_ids,
        ),
    )
