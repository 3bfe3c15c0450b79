"""Benchmark int8 weight-only quantization (dokpa.release.quant, torchao) against float32 on the CPU.

Run from the repository root after `dokpa demo` (or point --model/--shards at any run):

    .venv/bin/python bench/int8_cpu.py
    W=dokpa-workspace/small
    .venv/bin/python bench/int8_cpu.py --model $W/sft/model --shards $W/tokenize/shards

Prints, for the same model folder: bits per byte on the held-out shards (the quality cost of int8), the
bytes of the linear-layer weights, and greedy decode speed (tokens per second, one sequence with a KV cache,
fastest of --repeat runs) as a ratio int8 / float32.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from dokpa.data.shards import load_tokens
from dokpa.model import load_model
from dokpa.release.quant import bpb_cost, quantize_int8
from dokpa.serve import SamplingParams, generate
from dokpa.tokenizer.core import DokpaTokenizer


def decode_speed(model, prompt: list[int], n: int, repeat: int) -> float:
    """Greedy tokens per second (best of ``repeat``)."""
    params = SamplingParams(temperature=0, max_new_tokens=n)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        list(generate(model, prompt, params, ()))
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dokpa-workspace/demo/sft/model")
    ap.add_argument("--shards", default="dokpa-workspace/demo/tokenize/shards")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)

    tok = DokpaTokenizer.load(args.model)
    byte_lens = np.array([len(b) for b in tok.token_bytes()], dtype=np.int64)
    val = load_tokens(args.shards, "val")
    fp = load_model(args.model).eval()
    seq_len = fp.config.max_seq_len
    r = bpb_cost(fp, val, byte_lens, seq_len=seq_len)
    print(
        f"held-out bits per byte ({len(val):,} tokens): float32 {r['bpb_fp']:.5f}, int8 {r['bpb_int8']:.5f}"
    )
    print(f"  change {r['delta']:+.5f} bits per byte ({r['rel_pct']:+.3f}%)")
    ratio = r["linear_bytes_int8"] / r["linear_bytes_fp"]
    mb_fp, mb_q = r["linear_bytes_fp"] / 1e6, r["linear_bytes_int8"] / 1e6
    print(f"linear weights: float32 {mb_fp:.2f} MB, int8 {mb_q:.2f} MB ({ratio:.2f}x)")

    q = quantize_int8(load_model(args.model))
    prompt = tok.encode_chat([{"role": "user", "content": "대한민국의 주권은 누구에게 있나요?"}], True)
    with torch.no_grad():
        s_fp = decode_speed(fp, prompt, args.new_tokens, args.repeat)
        s_q = decode_speed(q, prompt, args.new_tokens, args.repeat)
    print(
        f"greedy decode ({args.new_tokens} tokens, 2 threads): float32 {s_fp:.1f} tok/s, int8 {s_q:.1f} tok/s"
    )
    print(f"  int8 / float32 speed: {s_q / s_fp:.2f}x")


if __name__ == "__main__":
    main()
