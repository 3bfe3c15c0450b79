"""dokpa.eval.harness: the lm-evaluation-harness ``dokpa`` model type and dokpa's tasks as lm-eval files.

    python -m pytest tests/test_eval_harness.py -x -q            # fast tests
    python -m pytest tests/test_eval_harness.py -x -q -m slow    # parity with lm-eval's hf backend

The parity test is the issue's acceptance check: on one small trained model and the same data, dokpa's own
KoBEST COPA and KMMLU (Korean History) accuracies equal lm-eval's ``hf`` backend (transformers on the same
model folder) to within 0.5 points; it also compares every choice's log-likelihood.
"""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from eval_helpers import (
    korean_texts,
    save_lm,
    shared_data,
    tiny_lm,
    tiny_model,
    tiny_tokenizer,
    train_briefly,
)

pytest.importorskip("lm_eval", reason="lm-eval is not installed (the eval extra)")

from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from lm_eval.tasks import TaskManager
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from dokpa.eval.harness import DokpaLM, write_task_files
from dokpa.eval.lm import EvalLM
from dokpa.eval.tasks import build_tasks
from dokpa.eval.tasks.base import spread_limit

# Nothing may reach the network: lm-eval, datasets and transformers all read these.
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def lm(tmp_path_factory) -> EvalLM:
    """A sharpened random tiny model: distinct, confident log-likelihoods (wiring tests need no training)."""
    return tiny_lm(tmp_path_factory.mktemp("tiny"), sharpen=3.0)


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch) -> Path:
    """Keep the JSON datasets lm-eval builds out of the user's ~/.cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    return tmp_path / "hf-datasets"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, **OFFLINE, "HF_HOME": str(tmp_path / "hf-home"), "TOKENIZERS_PARALLELISM": "false"}


def _mc_requests(task, items) -> list[tuple[str, str]]:
    """The (context, continuation) pairs dokpa's MultipleChoiceTask.run scores, zero-shot."""
    return [(item.context, task.target_delimiter + choice) for item in items for choice in item.choices]


# ---- registration and the LM interface ----------------------------------------------------------
def test_dokpa_model_is_registered_beside_the_builtins() -> None:
    assert get_model("dokpa") is DokpaLM
    # registering dokpa must not hide lm-eval's own models (its registry fills itself only when empty)
    assert get_model("hf").__name__ == "HFLM"


def test_model_args_are_checked(lm) -> None:
    with pytest.raises(ValueError, match="pretrained"):
        DokpaLM()
    with pytest.raises(ValueError, match="batch_size"):
        DokpaLM(lm=lm, batch_size=0)
    with pytest.raises(ValueError, match="true or false"):
        DokpaLM(lm=lm, reuse_prefix="maybe")
    assert DokpaLM(lm=lm, batch_size="auto:4").batch_size == 32


def test_loglikelihood_goes_through_evallm(lm) -> None:
    pairs = [
        ("대한민국의 수도는", " 서울"),
        ("대한민국의 수도는", " 부산이다"),
        ("", "헌법 제1조"),
        ("국민은 ", "법 앞에"),
    ]
    reqs = [Instance("loglikelihood", {}, p, i) for i, p in enumerate(pairs)]
    for reuse in (True, False):
        got = DokpaLM(lm=lm, batch_size=2, reuse_prefix=reuse).loglikelihood(reqs)
        want = lm.loglikelihood(pairs, reuse_prefix=False)
        assert [g for _, g in got] == [g for _, g in want]
        assert [s for s, _ in got] == pytest.approx([s for s, _ in want], abs=1e-4)


def _naive_rolling(model, tok, text: str, window: int) -> float:
    """lm-eval's rolling windows, each scored by a plain unbatched forward pass."""
    total = 0.0
    with torch.no_grad():
        for ctx, cont in map(
            make_disjoint_window, get_rolling_token_windows(tok.encode(text), tok.bos_id, window, 1)
        ):
            seq = (list(ctx) + list(cont))[:-1]
            logp = torch.log_softmax(model(torch.tensor([seq]))[0].double(), -1)
            first = len(ctx) - 1
            total += sum(float(logp[first + k, t]) for k, t in enumerate(cont))
    return total


def test_loglikelihood_rolling_scores_every_token_once(lm) -> None:
    text = korean_texts()[0][:400]
    short = "모든 국민은 법 앞에 평등하다."
    reqs = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate([text, short])]
    # a 32-token window, far shorter than the document: several windows, batched and padded together
    small = EvalLM(tiny_model(lm.tokenizer.vocab_size, seed=1, max_seq_len=32, sharpen=3.0), lm.tokenizer)
    assert len(lm.tokenizer.encode(text)) > 3 * 32 > len(lm.tokenizer.encode(short))
    got = DokpaLM(lm=small, batch_size=3).loglikelihood_rolling(reqs)
    want = [_naive_rolling(small.model, lm.tokenizer, t, 32) for t in (text, short)]
    assert got == pytest.approx(want, rel=1e-4)
    # a document inside the window is exactly log p(document | BOS), as EvalLM scores it
    assert got[1] == pytest.approx(small.loglikelihood([("", short)])[0][0], abs=1e-3)


def test_generate_until_matches_evallm_and_stops(lm) -> None:
    prompts = ["대한민국은", "모든 국민은 법 앞에"]
    reqs = [
        Instance("generate_until", {}, (prompts[0], {"until": ["다"], "max_gen_toks": 8}), 0),
        Instance(
            "generate_until", {}, (prompts[1], {"until": "\n", "max_gen_toks": 5, "do_sample": False}), 1
        ),
    ]
    got = DokpaLM(lm=lm).generate_until(reqs)
    assert got[0] == lm.generate(prompts[:1], max_new_tokens=8, stop=["다"])[0]
    assert got[1] == lm.generate(prompts[1:], max_new_tokens=5, stop=["\n"])[0]
    assert "다" not in got[0] and "\n" not in got[1]


# ---- task files -------------------------------------------------------------------------------------
def test_task_files_reproduce_dokpa_requests_and_scores(lm, tmp_path, datasets_cache) -> None:
    """lm-eval on the written files asks exactly dokpa's questions and, through the dokpa model, gets
    exactly dokpa's accuracies."""
    import lm_eval

    data = shared_data()
    names = ["kobest_copa", "kobest_hellaswag", "kobest_boolq", "kmmlu_korean_history"]
    written = write_task_files(tmp_path / "tasks", names, data, limit=12)
    assert written == {n: f"dokpa_{n}" for n in names}
    yaml_text = (tmp_path / "tasks/dokpa_kobest_copa/dokpa_kobest_copa.yaml").read_text(encoding="utf-8")
    assert "dataset_path: json" in yaml_text and "fewshot_split: train" in yaml_text

    manager = TaskManager(include_path=str(tmp_path / "tasks"), include_defaults=False)
    out = lm_eval.simple_evaluate(
        model=DokpaLM(lm=lm, batch_size=8),
        tasks=list(written.values()),
        task_manager=manager,
        log_samples=True,
        bootstrap_iters=0,
    )
    for task in build_tasks(names, data):
        lm_name = written[task.name]
        samples = sorted(out["samples"][lm_name], key=lambda s: s["doc_id"])
        chosen = spread_limit(task.items(), 12)
        asked = [tuple(args) for s in samples for args in s["arguments"]]  # in-process: (context, cont)
        assert asked == _mc_requests(task, chosen), lm_name
        assert [s["target"] for s in samples] == [item.gold for item in chosen]
        ours = task.run(lm, limit=12)
        theirs = out["results"][lm_name]
        assert theirs["acc,none"] == pytest.approx(ours.metrics["acc"], abs=1e-9), lm_name
        assert theirs["acc_norm,none"] == pytest.approx(ours.metrics["acc_norm"], abs=1e-9), lm_name


def test_kmmlu_expands_to_subjects_and_a_group(tmp_path) -> None:
    data = shared_data()
    written = write_task_files(tmp_path, ["kmmlu"], data, limit=1)
    assert len(written) == 45 and "kmmlu" not in written
    group = (tmp_path / "dokpa_kmmlu.yaml").read_text(encoding="utf-8")
    assert group.count("  - dokpa_kmmlu_") == 45 and "weight_by_size: true" in group
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    assert "dokpa_kmmlu" in manager.all_groups and "dokpa_kmmlu_korean_history" in manager.all_subtasks
    # few-shot examples come from the subject's own dev split
    dev = (tmp_path / "dokpa_kmmlu_korean_history/train.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(dev) == 5 and all(json.loads(line)["id"].startswith("Korean-History/") for line in dev)


def test_missing_data_and_generation_tasks_are_skipped(tmp_path, caplog) -> None:
    written = write_task_files(tmp_path / "out", ["kobest_copa", "korquad"], tmp_path / "no-data")
    assert written == {}
    assert "kobest_copa" in caplog.text and "korquad" in caplog.text


def test_write_tasks_cli_unknown_task_is_one_line(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dokpa.eval.harness", "write-tasks", str(tmp_path), "--tasks", "kobest_nope"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown eval task 'kobest_nope'")
    assert "Traceback" not in proc.stderr


# ---- the lm_eval command line -------------------------------------------------------------------------
def _run_lm_eval(args: list[str], tmp_path: Path, timeout: int = 600) -> dict:
    """Run lm-eval's CLI (through dokpa's entry, which registers the dokpa model) and read results.json."""
    out = tmp_path / "lm-eval-out"
    proc = subprocess.run(
        [sys.executable, "-m", "dokpa.eval.harness", *args, "--output_path", str(out), "--log_samples"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = glob.glob(str(out / "*" / "results_*.json"))
    result = json.loads(Path(results).read_text(encoding="utf-8"))
    result["_samples"] = {
        Path(p).name.split("_20")[0].removeprefix("samples_"): [
            json.loads(x) for x in Path(p).read_text(encoding="utf-8").splitlines()
        ]
        for p in glob.glob(str(out / "*" / "samples_*.jsonl"))
    }
    return result


@pytest.mark.slow
def test_lm_eval_cli_with_dokpa_model(lm, tmp_path) -> None:
    """``--model dokpa`` from the command line on local task files (lm-eval indexes its ~10k built-in
    tasks at start-up, hence slow)."""
    data = shared_data()
    model_dir = save_lm(lm, tmp_path / "model")
    write_task_files(tmp_path / "tasks", ["kobest_copa"], data, limit=10)
    result = _run_lm_eval(
        [
            "--model", "dokpa",
            "--model_args", f"pretrained={model_dir},reuse_prefix=true",
            "--tasks", "dokpa_kobest_copa",
            "--include_path", str(tmp_path / "tasks"),
            "--batch_size", "8",
        ],
        tmp_path,
    )  # fmt: skip
    acc = result["results"]["dokpa_kobest_copa"]["acc,none"]
    (task,) = build_tasks(["kobest_copa"], data)
    assert acc == pytest.approx(task.run(lm, limit=10).metrics["acc"])
    assert result["config"]["model"] == "dokpa"


# ---- parity with lm-eval's hf backend -------------------------------------------------------------------
def train_tiny_model(folder: Path, steps: int = 200) -> Path:
    """A 2-layer model trained briefly with dokpa's trainer on the konlpy Korean corpus, saved in ``folder``.

    Not random noise: its log-likelihoods reflect Korean text, so near-ties between choices are as rare as
    with a real model and the parity check compares meaningful scores.
    """
    tok = tiny_tokenizer(folder)
    model = tiny_model(tok.vocab_size, max_seq_len=512)
    summary = train_briefly(model, tok, korean_texts(), folder.parent / "train-run", steps)
    assert summary["final_loss"] < math.log(tok.vocab_size) - 1.0  # it learned something
    return save_lm(EvalLM(model.eval(), tok), folder)


@pytest.mark.slow
def test_parity_with_lm_eval_hf_backend(tmp_path) -> None:
    """dokpa's KoBEST COPA and KMMLU Korean-History accuracies equal lm-eval ``hf`` (transformers) within
    0.5 points on the same trained model folder, and every choice's log-likelihood agrees."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate", reason="lm-eval's hf backend needs accelerate")
    data = shared_data()
    model_dir = train_tiny_model(tmp_path / "model")
    names = ["kobest_copa", "kmmlu_korean_history"]
    written = write_task_files(tmp_path / "tasks", names, data)
    result = _run_lm_eval(
        [
            "--model", "hf",
            # BOS before every context, as dokpa's scorer does; float32 like the dokpa model
            "--model_args", f"pretrained={model_dir},add_bos_token=True,dtype=float32",
            "--device", "cpu",
            "--tasks", ",".join(written.values()),
            "--include_path", str(tmp_path / "tasks"),
            "--batch_size", "32",
        ],
        tmp_path,
    )  # fmt: skip
    lm = EvalLM.load(model_dir)
    for task in build_tasks(names, data):
        lm_name = written[task.name]
        ours = task.run(lm)
        theirs = result["results"][lm_name]
        assert ours.n == len(result["_samples"][lm_name]) == len(task.items())
        assert abs(ours.metrics["acc"] - theirs["acc,none"]) <= 0.005, (lm_name, ours.metrics, theirs)
        assert abs(ours.metrics["acc_norm"] - theirs["acc_norm,none"]) <= 0.005, (
            lm_name,
            ours.metrics,
            theirs,
        )
        samples = sorted(result["_samples"][lm_name], key=lambda s: s["doc_id"])
        hf_scores = [float(r[0][0]) for s in samples for r in s["resps"]]
        dokpa_scores = [s for s, _ in lm.loglikelihood(_mc_requests(task, task.items()))]
        assert dokpa_scores == pytest.approx(hf_scores, rel=1e-4, abs=1e-3), lm_name
