"""Build and run the server for a model folder: what `dokpa serve` does.

dokpa serve dokpa-workspace/demo/sft/model --port 8000 --api-key sk-a --api-key sk-b
python -c "from dokpa.serve.launch import build_app; app = build_app('FOLDER')"   # for uvicorn/gunicorn
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from dokpa.serve.engine import Engine
from dokpa.serve.server import ServerConfig, create_app


def default_model_name(folder: Path) -> str:
    """``WORKSPACE/STAGE/model`` is served as ``WORKSPACE-STAGE`` (e.g. ``demo-sft``); any other folder by
    its own name."""
    folder = folder.resolve()
    if folder.name == "model" and folder.parent.parent.name:
        return f"{folder.parent.parent.name}-{folder.parent.name}"
    return folder.name or "dokpa"


def build_app(
    model_dir: str | Path,
    *,
    model_name: str | None = None,
    api_keys: Sequence[str] = (),
    max_batch: int = 8,
    max_waiting: int = 64,
    request_timeout: float | None = 600.0,
    device: str = "cpu",
    quantize: str | None = None,
) -> FastAPI:
    """Load ``model_dir`` (model.safetensors, config.json, tokenizer files) and wrap it in the API app.

    The served model is named by :func:`default_model_name` unless ``model_name`` is given.
    ``quantize="int8"`` stores every linear weight as int8 (torchao weight-only, CPU).
    """
    from dokpa.serve.chat import load_chat_model

    folder = Path(model_dir)
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        raise ValueError(f"{folder}: not a model folder (needs model.safetensors and tokenizer.json)")
    model, tokenizer = load_chat_model(folder, device=device)
    if quantize == "int8":
        from dokpa.release.quant import quantize_int8

        quantize_int8(model)  # a quarter of the weight bytes; see dokpa.release.quant for the speed cost
    elif quantize is not None:
        raise ValueError(f"unknown quantization {quantize!r}; supported: int8")
    name = model_name or default_model_name(folder)
    engine = Engine(model, tokenizer, max_batch=max_batch, max_waiting=max_waiting)
    return create_app(engine, ServerConfig(name, tuple(api_keys), request_timeout))


def run_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 8000, graceful_timeout: float = 30.0
) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM; running requests get ``graceful_timeout`` seconds."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=graceful_timeout)
