"""The whole pipeline on a tiny recipe: every stage runs, a re-run is all cache hits, and changing
`train.steps` re-runs pretraining and what follows, nothing before it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dokpa.cli import main
from dokpa.config import load_recipe
from dokpa.pipeline import STAGES, run_stage
from dokpa.workspace import Workspace

TINY = """
name = "tiny"
[workspace]
dir = "{ws}"
[data]
heldout_fraction = 0.1
[[data.sources]]
name = "kolaw"
path = "pkg:konlpy/data/corpus/kolaw"
split = "paragraph"
licence = "LicenseRef-KR-Copyright-Act-Art7"
[[data.sources]]
name = "kobill"
path = "pkg:konlpy/data/corpus/kobill"
split = "paragraph"
licence = "LicenseRef-KR-Copyright-Act-Art7"
[curate.quality]
enabled = false  # web heuristics: see recipes/demo.toml
[tokenizer]
vocab_size = 512
[model]
depth = 1
seq_len = 64
[train]
steps = 6
batch_size = 4
warmup_steps = 2
eval_every = 3
ckpt_every = 3
eval_max_tokens = 2048
[sft]
steps = 3
batch_size = 2
eval_every = 3
ckpt_every = 3
eval_max_tokens = 2048
[eval]
max_new_tokens = 8
# a few items of one task of each kind (multiple choice, generation, packaged sets); the whole suite is
# tests/test_eval_*'s business
tasks = ["kobest_copa", "korquad", "korea", "hallucination"]
limit = 6
"""


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    path = root / "tiny.toml"
    path.write_text(TINY.format(ws=(root / "ws").as_posix()), encoding="utf-8")
    return path


def run_all(recipe_path: Path, overrides: list[str] | None = None) -> dict[str, str]:
    recipe = load_recipe(recipe_path, overrides)
    ws = Workspace(recipe.workspace.dir)
    return {name: run_stage(name, recipe, ws)[0] for name in STAGES}


def test_full_run_then_cache_then_partial_rerun(recipe_path: Path) -> None:
    assert set(run_all(recipe_path).values()) == {"ran"}
    ws = Workspace(load_recipe(recipe_path).workspace.dir)

    # Every stage folder has a manifest with lineage.
    for name in STAGES:
        m = ws.read_manifest(name)
        assert m["state"] == "done"
        assert m["dokpa_version"] and m["fingerprint"] and m["outputs"]
        for out in m["outputs"].values():
            assert (ws.stage_dir(name) / out["path"]).exists()

    ledger = json.loads((ws.stage_dir("curate") / "ledger.json").read_text(encoding="utf-8"))
    assert ledger["in"] == ledger["kept"] + ledger["rejected"]
    assert ledger["kept"] > 100
    assert ledger["by_reason"].get("exact_duplicate", 0) > 0  # the bills repeat boilerplate paragraphs

    pre = ws.read_manifest("pretrain")["metrics"]
    assert pre["val_bpb"] < pre["val_bpb_initial"]
    samples = json.loads((ws.stage_dir("eval") / "samples.json").read_text(encoding="utf-8"))
    assert samples and all("answer" in s for s in samples)
    assert (ws.stage_dir("eval") / "curves.png").stat().st_size > 1000
    model_dir = ws.stage_dir("sft") / "model"
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in model_dir.iterdir()
    }

    # Same recipe again: nothing runs.
    assert set(run_all(recipe_path).values()) == {"cached"}

    # A training change re-runs pretraining and what follows, nothing before it.
    outcomes = run_all(recipe_path, ["train.steps=4"])
    assert outcomes == {
        "curate": "cached",
        "tokenizer": "cached",
        "tokenize": "cached",
        "pretrain": "ran",
        "sft": "ran",
        "eval": "ran",
        "release": "ran",
    }


def test_status_lists_every_stage(recipe_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws_dir = load_recipe(recipe_path).workspace.dir
    if Workspace(ws_dir).read_manifest("eval") is None:
        run_all(recipe_path)
    assert main(["status", ws_dir]) == 0
    out = capsys.readouterr().out
    for name in STAGES:
        assert name in out
    assert "done" in out and "val_bpb" in out


def test_cli_run_prints_one_line_per_stage(recipe_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(recipe_path)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in STAGES)


def test_chat_command_streams_a_reply(recipe_path: Path) -> None:
    """`dokpa chat` as a user runs it: a real process reading Korean lines from stdin."""
    ws = Workspace(load_recipe(recipe_path).workspace.dir)
    if ws.read_manifest("sft") is None:
        run_all(recipe_path)
    model_dir = ws.stage_dir("sft") / "model"
    cmd = [
        sys.executable,
        "-m",
        "dokpa.cli",
        "chat",
        str(model_dir),
        "--temperature",
        "0",
        "--max-new-tokens",
        "6",
    ]
    proc = subprocess.run(
        cmd, input="대한민국은 어떤 나라인가요?\n/reset\n/quit\n", capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "대화를 초기화했습니다" in proc.stdout  # /reset was read after the first reply finished


def test_chat_command_rejects_a_folder_without_a_model(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dokpa.cli", "chat", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "not a model folder" in proc.stderr and "Traceback" not in proc.stderr


def test_malformed_sft_data_is_one_line_and_exit_2(
    recipe_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = Workspace(load_recipe(recipe_path).workspace.dir)
    if ws.read_manifest("pretrain") is None:
        run_all(recipe_path)
    bad = tmp_path / "chat.jsonl"
    good = {"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": "안녕하세요"}]}
    rows = [{**good, "source": "test", "licence": "CC0-1.0"}, {"messages": [{"role": "user"}], "source": "t"}]
    bad.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    capsys.readouterr()  # drop the progress bars of the set-up run
    code = main(["sft", "--config", str(recipe_path), "--set", f"sft.data={json.dumps(bad.as_posix())}"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("dokpa: error: sft.data:") and ":2" in err
    assert len(err.strip().splitlines()) == 1


def test_release_bundle(recipe_path: Path) -> None:
    """The release stage's bundle: both weight formats, cards in two languages, data card, eval, logs."""
    ws = Workspace(load_recipe(recipe_path).workspace.dir)
    if ws.read_manifest("release") is None:
        run_all(recipe_path)
    bundle = ws.stage_dir("release") / "bundle"
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert {"README.md", "README.ko.md", "LICENSE", "SHA256SUMS", "quantization.json"} <= names
    assert "tiny-f16.gguf" in names
    assert {"hf/generation_config.json", "hf/model.safetensors", "hf/tokenizer.json"} <= names
    assert {"data/data_card.json", "eval/results.json", "eval/report.html", "logs/curves.png"} <= names
    assert {"logs/pretrain.metrics.jsonl", "logs/sft.metrics.jsonl", "logs/manifests/eval.json"} <= names
    assert (bundle / "LICENSE").read_text().lstrip().startswith("Apache License")
    en, ko = (bundle / "README.md").read_text(), (bundle / "README.ko.md").read_text()
    n_params = ws.read_manifest("release")["metrics"]["n_params"]
    for card in (en, ko):
        assert f"{n_params:,}" in card and "LicenseRef-KR-Copyright-Act-Art7" in card  # size, data licence
        assert "kobill" in card and "tiny-f16.gguf" in card
    assert en.startswith("---\nlanguage:\n- ko\nlicense: apache-2.0") and "## Limitations" in en
    assert "## 한계" in ko and "## 평가" in ko
    quant = json.loads((bundle / "quantization.json").read_text())
    assert abs(quant["delta"]) < 0.05  # int8 costs almost nothing, even on a barely trained model
    sums = dict(line.split("  ")[::-1] for line in (bundle / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == names - {"SHA256SUMS"}


def test_release_refuses_a_bad_licence(recipe_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_all(recipe_path)  # cache hits, except what an earlier test (a bad sft.data) left undone
    capsys.readouterr()
    assert main(["release", "--config", str(recipe_path), "--set", 'release.licence="my licence"']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dokpa: error: release.licence: not an SPDX licence id") and "\n" not in err
