"""The GGUF export run by llama.cpp itself (llama-cpp-python): tokenization, logits, greedy decoding.

    pip install llama-cpp-python    # builds llama.cpp from source: about 14 minutes on 2 busy cores
    python -m pytest tests/test_release_llamacpp.py -q

Skipped when ``llama_cpp`` is not importable (CI does not build it; tests/test_release_gguf.py checks the
file with gguf's reader on every run). bench/gguf_llamacpp.py prints the same comparison for any model folder.

Tolerances. f32 weights: both sides compute in float32 (the KV cache is asked for in f32 too; llama.cpp's
default is f16) and differ only in the order of summation, so logits agree to about 1e-5 of a spread of ~2;
we allow 1e-4 of the logits' standard deviation. f16 weights: each weight is rounded to 11 significant bits
(relative error up to 2^-11, about 5e-4), which moves logits by about 0.2% of their spread; we allow 1%.
The q8_0 file is compared byte for byte with llama.cpp's own quantizer instead of being run: its Q8_0 CPU
kernels crash (SIGSEGV) on this machine's build whether the file comes from dokpa or from llama.cpp.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch

from dokpa.model import load_model
from dokpa.release.gguf import export_gguf
from dokpa.serve import SamplingParams, generate
from dokpa.tokenizer.core import DokpaTokenizer
from eval_helpers import korean_texts
from release_helpers import heldout_text, trained_folder

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (built from source)")
pytest.importorskip("gguf")

F32 = 0  # GGML_TYPE_F32, for the KV cache


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return trained_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def ggufs(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf")
    return {dt: export_gguf(folder, out / f"m-{dt}.gguf", dtype=dt) for dt in ("f32", "f16", "q8_0")}


def _llama(path):
    return llama_cpp.Llama(
        str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=2, type_k=F32, type_v=F32
    )


def test_tokenization_matches_on_korean_text(folder, ggufs) -> None:
    tok, llm = DokpaTokenizer.load(folder), _llama(ggufs["f32"])
    texts = [heldout_text(), korean_texts()[0][:3000], "독파는 한국어 모델입니다. 2026년 12월, 100% 😀 ㅋㅋ"]
    for text in texts:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        assert ids == tok.encode(text)
        assert llm.detokenize(ids).decode("utf-8") == text
    assert llm.tokenize(b"x", add_bos=True)[0] == tok.bos_id
    chat = [{"role": "user", "content": "헌법 제1조는?"}, {"role": "assistant", "content": "민주공화국"}]
    rendered = tok.render_chat(chat)
    assert llm.tokenize(rendered.encode(), add_bos=False, special=True) == tok.encode_chat(chat)


@pytest.mark.parametrize(("dtype", "tol"), [("f32", 1e-4), ("f16", 1e-2)])
def test_logits_match(folder, ggufs, dtype, tol) -> None:
    tok, model = DokpaTokenizer.load(folder), load_model(folder).eval()
    ids = tok.encode(heldout_text(), bos=True)[:250]
    llm = _llama(ggufs[dtype])
    llm.eval(ids)
    theirs = np.array(llm.scores[: len(ids)])
    with torch.no_grad():
        ours = model(torch.tensor([ids]))[0].numpy()
    assert np.abs(theirs - ours).max() < tol * ours.std()
    assert (theirs.argmax(-1) == ours.argmax(-1)).mean() > (0.999 if dtype == "f32" else 0.98)


def test_greedy_decoding_matches(folder, ggufs) -> None:
    tok, model = DokpaTokenizer.load(folder), load_model(folder).eval()
    prompt = tok.encode(korean_texts()[0][:80], bos=True)
    ours = list(
        generate(model, prompt, SamplingParams(temperature=0, max_new_tokens=32), (tok.eos_id, tok.end_id))
    )
    llm = _llama(ggufs["f32"])
    out = llm.create_completion(
        prompt, max_tokens=32, temperature=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0
    )
    assert out["choices"][0]["text"] == tok.decode(ours)


def test_q8_0_equals_llama_cpp_quantizer(ggufs, tmp_path) -> None:
    from gguf import GGUFReader

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = 7  # LLAMA_FTYPE_MOSTLY_Q8_0
    theirs = tmp_path / "llama-q8_0.gguf"
    assert (
        llama_cpp.llama_model_quantize(str(ggufs["f32"]).encode(), str(theirs).encode(), ctypes.byref(params))
        == 0
    )
    a = {t.name: t for t in GGUFReader(str(ggufs["q8_0"])).tensors}
    b = {t.name: t for t in GGUFReader(str(theirs)).tensors}
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tensor_type == b[name].tensor_type, name
        np.testing.assert_array_equal(a[name].data, b[name].data, err_msg=name)
