"""The model card of a release, in English (README.md, what the Hugging Face Hub shows) and Korean.

    from dokpa.release.card import CardFacts, model_card
    text = model_card(facts, "en")   # or "ko"

Everything in a card comes from files of the run (the data card, results.json, the stage manifests, the
quantization report), gathered into :class:`CardFacts` by the release stage; nothing is typed by hand, so
the card cannot drift from what was trained and measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dokpa.eval.card import task_rows
from dokpa.model.config import ModelConfig

Lang = Literal["en", "ko"]


@dataclass
class CardFacts:
    """What a model card says, read from the run's files."""

    name: str
    licence: str
    author: str
    config: ModelConfig
    gguf_file: str
    gguf_dtype: str
    data_card: dict[str, Any]
    results: dict[str, Any]
    pretrain: dict[str, Any]  # pretrain stage metrics
    sft: dict[str, Any] | None  # sft stage metrics (None when the pretrained model is released)
    quant: dict[str, Any] | None = None  # dokpa.release.quant.bpb_cost, or {"skipped": reason}
    version: str = ""
    commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Strings of the two languages; the structure of the card is shared.
T: dict[str, dict[Lang, str]] = {
    "title": {
        "en": "{name}: a Korean language model trained with dokpa",
        "ko": "{name}: dokpa로 학습한 한국어 언어 모델",
    },
    "other": {"en": "한국어: [README.ko.md](README.ko.md)", "ko": "English: [README.md](README.md)"},
    "intro": {
        "en": "A decoder-only transformer with the Llama architecture ({params} parameters), trained from "
        "scratch on Korean text by dokpa {version}. Every number below is read "
        "from the files of the run that produced it (`logs/`, `eval/`, `data/`).",
        "ko": "Llama 구조의 디코더 전용 트랜스포머({params}개 파라미터)로, dokpa "
        "{version}로 한국어 텍스트에서 처음부터 학습했습니다. 아래의 모든 수치는 이 모델을 만든 실행의 파일"
        "(`logs/`, `eval/`, `data/`)에서 읽은 것입니다.",
    },
    "arch": {"en": "Architecture", "ko": "구조"},
    "use": {"en": "How to use", "ko": "사용법"},
    "data": {"en": "Training data", "ko": "학습 데이터"},
    "training": {"en": "Training", "ko": "학습"},
    "eval": {"en": "Evaluation", "ko": "평가"},
    "quant": {"en": "Quantization", "ko": "양자화"},
    "intended": {"en": "Intended use", "ko": "사용 목적"},
    "limits": {"en": "Limitations", "ko": "한계"},
    "files": {"en": "Files", "ko": "파일"},
    "licence": {"en": "Licence", "ko": "라이선스"},
}

INTENDED: dict[Lang, str] = {
    "en": "Research, teaching and experiments with Korean language models: studying how data, tokenizer and "
    "training choices change a model, reproducing and extending the run, and serving tests (transformers, "
    "llama.cpp, the OpenAI-compatible dokpa server). It is not meant for decisions about people, or for any "
    "use where a wrong answer causes harm.",
    "ko": "한국어 언어 모델의 연구, 교육, 실험용입니다. 데이터·토크나이저·학습 설정이 모델을 어떻게 바꾸는지 "
    "살펴보고, 실행을 재현·확장하고, 서빙(transformers, llama.cpp, OpenAI 호환 dokpa 서버)을 시험하는 데 "
    "쓰십시오. 사람에 대한 결정이나 잘못된 답이 해를 끼칠 수 있는 용도에는 맞지 않습니다.",
}

LIMITS: dict[Lang, list[str]] = {
    "en": [
        "A model of this size and training budget produces fluent-looking but often wrong text: check every "
        "fact it states (see the hallucination rates under Evaluation).",
        "It knows only what was in its training data (listed above): mostly Korean, little else; its "
        "knowledge stops at the data's date and carries the data's biases.",
        "Personal data found by the curation step was replaced by placeholder tokens (`<|tel|>`, `<|rrn|>`, "
        "…); detection is not perfect, so rare personal data may remain.",
        "The GGUF file's tokenizer matches dokpa's on NFC text (what Korean keyboards type); llama.cpp does "
        "not NFC-normalize, so decomposed Hangul (NFD) input tokenizes differently there.",
    ],
    "ko": [
        "이 정도 크기와 학습량의 모델은 그럴듯하지만 틀린 문장을 자주 만듭니다. 모델이 말하는 사실은 반드시 "
        "확인하십시오(평가의 환각 지표 참고).",
        "모델은 위에 적은 학습 데이터에 있던 것만 압니다. 지식은 데이터 시점에 머물고, "
        "데이터의 편향을 그대로 지닙니다.",
        "정제 단계에서 찾은 개인정보는 자리표시 토큰(`<|tel|>`, `<|rrn|>` 등)으로 바꾸었지만, "
        "탐지가 완벽하지 않으므로 드물게 남아 있을 수 있습니다.",
        "GGUF 파일의 토크나이저는 NFC 텍스트(한국어 키보드 입력)에서 dokpa와 같게 토큰화합니다. llama.cpp는 "
        "NFC 정규화를 하지 않으므로 자모가 분리된(NFD) 입력은 다르게 토큰화됩니다.",
    ],
}


def _fmt_params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _arch_table(cfg: ModelConfig, lang: Lang) -> list[str]:
    rows = [
        (
            "parameters" if lang == "en" else "파라미터 수",
            f"{cfg.n_params():,} ({_fmt_params(cfg.n_params())})",
        ),
        ("non-embedding" if lang == "en" else "임베딩 제외", f"{cfg.n_params_non_embedding():,}"),
        ("layers" if lang == "en" else "층 수", cfg.n_layers),
        ("width" if lang == "en" else "폭(hidden size)", cfg.dim),
        (
            "attention heads / KV heads" if lang == "en" else "어텐션 헤드 / KV 헤드",
            f"{cfg.n_heads} / {cfg.n_kv_heads}",
        ),
        ("MLP (SwiGLU) width" if lang == "en" else "MLP(SwiGLU) 폭", cfg.hidden_dim),
        ("vocabulary" if lang == "en" else "어휘 크기", f"{cfg.vocab_size:,} (byte-level BPE)"),
        ("context" if lang == "en" else "문맥 길이", cfg.max_seq_len),
        ("RoPE base", cfg.rope_theta),
        ("tied embeddings" if lang == "en" else "임베딩 공유", cfg.tie_embeddings),
    ]
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _data_section(card: dict[str, Any], lang: Lang) -> list[str]:
    if not card:
        return ["(no data card)" if lang == "en" else "(데이터 카드 없음)"]
    head = (
        "| source | licence | documents in | kept |"
        if lang == "en"
        else "| 출처 | 라이선스 | 입력 문서 | 유지 |"
    )
    lines = [head, "|---|---|---:|---:|"]
    for s in card.get("sources", []):
        lines.append(f"| {s.get('name')} | `{s.get('licence')}` | {s.get('in', '')} | {s.get('kept', '')} |")
    counts = card.get("counts", {})
    if lang == "en":
        lines.append(
            f"\n{counts.get('kept', '?')} of {counts.get('in', '?')} documents kept after curation; every "
            "removed document is accounted for by step and reason in `data/data_card.md`."
        )
    else:
        lines.append(
            f"\n정제 후 {counts.get('in', '?')}개 문서 중 {counts.get('kept', '?')}개를 남겼습니다. "
            "제거된 문서는 모두 단계와 사유별로 `data/data_card.md`에 기록되어 있습니다."
        )
    return lines


def _training_section(f: CardFacts, lang: Lang) -> list[str]:
    rows = []
    for stage, m in (("pretrain", f.pretrain), ("sft", f.sft)):
        if m:
            rows.append(
                f"| {stage} | {m.get('steps', '?')} | {m.get('tokens_seen', 0):,} | "
                f"{m.get('val_bpb_initial', float('nan')):.3f} → {m.get('val_bpb', float('nan')):.3f} |"
            )
    head = (
        "| stage | steps | tokens | validation bits per byte |"
        if lang == "en"
        else "| 단계 | 스텝 | 토큰 | 검증 bits per byte |"
    )
    return [head, "|---|---:|---:|---|", *rows]


def _eval_section(results: dict[str, Any], lang: Lang) -> list[str]:
    lines = []
    bpb = results.get("val_bpb", {})
    if bpb:
        lines.append(
            "Bits per byte on held-out text (lower is better):"
            if lang == "en"
            else "보류 텍스트의 bits per byte(낮을수록 좋음):"
        )
        lines += [f"- {k}: {v:.4f}" for k, v in bpb.items()]
        lines.append("")
    rows = task_rows(results)
    if rows:
        head = (
            "| task | n | metric | score | chance |"
            if lang == "en"
            else "| 과제 | n | 지표 | 점수 | 무작위 기준 |"
        )
        lines += [head, "|---|---:|---|---:|---:|"]
        for r in rows:
            chance = "" if r["chance"] is None else f"{r['chance']:.3f}"
            lines.append(f"| {r['task']} | {r['n']} | {r['metric']} | {r['value']:.3f} | {chance} |")
        lines.append(
            "\nThe full report card, with standard errors and plots, is `eval/report.html`."
            if lang == "en"
            else "\n표준오차와 그래프가 있는 전체 평가표는 `eval/report.html`입니다."
        )
    return lines or ["(no evaluation results)" if lang == "en" else "(평가 결과 없음)"]


def _quant_section(q: dict[str, Any] | None, lang: Lang) -> list[str]:
    if not q or "skipped" in (q or {}):
        why = (q or {}).get("skipped", "not measured")
        return [f"Int8 weight-only: {why}." if lang == "en" else f"Int8 가중치 양자화: {why}."]
    if lang == "en":
        return [
            f"Int8 weight-only quantization (torchao, per-row scales) for CPU serving changes bits per byte "
            f"on held-out text from {q['bpb_fp']:.4f} to {q['bpb_int8']:.4f} ({q['delta']:+.4f}, "
            f"{q['rel_pct']:+.2f}%), with linear weights {q['linear_bytes_fp'] / 1e6:.1f} MB → "
            f"{q['linear_bytes_int8'] / 1e6:.1f} MB. Use `dokpa.release.quant.quantize_int8(model)`."
        ]
    return [
        f"CPU 서빙용 int8 가중치 양자화(torchao, 행별 스케일)는 보류 텍스트의 bits per byte를 "
        f"{q['bpb_fp']:.4f}에서 {q['bpb_int8']:.4f}로 바꿉니다({q['delta']:+.4f}, {q['rel_pct']:+.2f}%). "
        "선형층 가중치는 "
        f"{q['linear_bytes_fp'] / 1e6:.1f} MB → {q['linear_bytes_int8'] / 1e6:.1f} MB입니다. "
        "`dokpa.release.quant.quantize_int8(model)`을 쓰십시오."
    ]


def _usage(f: CardFacts) -> list[str]:
    return [
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'tok = AutoTokenizer.from_pretrained("hf")',
        'model = AutoModelForCausalLM.from_pretrained("hf")',
        'chat = [{"role": "user", "content": "대한민국의 수도는?"}]',
        "inputs = tok.apply_chat_template(chat, add_generation_prompt=True,",
        '                                 return_tensors="pt", return_dict=True)',
        "out = model.generate(**inputs, max_new_tokens=64)  # samples; stops at the end of the turn",
        'print(tok.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```",
        "",
        "```bash",
        f"llama-cli -m {f.gguf_file} -cnv   # llama.cpp ({f.gguf_dtype}); the chat template is in the file",
        "dokpa chat hf   # dokpa's terminal chat",
        "```",
    ]


def _files(f: CardFacts, lang: Lang) -> list[str]:
    items = [
        (
            "hf/",
            "Hugging Face model folder (safetensors, config, tokenizer, chat template, generation config)",
            "Hugging Face 모델 폴더(safetensors, 설정, 토크나이저, 대화 템플릿, 생성 설정)",
        ),
        (f.gguf_file, f"GGUF for llama.cpp ({f.gguf_dtype})", f"llama.cpp용 GGUF({f.gguf_dtype})"),
        (
            "data/",
            "data card (sources, licences, removals, PII, duplicates) and plots",
            "데이터 카드(출처, 라이선스, 제거 내역, 개인정보, 중복)와 그래프",
        ),
        ("eval/", "results.json and the report card", "results.json과 평가표"),
        (
            "logs/",
            "training metrics (metrics.jsonl), curves and every stage's manifest",
            "학습 지표(metrics.jsonl), 학습 곡선, 모든 단계의 manifest",
        ),
        ("SHA256SUMS", "checksums of every file", "모든 파일의 체크섬"),
    ]
    return [f"- `{path}`: {en if lang == 'en' else ko}" for path, en, ko in items]


def _front_matter(f: CardFacts) -> list[str]:
    # Hub metadata: licence ids in the Hub's lower-case form where it has one, else "other"
    hub = {"Apache-2.0": "apache-2.0", "MIT": "mit", "CC-BY-4.0": "cc-by-4.0", "CC-BY-SA-4.0": "cc-by-sa-4.0"}
    lic = hub.get(f.licence, "other")
    lines = ["---", "language:", "- ko", f"license: {lic}"]
    if lic == "other":
        lines.append(f"license_name: {f.licence}")
    lines += [
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:",
        "- dokpa",
        "- llama",
        "- gguf",
    ]
    return [*lines, "---", ""]


def model_card(f: CardFacts, lang: Lang) -> str:
    """The model card as Markdown in ``lang`` ("en" or "ko"); the English one carries the Hub front matter."""
    if lang not in ("en", "ko"):
        raise ValueError(f"model card language must be 'en' or 'ko', got {lang!r}")
    version = f"{f.version}" + (f" ({f.commit[:10]})" if f.commit else "")
    out = _front_matter(f) if lang == "en" else []
    out += [f"# {T['title'][lang].format(name=f.name)}", "", T["other"][lang], ""]
    out += [T["intro"][lang].format(params=_fmt_params(f.config.n_params()), version=version), ""]
    sections = [
        ("use", _usage(f)),
        ("arch", _arch_table(f.config, lang)),
        ("data", _data_section(f.data_card, lang)),
        ("training", _training_section(f, lang)),
        ("eval", _eval_section(f.results, lang)),
        ("quant", _quant_section(f.quant, lang)),
        ("intended", [INTENDED[lang]]),
        ("limits", [f"- {x}" for x in LIMITS[lang]]),
        ("files", _files(f, lang)),
    ]
    for key, body in sections:
        out += [f"## {T[key][lang]}", "", *body, ""]
    who = f"© {f.author}. " if f.author else ""
    lic = (
        f"{who}Weights released under `{f.licence}` (see `LICENSE`). The training data keeps its own "
        "licences (above)."
        if lang == "en"
        else f"{who}가중치는 `{f.licence}` 라이선스로 공개합니다(`LICENSE` 참고). "
        "학습 데이터는 각자의 라이선스를 따릅니다(위 표)."
    )
    out += [f"## {T['licence'][lang]}", "", lic, ""]
    return "\n".join(out)
