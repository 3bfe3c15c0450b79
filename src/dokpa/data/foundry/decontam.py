"""Benchmark decontamination: drop documents that share long eojeol n-grams with evaluation sets.

Matching unit: eojeols of NFC text with punctuation and symbols (Unicode P* and S*) removed and Latin
lowercased, so ``[단수]의`` matches ``단수의`` and ``￦1,000`` matches ``1000``.

Choice of n (default 8): GPT-3 and Llama used 13 *words*; a Korean eojeol is a word plus its particles or
endings, so 8 eojeols carry about as much as 13 English words. Measured on the data in ../shared/data: no
NSMC review of 50,000 shares an 8-gram with KoBEST/KMMLU/KorQuAD (dev+test), while distinct items of the
same benchmark start to share 8-grams only through templates (handled by ``max_item_freq``); 13 would miss
the many KorQuAD questions and COPA/WiC items that are shorter than 13 eojeols.

Short items: a field (question, option, sentence) or item with fewer than n eojeols is indexed whole, as one
k-gram, when it has at least ``min_short`` (4) eojeols; shorter ones are skipped, since 3-eojeol strings such
as "알 수 없다" occur in ordinary text (they matched NSMC reviews in our measurement, 4-eojeol ones did not).

Boilerplate: an n-gram found in ``max_item_freq`` (5) or more distinct items is a template (KMMLU's
"옳지 않은 것은 다툼이 있는 경우 판례에 의함", the source site's error-report banner) and is left out; every
item keeps other n-grams, so removing them costs no recall.
"""

from __future__ import annotations

import hashlib
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from datatrove.data import Document
from loguru import logger

from dokpa.data.foundry.benchmarks import (
    DEFAULT_SPLITS,
    benchmark_label,
    load_benchmark_items,
    load_benchmark_texts,
)
from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.text import nfc

__all__ = [
    "Decontaminate",
    "NgramIndex",
    "benchmark_label",
    "load_benchmark_items",
    "load_benchmark_texts",
    "match_tokens",
]

_P = 0x9E3779B97F4A7C15  # odd, so it has an inverse mod 2**64 (needed by the prefix-sum window hash)
_Q = pow(_P, -1, 1 << 64)


@cache
def _strip_table() -> dict[int, None]:
    # One pass over Unicode (~0.3 s, once per process) beats a per-character category lookup per token.
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] in "PS"}


def match_tokens(text: str) -> list[str]:
    """Eojeols of ``text`` as compared for contamination: NFC, P*/S* characters removed, lowercased."""
    # Removing characters never touches whitespace, so translating first and splitting after is the same
    # as stripping each eojeol (and drops eojeols that were all punctuation).
    return nfc(text).translate(_strip_table()).lower().split()


@lru_cache(maxsize=1 << 18)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


_POW: dict[str, np.ndarray] = {}


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    if len(_POW.get("p", ())) < length:
        size = max(length, 2 * len(_POW.get("p", ())), 1024)
        for key, base in (("p", _P), ("q", _Q)):
            arr = np.empty(size, dtype=np.uint64)
            arr[0] = 1
            arr[1:] = base
            _POW[key] = np.cumprod(arr, dtype=np.uint64)  # wraps mod 2**64, which is what we want
    return _POW["p"], _POW["q"]


def _fmix(x: np.ndarray) -> np.ndarray:
    # MurmurHash3's 64-bit finaliser: the polynomial sum is linear, this makes every output bit depend on all.
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


_K_SALT = np.uint64(0x2545F4914F6CDD1D)  # mixes the window length in: a 5-gram never equals an 8-gram


def _prefix(tokens: Sequence[str]) -> np.ndarray:
    """G[m] = sum_{j<m} h(tok_j) * Q**j; a window's polynomial hash is P**(end-1) * (G[end] - G[start])."""
    _, q = _powers(len(tokens) + 1)
    g = np.zeros(len(tokens) + 1, dtype=np.uint64)
    t = np.fromiter(map(_token_hash, tokens), dtype=np.uint64, count=len(tokens))
    np.cumsum(t * q[: len(tokens)], out=g[1:])
    return g


def _window_hashes(g: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    # sum_j t[j] * P**(s+k-1-j) does not depend on where the window sits, so one prefix serves all windows.
    ends = starts + lengths
    p, _ = _powers(int(ends.max(initial=0)) + 1)
    return _fmix(p[ends - 1] * (g[ends] - g[starts]) + lengths.astype(np.uint64) * _K_SALT)


def _ramps(counts: np.ndarray) -> np.ndarray:
    """concat(arange(c) for c in counts), vectorised."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


def _windows(length: int, k_min: int, k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of every window of k_min..k_max tokens in a sequence of ``length`` tokens."""
    ks = np.arange(k_min, min(k_max, length) + 1, dtype=np.int64)
    counts = length - ks + 1
    return _ramps(counts), np.repeat(ks, counts)


_small_windows = lru_cache(maxsize=2048)(_windows)  # short documents repeat lengths; long ones are not cached


def _member(sorted_arr: np.ndarray, values: np.ndarray) -> np.ndarray:
    if not len(sorted_arr) or not len(values):
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_arr, values), len(sorted_arr) - 1)
    return sorted_arr[idx] == values


class NgramIndex:
    """Sets of 64-bit eojeol n-gram hashes per benchmark label, stored as sorted ``uint64`` arrays.

    ``add_items`` takes items as sequences of fields (question, options, ...); n-grams run across the
    fields of an item (a dump prints them side by side), short fields and items are indexed whole (see
    the module docstring). Call ``finalize`` once before ``matches``.
    """

    def __init__(self, n: int = 8, min_short: int = 4, max_item_freq: int | None = 5):
        if n < 2 or not 1 <= min_short <= n:
            raise ValueError("need n >= 2 and 1 <= min_short <= n")
        self.n, self.min_short, self.max_item_freq = n, min_short, max_item_freq
        self._pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._seen: set[tuple[str, ...]] = set()
        self._next_item = 0
        self.grams: dict[str, np.ndarray] = {}
        self.stats = {"items": 0, "duplicate_items": 0, "skipped_short": 0, "template_ngrams": 0}

    def add_items(self, label: str, items: Iterable[Sequence[str]]) -> None:
        """Index benchmark ``items`` (each a sequence of text fields) under ``label``."""
        tokens: list[str] = []
        spans: list[tuple[int, int, int]] = []  # (start, length, item) of whole-short items and fields
        item_spans: list[tuple[int, int, int]] = []  # (start, length, item) of items with >= n tokens
        for fields in items:
            toks = [match_tokens(f) for f in fields]
            key = tuple(w for t in toks for w in (*t, "\n"))
            if key in self._seen:
                self.stats["duplicate_items"] += 1
                continue
            self._seen.add(key)
            item, start, size = self._next_item, len(tokens), sum(map(len, toks))
            self._next_item += 1
            self.stats["items"] += 1
            if size >= self.n:
                item_spans.append((start, size, item))
            elif size >= self.min_short:
                spans.append((start, size, item))
            else:
                self.stats["skipped_short"] += 1
            pos = start
            for t in toks if len(toks) > 1 else ():
                if self.min_short <= len(t) < self.n:
                    spans.append((pos, len(t), item))
                pos += len(t)
            tokens.extend(w for t in toks for w in t)
        g = _prefix(tokens)
        whole = np.array(item_spans, dtype=np.int64).reshape(-1, 3)
        counts = whole[:, 1] - self.n + 1
        short = np.array(spans, dtype=np.int64).reshape(-1, 3)
        starts = np.concatenate([np.repeat(whole[:, 0], counts) + _ramps(counts), short[:, 0]])
        lengths = np.concatenate([np.full(int(counts.sum()), self.n, dtype=np.int64), short[:, 1]])
        owners = np.concatenate([np.repeat(whole[:, 2], counts), short[:, 2]])
        self._pairs.setdefault(label, []).append((_window_hashes(g, starts, lengths), owners))

    def add_texts(self, label: str, texts: Iterable[str]) -> None:
        """Index plain texts, each a one-field item."""
        self.add_items(label, ([t] for t in texts))

    def finalize(self) -> NgramIndex:
        """Merge, drop template n-grams (in ``max_item_freq`` or more distinct items), sort; returns self."""
        hashes = {lb: np.concatenate([h for h, _ in ps]) for lb, ps in self._pairs.items()}
        owners = np.concatenate([o for ps in self._pairs.values() for _, o in ps] or [np.empty(0, np.int64)])
        every = np.concatenate(list(hashes.values()) or [np.empty(0, np.uint64)])
        templates = np.empty(0, dtype=np.uint64)
        if self.max_item_freq and len(every):
            order = np.lexsort((owners, every))  # by hash, then item: count each (hash, item) pair once
            h, o = every[order], owners[order]
            first = np.ones(len(h), dtype=bool)
            first[1:] = (h[1:] != h[:-1]) | (o[1:] != o[:-1])
            h = h[first]  # sorted: runs of one hash, one entry per item
            run_start = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
            n_items = np.diff(np.r_[run_start, len(h)])
            templates = h[run_start[n_items >= self.max_item_freq]]
        self.stats["template_ngrams"] = len(templates)
        for label, arr in hashes.items():
            arr = np.sort(arr)
            arr = arr[np.r_[True, arr[1:] != arr[:-1]]] if len(arr) else arr
            self.grams[label] = arr[~_member(templates, arr)]
        self._pairs, self._seen = {}, set()
        return self

    @property
    def nbytes(self) -> int:
        """Memory held by the hash arrays."""
        return sum(a.nbytes for a in self.grams.values())

    def __len__(self) -> int:
        return sum(len(a) for a in self.grams.values())

    def matches(self, text: str) -> dict[str, int]:
        """Distinct indexed n-grams (or whole short items) of ``text`` per label; labels with none omitted."""
        toks = match_tokens(text)
        if len(toks) < self.min_short:
            return {}
        starts, lengths = (_small_windows if len(toks) <= 2048 else _windows)(
            len(toks), self.min_short, self.n
        )
        query = _window_hashes(_prefix(toks), starts, lengths)
        out = {}
        for label, arr in self.grams.items():
            hit = _member(arr, query)
            if hit.any():
                out[label] = len(np.unique(query[hit]))
        return out


@lru_cache(maxsize=4)
def _cached_index(key: tuple) -> NgramIndex:
    benchmarks, root, splits, n, min_short, max_item_freq = key
    index = NgramIndex(n=n, min_short=min_short, max_item_freq=max_item_freq)
    for name in benchmarks:
        index.add_items(benchmark_label(name), load_benchmark_items(name, root, splits))
    return index.finalize()


class Decontaminate(LeanFilter):
    """Drop documents sharing ``min_hits`` or more n-grams with a benchmark; reason ``contaminated:{name}``.

    The index is built on first use, once per worker process (cached across tasks in that process), and
    never pickled with the step. Dropped documents carry ``metadata["decontam"] = {"benchmark", "hits"}``.
    """

    name = "🇰🇷 decontaminate"

    def __init__(
        self,
        benchmarks: list[str],
        root: str = "../shared/data",
        n: int = 8,
        min_hits: int = 1,
        min_short: int = 4,
        max_item_freq: int | None = 5,
        splits: list[str] | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        if not benchmarks:
            raise ValueError("Decontaminate needs at least one benchmark")
        self.key = (
            tuple(benchmarks),
            str(Path(root).resolve()),
            tuple(splits or DEFAULT_SPLITS),
            n,
            min_short,
            max_item_freq,
        )
        self.min_hits = min_hits
        self._index: NgramIndex | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_index"] = None  # each worker builds (or reuses) its own
        return state

    @property
    def index(self) -> NgramIndex:
        """The n-gram index, built on first access."""
        if self._index is None:
            # Not track_time: BaseFilter.run already holds that timer open around filter().
            t0 = time.perf_counter()
            self._index = _cached_index(self.key)
            ms = int(1000 * (time.perf_counter() - t0))
            self.stat_update("index_ms", value=ms, unit="task")
            size = f"{len(self._index):,} n-grams, {self._index.nbytes / 2**20:.1f} MiB"
            logger.info(f"decontam index: {size}, built in {ms} ms")
        return self._index

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep ``doc`` unless it shares at least ``min_hits`` n-grams with one benchmark."""
        hits = self.index.matches(doc.text)
        if not hits:
            return True
        label, count = max(hits.items(), key=lambda kv: kv[1])
        doc.metadata["decontam"] = {"benchmark": label, "hits": count}
        if count >= self.min_hits:
            return False, f"contaminated:{label}"
        return True
