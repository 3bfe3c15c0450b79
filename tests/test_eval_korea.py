"""Knowledge-of-Korea probe and hallucination set: schema, metrics on hand-written answers, end to end."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from dokpa.eval.tasks import build_tasks
from dokpa.eval.tasks.base import EvalDataError
from dokpa.eval.tasks.hallucination import (
    ABSTAIN_ANSWER,
    HallucinationItem,
    HallucinationTask,
    hallucination_metrics,
    is_abstention,
    is_grounded,
    load_hallucination,
)
from dokpa.eval.tasks.korea import (
    CATEGORIES,
    LETTERS,
    KoreaMCTask,
    KoreaOpenTask,
    ProbeItem,
    answer_matches,
    data_file,
    load_probe,
    normalize_text,
    open_metrics,
)
from eval_helpers import tiny_lm


def raw_lines(name: str) -> list[str]:
    return [line for line in data_file(name).read_text(encoding="utf-8").splitlines() if line.strip()]


def raw_records(name: str) -> list[dict]:
    return [json.loads(line) for line in raw_lines(name)]


# ---- data: the knowledge-of-Korea probe -----------------------------------------------------------------


def test_probe_schema_counts_and_categories():
    rows = raw_records("korea_probe.jsonl")
    assert len(rows) >= 220
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    per_cat = Counter(r["category"] for r in rows)
    assert set(per_cat) == set(CATEGORIES)
    assert min(per_cat.values()) >= 35, per_cat
    for r in rows:
        assert set(r) == {
            "id",
            "category",
            "question",
            "choices",
            "answer",
            "answer_text",
            "aliases",
            "source",
        }
        assert re.fullmatch(r"korea-(hist|geo|law|lang|cult)-\d{3}", r["id"]), r["id"]
        assert len(r["choices"]) == 4 and len(set(r["choices"])) == 4, r["id"]
        assert r["answer"] in range(4), r["id"]
        assert r["answer_text"] == r["choices"][r["answer"]], r["id"]
        assert r["answer_text"] not in r["aliases"], r["id"]
        assert r["question"].strip() and all(c.strip() for c in r["choices"]), r["id"]
    assert len(load_probe()) == len(rows)  # the loader's own validation accepts every line


def test_probe_answer_positions_are_balanced():
    counts = Counter(r["answer"] for r in raw_records("korea_probe.jsonl"))
    total = sum(counts.values())
    assert set(counts) == {0, 1, 2, 3}
    assert max(counts.values()) / total <= 0.35, counts


def test_probe_open_answers_never_match_a_distractor():
    """The open-question matcher must accept the right choice and no wrong one (else it scores guesses)."""
    for item in load_probe():
        assert answer_matches(item.choices[item.answer], item.golds), item.id
        for k, choice in enumerate(item.choices):
            if k != item.answer:
                assert not answer_matches(choice, item.golds), (item.id, choice)


@pytest.mark.parametrize("name", ["korea_probe.jsonl", "hallucination.jsonl"])
def test_data_is_nfc_and_every_source_is_an_https_page(name):
    for line in raw_lines(name):
        assert unicodedata.normalize("NFC", line) == line
        src = json.loads(line)["source"]
        assert src["title"].strip()
        assert re.fullmatch(r"https://[^\s/]+\.[a-z]{2,}/\S*", src["url"]), src["url"]


def test_probe_covers_dokdo_and_the_1900_ordinance():
    text = " ".join(f"{it.question} {it.answer_text}" for it in load_probe())
    for needle in ("독도", "울릉군", "경상북도", "칙령 제41호", "석도", "1900년"):
        assert needle in text, needle


# ---- data: the hallucination set ------------------------------------------------------------------------


def test_hallucination_schema_counts_and_answers():
    rows = raw_records("hallucination.jsonl")
    assert len(rows) >= 60
    assert len({r["id"] for r in rows}) == len(rows)
    unanswerable = [r for r in rows if not r["answerable"]]
    assert 0.25 <= len(unanswerable) / len(rows) <= 0.45
    for r in rows:
        assert {"id", "passage", "question", "answerable", "answer_text", "aliases", "source"} <= set(r)
        assert r["category"] in CATEGORIES
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", r["passage"].strip()) if s]
        assert 2 <= len(sentences) <= 5, r["id"]
        if r["answerable"]:
            # an answerable question's answer is written in its passage
            assert answer_matches(r["passage"], [r["answer_text"], *r["aliases"]]), r["id"]
            assert not is_abstention(r["answer_text"]), r["id"]
        else:
            assert r["answer_text"] == ABSTAIN_ANSWER and is_abstention(r["answer_text"]), r["id"]
    assert len(load_hallucination()) == len(rows)


def test_gold_answers_count_as_grounded_in_their_passages():
    for item in load_hallucination():
        if item.answerable:
            assert is_grounded(item.answer_text, item.passage), item.id


def test_loaders_name_the_bad_line(tmp_path):
    good = raw_lines("korea_probe.jsonl")[0]
    bad = json.loads(good) | {"id": "x-2", "answer": 7}
    path = tmp_path / "probe.jsonl"
    path.write_text(good + "\n" + json.dumps(bad, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"probe\.jsonl: line 2: answer must be an index"):
        load_probe(path)
    path.write_text(good + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match="line 2: duplicate id"):
        load_probe(path)
    row = raw_records("hallucination.jsonl")[0] | {"source": {"title": "t", "url": "http://x.org"}}
    hpath = tmp_path / "hall.jsonl"
    hpath.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match="line 1: source url must start with https://"):
        load_hallucination(hpath)


# ---- metrics on hand-written predictions ----------------------------------------------------------------


def test_normalize_text():
    assert normalize_text(" 1,947 m ") == "1947m"
    assert normalize_text("4·19 혁명") == normalize_text("4.19혁명") == "419혁명"
    assert normalize_text("87.4㎞") == normalize_text("87.4 km")
    assert normalize_text("DOKDO!") == "dokdo"


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("독도입니다.", ["독도"], True),  # particles and endings around the answer
        ("정답은 '독도'예요", ["독도"], True),
        ("울릉도", ["독도"], False),
        ("6년입니다", ["6년"], True),
        ("16년", ["6년"], False),  # a number must not be part of a longer number
        ("1446년", ["1446"], True),
        ("14460", ["1446"], False),
        ("87.4 km 떨어져 있다", ["87.4km"], True),
        ("세종대왕", ["세종", "세종대왕"], True),
        ("DOKDO", ["Dokdo"], True),
        ("", ["독도"], False),
        ("아무 말", [""], False),  # an empty gold matches nothing
    ],
)
def test_answer_matches(prediction, golds, expected):
    assert answer_matches(prediction, golds) is expected


def probe_item(id_: str, category: str, answer: str, aliases: list[str] | None = None) -> ProbeItem:
    choices = [answer, "가", "나", "다"]
    return ProbeItem(
        id_, category, f"{id_}?", choices, 0, answer, aliases or [], {"title": "t", "url": "https://x"}
    )


def test_open_metrics_overall_and_per_category():
    items = [
        probe_item("a", "geography", "독도"),
        probe_item("b", "geography", "울릉군", ["경상북도 울릉군"]),
        probe_item("c", "history", "1446년", ["1446"]),
        probe_item("d", "law", "5년"),
    ]
    preds = ["독도입니다.", "울진군", "1446년에 반포되었다", "15년"]
    match, correct, breakdown = open_metrics(items, preds)
    assert correct == [True, False, True, False]
    assert match == 0.5
    assert breakdown == {
        "geography": {"match": 0.5, "n": 2.0},
        "history": {"match": 1.0, "n": 1.0},
        "law": {"match": 0.0, "n": 1.0},
    }
    with pytest.raises(ValueError):
        open_metrics(items, preds[:2])


@pytest.mark.parametrize(
    "text",
    [
        "지문에 나와 있지 않습니다",
        "지문에 나와있지 않습니다.",
        "모르겠습니다.",
        "알 수 없습니다",
        "지문에는 그런 내용이 없습니다.",
        "본문에서 언급되지 않았습니다",
        "해당 정보는 명시되어 있지 않습니다",
        "죄송하지만 지문에서 찾을 수 없습니다.",
        "I don't know.",
    ],
)
def test_abstention_detected(text):
    assert is_abstention(text)


@pytest.mark.parametrize(
    "text", ["", "1446년", "세종대왕입니다.", "헌법재판소", "대통령은 중임할 수 없다.", "독도"]
)
def test_answers_are_not_abstentions(text):
    assert not is_abstention(text)


PASSAGE = (
    "훈민정음은 조선의 제4대 왕 세종이 1443년에 창제하고 1446년에 반포한 문자이다. 창제 당시에는 28자였다."
)


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("1446년", True),
        ("1446년입니다.", True),
        ("세종이 1446년에 반포했습니다", True),
        ("1446년 9월 상순입니다", False),  # a number the passage does not have
        ("1446년, 집현전 학자 정인지와 신숙주가 도왔다", False),  # mostly outside material
        ("", False),
    ],
)
def test_is_grounded(prediction, expected):
    assert is_grounded(prediction, PASSAGE) is expected


def hall_item(id_: str, answerable: bool, answer: str = "", category: str = "language") -> HallucinationItem:
    return HallucinationItem(
        id=id_,
        category=category,
        passage=PASSAGE,
        question=f"{id_}?",
        answerable=answerable,
        answer_text=answer if answerable else ABSTAIN_ANSWER,
        source={"title": "t", "url": "https://x"},
    )


def test_hallucination_metrics_on_hand_written_answers():
    items = [
        hall_item("a1", True, "1446년"),
        hall_item("a2", True, "28자"),
        hall_item("a3", True, "세종", category="history"),
        hall_item("a4", True, "1443년", category="history"),
        hall_item("u1", False),
        hall_item("u2", False),
        hall_item("u3", False, category="history"),
    ]
    closed = ["1446년", "24자", "세종대왕", "모르겠습니다", None, None, None]
    passage = [
        "1446년입니다.",  # right and grounded
        "28자, 자음 17자와 모음 11자",  # right, but 17 and 11 are not in the passage: not grounded
        "지문에 나와 있지 않습니다",  # abstains although the passage answers it
        "1443년",  # right and grounded
        "지문에는 그 내용이 없습니다.",  # abstains: good
        "1450년",  # answers anyway: a false answer
        "",  # empty: neither
    ]
    metrics, breakdown = hallucination_metrics(items, closed, passage)
    assert metrics == {
        "closed_book_acc": 2 / 4,
        "with_passage_acc": 3 / 4,
        "grounded_rate": 2 / 4,
        "abstention_rate": 1 / 3,
        "false_answer_rate": 1 / 3,
        "answerable_abstention_rate": 1 / 4,
    }
    assert breakdown["counts"] == {
        "answerable": 4.0,
        "unanswerable": 3.0,
        "with_passage_correct": 3.0,
        "grounded": 2.0,
    }
    assert breakdown["history"]["with_passage_acc"] == 0.5
    assert breakdown["history"]["abstention_rate"] == 0.0 and breakdown["history"]["n"] == 3.0
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    with pytest.raises(ValueError):
        hallucination_metrics(items, closed[:3], passage)


# ---- end to end with a tiny random model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return tiny_lm(tmp_path_factory.mktemp("tok"), max_seq_len=512)


def test_registry_builds_the_real_tasks():
    tasks = build_tasks(["korea", "hallucination"], data_root=Path("/nonexistent"))
    assert [type(t) for t in tasks] == [KoreaMCTask, KoreaOpenTask, HallucinationTask]
    assert all(t.unavailable() is None for t in tasks)


def test_korea_mc_end_to_end(lm):
    task = KoreaMCTask(None)
    result = task.run(lm, limit=15, shots=1, seed=3)
    assert result.name == "korea_mc" and result.group == "Korea" and result.kind == "multiple_choice"
    assert result.n == 15 and result.shots == 1
    assert result.chance["acc"] == pytest.approx(0.25)
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert set(result.breakdown) <= set(CATEGORIES) and len(result.breakdown) >= 4
    assert sum(row["n"] for row in result.breakdown.values()) == 15
    prompt = result.examples[0]["prompt"]
    assert prompt.endswith("정답:") and "\nA. " in prompt and "\nD. " in prompt
    assert prompt.count("정답:") == 2  # one solved example, then the question
    json.dumps(result.to_json(), ensure_ascii=False)


def test_korea_open_end_to_end(lm):
    result = KoreaOpenTask(None, max_new_tokens=8).run(lm, limit=10)
    assert result.kind == "generation" and result.n == 10
    assert 0.0 <= result.metrics["match"] <= 1.0
    assert set(result.breakdown) <= set(CATEGORIES)
    assert all(isinstance(ex["prediction"], str) for ex in result.examples)
    chat = KoreaOpenTask(None, chat=True, max_new_tokens=8).run(lm, limit=3, shots=2)
    assert chat.n == 3 and chat.shots == 2


def test_hallucination_end_to_end(lm):
    result = HallucinationTask(None, max_new_tokens=8).run(lm, limit=9, shots=1)
    assert result.name == "hallucination" and result.group == "Hallucination" and result.n == 9
    assert set(result.metrics) == {
        "closed_book_acc",
        "with_passage_acc",
        "grounded_rate",
        "abstention_rate",
        "false_answer_rate",
        "answerable_abstention_rate",
    }
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    counts = result.breakdown["counts"]
    assert counts["answerable"] >= 1 and counts["unanswerable"] >= 1
    assert counts["answerable"] + counts["unanswerable"] == 9
    assert result.metrics["grounded_rate"] <= result.metrics["with_passage_acc"]
    chat = HallucinationTask(None, max_new_tokens=8).run(lm, limit=2, chat=True)
    assert chat.n == 2


class OracleLM:
    """A stand-in model that knows every answer: it proves prompts and predictions stay aligned, so a
    perfect model scores 1.0 (the random model above cannot show that)."""

    def __init__(self) -> None:
        self.probe = {it.question: it for it in load_probe()}
        self.hall = {(it.passage, it.question): it for it in load_hallucination()}
        self.closed = {it.question: it for it in load_hallucination() if it.answerable}

    def _question(self, prompt: str) -> str:
        return re.findall(r"질문: (.*)", prompt)[-1]

    def generate(self, prompts, *, max_new_tokens=64, stop=("\n",), chat=False, desc=None):
        out = []
        for p in prompts:
            q = self._question(p)
            passages = re.findall(r"지문: (.*)", p)
            if passages:
                out.append(f"{self.hall[(passages[-1], q)].answer_text}입니다.")
            elif q in self.closed:
                out.append(self.closed[q].answer_text)
            else:
                out.append(f"{self.probe[q].answer_text}입니다.")
        return out

    def loglikelihood(self, requests, **_):
        out = []
        for context, continuation in requests:
            question = context.rsplit("\n\n", 1)[-1].split("\nA. ")[0]
            gold = LETTERS[self.probe[question].answer]
            out.append((0.0 if continuation.strip() == gold else -5.0, True))
        return out


def test_a_perfect_model_scores_one_everywhere():
    oracle = OracleLM()
    mc = KoreaMCTask(None).run(oracle, shots=2)
    assert mc.metrics["acc"] == 1.0 and all(row["acc"] == 1.0 for row in mc.breakdown.values())
    assert KoreaOpenTask(None).run(oracle, limit=60).metrics["match"] == 1.0
    hall = HallucinationTask(None).run(oracle, shots=1)
    assert hall.metrics["closed_book_acc"] == hall.metrics["with_passage_acc"] == 1.0
    assert hall.metrics["grounded_rate"] == 1.0
    assert hall.metrics["abstention_rate"] == 1.0 and hall.metrics["false_answer_rate"] == 0.0
    assert hall.metrics["answerable_abstention_rate"] == 0.0
