"""dokpa.eval.tasks: registry, KoBEST / KMMLU / KorQuAD readers and prompts, the generic JSONL format,
KorQuAD's official metric, clean skips without data, and an untrained model scoring at chance."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest

from dokpa.eval.lm import EvalLM
from dokpa.eval.tasks import GROUPS, TASKS, SkippedTask, build_tasks, default_data_root
from dokpa.eval.tasks.base import EvalDataError, MultipleChoiceTask, spread_limit
from dokpa.eval.tasks.jsonl import JsonlTask
from dokpa.eval.tasks.kmmlu import KMMLU_CATEGORY, KMMLU_SUBJECTS, KmmluTask
from dokpa.eval.tasks.kobest import COPA, BoolQ
from dokpa.eval.tasks.korquad import (
    KorQuADTask,
    best_over_golds,
    char_f1,
    exact_match,
    korquad_prompt,
    normalize_answer,
    read_korquad,
)
from eval_helpers import shared_data, tiny_lm


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> EvalLM:
    """An untrained model: init_weights only, as a pretraining run starts."""
    return tiny_lm(tmp_path_factory.mktemp("tok"), max_seq_len=256)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# ---- registry ------------------------------------------------------------------------------------


def test_registry_names_and_groups() -> None:
    assert GROUPS["kobest"] == [
        "kobest_boolq",
        "kobest_copa",
        "kobest_wic",
        "kobest_hellaswag",
        "kobest_sentineg",
    ]
    assert set(GROUPS["all"]) >= {
        *GROUPS["kobest"],
        "kmmlu",
        "korquad",
        "korea_mc",
        "korea_open",
        "hallucination",
    }
    assert all(name in TASKS for group in GROUPS.values() for name in group)
    assert "kmmlu_accounting" in TASKS and "kmmlu_korean_history" in TASKS
    assert sum(name.startswith("kmmlu_") for name in TASKS) == 45


def test_build_tasks_expands_groups_and_drops_duplicates(tmp_path: Path) -> None:
    tasks = build_tasks(["kobest_copa", "kobest", "kmmlu_math"], data_root=tmp_path)
    assert [t.name for t in tasks] == [
        "kobest_copa",
        "kobest_boolq",
        "kobest_wic",
        "kobest_hellaswag",
        "kobest_sentineg",
        "kmmlu_math",
    ]
    with pytest.raises(ValueError, match=r"unknown eval task 'kobest_nope'; known: .*kobest_copa"):
        build_tasks(["kobest_nope"], data_root=tmp_path)


def test_default_data_root_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOKPA_EVAL_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("DOKPA_EVAL_DATA")
    assert isinstance(default_data_root(), Path)


def test_tasks_skip_cleanly_without_data(tmp_path: Path) -> None:
    tasks = build_tasks(["kobest", "kmmlu", "korquad", "kmmlu_accounting"], data_root=tmp_path)
    for task in tasks:
        reason = task.unavailable()
        assert reason is not None and str(tmp_path) in reason and "not found" in reason, (task.name, reason)


def test_korea_and_hallucination_build_or_skip(tmp_path: Path) -> None:
    # Their modules belong to another part of the suite; without them the task is a clean skip.
    for task in build_tasks(["korea", "hallucination"], data_root=tmp_path):
        assert task.name in ("korea_mc", "korea_open", "hallucination")
        if isinstance(task, SkippedTask):
            assert "dokpa.eval.tasks." in task.reason
            with pytest.raises(RuntimeError, match="unavailable"):
                task.run(None)  # type: ignore[arg-type]


def test_partial_kmmlu_folder(tmp_path: Path, lm: EvalLM) -> None:
    folder = tmp_path / "kmmlu"
    folder.mkdir()
    header = "question,answer,A,B,C,D\n"
    (folder / "math-test.csv").write_text(
        header + '"1+1은?",2,1,2,3,4\n"2+2는?",4,1,2,3,4\n', encoding="utf-8"
    )
    (kmmlu,) = build_tasks(["kmmlu"], data_root=tmp_path)
    assert "44 of 45 subjects missing" in (kmmlu.unavailable() or "")
    (math_task,) = build_tasks(["kmmlu_math"], data_root=tmp_path)
    assert math_task.unavailable() is None
    result = math_task.run(lm)
    assert (result.n, result.chance["acc"], result.breakdown) == (2, 0.25, {})
    assert math_task.items()[0].context == "1+1은?\nA. 1\nB. 2\nC. 3\nD. 4\n정답："
    assert math_task.items()[0].gold == 1


# ---- bad input -----------------------------------------------------------------------------------


def test_bad_kobest_and_kmmlu_files_name_the_row(tmp_path: Path) -> None:
    copa = tmp_path / "kobest" / "COPA"
    copa.mkdir(parents=True)
    head = "ID\tsentence\tquestion\t1\t2\tAnswer\n"
    (copa / "test.tsv").write_text(head + "1\t비가 왔다.\t결과\t우산을 폈다.\t웃었다.\t1\n2\t짧다\t결과\n")
    with pytest.raises(EvalDataError, match=r"COPA/test.tsv: row 3 has 3 columns, expected 6"):
        COPA(tmp_path).items()
    (copa / "test.tsv").write_text(head + "1\t비가 왔다.\t이유\t우산을 폈다.\t웃었다.\t1\n")
    with pytest.raises(EvalDataError, match=r"row 2: question must be 원인 or 결과"):
        COPA(tmp_path).items()
    boolq = tmp_path / "kobest" / "BoolQ"
    boolq.mkdir(parents=True)
    (boolq / "test.tsv").write_text("ID\tText\tQuestion\tAnswer\n1\t본문\t질문\tmaybe\n")
    with pytest.raises(EvalDataError, match=r"row 2: expected True or False, got 'maybe'"):
        BoolQ(tmp_path).items()
    kmmlu = tmp_path / "kmmlu"
    kmmlu.mkdir()
    (kmmlu / "Law-test.csv").write_text('question,answer,A,B,C,D\n"문제",5,a,b,c,d\n', encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"Law-test.csv: row 2: answer must be 1-4, got '5'"):
        KmmluTask(tmp_path, ["Law"]).items()


# ---- real data: readers and prompts ------------------------------------------------------------


def test_kobest_readers_on_shared_data() -> None:
    root = shared_data()
    sizes = {"kobest_boolq": 1404, "kobest_copa": 1000, "kobest_wic": 1260, "kobest_hellaswag": 500}
    sizes["kobest_sentineg"] = 397
    for task in build_tasks(["kobest"], data_root=root):
        assert task.unavailable() is None
        assert len(task.items()) == sizes[task.name]
        assert len(task.fewshot_pool()) > 1000
    copa = COPA(root).items()
    assert copa[0].context == "새로 산 바지의 허리가 컸다.  그래서"  # premise + " " + " 그래서", as lm-eval
    assert copa[0].choices == ["바지의 밑단을 잘랐다.", "벨트를 바지에 끼워 사이즈를 조절했다."]
    assert copa[0].gold == 1
    assert copa[1].context.endswith("  왜냐하면")
    boolq = BoolQ(root).items()
    assert boolq[0].context.endswith("질문: 콜라독립 815는 코카콜라에서 만들었나요? 답변: ")
    assert (boolq[0].choices, boolq[0].gold) == (["아니오", "예"], 0)
    assert Counter(i.gold for i in boolq) == {0: 699, 1: 705}  # True/TRUE/False/FALSE all read


def test_kmmlu_reader_on_shared_data() -> None:
    root = shared_data()
    task = KmmluTask(root)
    assert task.unavailable() is None
    items = task.items()
    assert len({i.meta["subject"] for i in items}) == 45 == len(KMMLU_SUBJECTS)
    assert Counter(KMMLU_CATEGORY.values()) == {"STEM": 11, "Applied Science": 12, "HUMSS": 11, "Other": 11}
    assert all(i.context.endswith("\nD. " + i.context.split("\nD. ")[-1]) for i in items[:50])
    assert all(i.choices == ["A", "B", "C", "D"] and i.context.endswith("정답：") for i in items)
    accounting = build_tasks(["kmmlu_accounting"], data_root=root)[0]
    assert len(accounting.items()) == 100 and accounting.group == "KMMLU"
    # Few-shot examples come from the item's own subject's dev split.
    prefix = accounting.fewshot_prefix(accounting.items()[0], 5, random.Random(0))
    dev_contexts = {ex.context for ex in accounting.fewshot_pool()}
    assert len(dev_contexts) == 5
    assert all(any(part.startswith(c) for c in dev_contexts) for part in prefix.split("\n\n")[:-1])


# ---- untrained model at chance -------------------------------------------------------------------


def agreement_by_chance(preds: list[int], golds: list[int]) -> float:
    """Accuracy expected when predictions are independent of the answers: sum_k P(pred=k) P(gold=k).

    For balanced answers this is 1/len(choices). KMMLU's answers are not balanced (A is right in about
    10% of the questions), so a model that always says "A" scores 0.10 without knowing anything: the
    test checks independence from the answers, and nominal chance where the answers are balanced."""
    n = len(preds)
    p, g = Counter(preds), Counter(golds)
    return sum(p[k] * g[k] for k in p) / (n * n)


def test_untrained_model_scores_at_chance(lm: EvalLM) -> None:
    root = shared_data()
    tasks = [
        t
        for t in build_tasks(["kobest", "kmmlu", "korea"], data_root=root)
        if isinstance(t, MultipleChoiceTask)
    ]
    assert len(tasks) >= 6
    for task in tasks:
        if task.unavailable() is not None:
            continue
        items = spread_limit(task.items(), 300)
        preds = task.predict(lm, items)
        n = len(items)
        golds = [item.gold for item in items]
        chance = sum(1 / len(item.choices) for item in items) / n
        tol = 3 * math.sqrt(chance * (1 - chance) / n) + 0.02
        balanced = max(Counter(golds).values()) / n <= 1 / len(items[0].choices) + 0.05
        for attr in ("pred", "pred_norm"):
            picks = [getattr(p, attr) for p in preds]
            acc = sum(p == g for p, g in zip(picks, golds, strict=True)) / n
            assert abs(acc - agreement_by_chance(picks, golds)) <= tol, (task.name, attr, acc)
            if balanced:
                assert abs(acc - chance) <= tol, (task.name, attr, acc, chance)


# ---- generic JSONL -----------------------------------------------------------------------------


def test_jsonl_task_end_to_end(tmp_path: Path, lm: EvalLM) -> None:
    rows = [{"options": {"breakdown": "category", "group": "quiz"}}]
    for k in range(12):
        rows.append(
            {
                "id": f"q{k}",
                "question": f"{k}번 질문: 대한민국의 수도는?",
                "choices": ["서울", "부산", "대구"],
                "answer": k % 3 if k % 2 else ["서울", "부산", "대구"][k % 3],
                "category": "지리" if k < 6 else "역사",
            }
        )
    path = write_jsonl(tmp_path / "my_quiz.jsonl", rows)
    write_jsonl(
        tmp_path / "my_quiz.fewshot.jsonl",
        [{"question": "독도가 있는 바다는?", "choices": ["동해", "서해"], "answer": 0}],
    )
    (task,) = build_tasks([], data_root=tmp_path / "nowhere", jsonl_files=[path])
    assert (task.name, task.group, task.unavailable()) == ("my_quiz", "quiz", None)
    items = task.items()
    assert items[0].context == "0번 질문: 대한민국의 수도는?\n답:"
    assert [i.gold for i in items[:4]] == [0, 1, 2, 0]
    assert items[0].meta == {"category": "지리"}
    result = task.run(lm, shots=1)
    assert result.n == 12 and result.chance["acc"] == pytest.approx(1 / 3)
    assert set(result.breakdown) == {"지리", "역사"} and result.breakdown["역사"]["n"] == 6
    assert result.examples[0]["prompt"].startswith("독도가 있는 바다는?\n답: 동해\n\n0번 질문")
    with pytest.raises(ValueError, match="already taken"):
        build_tasks(["kobest_copa"], jsonl_files=[path, path])


def test_jsonl_show_choices_and_context(tmp_path: Path) -> None:
    rows = [
        {"options": {"show_choices": True, "prompt": "문제: {question}"}},
        {"question": "1+1은?", "choices": ["1", "2", "3"], "answer": "2"},
        {"context": "그대로 쓰는 문맥", "choices": ["가", "나"], "answer": 1},
    ]
    task = JsonlTask(write_jsonl(tmp_path / "letters.jsonl", rows))
    first, second = task.items()
    assert first.context == "문제: 1+1은?\nA. 1\nB. 2\nC. 3" and first.choices == ["A", "B", "C"]
    assert (first.gold, first.id) == (1, "line 2")
    assert second.context == "그대로 쓰는 문맥\nA. 가\nB. 나" and second.gold == 1


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"question": "q", "choices": ["a", "b"], "answer": 0', ""], r"bad.jsonl: line 1: not valid JSON"),
        (['["q", "a"]'], r"line 1: expected a JSON object, got list"),
        (
            ['{"question": "q", "choices": ["a"], "answer": 0}'],
            r"line 1: 'choices' must be a list of at least 2",
        ),
        (
            ['{"question": "q", "choices": ["a", ""], "answer": 0}'],
            r"every choice must be a non-empty string",
        ),
        (['{"question": "q", "choices": ["a", "a"], "answer": 0}'], r"choices must be distinct"),
        (
            ['{"question": "q", "choices": ["a", "b"], "answer": 2}'],
            r"line 1: answer 2 out of range for 2 choices",
        ),
        (
            ['{"question": "q", "choices": ["a", "b"], "answer": "c"}'],
            r"answer 'c' is not one of the choices",
        ),
        (['{"question": "q", "choices": ["a", "b"]}'], r"'answer' must be a choice index or the choice text"),
        (['{"choices": ["a", "b"], "answer": 0}'], r"needs a 'question' or 'context' string"),
        (
            ['{"id": 1, "question": "q", "choices": ["a", "b"], "answer": 0}'] * 2,
            r"id '1' appears more than once",
        ),
        (
            ['{"question": "q", "choices": ["a", "b"], "answer": 0}', '{"options": {}}'],
            r"line 2: the options line",
        ),
        (['{"options": {"colour": "red"}}'], r"unknown option\(s\) \['colour'\]"),
        (["// only a comment"], r"no questions found"),
    ],
)
def test_jsonl_bad_input(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(EvalDataError, match=message):
        JsonlTask(path).items()


def test_jsonl_fewshot_needs_a_sibling_file(tmp_path: Path, lm: EvalLM) -> None:
    path = write_jsonl(tmp_path / "solo.jsonl", [{"question": "q", "choices": ["a", "b"], "answer": 0}])
    with pytest.raises(EvalDataError, match="no few-shot split"):
        JsonlTask(path).run(lm, shots=2)
    assert JsonlTask(tmp_path / "absent.jsonl").unavailable() == f"{tmp_path / 'absent.jsonl'} not found"


# ---- KorQuAD -----------------------------------------------------------------------------------


def test_korquad_normalization_hand_checked() -> None:
    assert normalize_answer("《토지》") == "토지"
    assert normalize_answer("(주)삼성전자") == "주 삼성전자"  # brackets become spaces
    assert normalize_answer("‘Hello,  World!’") == "hello world"
    assert normalize_answer("1,000원") == "1000원"  # ASCII punctuation removed
    assert normalize_answer("이순신·권율") == "이순신·권율"  # non-ASCII punctuation kept
    assert normalize_answer("  〈님의 침묵〉 ") == "님의 침묵"


def test_korquad_exact_match_and_character_f1() -> None:
    assert exact_match("세종대왕", "세종 대왕") == 0.0  # exact match keeps spaces
    assert char_f1("세종대왕", "세종 대왕") == 1.0  # character F1 ignores them
    assert exact_match("'1945년'", "1945년") == 1.0
    # pred 서울특별시 (5 chars), gold 서울 (2): precision 2/5, recall 1 -> F1 = 2*0.4/1.4
    assert char_f1("서울특별시", "서울") == pytest.approx(2 * 0.4 / 1.4)
    # multiset overlap: 가가나 vs 가나나 share one 가 and one 나
    assert char_f1("가가나", "가나나") == pytest.approx(2 / 3)
    assert char_f1("", "서울") == 0.0 and char_f1("부산", "서울") == 0.0
    assert best_over_golds("1945년", ["1945년 8월 15일", "1945년"]) == (1.0, 1.0)
    em, f1 = best_over_golds("8월 15일", ["1945년 8월 15일", "광복절"])
    assert em == 0.0 and f1 == pytest.approx(2 * 1.0 * (5 / 10) / (1.0 + 5 / 10))


def test_korquad_task_on_a_small_file(tmp_path: Path, lm: EvalLM) -> None:
    qas = [
        {"id": f"q{k}", "question": f"질문 {k}?", "answers": [{"text": "대한민국", "answer_start": 0}]}
        for k in range(4)
    ]
    data = {
        "version": "KorQuAD_v1.0_dev",
        "data": [{"title": "대한_민국", "paragraphs": [{"context": "대한민국 헌법", "qas": qas}]}],
    }
    folder = tmp_path / "korquad"
    folder.mkdir()
    (folder / "KorQuAD_v1.0_dev.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    task = KorQuADTask(tmp_path)
    assert task.unavailable() is None
    result = task.run(lm, limit=3)
    assert (result.kind, result.n, result.chance) == ("generation", 3, {})
    assert set(result.metrics) == {"exact_match", "f1"} and 0 <= result.metrics["f1"] <= 1
    # Gold answers equal to the model's own predictions: exact match 1 (F1 is 0 where the prediction
    # normalizes to nothing, e.g. only punctuation, as in the official script).
    preds = {ex["id"]: ex["prediction"] for ex in result.examples}
    for qa in qas[:3]:
        qa["answers"] = [{"text": preds[qa["id"]], "answer_start": 0}]
    (folder / "KorQuAD_v1.0_dev.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    again = KorQuADTask(tmp_path).run(lm, limit=3)
    assert again.metrics["exact_match"] == 1.0
    assert again.metrics["f1"] == pytest.approx(sum(char_f1(p, p) for p in preds.values()) / 3)
    assert korquad_prompt(task.items()[0]) == "제목: 대한 민국\n본문: 대한민국 헌법\n질문: 질문 0?\n답변:"


def test_korquad_reader_on_shared_data() -> None:
    items = read_korquad(shared_data() / "korquad" / "KorQuAD_v1.0_dev.json")
    assert len(items) == 5774
    assert all(item.answers and item.context and item.question for item in items)
