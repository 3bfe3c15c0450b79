"""Recipes: TOML files parsed into typed, validated config objects.

A recipe describes a whole run, one section per stage. Any field can be overridden from the command
line with ``--set section.key=value`` (the value is read as a TOML literal, else as a string):

    dokpa run recipes/demo.toml --set train.steps=200 --set model.depth=6

A mistake in a recipe (unknown key, wrong type, missing input file) raises :class:`RecipeError` whose
message is one line naming the field; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PACKAGE_PREFIX = "pkg:"


class RecipeError(ValueError):
    """A user mistake in a recipe or an override; the message is one line that names the field."""


class Section(BaseModel):
    """Base for every recipe section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class WorkspaceConfig(Section):
    dir: str = "dokpa-workspace"  # relative to the current directory


SourceFormat = Literal["text", "jsonl", "parquet", "csv", "tsv", "html", "warc", "mediawiki"]


class SourceConfig(Section):
    name: str
    path: str  # file or folder; relative to the recipe, or "pkg:PACKAGE/sub/path" inside an installed package
    format: SourceFormat = "text"
    licence: str = "unknown"  # SPDX id or "unknown"
    split: Literal["file", "paragraph", "line"] = "file"  # how plain-text files become documents
    text_field: str = "text"  # jsonl/parquet field or csv/tsv column holding the text
    id_field: str = "id"
    glob: str | None = None  # which files of a folder to read (default: by format)
    url_prefix: str | None = None  # html/mediawiki: base URL that file paths or titles are appended to
    extract: bool | None = None  # main-text extraction (trafilatura); default on for html and warc
    weight: float = Field(1.0, ge=0.0)  # mixing weight in the training shards (2.0: twice, 0.5: half)
    quality: bool | None = None  # FineWeb-2 quality heuristics on this source (None: curate.quality.enabled)


class DataConfig(Section):
    sources: list[SourceConfig] = Field(min_length=1)
    heldout_fraction: float = Field(0.05, gt=0.0, lt=0.5)  # documents kept out of tokenizer and training


class ExecutorConfig(Section):
    """Where the datatrove pipeline runs: this machine, a Ray cluster, or Slurm."""

    kind: Literal["local", "ray", "slurm"] = "local"
    tasks: int = Field(1, ge=1)  # input shards; outputs are per task, so keep it fixed across re-runs
    workers: int = Field(1, ge=1)  # tasks running at once (local: processes; 1 runs in this process)
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2.0, gt=0)
    slurm_partition: str | None = None
    slurm_time: str = "04:00:00"


class LangIdConfig(Section):
    keep: list[str] = ["ko"]  # ISO 639-1 codes kept; the rest goes to curate/other/ (not lost)
    min_hangul_share: float = Field(0.0, ge=0.0, le=1.0)
    min_score: float = Field(0.5, ge=0.0, le=1.0)


class PolicyConfig(Section):
    release: Literal["commercial", "research", "none"] = "commercial"
    allow_unknown: bool = True  # keep documents whose licence is "unknown"
    forbid_nd: bool = True  # a trained model is arguably an adaptation: drop no-derivatives text
    opt_out: str | None = None  # file of id:/url:/domain: lines


class DecontamConfig(Section):
    benchmarks: list[str] = []  # e.g. ["kobest", "kmmlu", "korquad"]
    root: str = "../shared/data"  # folder holding the benchmark files
    n: int = Field(8, ge=3)  # eojeol n-gram length that counts as contamination


class DedupConfig(Section):
    exact: bool = True
    minhash: bool = True
    n_grams: int = Field(5, ge=1)  # eojeol shingles
    num_buckets: int = Field(14, ge=1)
    hashes_per_bucket: int = Field(8, ge=1)
    lines: bool = True  # remove lines repeated across many documents of a source (templated sites)
    line_min_docs: int = Field(5, ge=2)


class QualityConfig(Section):
    enabled: bool = True
    overrides: dict[str, Any] = {}  # threshold overrides, by KoreanQualityFilter argument name


class PIIConfig(Section):
    enabled: bool = True
    types: list[str] | None = None  # None: every type


class ToxicityConfig(Section):
    enabled: bool = True
    lexicon: str | None = None  # None: the lexicon shipped with dokpa
    drop_above: float | None = Field(None, ge=0.0)  # hits per 100 eojeols; None: tag only


class CurateConfig(Section):
    min_chars: int = Field(1, ge=1)
    executor: ExecutorConfig = ExecutorConfig()
    normalize: bool = True
    langid: LangIdConfig = LangIdConfig()
    policy: PolicyConfig = PolicyConfig()
    decontam: DecontamConfig = DecontamConfig()
    dedup: DedupConfig = DedupConfig()
    quality: QualityConfig = QualityConfig()
    pii: PIIConfig = PIIConfig()
    toxicity: ToxicityConfig = ToxicityConfig()


class TokenizerConfig(Section):
    vocab_size: int = Field(4096, ge=300, le=1 << 20)
    min_frequency: int = Field(2, ge=1)


class ModelSection(Section):
    depth: int = Field(4, ge=1, le=64)  # the one size dial: width, heads and token budget follow from it
    seq_len: int = Field(256, ge=8)
    tie_embeddings: bool = True
    dim: int | None = Field(None, ge=8)  # optional overrides of what depth implies
    n_heads: int | None = Field(None, ge=1)
    n_kv_heads: int | None = Field(None, ge=1)


class OptimSection(Section):
    """Fields shared by pretraining and fine-tuning."""

    steps: int | None = Field(None, ge=1)  # None: the compute-optimal budget implied by model.depth
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    warmup_steps: int = Field(10, ge=0)
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    weight_decay: float = Field(0.1, ge=0.0)
    grad_clip: float = Field(1.0, gt=0.0)
    eval_every: int = Field(50, ge=1)
    eval_max_tokens: int | None = Field(None, ge=1)
    ckpt_every: int = Field(50, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    seed: int = 1234


class SFTSection(OptimSection):
    data: str = "pkg:dokpa/data/demo/sft_constitution.jsonl"
    steps: int | None = Field(100, ge=1)
    lr: float = Field(1e-3, gt=0.0)


class EvalSection(Section):
    prompts: str = "pkg:dokpa/data/demo/prompts.json"  # JSON list of questions for sample answers
    max_new_tokens: int = Field(80, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_k: int = Field(50, ge=0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    # Benchmarks (dokpa.eval.tasks): task or group names; "all" = KoBEST, KMMLU, KorQuAD, Korea, hallucination
    tasks: list[str] = ["all"]
    model: Literal["pretrain", "sft"] = "sft"  # whose model the benchmarks score
    limit: int | None = Field(None, ge=1)  # items per task, spread over the task (None: every item)
    shots: int = Field(0, ge=0)
    chat: bool = True  # generation tasks through the chat template (right for the sft model)
    data_root: str | None = None  # benchmark data; None: $DOKPA_EVAL_DATA or ../shared/data
    jsonl_tasks: list[str] = []  # extra multiple-choice task files (format: dokpa.eval.tasks.jsonl)


class ReleaseSection(Section):
    """The open-weight bundle (dokpa.stages.release)."""

    model: Literal["pretrain", "sft"] = "sft"  # which model is released
    licence: str = "Apache-2.0"  # SPDX id of the weights' licence (the bundle's LICENSE file)
    gguf_dtype: Literal["f32", "f16", "q8_0"] = "f16"  # weight matrices in the .gguf file
    quant_report: bool = True  # measure int8 weight-only's cost in bits per byte (needs torchao)
    author: str = "dokpa developers"


class Recipe(Section):
    """A whole run: one section per stage, in pipeline order."""

    name: str = "dokpa"
    workspace: WorkspaceConfig = WorkspaceConfig()
    data: DataConfig
    curate: CurateConfig = CurateConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelSection = ModelSection()
    train: OptimSection = OptimSection()
    sft: SFTSection = SFTSection()
    eval: EvalSection = EvalSection()
    release: ReleaseSection = ReleaseSection()

    # Where relative input paths are resolved from; not part of the recipe text.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, path: str) -> Path:
        """Turn a recipe path into an absolute one (see :func:`resolve_path`)."""
        return resolve_path(path, self.base_dir)


def resolve_path(path: str, base_dir: Path) -> Path:
    """Resolve ``pkg:PACKAGE/sub/path`` inside an installed package, else relative to ``base_dir``."""
    if path.startswith(PACKAGE_PREFIX):
        package, _, sub = path[len(PACKAGE_PREFIX) :].partition("/")
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as err:
            raise FileNotFoundError(f"package {package!r} is not installed") from err
        return Path(str(root / sub))
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base_dir / p).resolve()


def _field_name(loc: tuple[Any, ...]) -> str:
    """('data', 'sources', 0, 'path') -> 'data.sources[0].path'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(err: dict[str, Any]) -> str:
    name = _field_name(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        return f"{name}: unknown key"
    if err["type"] == "missing":
        return f"{name}: required field is missing"
    return f"{name}: {err['msg']} (got {err.get('input')!r})"


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """Parse ``section.key=value``; the value is a TOML literal when it parses as one, else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {text!r}: expected section.key=value")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    return parts, value


def apply_override(raw: dict[str, Any], parts: list[str | int], value: Any) -> None:
    """Set ``raw[parts...] = value``, creating sections as needed."""
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        try:
            if isinstance(part, int):
                node = node[part]
            else:
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        except (IndexError, TypeError, AttributeError) as err:
            raise RecipeError(f"--set {'.'.join(map(str, parts))}: no such field") from err
    last = parts[-1]
    try:
        node[last] = value
    except (IndexError, TypeError) as err:
        raise RecipeError(f"--set {'.'.join(map(str, parts))}: no such field") from err


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe; raise :class:`RecipeError` with a one-line message."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecipeError(f"recipe not found: {path}") from err
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"{path}: not valid TOML: {err}") from err
    for text in overrides or []:
        parts, value = parse_override(text)
        apply_override(raw, parts, value)
    try:
        recipe = Recipe.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as err:
        raise RecipeError(f"{path}: {_describe(err.errors()[0])}") from None
    _check_inputs_exist(recipe, path)
    return recipe


def _check_inputs_exist(recipe: Recipe, path: Path) -> None:
    checks = [(f"data.sources[{i}].path", s.path) for i, s in enumerate(recipe.data.sources)]
    checks += [("sft.data", recipe.sft.data), ("eval.prompts", recipe.eval.prompts)]
    for field, value in checks:
        try:
            resolved = recipe.resolve(value)
        except FileNotFoundError as err:
            raise RecipeError(f"{path}: {field}: {err}") from None
        if not resolved.exists():
            raise RecipeError(f"{path}: {field}: input not found: {resolved}")
