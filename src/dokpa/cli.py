"""The `dokpa` command: one sub-command per stage, `run` for a whole recipe, `demo`, `status`, `chat`.

    dokpa demo                                  # the whole pipeline on a CPU in minutes
    dokpa run recipes/demo.toml --set train.steps=200
    dokpa pretrain --config recipes/demo.toml   # one stage (its upstream stages must be done)
    dokpa status dokpa-workspace/demo
    dokpa chat dokpa-workspace/demo/sft/model

A user mistake (bad recipe, missing input, stage run out of order) prints one line and exits with 2.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
from pathlib import Path

from dokpa import __version__
from dokpa.config import RecipeError, load_recipe
from dokpa.pipeline import STAGES, StageError, run_stage
from dokpa.workspace import Workspace

USAGE_ERROR = 2


def demo_recipe_path() -> Path:
    """The demo recipe shipped inside the package."""
    return Path(str(importlib.resources.files("dokpa") / "recipes" / "demo.toml"))


def _add_recipe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a recipe field (repeatable)",
    )
    p.add_argument("--workspace", help="workspace folder (overrides workspace.dir)")
    p.add_argument("--force", action="store_true", help="re-run even when the cached result is valid")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="do not resume an interrupted stage from its checkpoints; start it over",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="stage commands: resume the interrupted stage from its last checkpoint, or fail if there is "
        "none (an interrupted stage also resumes without this flag; --fresh starts it over)",
    )


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    p.description = (
        "dokpa eval --config RECIPE (the stage) | dokpa eval --model FOLDER [options] (any model folder) | "
        "dokpa eval compare RUN_A RUN_B (two results.json, eval folders or workspaces)"
    )
    p.add_argument("action", nargs="*", metavar="compare RUN_A RUN_B", help="compare two evaluation runs")
    p.add_argument("--model", help="evaluate this model folder (config.json, model.safetensors, tokenizer)")
    p.add_argument("--tasks", default="all", help="comma-separated task or group names (default: all)")
    p.add_argument("--limit", type=int, default=None, help="items per task (default: every item)")
    p.add_argument("--shots", type=int, default=0, help="few-shot examples per question")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chat", action="store_true", help="generation prompts through the chat template")
    p.add_argument("--data-root", help="benchmark data folder (default: $DOKPA_EVAL_DATA or ../shared/data)")
    p.add_argument("--jsonl", action="append", default=[], help="an extra multiple-choice task file")
    p.add_argument("--out", help="output folder for --model (default: <model>/eval)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `dokpa` command."""
    parser = argparse.ArgumentParser(
        prog="dokpa", description="독파: raw Korean text to a served chat model."
    )
    parser.add_argument("--version", action="version", version=f"dokpa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run the CPU demo recipe end to end and show its results")
    _add_recipe_options(p)

    p = sub.add_parser("run", help="run every stage of a recipe in order, skipping unchanged ones")
    p.add_argument("recipe")
    _add_recipe_options(p)

    for name in STAGES:
        p = sub.add_parser(name, help=f"run the {name} stage of a recipe")
        p.add_argument("--config", required=name != "eval", help="recipe TOML file")
        _add_recipe_options(p)
    _add_eval_options(sub.choices["eval"])

    p = sub.add_parser("data", help="look at curated data")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("inspect", help="samples of what each curation step removed, and why")
    p.add_argument("path", help="a workspace or its curate folder")
    p.add_argument("--step", help="only this step (e.g. 08_quality)")
    p.add_argument("--reason", help="only this reason (e.g. exact_duplicate)")
    p.add_argument("-n", type=int, default=3, help="samples per step and reason")

    p = sub.add_parser("status", help="list the stages of a workspace with state, time and key metric")
    p.add_argument("workspace")

    p = sub.add_parser("chat", help="chat with a model folder in the terminal")
    p.add_argument(
        "checkpoint", help="a model folder (e.g. WORKSPACE/sft/model) or a checkpoint step_NNNNNN folder"
    )
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--system", default=None, help="system prompt")

    p = sub.add_parser("serve", help="serve a model folder over the OpenAI API, with a web chat page")
    p.add_argument("model", help="a model folder (e.g. WORKSPACE/sft/model)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", action="append", default=[], help="accepted key (repeat for several)")
    p.add_argument("--served-model-name", default=None, help="the model id clients ask for")
    p.add_argument("--max-batch", type=int, default=8, help="requests decoded together")
    p.add_argument("--max-waiting", type=int, default=64, help="queued requests before answering 429")
    p.add_argument("--request-timeout", type=float, default=600.0, help="seconds before a request ends")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quantize", choices=["int8"], default=None, help="int8 weight-only (CPU, torchao)")
    return parser


def _run_stages(names: tuple[str, ...], recipe_path: Path, args: argparse.Namespace) -> Workspace:
    from dokpa.show import stage_line

    overrides = list(args.overrides)
    if args.workspace:
        overrides.append(f"workspace.dir={json.dumps(args.workspace)}")  # a JSON string is a TOML string
    recipe = load_recipe(recipe_path, overrides)
    ws = Workspace(recipe.workspace.dir)
    for name in names:
        outcome, manifest = run_stage(
            name,
            recipe,
            ws,
            force=args.force,
            resume=not args.fresh,
            require_resume=args.resume and len(names) == 1,
        )
        stage_line(name, outcome, manifest, ws)
    return ws


def _serve(args: argparse.Namespace) -> None:
    from dokpa.serve.launch import build_app, run_server

    if args.max_batch < 1 or args.max_waiting < 0:
        raise StageError("--max-batch must be at least 1 and --max-waiting at least 0")
    try:
        app = build_app(
            args.model,
            model_name=args.served_model_name,
            api_keys=args.api_key,
            max_batch=args.max_batch,
            max_waiting=args.max_waiting,
            request_timeout=args.request_timeout or None,
            device=args.device,
            quantize=args.quantize,
        )
    except (ValueError, ImportError) as err:
        raise StageError(str(err)) from None
    run_server(app, args.host, args.port)


def _chat(args: argparse.Namespace) -> None:
    from dokpa.serve.chat import chat_repl
    from dokpa.serve.sampling import SamplingParams

    path = Path(args.checkpoint)
    if not (path / "model.safetensors").exists():
        raise StageError(f"{path}: not a model folder (no model.safetensors); try WORKSPACE/sft/model")
    params = SamplingParams(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    chat_repl(path, params, system_prompt=args.system)


def _inspect(args: argparse.Namespace) -> None:
    from dokpa.data.foundry.inspect import curate_dir, print_rejections, sample_rejections

    try:
        root = curate_dir(args.path)
    except FileNotFoundError as err:
        raise StageError(str(err)) from None
    print_rejections(sample_rejections(root, step=args.step, reason=args.reason, n=args.n))


def _eval(args: argparse.Namespace) -> None:
    """`dokpa eval` without a recipe: compare two runs, or evaluate one model folder."""
    if args.action:
        if args.action[0] != "compare" or len(args.action) != 3:
            raise StageError("usage: dokpa eval compare RUN_A RUN_B")
        from dokpa.eval.compare import CompareError, print_comparison

        try:
            print_comparison(args.action[1], args.action[2])
        except CompareError as err:
            raise StageError(str(err)) from None
        return
    if not args.model:
        raise StageError("dokpa eval needs --config RECIPE, --model FOLDER, or: compare RUN_A RUN_B")
    from dokpa.eval.card import write_card
    from dokpa.eval.lm import EvalLM
    from dokpa.eval.suite import run_suite
    from dokpa.workspace import write_json_atomic

    folder = Path(args.model)
    if not (folder / "model.safetensors").exists() or not (folder / "tokenizer.json").exists():
        raise StageError(f"{folder}: not a model folder (needs model.safetensors and tokenizer.json)")
    out = Path(args.out) if args.out else folder / "eval"
    lm = EvalLM.load(folder)
    try:
        results = run_suite(
            lm,
            [t.strip() for t in args.tasks.split(",") if t.strip()],
            data_root=Path(args.data_root) if args.data_root else None,
            jsonl_files=[Path(p) for p in args.jsonl],
            limit=args.limit,
            shots=args.shots,
            seed=args.seed,
            chat=args.chat,
        )
    except ValueError as err:  # an unknown task name, a malformed task file (EvalDataError)
        raise StageError(str(err)) from None
    results["model"] = str(folder)
    written = write_card(results, out)
    write_json_atomic(out / "results.json", results)
    print(f"report card: {written['html']}\nresults: {out / 'results.json'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dokpa` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from dokpa.show import demo_summary

            ws = _run_stages(STAGES, demo_recipe_path(), args)
            demo_summary(ws)
        elif args.command == "run":
            _run_stages(STAGES, Path(args.recipe), args)
        elif args.command == "eval" and not args.config:
            _eval(args)
        elif args.command in STAGES:
            _run_stages((args.command,), Path(args.config), args)
        elif args.command == "status":
            from dokpa.show import console, status_table

            ws = Workspace(args.workspace)
            if not ws.stages():
                raise StageError(f"{ws.root}: no dokpa stages here")
            console.print(status_table(ws))
        elif args.command == "chat":
            _chat(args)
        elif args.command == "serve":
            _serve(args)
        elif args.command == "data":
            _inspect(args)
    except (RecipeError, StageError) as err:
        print(f"dokpa: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\ndokpa: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
