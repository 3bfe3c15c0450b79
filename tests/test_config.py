"""Recipes: validation, overrides, and the one-line error with exit status 2 for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dokpa.cli import demo_recipe_path, main
from dokpa.config import RecipeError, load_recipe

MINIMAL = """
name = "t"
[[data.sources]]
name = "law"
path = "pkg:konlpy/data/corpus/kolaw"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_recipe_loads_and_resolves_package_paths() -> None:
    recipe = load_recipe(demo_recipe_path())
    assert recipe.name == "demo"
    law = recipe.resolve(recipe.data.sources[0].path)
    assert (law / "constitution.txt").is_file()
    assert recipe.resolve(recipe.sft.data).is_file()
    assert recipe.resolve(recipe.eval.prompts).is_file()


def test_overrides_are_typed_and_reach_nested_fields(tmp_path: Path) -> None:
    recipe = load_recipe(
        write(tmp_path, MINIMAL),
        [
            "train.steps=7",
            "model.tie_embeddings=false",
            "train.schedule=wsd",
            "data.sources.0.licence=CC0-1.0",
        ],
    )
    assert recipe.train.steps == 7
    assert recipe.model.tie_embeddings is False
    assert recipe.train.schedule == "wsd"
    assert recipe.data.sources[0].licence == "CC0-1.0"


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        (MINIMAL + "\n[train]\nstepz = 3\n", [], "train.stepz: unknown key"),
        (MINIMAL, ["train.steps=abc"], "train.steps:"),
        (MINIMAL, ["model.depth=0"], "model.depth:"),
        (MINIMAL, ["train.schedule=linear"], "train.schedule:"),
        (
            MINIMAL.replace("pkg:konlpy/data/corpus/kolaw", "no/such/folder"),
            [],
            "data.sources[0].path: input not found",
        ),
        (MINIMAL, ["sft.data=pkg:nonexistent_pkg_xyz/a.jsonl"], "sft.data: package 'nonexistent_pkg_xyz'"),
        ("name = 't'\n", [], "data: required field is missing"),
        ("name = [unclosed\n", [], "not valid TOML"),
        (MINIMAL, ["nokeyvalue"], "expected section.key=value"),
    ],
)
def test_bad_recipes_name_the_field(tmp_path: Path, text: str, overrides: list[str], expected: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text), overrides)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_cli_bad_recipe_is_one_line_and_exit_2(tmp_path: Path) -> None:
    recipe = write(tmp_path, MINIMAL + "\n[model]\ndepth = 'deep'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dokpa.cli", "run", str(recipe)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "model.depth" in lines[0]
    assert "Traceback" not in proc.stderr


def test_stage_out_of_order_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = write(tmp_path, MINIMAL)
    code = main(["pretrain", "--config", str(recipe), "--workspace", str(tmp_path / "ws")])
    assert code == 2
    assert "needs stage 'tokenizer' first" in capsys.readouterr().err


def test_status_of_empty_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path)]) == 2
    assert "no dokpa stages" in capsys.readouterr().err


def test_undecodable_source_file_is_quarantined_not_lost(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = "대한민국은 민주공화국이다. 모든 권력은 국민으로부터 나온다."
    (corpus / "good.txt").write_text(good, encoding="utf-8")
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\xff" * 10)  # neither UTF-8 nor CP949/EUC-KR
    recipe = write(tmp_path, MINIMAL.replace("pkg:konlpy/data/corpus/kolaw", corpus.as_posix()))
    assert main(["curate", "--config", str(recipe), "--workspace", str(tmp_path / "ws")]) == 0
    ledger = json.loads((tmp_path / "ws" / "curate" / "ledger.json").read_text(encoding="utf-8"))
    assert ledger["in"] == 2 and ledger["in"] == ledger["kept"] + ledger["rejected"]
    assert any(reason.startswith("read_error") for reason in ledger["by_reason"]), ledger["by_reason"]


def test_empty_curated_corpus_is_a_usage_error_downstream(tmp_path: Path, capsys) -> None:
    """A corpus whose every document is filtered out still curates (the ledger says why), and the
    tokenizer stage then refuses with a message instead of training on nothing."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "short.txt").write_text("대한민국은 민주공화국이다.", encoding="utf-8")  # too short for quality
    recipe = write(tmp_path, MINIMAL.replace("pkg:konlpy/data/corpus/kolaw", corpus.as_posix()))
    ws = str(tmp_path / "ws")
    assert main(["curate", "--config", str(recipe), "--workspace", ws]) == 0
    ledger = json.loads((tmp_path / "ws" / "curate" / "ledger.json").read_text(encoding="utf-8"))
    assert ledger["in"] == 1 and ledger["kept"] == 0 and ledger["rejected"] == 1
    capsys.readouterr()
    assert main(["tokenizer", "--config", str(recipe), "--workspace", ws]) == 2
    assert "curate kept no documents" in capsys.readouterr().err
