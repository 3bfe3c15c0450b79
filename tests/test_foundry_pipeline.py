"""The whole foundry as `dokpa curate` runs it: mixed sources, a balanced ledger, the data card,
`dokpa data inspect`, the same recipe on local Ray, and a killed run that resumes to identical outputs."""

from __future__ import annotations

import gzip
import importlib.resources
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dokpa.cli import main
from dokpa.config import load_recipe
from dokpa.data.documents import open_text
from dokpa.pipeline import run_stage
from dokpa.workspace import Workspace

KOBILL = Path(str(importlib.resources.files("konlpy") / "data/corpus/kobill"))
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NSMC = SHARED / "nsmc" / "reviews.jsonl.gz"

RECIPE = """
name = "foundry"
[workspace]
dir = "{ws}"
[[data.sources]]
name = "law"
path = "pkg:konlpy/data/corpus/kolaw"
split = "paragraph"
licence = "LicenseRef-KR-Copyright-Act-Art7"
[[data.sources]]
name = "web"
path = "{root}/web"
format = "html"
licence = "CC-BY-4.0"
url_prefix = "https://example.kr/help/"
[[data.sources]]
name = "posts"
path = "{root}/posts.jsonl"
format = "jsonl"
licence = "CC0-1.0"
[[data.sources]]
name = "nc"
path = "{root}/nc.jsonl"
format = "jsonl"
licence = "CC-BY-NC-4.0"
[curate.executor]
kind = "{kind}"
tasks = 2
workers = 1
"""

NAV = (
    "<header><nav><a href='/'>홈</a> | <a href='/help'>도움말 목차</a> | <a href='/login'>로그인</a>"
    "</nav></header>"
)
FOOT = "<footer>Copyright 2026 예시 재단. 모든 권리 보유.</footer>"


def _paragraphs() -> list[str]:
    """Real Korean prose: 12-line passages of the ten bills shipped with konlpy (which put a blank
    line after every line)."""
    paras: list[str] = []
    for path in sorted(KOBILL.glob("*.txt")):
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if len(ln.strip()) > 20]
        paras += ["\n".join(lines[i : i + 12]) for i in range(0, len(lines) - 11, 12)]
    return paras


def make_sources(root: Path) -> None:
    paras = _paragraphs()
    web = root / "web"
    web.mkdir(parents=True)
    for i, para in enumerate(paras[:6]):
        body = "".join(f"<p>{line}</p>" for line in para.splitlines())
        main_part = f"<main><h1>안내 {i}</h1>{body}</main>"
        page = f"<html><head><title>도움말 {i}</title></head><body>{NAV}{main_part}{FOOT}</body></html>"
        (web / f"page{i}.html").write_text(page, encoding="utf-8")
    (web / "copy.html").write_text((web / "page0.html").read_text(encoding="utf-8"), encoding="utf-8")
    english = " ".join(["This page explains how to configure the printer driver and the network."] * 8)
    english_page = f"<html><body>{NAV}<main><p>{english}</p></main></body></html>"
    (web / "english.html").write_text(english_page, encoding="utf-8")

    posts = [{"id": f"p{i}", "text": para} for i, para in enumerate(paras[6:16])]
    posts[0]["text"] += "\n문의는 010-2345-6789 또는 help.desk@example.kr 로 연락 주시기 바랍니다."
    lines = [json.dumps(p, ensure_ascii=False) for p in posts] + ['{"id": "broken", "text": "닫히지 않은']
    (root / "posts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    nc = [{"id": f"n{i}", "text": para} for i, para in enumerate(paras[16:19])]
    nc_lines = [json.dumps(r, ensure_ascii=False) for r in nc]
    (root / "nc.jsonl").write_text("\n".join(nc_lines) + "\n", encoding="utf-8")


def write_recipe(root: Path, name: str, kind: str = "local") -> Path:
    path = root / f"{name}.toml"
    text = RECIPE.format(ws=(root / name).as_posix(), root=root.as_posix(), kind=kind)
    path.write_text(text, encoding="utf-8")
    return path


def curated(ws: Path) -> tuple[list[str], list[str], dict]:
    """Kept and rejected records (as JSON lines, in file order) and the ledger of a curate folder."""
    root = ws / "curate"

    def lines(folder: Path) -> list[str]:
        out: list[str] = []
        for path in sorted(folder.rglob("*.jsonl.*")):  # kept: .gz; rejected: .zst
            with open_text(path) as f:
                out += [line for line in f if line.strip()]
        return out

    return lines(root / "output"), lines(root / "rejected"), json.loads((root / "ledger.json").read_text())


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("foundry")
    make_sources(root)
    recipe = write_recipe(root, "local")
    outcome, _ = run_stage("curate", load_recipe(recipe), Workspace(root / "local"))
    assert outcome == "ran"
    return root


def test_every_document_is_kept_or_rejected_with_a_reason(local_run: Path) -> None:
    kept, rejected, ledger = curated(local_run / "local")
    assert ledger["in"] == ledger["kept"] + ledger["rejected"] == len(kept) + len(rejected)
    assert set(ledger["by_source"]) == {"law", "web", "posts", "nc"}
    for counts in ledger["by_source"].values():
        assert counts["in"] == counts["kept"] + counts["rejected"] > 0
    reasons = ledger["by_reason"]
    assert reasons["licence:CC-BY-NC-4.0"] == 3  # the whole NC source, for a commercial release
    assert reasons["read_error:json"] == 1  # the malformed JSONL line, quarantined not lost
    assert reasons["exact_duplicate"] >= 1  # copy.html
    assert any(r.startswith("not_korean:en") for r in reasons)  # english.html
    assert all(json.loads(r)["reason"] and json.loads(r)["step"] for r in rejected)


def test_kept_documents_are_clean_and_carry_provenance(local_run: Path) -> None:
    kept, _, _ = curated(local_run / "local")
    docs = [json.loads(line) for line in kept]
    post = next(d for d in docs if d["id"].endswith("/p0"))
    assert "<|tel|>" in post["text"] and "<|email|>" in post["text"]
    assert "010-2345-6789" not in post["text"] and post["meta"]["pii"] == {"tel": 1, "email": 1}
    web = [d for d in docs if d["source"] == "web"]
    assert web and all(d["url"].startswith("https://example.kr/help/") for d in web)
    assert not any("로그인" in d["text"] or "모든 권리 보유" in d["text"] for d in web)  # boilerplate gone
    assert {d["licence"] for d in docs} <= {"LicenseRef-KR-Copyright-Act-Art7", "CC-BY-4.0", "CC0-1.0"}
    assert all(d["meta"]["lang"] == "ko" and "minhash_cluster_size" in d["meta"] for d in docs)


def test_data_card_and_inspect(local_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = local_run / "local" / "curate"
    card = json.loads((root / "data_card.json").read_text(encoding="utf-8"))
    ledger = json.loads((root / "ledger.json").read_text(encoding="utf-8"))
    assert card["counts"] == {k: ledger[k] for k in ("in", "kept", "rejected")}
    assert card["pii_replaced"]["tel"] >= 1
    assert {s["name"] for s in card["sources"]} == {"law", "web", "posts", "nc"}
    for png in card["plots"].values():
        assert (root / png).stat().st_size > 2000
    assert "# Data card" in (root / "data_card.md").read_text(encoding="utf-8")
    assert main(["data", "inspect", str(local_run / "local"), "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert "05_licence" in out and "licence:CC-BY-NC-4.0" in out and "10_exact_dedup" in out


def test_same_recipe_on_local_ray_gives_the_same_result(local_run: Path) -> None:
    pytest.importorskip("ray")
    recipe = write_recipe(local_run, "ray", kind="ray")
    outcome, _ = run_stage("curate", load_recipe(recipe), Workspace(local_run / "ray"))
    assert outcome == "ran"
    assert curated(local_run / "ray") == curated(local_run / "local")


@pytest.mark.skipif(not NSMC.exists(), reason="needs ../shared/data/nsmc")
def test_killed_curate_resumes_to_identical_outputs(tmp_path: Path) -> None:
    """40k real reviews in 4 tasks; kill once the first task of the first pass is done, run again."""
    with gzip.open(NSMC, "rt", encoding="utf-8") as f:
        rows = [next(f) for _ in range(40_000)]
    (tmp_path / "reviews.jsonl").write_text("".join(rows), encoding="utf-8")
    recipes = {}
    for name in ("reference", "killed"):
        recipes[name] = tmp_path / f"{name}.toml"
        recipes[name].write_text(
            f'[workspace]\ndir = "{(tmp_path / name).as_posix()}"\n'
            f'[[data.sources]]\nname = "nsmc"\npath = "{(tmp_path / "reviews.jsonl").as_posix()}"\n'
            'format = "jsonl"\nlicence = "CC0-1.0"\n[curate.executor]\ntasks = 4\nworkers = 1\n',
            encoding="utf-8",
        )
    assert main(["curate", "--config", str(recipes["reference"])]) == 0

    cmd = [sys.executable, "-m", "dokpa.cli", "curate", "--config", str(recipes["killed"])]
    # its own process group, so the kill takes the executor's worker processes too (as a killed job would)
    victim = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    markers = tmp_path / "killed" / "curate" / "work" / "logs"
    deadline = time.monotonic() + 120
    while not any(markers.rglob("completions/*")):
        assert victim.poll() is None, "curate finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert main(["curate", "--config", str(recipes["killed"])]) == 0
    assert curated(tmp_path / "killed") == curated(tmp_path / "reference")
    kept, _, _ = curated(tmp_path / "killed")
    ids = [json.loads(line)["id"] for line in kept]
    assert len(ids) == len(set(ids))  # no document twice
