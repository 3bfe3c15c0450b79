"""dokpa.serve: sampling, KV-cached generation, UTF-8-safe streaming and the chat loop."""

from __future__ import annotations

import itertools

import pytest
import torch

from dokpa.model import ModelConfig, Transformer, save_model
from dokpa.serve import SamplingParams, Utf8StreamDecoder, chat_repl, generate, sample_next, stream_reply
from dokpa.tokenizer.core import DokpaTokenizer
from dokpa.tokenizer.train import train_tokenizer

VOCAB = 300
GREEDY = SamplingParams(temperature=0, max_new_tokens=10)

KOREAN_LINES = [
    "대한민국은 민주공화국이다.",
    "대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.",
    "모든 국민은 법 앞에 평등하다.",
    "안녕하세요, 만나서 반갑습니다. 오늘 날씨가 좋네요!",
    "한국어 토크나이저는 한글 음절을 잘 다루어야 한다.",
] * 4


@pytest.fixture(scope="module")
def model() -> Transformer:
    cfg = ModelConfig(
        vocab_size=VOCAB, dim=128, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=192, max_seq_len=48
    )
    m = Transformer(cfg)
    m.init_weights(0)
    with torch.no_grad():  # sharper than the training init so greedy output is not one repeated token
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(5.0)
    return m.eval()


@pytest.fixture(scope="module")
def tok(tmp_path_factory) -> DokpaTokenizer:
    return train_tokenizer(KOREAN_LINES, tmp_path_factory.mktemp("tok"), vocab_size=400, min_frequency=1)


def naive_greedy(model: Transformer, prompt: list[int], n: int) -> list[int]:
    """Reference decoding without a cache: a full forward over the whole sequence per token."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt) :]


# ---- sampling ----------------------------------------------------------------------------------


def test_sampling_params_validation():
    for bad in ({"temperature": -1}, {"top_k": -1}, {"top_p": 0.0}, {"top_p": 1.5}, {"max_new_tokens": -1}):
        with pytest.raises(ValueError):
            SamplingParams(**bad)


def test_sample_next_greedy_top_k_top_p():
    logits = torch.log(torch.tensor([0.05, 0.5, 0.15, 0.3]))
    assert sample_next(logits, SamplingParams(temperature=0)) == 1
    gen = torch.Generator().manual_seed(0)
    # top_k=1 is greedy whatever the temperature
    assert {sample_next(logits, SamplingParams(temperature=5.0, top_k=1), gen) for _ in range(50)} == {1}
    # top_p=0.7: 0.5 alone is below 0.7, 0.5 + 0.3 covers it, so exactly ids 1 and 3 survive
    draws = [
        sample_next(logits, SamplingParams(temperature=1.0, top_k=0, top_p=0.7), gen) for _ in range(300)
    ]
    assert set(draws) == {1, 3}
    # top_k=3 without top_p: the 0.05 token never appears, the others all do
    draws = [
        sample_next(logits, SamplingParams(temperature=1.0, top_k=3, top_p=1.0), gen) for _ in range(300)
    ]
    assert set(draws) == {1, 2, 3}
    # no filter: every token is reachable
    draws = [
        sample_next(logits, SamplingParams(temperature=1.0, top_k=0, top_p=1.0), gen) for _ in range(600)
    ]
    assert set(draws) == {0, 1, 2, 3}


def test_tiny_top_p_keeps_the_most_likely_token():
    # found by the server fuzzer: a top_p below float32's range (2.2e-309) rounded to 0 and dropped all
    logits = torch.log(torch.tensor([0.05, 0.5, 0.15, 0.3]))
    for top_p in (2.2e-309, 1e-45, 1e-9):
        assert sample_next(logits, SamplingParams(temperature=1.0, top_k=0, top_p=top_p)) == 1


def test_sample_next_temperature_sharpens_and_flattens():
    logits = torch.log(torch.tensor([0.05, 0.5, 0.15, 0.3]))
    gen = torch.Generator().manual_seed(1)

    def counts(temperature: float) -> list[int]:
        params = SamplingParams(temperature=temperature, top_k=0, top_p=1.0)
        draws = [sample_next(logits, params, gen) for _ in range(400)]
        return [draws.count(i) for i in range(4)]

    # T=0.25 -> p**4: id 1 has ~88 %; T=1 -> 50 %; T=4 -> p**0.25: the rarest id has ~18 %
    assert counts(0.25)[1] > 320
    assert 160 < counts(1.0)[1] < 240
    assert counts(4.0)[0] > 45


def test_sample_next_reproducible_with_generator():
    logits = torch.randn(VOCAB, generator=torch.Generator().manual_seed(3))
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0)
    a = [sample_next(logits, params, g) for g in [torch.Generator().manual_seed(5)] for _ in range(20)]
    b = [sample_next(logits, params, g) for g in [torch.Generator().manual_seed(5)] for _ in range(20)]
    assert a == b and len(set(a)) > 1


# ---- generate ----------------------------------------------------------------------------------


def test_generate_matches_uncached_greedy(model):
    prompt = [1, 40, 41, 200, 7]
    out = list(generate(model, prompt, GREEDY))
    assert out == naive_greedy(model, prompt, 10)
    assert len(set(out)) > 2


def test_generate_prefills_once_then_one_token_per_step(model):
    lengths: list[int] = []
    handle = model.register_forward_pre_hook(lambda mod, args: lengths.append(args[0].shape[1]))
    try:
        out = list(generate(model, [1, 5, 6, 7], SamplingParams(temperature=0, max_new_tokens=5)))
    finally:
        handle.remove()
    assert len(out) == 5
    assert lengths == [4, 1, 1, 1, 1]  # the last sampled token is never fed back


def test_generate_stops_at_stop_ids(model):
    prompt = [1, 40, 41, 200, 7]
    free = list(generate(model, prompt, GREEDY))
    # first position whose token did not occur earlier, so stopping on it cuts exactly there
    k = next(j for j in range(2, len(free)) if free[j] not in free[:j])
    assert list(generate(model, prompt, GREEDY, stop_ids=[free[k], 299])) == free[:k]
    assert list(generate(model, prompt, GREEDY, stop_ids={free[0]})) == []


def test_generate_length_limits(model):
    max_len = model.config.max_seq_len
    for n in (0, 1, 4):
        assert len(list(generate(model, [1, 2, 3], SamplingParams(temperature=0, max_new_tokens=n)))) == n
    long_params = SamplingParams(temperature=0, max_new_tokens=100)
    assert len(list(generate(model, [3] * (max_len - 3), long_params))) == 3
    assert list(generate(model, [3] * max_len, long_params)) == []
    with pytest.raises(ValueError, match="max_seq_len"):
        list(generate(model, [3] * (max_len + 1), long_params))
    with pytest.raises(ValueError, match="empty"):
        list(generate(model, [], long_params))


def test_generate_seed_reproducible_and_leaves_global_rng(model):
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=123)
    rng_before = torch.get_rng_state()
    a = list(generate(model, [1, 9], params))
    assert torch.equal(torch.get_rng_state(), rng_before)
    b = list(generate(model, [1, 9], params))
    c = list(
        generate(
            model, [1, 9], SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=124)
        )
    )
    assert a == b
    assert a != c
    assert not torch.is_inference_mode_enabled()


# ---- streaming decoder -------------------------------------------------------------------------


def test_utf8_stream_decoder_holds_back_split_hangul():
    han = "한".encode()  # b"\xed\x95\x9c"
    assert len(han) == 3
    token_bytes = [b"", bytes([han[0]]), bytes([han[1]]), bytes([han[2]]), b"ab ", "국".encode()]
    dec = Utf8StreamDecoder(token_bytes)
    assert [dec.feed(i) for i in (4, 1, 2, 0, 3, 5)] == ["ab ", "", "", "", "한", "국"]
    assert dec.flush() == ""


def test_utf8_stream_decoder_mixed_text_arbitrary_splits():
    text = "대한민국 헌법 제1조 ① Hello, 세계! 😀"
    data = text.encode()
    # cut the bytes into 1..4-byte tokens, ignoring character boundaries
    cuts, i, sizes = [], 0, [1, 2, 4, 3]
    while i < len(data):
        step = sizes[len(cuts) % len(sizes)]
        cuts.append(data[i : i + step])
        i += step
    dec = Utf8StreamDecoder(cuts)
    pieces = [dec.feed(k) for k in range(len(cuts))]
    assert "".join(pieces) + dec.flush() == text
    assert all("\ufffd" not in p for p in pieces)
    assert sum(1 for p in pieces if p == "") > 0  # some tokens ended mid-character and were held back


def test_utf8_stream_decoder_invalid_bytes():
    dec = Utf8StreamDecoder([b"\xed\x95", b"\xff", b"a"])
    assert dec.feed(0) == ""
    assert dec.flush() == "\ufffd"  # incomplete tail at the end
    assert dec.feed(1) == "\ufffd"  # never-valid byte mid-stream
    assert dec.feed(0) + dec.feed(2) == "\ufffda"  # sequence interrupted by ASCII
    assert dec.flush() == ""
    with pytest.raises(ValueError, match="outside"):
        dec.feed(3)


def test_utf8_stream_decoder_with_real_tokenizer(tok):
    text = "대한민국은 민주공화국이다. 한국어 😀 ㈜ 漢字"
    ids = tok.encode(text)
    dec = Utf8StreamDecoder(tok.token_bytes())
    pieces = [dec.feed(i) for i in [tok.bos_id, *ids, tok.end_id]]
    assert "".join(pieces) + dec.flush() == text
    assert all("\ufffd" not in p for p in pieces)


# ---- chat --------------------------------------------------------------------------------------


def chain_model(vocab_size: int, chain: list[int], max_seq_len: int = 64) -> Transformer:
    """A real Transformer wired as a bigram table: after token chain[i] it greedily predicts
    chain[i+1] whatever the context. Attention and MLP outputs are zeroed, so the final hidden state
    is the current token's embedding; embeddings and lm_head rows are matching basis vectors."""
    assert len(set(chain[:-1])) == len(chain) - 1
    cfg = ModelConfig.from_depth(2, vocab_size, max_seq_len, tie_embeddings=False)
    m = Transformer(cfg)
    m.init_weights(0)
    with torch.no_grad():
        for layer in m.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        m.model.embed_tokens.weight.zero_()
        m.lm_head.weight.zero_()
        for i, (a, b) in enumerate(itertools.pairwise(chain)):
            m.model.embed_tokens.weight[a, i] = 1.0
            m.lm_head.weight[b, i] = 10.0
    return m.eval()


def byte_ids(tok: DokpaTokenizer, text: str) -> list[int]:
    """Ids of the single-byte tokens spelling ``text``: every Hangul syllable split over 3 tokens."""
    table = tok.token_bytes()
    return [table.index(bytes([b])) for b in text.encode()]


def test_stream_reply_streams_whole_syllables_and_stops_at_end(tok):
    messages = [{"role": "user", "content": "안녕"}]
    start = tok.encode_chat(messages, add_generation_prompt=True)[-1]
    params = SamplingParams(temperature=0, max_new_tokens=30)
    model = chain_model(tok.vocab_size, [start, *byte_ids(tok, "한국"), tok.end_id])
    assert list(stream_reply(model, tok, messages, params)) == ["한", "국"]
    # EOS stops as well; a cut-off syllable at max_new_tokens is flushed as U+FFFD, not dropped
    model = chain_model(tok.vocab_size, [start, *byte_ids(tok, "한국"), tok.eos_id])
    assert list(stream_reply(model, tok, messages, params)) == ["한", "국"]
    assert list(stream_reply(model, tok, messages, SamplingParams(temperature=0, max_new_tokens=4))) == [
        "한",
        "\ufffd",
    ]


@pytest.fixture
def chat_dir(tok, tmp_path):
    start = tok.encode_chat([{"role": "user", "content": "x"}], add_generation_prompt=True)[-1]
    save_model(chain_model(tok.vocab_size, [start, *byte_ids(tok, "한국"), tok.end_id]), tmp_path)
    tok.save(tmp_path)
    return tmp_path


class Terminal:
    """Scripted input lines and a record of everything printed."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []
        self.calls: list[tuple[tuple, dict]] = []

    def input(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    def print(self, *args, **kwargs) -> None:
        self.calls.append((args, kwargs))

    def text(self) -> str:
        return "".join(" ".join(map(str, a)) + k.get("end", "\n") for a, k in self.calls)


def test_chat_repl_streams_keeps_history_and_resets(chat_dir):
    term = Terminal(["안녕", "", "/reset", "또 만나요", "/quit", "never read"])
    history = chat_repl(
        chat_dir, GREEDY, system_prompt="너는 독파야.", input_fn=term.input, print_fn=term.print
    )
    assert history == [{"role": "user", "content": "또 만나요"}, {"role": "assistant", "content": "한국"}]
    assert term.lines == ["never read"] and len(term.prompts) == 5
    streamed = [a[0] for a, k in term.calls if k == {"end": "", "flush": True}]
    assert streamed.count("한") == 2 and streamed.count("국") == 2
    assert "초기화" in term.text()


def test_chat_repl_exits_on_eof_and_trims_long_history(chat_dir, tok):
    long_line = "대한민국의 주권은 국민에게 있다"
    term = Terminal([long_line] * 4 + ["가" * 200])
    history = chat_repl(chat_dir, GREEDY, input_fn=term.input, print_fn=term.print)
    assert term.text().count("한국") == 4  # every reply complete although the context is only 64
    assert "너무 깁니다" in term.text()  # the over-long last line is refused, not crashed on
    assert history[-1] == {"role": "assistant", "content": "한국"}
    assert len(history) < 8  # the oldest exchanges were dropped to fit
    assert len(tok.encode_chat(history, add_generation_prompt=True)) <= 64
