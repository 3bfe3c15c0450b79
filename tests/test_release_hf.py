"""dokpa.release.hf: a model folder loads in transformers with the Auto classes and behaves as ours.

    python -m pytest tests/test_release_hf.py -q

tests/test_model.py checks the architecture (logits and greedy decoding against ``LlamaForCausalLM`` on
random configs); this file checks the folder: tokenizer, generation config, chat template, on a trained model.
"""

from __future__ import annotations

import json

import pytest
import torch

from dokpa.model import load_model
from dokpa.release.hf import complete_hf_folder, generation_config
from dokpa.serve import SamplingParams, generate
from dokpa.tokenizer.core import DokpaTokenizer
from eval_helpers import korean_texts
from release_helpers import heldout_text, trained_folder

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return trained_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def hf(folder):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model, tok


def test_auto_classes_load_and_logits_match(folder, hf) -> None:
    hf_model, hf_tok = hf
    ours, tok = load_model(folder).eval(), DokpaTokenizer.load(folder)
    text = heldout_text()[:400]
    ids = hf_tok(text).input_ids
    # transformers puts <|bos|> first, as every training document began; the rest are dokpa's ids
    assert ids == [tok.bos_id, *tok.encode(text)]
    x = torch.tensor([ids[:200]])
    with torch.no_grad():
        diff = (ours(x) - hf_model(x).logits).abs().max().item()
    assert diff < 1e-4, diff


def test_chat_template_and_generation_config(folder, hf) -> None:
    hf_model, hf_tok = hf
    tok = DokpaTokenizer.load(folder)
    chat = [{"role": "user", "content": "대한민국의 주권은 누구에게 있나요?"}]
    rendered = hf_tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
    rendered = rendered["input_ids"] if isinstance(rendered, dict | transformers.BatchEncoding) else rendered
    assert list(rendered) == tok.encode_chat(chat, add_generation_prompt=True)  # one BOS, not two
    gen = hf_model.generation_config
    assert gen.eos_token_id == [tok.eos_id, tok.end_id] and gen.pad_token_id == tok.pad_id
    assert json.loads((folder / "generation_config.json").read_text()) == generation_config(tok.backend)


def test_greedy_continuation_matches_transformers_generate(folder, hf) -> None:
    hf_model, _ = hf
    ours, tok = load_model(folder).eval(), DokpaTokenizer.load(folder)
    prompt = tok.encode(korean_texts()[0][:60], bos=True)
    n = 24
    params = SamplingParams(temperature=0, max_new_tokens=n)
    mine = list(generate(ours, prompt, params, stop_ids=(tok.eos_id, tok.end_id)))
    with torch.no_grad():
        out = hf_model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            do_sample=False,
            max_new_tokens=n,
        )
    theirs = [t for t in out[0, len(prompt) :].tolist() if t not in (tok.eos_id, tok.end_id)]
    assert mine == theirs[: len(mine)] and len(mine) > 5
    assert len(set(mine)) > 3  # a real continuation, not one token repeated


def test_complete_hf_folder_is_idempotent_and_checks_input(folder, tmp_path) -> None:
    before = (folder / "tokenizer.json").read_bytes()
    complete_hf_folder(folder)
    assert (folder / "tokenizer.json").read_bytes() == before
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        (tmp_path / "config.json").write_text("{}")
        complete_hf_folder(tmp_path)
