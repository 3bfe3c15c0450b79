"""lm-evaluation-harness integration: the ``dokpa`` model type and offline task files from dokpa's tasks.

Score a dokpa model folder with lm-eval's own CLI (flags exactly as ``lm_eval``'s)::

    dokpa-lm-eval write-tasks lm-eval-tasks --tasks kobest,kmmlu_korean_history
    dokpa-lm-eval --model dokpa --model_args pretrained=dokpa-workspace/demo/sft/model \\
        --tasks dokpa_kobest_copa,dokpa_kmmlu_korean_history --include_path lm-eval-tasks --batch_size 32

``dokpa-lm-eval ARGS`` (also ``python -m dokpa.eval.harness ARGS``) is ``lm_eval ARGS`` with the ``dokpa``
model registered first: lm-eval 0.4.13 discovers models only from its own package (no entry points, no
plugin hook), so the registration must happen in the process that runs lm-eval. From Python:
``import dokpa.eval.harness`` before ``lm_eval.simple_evaluate(model="dokpa", ...)``.

Model arguments: ``pretrained=FOLDER`` (a model folder: config.json, model.safetensors, tokenizer.json),
``batch_size`` (continuations per forward; lm-eval's ``--batch_size``, default 1, is passed here, so give
``--batch_size 32``), ``device`` (``cpu``/``cuda``), ``reuse_prefix`` (default true: each distinct context
runs once for all its choices, see :mod:`dokpa.eval.lm`).

The task files (``write-tasks``) are lm-eval YAML + JSONL built from dokpa's own task loaders, so the
prompts, choices and gold answers are byte for byte what ``dokpa eval`` scores: each item is stored as
``{"id", "context", "choices", "gold"}``, and lm-eval forms ``(context, " " + choice)`` requests just as
:class:`dokpa.eval.tasks.base.MultipleChoiceTask` does. Task names get a ``dokpa_`` prefix so they never
shadow lm-eval's built-in ``kobest_*``/``kmmlu_*`` tasks (whose prompts differ and which download data).
Few-shot runs draw their examples with lm-eval's sampler from the train split, so they are not the same
examples ``dokpa eval --shots`` draws; zero-shot results are directly comparable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lm_eval.api.model import LM
from tqdm import tqdm

from dokpa.eval.lm import EvalLM, hidden_states

log = logging.getLogger(__name__)

MODEL_NAME = "dokpa"
TASK_PREFIX = "dokpa_"
DEFAULT_MAX_GEN_TOKS = 256


def register() -> None:
    """Make ``--model dokpa`` known to lm-eval's model registry (idempotent; runs on import).

    The class is registered as a lazy ``module:Class`` path, the same form lm-eval uses for its own
    models, so running this module as ``__main__`` does not register a second copy of the class.
    """
    # lm-eval fills its registry with the built-in models only when the registry is empty at the first
    # lookup; import them first, or registering dokpa would hide ``hf`` and the rest.
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target="dokpa.eval.harness:DokpaLM")


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _resolve_device(device: str | None) -> str:
    """``device`` if it is usable here; CUDA when none is given and there is a GPU; else CPU.

    lm-eval's CLI passes ``cuda:0`` unless told otherwise, so on a CPU-only machine a CUDA device falls
    back to the CPU (as lm-eval's ``hf`` backend does) instead of failing.
    """
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        log.info("no CUDA device here: dokpa model runs on the CPU")
        return "cpu"
    return device


class DokpaLM(LM):
    """lm-eval ``LM`` backed by :class:`dokpa.eval.lm.EvalLM` (dokpa's scorer with prefix reuse)."""

    def __init__(
        self,
        pretrained: str | None = None,
        batch_size: int | str = 32,
        device: str | None = None,
        reuse_prefix: bool | str = True,
        max_gen_toks: int | str = DEFAULT_MAX_GEN_TOKS,
        lm: EvalLM | None = None,
        **unused: Any,
    ) -> None:
        super().__init__()
        if lm is None:
            if not pretrained:
                raise ValueError("the dokpa model needs --model_args pretrained=MODEL_FOLDER")
            lm = EvalLM.load(pretrained, device=_resolve_device(device))
        if unused:
            log.warning("dokpa model ignores model_args %s", ", ".join(sorted(unused)))
        self.lm = lm
        # lm-eval's "auto" probes GPU memory; our scorer bounds its own batches, so take a fixed size.
        self.batch_size = 32 if str(batch_size).startswith("auto") else int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.reuse_prefix = _as_bool(reuse_prefix)
        self.max_gen_toks = int(max_gen_toks)
        self._device = lm.device

    @property
    def tokenizer_name(self) -> str:
        return self.lm.name

    # ---- multiple choice / loglikelihood ------------------------------------------------------
    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """``(context, continuation)`` pairs scored by EvalLM (its encoding is lm-eval's ``hf`` encoding)."""
        pairs = [tuple(req.args) for req in requests]
        results = self.lm.loglikelihood(
            pairs, reuse_prefix=self.reuse_prefix, batch_size=self.batch_size, desc="dokpa loglikelihood"
        )
        for pair, result in zip(pairs, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", pair, result)
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Log-likelihood (nats) of each whole document, BOS as its only context.

        Long documents are cut into windows of the model's length with lm-eval's own window maker: every
        token is predicted once, each with as much preceding context as fits. lm-eval's perplexity tasks
        turn the sums into word perplexity, byte perplexity and bits per byte.
        """
        from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

        tok = self.lm.tokenizer
        windows: list[tuple[int, list[int], list[int]]] = []
        for i, req in enumerate(requests):
            (text,) = req.args
            for ctx, cont in map(
                make_disjoint_window,
                get_rolling_token_windows(
                    token_list=tok.encode(text),
                    prefix_token=tok.bos_id,
                    max_seq_len=self.lm.window,
                    context_len=1,
                ),
            ):
                windows.append((i, list(ctx), list(cont)))
        totals = [0.0] * len(requests)
        for i, value in zip(
            (w[0] for w in windows), self._score_windows([w[1:] for w in windows], disable_tqdm), strict=True
        ):
            totals[i] += value
        for req, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", tuple(req.args), total)
        return totals

    def _score_windows(self, windows: list[tuple[list[int], list[int]]], disable_tqdm: bool) -> list[float]:
        """Sum of log p(cont | ctx) per (ctx, cont) token window; right-padded batches by length."""
        model, dev = self.lm.model, self.lm.device
        order = sorted(range(len(windows)), key=lambda k: -sum(map(len, windows[k])))
        out = [0.0] * len(windows)
        with torch.inference_mode():
            for start in tqdm(
                range(0, len(order), self.batch_size), desc="dokpa rolling", disable=disable_tqdm or None
            ):
                chunk = order[start : start + self.batch_size]
                seqs = [(windows[k][0] + windows[k][1])[:-1] for k in chunk]
                x = torch.zeros((len(chunk), max(map(len, seqs))), dtype=torch.long)
                for r, s in enumerate(seqs):
                    x[r, : len(s)] = torch.tensor(s)
                h = hidden_states(model, x.to(dev))
                for r, k in enumerate(chunk):
                    ctx, cont = windows[k]
                    # the continuation's tokens are predicted at the positions just before each of them
                    first = len(ctx) - 1
                    logp = torch.log_softmax(model.lm_head(h[r, first : first + len(cont)]).float(), dim=-1)
                    target = torch.tensor(cont, device=dev)
                    out[k] = float(logp.gather(1, target[:, None]).double().sum())
        return out

    # ---- generation ---------------------------------------------------------------------------
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Greedy generation until a stop string, grouped by identical generation settings.

        dokpa's generator is greedy only; a request asking for sampling is answered greedily (logged).
        """
        groups: dict[tuple[tuple[str, ...], int], list[int]] = defaultdict(list)
        warned = False
        for i, req in enumerate(requests):
            _, kwargs = req.args
            kwargs = dict(kwargs or {})
            until = kwargs.pop("until", None) or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(kwargs.pop("max_gen_toks", self.max_gen_toks))
            sampling = (
                _as_bool(kwargs.get("do_sample", False)) or float(kwargs.get("temperature", 0) or 0) > 0
            )
            if sampling and not warned:
                log.warning("dokpa model decodes greedily; do_sample/temperature are ignored")
                warned = True
            groups[(tuple(until), max_new)].append(i)
        outputs = [""] * len(requests)
        for (until, max_new), idx in groups.items():
            texts = self.lm.generate(
                [requests[i].args[0] for i in idx], max_new_tokens=max_new, stop=until, desc="dokpa generate"
            )
            for i, text in zip(idx, texts, strict=True):
                outputs[i] = text
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return outputs


# ---- task files -------------------------------------------------------------------------------
def _yaml_str(value: str) -> str:
    # JSON strings are valid YAML scalars; this keeps paths with spaces or colons intact.
    return json.dumps(value, ensure_ascii=False)


def _write_jsonl(path: Path, items: Sequence[Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for item in items:
            row = {
                "id": str(item.id),
                "context": item.context,
                "choices": list(item.choices),
                "gold": item.gold,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _task_yaml(name: str, folder: Path, task: Any, has_fewshot: bool, source: str) -> str:
    files = {"test": folder / "test.jsonl", **({"train": folder / "train.jsonl"} if has_fewshot else {})}
    lines = [
        f"# Written by dokpa.eval.harness from {source}; prompts are dokpa's own. Re-run write-tasks",
        "# after moving this folder (data_files are absolute paths).",
        f"task: {name}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        *(f"    {split}: {_yaml_str(str(path.resolve()))}" for split, path in files.items()),
        "output_type: multiple_choice",
        "test_split: test",
        *(["fewshot_split: train"] if has_fewshot else []),
        # Field names, not Jinja templates: lm-eval then takes the values verbatim (no whitespace trimming).
        "doc_to_text: context",
        "doc_to_choice: choices",
        "doc_to_target: gold",
        f"target_delimiter: {_yaml_str(task.target_delimiter)}",
        f"fewshot_delimiter: {_yaml_str(task.fewshot_delimiter)}",
        "metric_list:",
        "  - metric: acc",
        "    aggregation: mean",
        "    higher_is_better: true",
        "  - metric: acc_norm",
        "    aggregation: mean",
        "    higher_is_better: true",
        "metadata:",
        "  version: 1.0",
    ]
    return "\n".join(lines) + "\n"


def _group_yaml(name: str, tasks: Sequence[str], aggregate: bool) -> str:
    lines = [f"group: {name}", "task:", *(f"  - {t}" for t in tasks)]
    if aggregate:  # KMMLU's overall score: the mean over all questions (subjects weighted by size)
        lines += ["aggregate_metric_list:"]
        for metric in ("acc", "acc_norm"):
            lines += [f"  - metric: {metric}", "    aggregation: mean", "    weight_by_size: true"]
    lines += ["metadata:", "  version: 1.0"]
    return "\n".join(lines) + "\n"


def _expand(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(lm-eval group or "", dokpa task names) for each requested name; ``kmmlu`` becomes its subjects."""
    from dokpa.eval.tasks import GROUPS
    from dokpa.eval.tasks.kmmlu import KMMLU_SUBJECTS, subject_task_name

    out: list[tuple[str, list[str]]] = []
    for name in names:
        members = GROUPS.get(name, [name])
        if "kmmlu" in members:  # one lm-eval task per subject so each has its own row, plus the overall group
            members = [m for m in members if m != "kmmlu"]
            out.append(("kmmlu", [subject_task_name(s) for s in KMMLU_SUBJECTS]))
        if members:
            out.append((name if name in GROUPS else "", members))
    return out


def write_task_files(
    out_dir: str | Path,
    names: Sequence[str] = ("kobest", "kmmlu"),
    data_root: str | Path | None = None,
    *,
    limit: int | None = None,
    jsonl_files: Sequence[Path] = (),
) -> dict[str, str]:
    """Write lm-eval task files (YAML + JSONL) for dokpa's multiple-choice tasks into ``out_dir``.

    ``names`` are dokpa task or group names (``kobest``, ``kobest_copa``, ``kmmlu``, ``kmmlu_accounting``;
    custom ``jsonl_files`` too). ``limit`` keeps the same evenly spread items ``dokpa eval --limit`` scores.
    Tasks whose data is missing and generation tasks (KorQuAD, open questions) are skipped with a log line.
    Returns ``{dokpa task name: lm-eval task name}``; groups (``dokpa_kobest``, ``dokpa_kmmlu``) are
    written too. Use with ``--include_path out_dir``.
    """
    from dokpa.eval.tasks import build_tasks
    from dokpa.eval.tasks.base import MultipleChoiceTask, spread_limit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    tasks_by_group: list[tuple[str, list[Any]]] = [(g, build_tasks(m, data_root)) for g, m in _expand(names)]
    if jsonl_files:
        tasks_by_group.append(("", build_tasks([], data_root, jsonl_files=jsonl_files)))
    for group, tasks in tasks_by_group:
        members: list[str] = []
        for task in tasks:
            reason = task.unavailable()
            if reason is None and not isinstance(task, MultipleChoiceTask):
                reason = "not a multiple-choice task (only those are written as lm-eval files)"
            if reason is not None:
                log.warning("lm-eval task files: skipping %s: %s", task.name, reason)
                continue
            lm_name = TASK_PREFIX + task.name
            folder = out / lm_name
            folder.mkdir(exist_ok=True)
            _write_jsonl(folder / "test.jsonl", spread_limit(task.items(), limit))
            fewshot = task.fewshot_pool()
            if fewshot:
                _write_jsonl(folder / "train.jsonl", fewshot)
            source = f"{type(task).__module__}.{type(task).__name__}"
            (folder / f"{lm_name}.yaml").write_text(
                _task_yaml(lm_name, folder, task, bool(fewshot), source), encoding="utf-8"
            )
            written[task.name] = lm_name
            members.append(lm_name)
        if group and members:
            (out / f"{TASK_PREFIX}{group}.yaml").write_text(
                _group_yaml(TASK_PREFIX + group, members, aggregate=group == "kmmlu"), encoding="utf-8"
            )
    return written


# ---- command line -----------------------------------------------------------------------------
def _write_tasks_cli(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dokpa.eval.harness write-tasks",
        description="Write lm-eval task files (YAML + JSONL) for dokpa's multiple-choice tasks.",
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--tasks", default="kobest,kmmlu", help="dokpa task or group names, comma-separated")
    parser.add_argument(
        "--data", type=Path, default=None, help="benchmark data root (default ../shared/data)"
    )
    parser.add_argument("--limit", type=int, default=None, help="items per task (evenly spread)")
    parser.add_argument("--jsonl", type=Path, action="append", default=[], help="a custom JSONL task file")
    args = parser.parse_args(list(argv))
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    try:
        written = write_task_files(args.out_dir, names, args.data, limit=args.limit, jsonl_files=args.jsonl)
    except ValueError as e:  # unknown task name, bad data: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name in sorted(set(written.values())):
        print(name)
    print(
        f"{len(written)} tasks in {args.out_dir}; run lm-eval with --include_path {args.out_dir}",
        file=sys.stderr,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``write-tasks ...`` writes task files; anything else runs lm-eval's CLI with ``dokpa`` registered."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["write-tasks"]:
        return _write_tasks_cli(argv[1:])
    from lm_eval.__main__ import cli_evaluate

    register()
    sys.argv = ["lm-eval", *argv]  # lm-eval's parser reads sys.argv itself
    cli_evaluate()
    return 0


register()

if __name__ == "__main__":
    sys.exit(main())
