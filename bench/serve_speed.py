"""Generation speed: dokpa's serving engine against transformers `generate` on the same exported weights.

Run from the repository root (transformers installed: `pip install -e '.[dev]'`):

    .venv/bin/python bench/serve_speed.py                          # demo-sized model (depth 4), CPU
    .venv/bin/python bench/serve_speed.py --model dokpa-workspace/demo/sft/model --new-tokens 64
    .venv/bin/python bench/serve_speed.py --depth 8 --concurrency 1,8,32

Both sides load the same model folder (dokpa's `load_model`; transformers' `AutoModelForCausalLM` on the
same config.json + model.safetensors) and decode greedily, float32, exactly --new-tokens tokens per
request (EOS ignored on both sides), from the same Korean prompts.
    batch 1        one request: decode tokens per second
    C concurrent   C requests at once: total generated tokens per second. dokpa: C requests submitted
                   together to the continuous-batching engine (max_batch = C). transformers: one
                   `generate` call on the C prompts, left-padded (its static-batch best case).
The fastest of --repeat runs counts (other processes on a shared machine only slow a run down). Prints
both, and dokpa / transformers as a ratio; targets: >= 2x at batch 1, >= 5x at 32 concurrent.
"""

from __future__ import annotations

import argparse
import importlib.resources
import tempfile
import threading
import time
from pathlib import Path

import torch

from dokpa.model import ModelConfig, Transformer, save_model
from dokpa.serve.chat import load_chat_model
from dokpa.serve.engine import Engine, Event, GenerationRequest
from dokpa.serve.sampling import SamplingParams
from dokpa.tokenizer.train import train_tokenizer


def korean_lines() -> list[str]:
    corpus = importlib.resources.files("konlpy") / "data/corpus/kolaw/constitution.txt"
    return [ln.strip() for ln in corpus.read_text(encoding="utf-8").splitlines() if len(ln.strip()) > 20]


def random_model_folder(folder: Path, depth: int, window: int) -> Path:
    """A random-init model of the given depth and a 2k-vocab Korean tokenizer (speed does not depend on
    what the weights learned)."""
    tok = train_tokenizer(korean_lines(), folder, vocab_size=2048)
    model = Transformer(ModelConfig.from_depth(depth, vocab_size=tok.vocab_size, max_seq_len=window))
    model.init_weights(0)
    save_model(model.eval(), folder)
    return folder


def prompts(tok, n: int, tokens: int) -> list[list[int]]:
    """``n`` prompts of exactly ``tokens`` ids each (BOS + Korean text), so both sides see equal work."""
    lines = korean_lines()
    out = []
    for i in range(n):
        ids = tok.encode(" ".join(lines[i % len(lines) :][:4]), bos=True)
        out.append((ids * (tokens // len(ids) + 1))[:tokens])
    return out


def dokpa_run(engine: Engine, batch: list[list[int]], new_tokens: int) -> tuple[float, int]:
    """(seconds, generated tokens) for ``batch`` submitted at once."""
    done = threading.Event()
    counts: list[int] = []

    def sink(event: Event) -> None:  # runs on the engine thread: never block here
        if event.finish_reason is not None:
            counts.append(event.completion_tokens)
            if len(counts) == len(batch):
                done.set()

    params = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, max_new_tokens=new_tokens)
    start = time.perf_counter()
    for ids in batch:
        engine.submit(GenerationRequest(ids, params, ignore_eos=True), sink)
    done.wait()
    return time.perf_counter() - start, sum(counts)


def hf_run(model, batch: list[list[int]], new_tokens: int, pad_id: int) -> tuple[float, int]:
    """(seconds, generated tokens) of one transformers `generate` call on ``batch`` (left-padded)."""
    width = max(map(len, batch))
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, p in enumerate(batch):
        ids[r, width - len(p) :] = torch.tensor(p)
        mask[r, width - len(p) :] = 1
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # EOS ignored, as on the dokpa side
            do_sample=False,
            pad_token_id=pad_id,
        )
    seconds = time.perf_counter() - start
    return seconds, int((out.shape[1] - width) * len(batch))


def best(fn, repeat: int) -> tuple[float, int]:
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: random, --depth)")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as tmp:
        window = args.prompt_tokens + args.new_tokens
        folder = args.model or random_model_folder(Path(tmp), args.depth, window)
        model, tok = load_chat_model(folder)
        hf = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32).eval()
        levels = [int(c) for c in args.concurrency.split(",")]
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"model {folder} ({n_params / 1e6:.1f}M parameters), {torch.get_num_threads()} threads, "
            f"{args.prompt_tokens}-token prompts, {args.new_tokens} new tokens each, fastest of {args.repeat}"
        )
        print(f"{'requests':>9} {'dokpa tok/s':>12} {'transformers tok/s':>19} {'ratio':>7}")
        for c in levels:
            batch = prompts(tok, c, args.prompt_tokens)
            engine = Engine(model, tok, max_batch=c, max_len=window).start()
            try:
                dokpa_run(engine, batch[:1], 4)  # warm-up
                d_s, d_n = best(lambda e=engine, b=batch: dokpa_run(e, b, args.new_tokens), args.repeat)
            finally:
                engine.stop()
            hf_run(hf, batch[:1], 4, tok.pad_id)
            h_s, h_n = best(lambda b=batch: hf_run(hf, b, args.new_tokens, tok.pad_id), args.repeat)
            assert d_n == h_n == c * args.new_tokens, (d_n, h_n)
            d_rate, h_rate = d_n / d_s, h_n / h_s
            label = "batch 1" if c == 1 else f"{c} conc."
            print(f"{label:>9} {d_rate:12.1f} {h_rate:19.1f} {d_rate / h_rate:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
