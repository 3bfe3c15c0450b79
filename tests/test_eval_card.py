"""The report card, run comparison and the `dokpa eval` command on a model folder (package data only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dokpa.cli import main
from dokpa.eval.card import headline, task_rows, write_card
from dokpa.eval.compare import CompareError, compare, load_results
from dokpa.eval.suite import add_to_history, history_entries, run_suite
from eval_helpers import save_lm, tiny_lm


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    return save_lm(tiny_lm(folder / "tok"), folder / "model")


@pytest.fixture(scope="module")
def results(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from dokpa.eval.lm import EvalLM

    empty = tmp_path_factory.mktemp("no-shared-data")
    return run_suite(EvalLM.load(model_dir), ["korea_mc", "kobest_copa"], data_root=empty, limit=20)


def test_suite_runs_available_tasks_and_skips_the_rest_with_a_reason(results: dict) -> None:
    assert set(results["tasks"]) == {"korea_mc"}
    assert "kobest_copa" in results["skipped"] and results["skipped"]["kobest_copa"]
    task = results["tasks"]["korea_mc"]
    assert task["n"] == 20 and 0.0 <= task["metrics"]["acc"] <= 1.0
    assert headline(task) == ("acc", task["metrics"]["acc"])
    assert task_rows(results)[0]["chance"] == pytest.approx(0.25)


def test_card_has_tables_plots_and_history(results: dict, tmp_path: Path) -> None:
    history = tmp_path / "history"
    older = json.loads(json.dumps(results)) | {"name": "older", "created": "2026-01-01T00:00:00+00:00"}
    add_to_history(history, older, "a" * 64)
    written = write_card(results, tmp_path / "card", history=history_entries(history))
    assert {"report", "html", "benchmarks", "history"} <= set(written)
    md = written["report"].read_text(encoding="utf-8")
    assert "| Korea | korea_mc | 20 |" in md and "kobest_copa" in md  # the skipped task and why
    page = written["html"].read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2  # benchmarks and history, embedded
    for kind in ("benchmarks", "history"):
        assert written[kind].stat().st_size > 5000


def test_compare_marks_significant_differences(results: dict) -> None:
    better = json.loads(json.dumps(results))
    better["tasks"]["korea_mc"]["metrics"]["acc"] = 0.95
    better["tasks"]["korea_mc"]["stderr"]["acc"] = 0.02
    rows = {(r["task"], r["metric"]): r for r in compare(results, better)}
    acc = rows[("korea_mc", "acc")]
    assert acc["delta"] == pytest.approx(0.95 - results["tasks"]["korea_mc"]["metrics"]["acc"])
    assert acc["significant"]
    assert not rows[("korea_mc", "acc_norm")]["significant"]  # unchanged


def test_eval_command_on_a_model_folder_then_compare(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    for out, limit in ((out_a, "8"), (out_b, "12")):
        argv = ["eval", "--model", str(model_dir), "--tasks", "korea_mc", "--limit", limit, "--out", str(out)]
        assert main([*argv, "--data-root", str(tmp_path)]) == 0
    assert load_results(out_a)["tasks"]["korea_mc"]["n"] == 8
    assert (out_b / "report.html").exists()
    assert main(["eval", "compare", str(out_a), str(out_b / "results.json")]) == 0
    assert "korea_mc" in capsys.readouterr().out


def test_eval_command_errors_are_one_line(model_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["eval", "--model", str(tmp_path)]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert main(["eval", "--model", str(model_dir), "--tasks", "no_such_task"]) == 2
    assert "no_such_task" in capsys.readouterr().err
    assert main(["eval", "compare", str(tmp_path)]) == 2
    with pytest.raises(CompareError, match=r"no results\.json"):
        load_results(tmp_path)
