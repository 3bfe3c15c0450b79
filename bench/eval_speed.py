"""Benchmark scoring speed: dokpa's scorer with and without prefix reuse against lm-evaluation-harness.

Run from the repository root (needs ../shared/data/kobest and kmmlu; lm-eval and transformers installed,
`pip install -e '.[eval]'`):

    .venv/bin/python bench/eval_speed.py                                    # demo-sized model, full tasks
    .venv/bin/python bench/eval_speed.py --model dokpa-workspace/demo/sft/model --limit 200
    .venv/bin/python bench/eval_speed.py --tasks kobest_copa --device cuda --batch-size 64

Every scorer gets the same model folder and the same zero-shot requests, the (context, " " + choice) pairs
of dokpa's tasks (KoBEST COPA, HellaSwag, KMMLU Korean-History by default):
    dokpa reuse      EvalLM.loglikelihood(reuse_prefix=True): each context once, choices on its KV cache
    dokpa no reuse   EvalLM.loglikelihood(reuse_prefix=False): every (context, choice) as a full sequence
    lm-eval dokpa    the same through lm-eval's API (the `dokpa` model type of dokpa.eval.harness)
    lm-eval hf       lm-eval's `hf` backend (transformers LlamaForCausalLM, float32, BOS added as dokpa does)
Timing covers tokenization and scoring, after a short warm-up of each scorer; the fastest of --repeat runs
counts (other processes on a shared machine only ever slow a run down). Prints items (questions) per
second, the ratios, and each scorer's accuracy (equal when they score the same items the same way).
Without --model, a random model of the demo's size (depth 4: dim 256, 4 layers, vocab 2048, window 256)
is built in a temporary folder: speed does not depend on what the weights learned.
"""

from __future__ import annotations

import argparse
import importlib.resources
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from dokpa.eval.harness import DokpaLM
from dokpa.eval.lm import EvalLM
from dokpa.eval.tasks import build_tasks
from dokpa.eval.tasks.base import spread_limit
from dokpa.model import ModelConfig, Transformer, save_model
from dokpa.tokenizer.train import train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEMO_MODEL = ROOT / "dokpa-workspace" / "demo" / "sft" / "model"
WARMUP = 16  # requests per scorer before timing (allocator, thread pool, lazy init)


def demo_sized_model(folder: Path) -> Path:
    """A random-init model with the demo recipe's shape and a tokenizer trained on the konlpy corpus."""
    corpus = importlib.resources.files("konlpy") / "data/corpus"
    texts = [p.read_text(encoding="utf-8") for d in ("kolaw", "kobill") for p in (corpus / d).iterdir()]
    tok = train_tokenizer(texts, folder, vocab_size=2048)
    model = Transformer(ModelConfig.from_depth(4, vocab_size=tok.vocab_size, max_seq_len=256))
    model.init_weights(0)
    save_model(model.eval(), folder)
    return folder


def accuracy(scores: Sequence[float], items: Sequence) -> float:
    """Share of items whose gold choice has the highest summed log-likelihood (first maximum wins)."""
    pos, right = 0, 0
    for item in items:
        lls = scores[pos : pos + len(item.choices)]
        pos += len(item.choices)
        right += max(range(len(lls)), key=lls.__getitem__) == item.gold
    return right / len(items)


def timed(fn: Callable[[list[tuple[str, str]]], list[float]], requests: list[tuple[str, str]], repeat: int):
    """(fastest of ``repeat`` runs in seconds, scores) of ``fn`` on ``requests``, after a warm-up call.

    The fastest run is the one least disturbed by other processes on a shared machine.
    """
    fn(requests[:WARMUP])
    best, scores = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        scores = fn(requests)
        best = min(best, time.perf_counter() - start)
    return best, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: a demo-sized model)")
    parser.add_argument("--tasks", default="kobest_copa,kobest_hellaswag,kmmlu_korean_history")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None, help="items per task (evenly spread)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per scorer; the fastest counts")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # lm-eval's hf backend logs one line per request it truncates to the window (KMMLU on a 256 window)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)

    tmp = tempfile.TemporaryDirectory()
    folder = args.model or demo_sized_model(Path(tmp.name) / "model")
    lm = EvalLM.load(folder, device=args.device)
    via_harness = DokpaLM(lm=lm, batch_size=args.batch_size)
    hf = HFLM(
        pretrained=str(folder),
        add_bos_token=True,  # dokpa puts BOS before every context; without it the scores differ
        dtype="float32",
        device=args.device,
        batch_size=args.batch_size,
    )

    def instances(requests: list[tuple[str, str]]) -> list[Instance]:
        return [Instance("loglikelihood", {}, r, i) for i, r in enumerate(requests)]

    scorers: dict[str, Callable[[list[tuple[str, str]]], list[float]]] = {
        "dokpa reuse": lambda r: [s for s, _ in lm.loglikelihood(r, batch_size=args.batch_size)],
        "dokpa no reuse": lambda r: [
            s for s, _ in lm.loglikelihood(r, reuse_prefix=False, batch_size=args.batch_size)
        ],
        "lm-eval dokpa": lambda r: [s for s, _ in via_harness.loglikelihood(instances(r))],
        "lm-eval hf": lambda r: [s for s, _ in hf.loglikelihood(instances(r), disable_tqdm=True)],
    }
    print(f"model {folder} ({sum(p.numel() for p in lm.model.parameters()) / 1e6:.1f}M parameters, "
          f"window {lm.window}), device {args.device}, threads {torch.get_num_threads()}, "
          f"batch size {args.batch_size}, fastest of {args.repeat} runs")  # fmt: skip
    header = f"{'task':<22}{'items':>6}{'choices':>8}" + "".join(f"{name:>16}" for name in scorers)
    print("\nitems per second")
    print(header + f"{'reuse/no-reuse':>16}{'reuse/hf':>10}{'no-reuse/hf':>13}")
    accs: dict[str, dict[str, float]] = {}
    for task in build_tasks([t.strip() for t in args.tasks.split(",")], args.data):
        if (why := task.unavailable()) is not None:
            print(f"{task.name:<22} skipped: {why}")
            continue
        items = spread_limit(task.items(), args.limit)
        requests = [(it.context, task.target_delimiter + c) for it in items for c in it.choices]
        speed, accs[task.name] = {}, {}
        for name, fn in scorers.items():
            seconds, scores = timed(fn, requests, args.repeat)
            speed[name] = len(items) / seconds
            accs[task.name][name] = accuracy(scores, items)
        row = f"{task.name:<22}{len(items):>6}{len(requests) / len(items):>8.1f}"
        row += "".join(f"{speed[name]:>16.1f}" for name in scorers)
        row += f"{speed['dokpa reuse'] / speed['dokpa no reuse']:>15.2f}x"
        row += f"{speed['dokpa reuse'] / speed['lm-eval hf']:>9.2f}x"
        row += f"{speed['dokpa no reuse'] / speed['lm-eval hf']:>12.2f}x"
        print(row, flush=True)
    print("\naccuracy (same items, same requests)")
    print(f"{'task':<22}" + "".join(f"{name:>16}" for name in scorers))
    for task_name, by_scorer in accs.items():
        print(f"{task_name:<22}" + "".join(f"{by_scorer[name]:>16.4f}" for name in scorers))
    tmp.cleanup()


if __name__ == "__main__":
    main()
