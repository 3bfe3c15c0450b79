"""Benchmark the GGUF export against llama.cpp: same tokens, same logits, same greedy text; decode speed.

Run from the repository root (needs llama-cpp-python, which builds llama.cpp from source):

    .venv/bin/pip install llama-cpp-python      # 13 min 55 s wall on 2 shared cores (57% CPU), 0.3.36
    .venv/bin/python bench/gguf_llamacpp.py                                   # the demo's sft model
    .venv/bin/python bench/gguf_llamacpp.py --model dokpa-workspace/small/sft/model --texts 2000

For a model folder it writes f32 and f16 GGUF files (dokpa.release.gguf) into a temporary folder, then:
    tokenization   dokpa's ids vs llama.cpp's on Korean texts (the konlpy corpus by paragraph, and NSMC
                   reviews from ../shared/data when present); share of texts with identical ids
    logits         max |llama.cpp - dokpa| over a window of held-out tokens, relative to the logits' spread
    greedy         the same 48-token greedy continuation of a few prompts (text equality)
    decode speed   greedy tokens per second, one sequence with a KV cache: dokpa (float32, eager PyTorch) and
                   llama.cpp (f32, f16), the fastest of --repeat runs; printed as ratios to dokpa
"""

from __future__ import annotations

import argparse
import gzip
import importlib.resources
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dokpa.model import load_model
from dokpa.release.gguf import export_gguf
from dokpa.serve import SamplingParams, generate
from dokpa.tokenizer.core import DokpaTokenizer

NSMC = Path(__file__).resolve().parents[2] / "shared" / "data" / "nsmc" / "reviews.jsonl.gz"


def korean_texts(limit: int) -> list[str]:
    """Paragraphs of the constitution and bills (konlpy) and, when present, NSMC movie reviews."""
    corpus = importlib.resources.files("konlpy") / "data/corpus"
    files = [corpus / "kolaw/constitution.txt", *sorted((corpus / "kobill").iterdir(), key=lambda p: p.name)]
    texts = [p for f in files for p in f.read_text(encoding="utf-8").split("\n") if p.strip()]
    texts = texts[: limit // 2] if NSMC.is_file() else texts  # half statutes, half movie reviews
    if NSMC.is_file():
        with gzip.open(NSMC, "rt", encoding="utf-8") as fh:
            for line in fh:
                texts.append(json.loads(line)["text"])
                if len(texts) >= limit:
                    break
    return texts[:limit]


def llama(path: Path, llama_cpp, n_ctx: int):
    # f32 KV cache (llama.cpp's default is f16) so the f32 comparison is of the weights and kernels only
    return llama_cpp.Llama(
        str(path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=2, type_k=0, type_v=0
    )


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    import llama_cpp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dokpa-workspace/demo/sft/model")
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)

    folder = Path(args.model)
    tok, model = DokpaTokenizer.load(folder), load_model(folder).eval()
    n_ctx = model.config.max_seq_len
    with tempfile.TemporaryDirectory() as tmp:
        files = {dt: export_gguf(folder, Path(tmp) / f"m-{dt}.gguf", dtype=dt) for dt in ("f32", "f16")}
        llms = {dt: llama(p, llama_cpp, n_ctx) for dt, p in files.items()}

        texts = korean_texts(args.texts)
        same = sum(
            llms["f32"].tokenize(t.encode(), add_bos=False, special=False) == tok.encode(t) for t in texts
        )
        print(
            f"tokenization: {same}/{len(texts)} Korean texts give identical ids "
            f"({100 * same / len(texts):.2f}%)"
        )

        ids = tok.encode("\n".join(texts[-200:]), bos=True)[:n_ctx]
        with torch.no_grad():
            ours = model(torch.tensor([ids]))[0].numpy()
        for dt, llm in llms.items():
            llm.reset()
            llm.eval(ids)
            diff = np.abs(np.array(llm.scores[: len(ids)]) - ours)
            agree = (np.array(llm.scores[: len(ids)]).argmax(-1) == ours.argmax(-1)).mean()
            print(
                f"logits {dt}: max abs diff {diff.max():.2e} (logit std {ours.std():.3f}, ratio "
                f"{diff.max() / ours.std():.1e}), top-1 agreement {100 * agree:.1f}% "
                f"over {len(ids)} positions"
            )

        params = SamplingParams(temperature=0, max_new_tokens=args.new_tokens)
        stops = (tok.eos_id, tok.end_id)
        prompts = [tok.encode(t[:40], bos=True) for t in texts[:: max(1, len(texts) // 5)][:5]]
        for dt, llm in llms.items():
            equal = 0
            for p in prompts:
                mine = tok.decode(generate(model, p, params, stops))
                theirs = llm.create_completion(
                    p, max_tokens=args.new_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0
                )["choices"][0]["text"]
                equal += mine == theirs
            print(f"greedy {dt}: {equal}/{len(prompts)} continuations identical")

        prompt = prompts[0]
        n = args.new_tokens
        t_ours = best_of(args.repeat, lambda: list(generate(model, prompt, params, ())))
        print(f"decode speed, {n} tokens after a {len(prompt)}-token prompt (2 threads):")
        print(f"  dokpa f32 (PyTorch eager)  {n / t_ours:8.1f} tok/s  1.00x")
        for dt, llm in llms.items():

            def run(llm=llm) -> None:
                stream = llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True)
                for count, _ in enumerate(stream, start=1):
                    if count >= n:
                        break

            t = best_of(args.repeat, run)
            print(f"  llama.cpp {dt:<16} {n / t:8.1f} tok/s  {t_ours / t:.2f}x")


if __name__ == "__main__":
    main()
