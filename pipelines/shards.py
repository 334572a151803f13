"""Scored shards, the part both scoring engines share (``pipelines.score`` local,
``pipelines.spark`` on Spark): input chunks of a fixed size, one Parquet shard per chunk
under one output schema, and the manifest rewritten after each shard so a job resumes.

Only the scoring of a chunk (``Predict``) differs between engines, so shard k holds the
same rows whichever engine wrote it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.atomic import atomic_path, write_text
from pipelines.config import ColumnMap, ScoreConfig
from pipelines.progress import bar
from pipelines.readers import Record, iter_csv, iter_jsonl, iter_parquet, kind

MANIFEST = "_manifest.json"  # a leading _ keeps Parquet readers of the folder off it
READ_ERROR = "_read_error"  # set on a row whose line could not be parsed; never written out
# A chunk in (normalised input) -> its scored rows out, in order; and the output schema.
Predict = Callable[[pd.DataFrame], pd.DataFrame]


class ScoreError(RuntimeError):
    """A scoring job that must not start: bad model URI, lock held, another version."""


@dataclass
class ShardPool:
    """Worker processes that score and write shards: ``submit(clean, bad, path)`` returns
    the future of the shard's manifest record; at most ``window`` are in flight."""

    submit: Callable[[pd.DataFrame, dict[int, str], Path], Future]
    window: int


@dataclass
class ScoreResult:
    output: Path
    rows: int
    shards: int
    skipped_shards: int
    model_version: str
    seconds: float
    errors: int


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
    if f.suffix.lower() == ".parquet":
        for batch in iter_parquet(f, size):
            yield batch.to_pandas()
        return
    # A line that is not JSON (or a CSV row with stray fields) still becomes an output
    # row, with its error, so rows out always equal rows in.
    buf: list[dict[str, Any]] = []
    for rec in records(f):
        row = dict(rec.values) if rec.values is not None else {}
        row[READ_ERROR] = None if rec.values is not None else f"{f.name}: {rec.where}: {rec.error}"
        buf.append(row)
        if len(buf) >= size:
            yield pd.DataFrame(buf)
            buf = []
    if buf:
        yield pd.DataFrame(buf)


def records(f: Path) -> Iterator[Record]:
    """The rows of a CSV or JSON(L) input, plain or ``.gz``; a file that cannot be read
    at all (a damaged ``.gz``, a header that is not CSV) is one error naming it."""
    try:
        yield from (iter_csv(f) if kind(f) == ".csv" else iter_jsonl(f))
    except ValueError as exc:
        raise ScoreError(str(exc)) from None


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


def write_manifest(data: dict[str, Any], path: Path) -> None:
    """Atomically, so a killed job leaves the last manifest whole."""
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


def write_shard(df: pd.DataFrame, path: Path, schema: pa.Schema) -> None:
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def score_chunk(
    predict: Predict,
    schema: pa.Schema,
    clean: pd.DataFrame,
    bad: dict[int, str],
    version: str,
    path: Path,
) -> dict[str, int]:
    """Score one normalised chunk and write it as the shard ``path``, atomically; its
    manifest record. The same step in this process and in a worker process."""
    result = predict(clean)
    if len(result) != len(clean):  # the one-row-per-input guarantee, checked
        raise ScoreError(f"shard {path.name}: {len(clean)} rows in, {len(result)} out")
    for i, message in bad.items():
        result.loc[i, "error"] = message
    result["model_version"] = version
    write_shard(result, path, schema)
    return {"rows": len(result), "errors": int(result["error"].notna().sum())}


def score_shards(
    files: list[Path],
    out: Path,
    cfg: ScoreConfig,
    version: str,
    manifest: dict[str, Any],
    manifest_path: Path,
    load: Callable[[], tuple[Predict, pa.Schema]],
    pool: ShardPool | None = None,
) -> ScoreResult:
    """The chunk loop both engines share: chunk k -> shard part-k, finished shards
    skipped, the manifest rewritten after each shard. ``load`` is called once, at the
    first chunk that needs scoring, so a finished or nearly finished job loads nothing.

    With a ``pool`` (``--workers``), worker processes score and write the shards and this
    process only reads chunks and records finished shards, at most ``pool.window`` in
    flight; shards finish out of order, so the manifest's ``window`` (the largest of any
    job on this output) bounds where unrecorded shards of a killed job may lie."""
    t0 = time.perf_counter()
    predict: Predict | None = None
    schema: pa.Schema | None = None
    done = manifest["shards"]
    total_rows = skipped = 0
    progress = bar("score", unit="doc")
    pending: dict[Future, str] = {}

    def record(name: str, shard: dict[str, int]) -> None:
        nonlocal total_rows
        done[name] = shard
        write_manifest(manifest, manifest_path)
        total_rows += shard["rows"]
        progress.update(shard["rows"])

    def drain(until: int) -> None:
        """Record finished shards until at most ``until`` are in flight; on a failed
        shard, the ones still running are let finish and recorded, then it is raised."""
        while len(pending) > until:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                name = pending.pop(fut)
                try:
                    record(name, fut.result())
                except BrokenProcessPool:
                    raise ScoreError(
                        f"shard {name}: a scoring worker process died (killed, or out of "
                        "memory: fewer --workers or a smaller chunk_size may fit); run the "
                        "same command again to resume"
                    ) from None
                except BaseException:
                    for f in pending:
                        f.cancel()
                    for f in list(pending):
                        with contextlib.suppress(BaseException):
                            record(pending.pop(f), f.result())
                    raise

    if pool is not None:
        manifest["window"] = max(int(manifest.get("window", 1)), pool.window)
        write_manifest(manifest, manifest_path)
    for k, chunk in enumerate(iter_chunks(files, cfg.chunk_size, cfg.columns)):
        name = f"part-{k:05d}.parquet"
        if name in done and (out / name).exists():
            skipped += 1
            total_rows += done[name]["rows"]
            progress.update(len(chunk))
            continue
        clean, bad = normalise_input(chunk)
        if pool is not None:
            drain(pool.window - 1)
            pending[pool.submit(clean, bad, out / name)] = name
            continue
        if predict is None or schema is None:
            predict, schema = load()
        record(name, score_chunk(predict, schema, clean, bad, version, out / name))
    drain(0)
    progress.close()
    manifest["shards"] = done = dict(sorted(done.items()))
    manifest["complete"] = True
    manifest["rows"] = total_rows
    write_manifest(manifest, manifest_path)
    secs = time.perf_counter() - t0
    errors = sum(s.get("errors", 0) for s in done.values())
    return ScoreResult(out, total_rows, len(done), skipped, version, secs, errors)
