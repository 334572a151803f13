"""The ``score`` stage: batch scoring with the registered function, resumable and bounded.

Input is read in chunks (Parquet by row batches, JSONL and CSV by pandas chunks), so
memory stays flat whatever the input size. Chunk k becomes shard ``part-k.parquet``,
written to a temporary file and renamed; a manifest records the resolved model version,
the input fingerprint and each finished shard. Re-running resumes after the last
finished shard, and a finished output is a no-op. One job per output directory, held by
an OS lock (flock) that dies with its process, so a killed job leaves no stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import tracking
from pipelines.atomic import atomic_path, write_text
from pipelines.config import ColumnMap, ScoreConfig
from pipelines.progress import bar
from pipelines.readers import Record, iter_csv, iter_jsonl, iter_parquet

MANIFEST = "_manifest.json"  # a leading _ keeps Parquet readers of the folder off it
READ_ERROR = "_read_error"  # set on a row whose line could not be parsed; never written out
# A chunk in (normalised input) -> its scored rows out, in order; and the output schema.
Predict = Callable[[pd.DataFrame], pd.DataFrame]


class ScoreError(RuntimeError):
    """A scoring job that must not start: bad model URI, lock held, another version."""


@dataclass
class ScoreResult:
    output: Path
    rows: int
    shards: int
    skipped_shards: int
    model_version: str
    seconds: float
    errors: int


def resolve_model(uri: str) -> tuple[str, str]:
    """``models:/name@alias`` or ``models:/name/N`` -> (pinned URI, version string)."""
    # models://PROFILE/... would name another registry; runs:/, file paths and URLs
    # bypass the registry altogether.
    m = re.fullmatch(r"models:/(?P<name>[^/@:\s]+)(?:@(?P<alias>[\w.-]+)|/(?P<version>\d+))", uri)
    if not m:
        raise ScoreError(
            f"model URI {uri!r}: only registry URIs (models:/NAME@ALIAS or "
            "models:/NAME/VERSION) of the configured registry are accepted: artifacts are "
            "pickles, so mediaframe loads only what that registry serves"
        )
    client = mlflow.MlflowClient()
    name = m.group("name")
    try:
        if m.group("alias"):
            mv = client.get_model_version_by_alias(name, m.group("alias"))
        else:
            mv = client.get_model_version(name, m.group("version"))
    except (mlflow.exceptions.MlflowException, ValueError) as exc:
        raise ScoreError(
            f"model {uri!r} not found in the registry at "
            f"{tracking.redact(mlflow.get_tracking_uri())}: {exc}"
        ) from None
    return f"models:/{name}/{mv.version}", f"{name}/{mv.version}"


def fingerprint(paths: list[Path]) -> list[dict[str, Any]]:
    return [
        {"path": str(p), "size": p.stat().st_size, "mtime": int(p.stat().st_mtime)} for p in paths
    ]


def list_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for x in map(Path, inputs):
        if not x.exists():
            raise ScoreError(f"{x}: no such file or directory")
        if x.is_dir():
            files += sorted(
                p
                for p in x.rglob("*")
                if p.suffix.lower() in (".parquet", ".jsonl", ".json", ".csv")
            )
        else:
            files.append(x)
    if not files:
        raise ScoreError(f"no .parquet/.jsonl/.csv input under {inputs}")
    return files


def renames(cols: ColumnMap) -> dict[str, str]:
    """Source column -> the scorer's input field, for the fields mapped to another name."""
    return {src: field for field, src in cols.model_dump().items() if src and src != field}


def iter_chunks(
    files: list[Path], size: int, cols: ColumnMap | None = None
) -> Iterator[pd.DataFrame]:
    """Chunks of exactly ``size`` rows (the last one shorter), across file boundaries,
    with mapped columns renamed to the scorer's input fields."""
    names = renames(cols or ColumnMap())
    buf: list[pd.DataFrame] = []
    n = 0
    for f in files:
        for part in _read(f, size):
            if names:
                part = part.drop(columns=[v for v in names.values() if v in part.columns])
                part = part.rename(columns=names)
            buf.append(part)
            n += len(part)
            while n >= size:
                allrows = pd.concat(buf, ignore_index=True)
                yield allrows.iloc[:size]
                rest = allrows.iloc[size:]
                buf, n = ([rest] if len(rest) else []), len(rest)
    if n:
        yield pd.concat(buf, ignore_index=True)


def _read(f: Path, size: int) -> Iterator[pd.DataFrame]:
    suf = f.suffix.lower()
    if suf == ".parquet":
        for batch in iter_parquet(f, size):
            yield batch.to_pandas()
        return
    # A line that is not JSON (or a CSV row with stray fields) still becomes an output
    # row, with its error, so rows out always equal rows in.
    buf: list[dict[str, Any]] = []
    for rec in _records(f):
        row = dict(rec.values) if rec.values is not None else {}
        row[READ_ERROR] = None if rec.values is not None else f"{f.name}: {rec.where}: {rec.error}"
        buf.append(row)
        if len(buf) >= size:
            yield pd.DataFrame(buf)
            buf = []
    if buf:
        yield pd.DataFrame(buf)


def _records(f: Path) -> Iterator[Record]:
    if f.suffix.lower() == ".csv":
        try:
            yield from iter_csv(f)
        except ValueError as exc:
            raise ScoreError(str(exc)) from None
    else:
        yield from iter_jsonl(f)


def check_inputs(files: list[Path], cols: ColumnMap) -> None:
    """Every input must have its text column: found before the model loads or a shard
    is written, rather than as a failure in the middle of the job."""
    for f in files:
        if f.suffix.lower() == ".parquet":
            try:
                names = pq.ParquetFile(f).schema_arrow.names
            except (OSError, pa.ArrowException) as exc:
                raise ScoreError(f"{f}: not a readable Parquet file: {exc}") from None
        else:
            first = next((r.values for r in _records(f) if r.values is not None), None)
            if first is None:
                continue  # empty, or every row broken: each is an error row, not a crash
            names = list(first)
        if cols.text not in names:
            raise ScoreError(
                f"{f}: no {cols.text!r} column; columns are {sorted(map(str, names))}. Map "
                "yours with --set columns.text=NAME (likewise id, title, source, date, url)"
            )


def normalise_input(chunk: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """Strings in, whatever the file held: metadata cast to str, non-string text set aside.

    The signature types every input column as a string, so one number in the text column
    would fail the whole chunk; instead that row is scored as missing and gets an error.
    """
    from models.scorer import INPUT_COLUMNS

    out = chunk.reset_index(drop=True).copy()
    bad: dict[int, str] = {}
    if READ_ERROR in out.columns:
        bad.update({int(i): str(m) for i, m in out[READ_ERROR].items() if isinstance(m, str)})
        out = out.drop(columns=[READ_ERROR])
    if "text" not in out.columns:  # a chunk of unparseable lines only
        out["text"] = None
    for i, v in out["text"].items():
        if v is not None and not isinstance(v, str) and not (isinstance(v, float) and v != v):
            bad.setdefault(int(i), f"text is {type(v).__name__}, not a string")
    out["text"] = out["text"].astype(object)
    out.loc[list(bad), "text"] = None
    out["text"] = out["text"].where(out["text"].notna(), None)
    for c in INPUT_COLUMNS:
        if c != "text" and c in out.columns:
            out[c] = [
                None if v is None or (isinstance(v, float) and v != v) else str(v) for v in out[c]
            ]
    return out, bad


class OutputLock:
    """An exclusive flock on DIR/.lock: the kernel drops it when the process dies."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        self.fh = None

    def __enter__(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = self.path.open("a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise ScoreError(
                f"{self.path.parent}: another scoring job holds this output "
                "directory; wait for it or choose another --output"
            ) from None
        self.fh.write(f"{os.getpid()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()


def _write_json_atomic(data: dict[str, Any], path: Path) -> None:
    write_text(json.dumps(data, indent=1), path)


def output_schema(model) -> pa.Schema:
    """One Arrow schema for every shard, from the model's own codebook and targets, so a
    chunk whose dates are all missing is not typed differently from the next one."""
    from labeling.schema import arrow_schema

    scorer = getattr(model.unwrap_python_model(), "scorer", None)
    if scorer is None:
        raise ScoreError(
            "this model is not a mediaframe scoring function (it has no bundled scorer); "
            "publish one with `mediaframe publish`"
        )
    return arrow_schema(
        scorer.frames.spec.labels,
        scorer.targets,
        scorer.stance.spec.labels,
        {"model_version": pa.string(), "error": pa.string()},
    )


def _write_shard(df: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def score(
    inputs: list[str], output: str | Path, cfg: ScoreConfig, restart: bool = False
) -> ScoreResult:
    out = Path(output)
    files = list_inputs(inputs)
    check_inputs(files, cfg.columns)
    pinned, version = resolve_model(cfg.model)
    with OutputLock(out):
        # A job killed mid-write leaves its temporary file; under the lock, nobody owns it.
        for tmp in out.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        manifest_path = out / MANIFEST
        fp = fingerprint(files)
        manifest: dict[str, Any] = {}
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            same = (
                manifest.get("model_version") == version
                and manifest.get("inputs") == fp
                and manifest.get("chunk_size") == cfg.chunk_size
            )
            if not same and not restart:
                raise ScoreError(
                    f"{out} holds output of model {manifest.get('model_version')} over "
                    f"other inputs or chunking; this job is model {version}. Use --restart "
                    "to start over, or another --output"
                )
            if not same or restart:
                for p in out.glob("part-*.parquet"):
                    p.unlink()
                manifest = {}
        if not manifest:
            manifest = {
                "model_uri": cfg.model,
                "model_version": version,
                "inputs": fp,
                "chunk_size": cfg.chunk_size,
                "shards": {},
                "complete": False,
            }
            _write_json_atomic(manifest, manifest_path)
        if manifest.get("complete"):
            rows = sum(s["rows"] for s in manifest["shards"].values())
            return ScoreResult(
                out,
                rows,
                len(manifest["shards"]),
                len(manifest["shards"]),
                version,
                0.0,
                sum(s.get("errors", 0) for s in manifest["shards"].values()),
            )
        if cfg.engine == "spark":
            from pipelines.spark import score_spark

            return score_spark(files, out, cfg, pinned, version, manifest, manifest_path)

        def load() -> tuple[Predict, pa.Schema]:
            model = mlflow.pyfunc.load_model(pinned)
            return model.predict, output_schema(model)

        return score_shards(files, out, cfg, version, manifest, manifest_path, load)


def score_shards(
    files: list[Path],
    out: Path,
    cfg: ScoreConfig,
    version: str,
    manifest: dict[str, Any],
    manifest_path: Path,
    load: Callable[[], tuple[Predict, pa.Schema]],
) -> ScoreResult:
    """The chunk loop both engines share: chunk k -> shard part-k, finished shards
    skipped, the manifest rewritten after each shard. ``load`` is called once, at the
    first chunk that needs scoring, so a finished or nearly finished job loads nothing."""
    t0 = time.perf_counter()
    predict: Predict | None = None
    schema: pa.Schema | None = None
    done = manifest["shards"]
    total_rows = skipped = 0
    progress = bar("score", unit="doc")
    for k, chunk in enumerate(iter_chunks(files, cfg.chunk_size, cfg.columns)):
        name = f"part-{k:05d}.parquet"
        if name in done and (out / name).exists():
            skipped += 1
            total_rows += done[name]["rows"]
            progress.update(len(chunk))
            continue
        if predict is None or schema is None:
            predict, schema = load()
        clean, bad = normalise_input(chunk)
        result = predict(clean)
        if len(result) != len(clean):  # the one-row-per-input guarantee, checked
            raise ScoreError(f"shard {name}: {len(clean)} rows in, {len(result)} out")
        for i, message in bad.items():
            result.loc[i, "error"] = message
        result["model_version"] = version
        _write_shard(result, out / name, schema)
        done[name] = {"rows": len(result), "errors": int(result["error"].notna().sum())}
        _write_json_atomic(manifest, manifest_path)
        total_rows += len(result)
        progress.update(len(chunk))
    progress.close()
    manifest["complete"] = True
    manifest["rows"] = total_rows
    _write_json_atomic(manifest, manifest_path)
    secs = time.perf_counter() - t0
    errors = sum(s.get("errors", 0) for s in done.values())
    return ScoreResult(out, total_rows, len(done), skipped, version, secs, errors)


def log_score_run(result: ScoreResult, inputs: list[str]) -> None:
    tags = tracking.base_tags("score", "frames+stance", "", "", "")
    tags["mediaframe.model_version"] = result.model_version
    with tracking.stage_run("score", "score", tags):
        mlflow.log_params(
            {
                "inputs": ",".join(inputs)[:500],
                "output": str(result.output),
                "model_version": result.model_version,
            }
        )
        mlflow.log_metrics(
            {
                "rows": result.rows,
                "shards": result.shards,
                "skipped_shards": result.skipped_shards,
                "row_errors": result.errors,
                "seconds": result.seconds,
                "docs_per_second": result.rows / max(result.seconds, 1e-9),
            }
        )
        mlflow.log_artifact(str(result.output / MANIFEST))
