"""A dokpa model folder as a complete Hugging Face model: what ``transformers`` needs beyond the weights.

    from dokpa.release.hf import complete_hf_folder
    complete_hf_folder("dokpa-workspace/demo/sft/model")

    # then, with no dokpa code involved:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)

``save_model`` already writes ``config.json`` (LlamaForCausalLM) and ``model.safetensors`` with HF names,
and the tokenizer stage writes ``tokenizer.json``, ``tokenizer_config.json`` and ``chat_template.jinja``.
Two things are added here:

- ``generation_config.json``: BOS/EOS/PAD ids and the end-of-turn token ``<|end|>`` as a second EOS, so
  ``model.generate`` stops where a chat answer ends (without it, it runs to ``max_new_tokens``);
- a post-processor in ``tokenizer.json`` that puts ``<|bos|>`` in front of a text, as every training
  document began with it; the chat template writes its own BOS, and transformers renders chats without
  the post-processor, so a chat gets exactly one. dokpa's own tokenizer encodes without it
  (``add_special_tokens=False``), so its ids do not change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, processors

from dokpa.tokenizer.special import BOS, END, EOS, PAD

GENERATION_CONFIG = "generation_config.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

# The sampling defaults of `dokpa chat`, so a transformers user samples the way dokpa does by default.
CHAT_SAMPLING: dict[str, Any] = {"do_sample": True, "temperature": 0.7, "top_k": 50, "top_p": 0.95}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_model_folder(folder: str | Path) -> Path:
    """Return ``folder`` as a Path; FileNotFoundError naming the first missing file of a model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: not a dokpa model folder (no {name})")
    return folder


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """Ids of PAD, BOS, EOS and the end-of-turn token; ValueError if the tokenizer lacks one."""
    ids = {}
    for name, token in (("pad", PAD), ("bos", BOS), ("eos", EOS), ("end", END)):
        i = tokenizer.token_to_id(token)
        if i is None:
            raise ValueError(f"tokenizer has no {token} token (not a dokpa tokenizer?)")
        ids[name] = i
    return ids


def generation_config(tokenizer: Tokenizer) -> dict[str, Any]:
    """``generation_config.json`` contents: stop at EOS or at the end of a turn."""
    ids = special_ids(tokenizer)
    return {
        "bos_token_id": ids["bos"],
        "eos_token_id": [ids["eos"], ids["end"]],
        "pad_token_id": ids["pad"],
        **CHAT_SAMPLING,
    }


def with_bos_post_processor(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` with a post-processor that prepends ``<|bos|>`` when special tokens are asked for."""
    bos = special_ids(tokenizer)["bos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B:1", special_tokens=[(BOS, bos)]
    )
    return tokenizer


def complete_hf_folder(folder: str | Path) -> Path:
    """Add ``generation_config.json`` and the BOS post-processor to a model folder, in place; idempotent."""
    folder = check_model_folder(folder)
    tok_path = folder / "tokenizer.json"
    tokenizer = with_bos_post_processor(Tokenizer.from_file(str(tok_path)))
    tmp = tok_path.with_name(f".{tok_path.name}.tmp-{os.getpid()}")
    tmp.write_text(tokenizer.to_str(pretty=True), encoding="utf-8")
    os.replace(tmp, tok_path)
    _write_json(folder / GENERATION_CONFIG, generation_config(tokenizer))
    return folder
