"""The ``score`` stage: batch scoring with the registered function, resumable and bounded.

Input is read in chunks (Parquet by row batches, JSONL and CSV by pandas chunks), so
memory stays flat whatever the input size. Chunk k becomes shard ``part-k.parquet``,
written to a temporary file and renamed; a manifest records the resolved model version,
the inputs' content hashes and each finished shard. Re-running resumes after the last
finished shard, and a finished output is a no-op. One job per output directory, held by
an OS lock (flock) that dies with its process, so a killed job leaves no stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import tracking
from pipelines.config import ColumnMap, ScoreConfig
from pipelines.inputs import list_inputs
from pipelines.shards import (
    MANIFEST,
    Predict,
    ScoreError,
    ScoreResult,
    ShardPool,
    output_schema,
    records,
    score_shards,
    write_manifest,
)
from pipelines.spark import score_spark

# What a folder of inputs is searched for; a named file is read whatever its name (JSONL
# unless it ends in .csv or .parquet). JSON and CSV may be gzip-compressed; a .json file
# may hold one array of objects.
INPUT_EXTENSIONS = (".parquet", ".jsonl", ".json", ".csv", ".jsonl.gz", ".json.gz", ".csv.gz")
# Named files in these would be read as JSONL and every line an error row: refused.
ARCHIVES = (".gz", ".zip", ".bz2", ".xz", ".zst", ".7z", ".tar", ".tgz")
SHARD = re.compile(r"part-(\d{5})\.parquet")  # the only shard names this stage writes


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


HASH_READ = 1 << 20  # 1 MiB reads: the hash streams, whatever the input size


def content_hash(path: Path) -> str:
    """BLAKE2b of the file's bytes: size and mtime survive ``cp -p`` and same-second
    rewrites, so only the content tells a resumed job it still reads the same rows."""
    h = hashlib.blake2b(digest_size=32)
    with path.open("rb") as f:
        while block := f.read(HASH_READ):
            h.update(block)
    return h.hexdigest()


def fingerprint(paths: list[Path]) -> list[dict[str, Any]]:
    """Per input, in reading order: its path, size and content hash (the identity)."""
    return [{"path": str(p), "size": p.stat().st_size, "blake2b": content_hash(p)} for p in paths]


def input_mismatch(recorded: Any, current: list[dict[str, Any]]) -> str | None:
    """Why a manifest's inputs are not these inputs (naming the file), or None if they are.

    A manifest without content hashes (written before they were recorded) cannot vouch
    for its inputs, so it counts as changed input."""
    if not isinstance(recorded, list):
        return "it records no inputs"
    old = {r.get("path"): r for r in recorded if isinstance(r, dict)}
    for fp in current:
        was = old.get(fp["path"])
        if was is None:
            return f"{fp['path']} is not among the inputs it was started from"
        if "blake2b" not in was:
            return f"it records no content hash for {fp['path']} (an older manifest)"
        if was["blake2b"] != fp["blake2b"] or was.get("size") != fp["size"]:
            return f"{fp['path']} changed since it was written (its content hash differs)"
    if [r.get("path") for r in recorded if isinstance(r, dict)] != [f["path"] for f in current]:
        return "its inputs were other files, or the same files in another order"
    return None


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
            first = next((r.values for r in records(f) if r.values is not None), None)
            if first is None:
                continue  # empty, or every row broken: each is an error row, not a crash
            names = list(first)
        if cols.text not in names:
            raise ScoreError(
                f"{f}: no {cols.text!r} column; columns are {sorted(map(str, names))}. Map "
                "yours with --set columns.text=NAME (likewise id, title, source, date, url)"
            )


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest, checked for the shape this stage writes; a truncated or garbled one
    (a full disk, an editor) is a ``ScoreError`` naming it, which ``--restart`` recovers."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ScoreError(f"{path}: unreadable manifest ({exc})") from None
    shards = data.get("shards") if isinstance(data, dict) else None
    if not isinstance(shards, dict) or not all(
        SHARD.fullmatch(str(k)) and isinstance(v, dict) and isinstance(v.get("rows"), int)
        for k, v in shards.items()
    ):
        raise ScoreError(f"{path}: not a scoring manifest (no well-formed 'shards' record)")
    return data


def foreign_shards(out: Path, manifest: dict[str, Any]) -> list[str]:
    """Shard-like files in ``out`` the manifest does not account for. A job killed between
    renaming a shard and recording it leaves the next one (the next ``window`` with
    workers); anything else was put there by someone else, and a report over the folder
    would count it."""
    done = manifest.get("shards") or {}
    # With --workers, up to ``window`` shards are in flight and finish in any order: the
    # unrecorded ones of a killed job all lie below len(done) + window.
    window = manifest.get("window", 1)
    limit = len(done) + (window if isinstance(window, int) and window > 0 else 1)
    return sorted(
        p.name
        for p in out.glob("part-*.parquet")
        if p.name not in done and not ((m := SHARD.fullmatch(p.name)) and int(m.group(1)) < limit)
    )


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


def score(
    inputs: list[str], output: str | Path, cfg: ScoreConfig, restart: bool = False
) -> ScoreResult:
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ScoreError(f"--output {out}: is a file, not a directory")
    files = list_inputs(
        inputs, INPUT_EXTENSIONS, "scoring input", any_file=True, error=ScoreError, exclude=out
    )
    for f in files:
        if f.name.lower().endswith(ARCHIVES) and not f.name.lower().endswith(INPUT_EXTENSIONS):
            raise ScoreError(
                f"--input {f}: a compressed or archived file score cannot read; it reads "
                f"{', '.join(INPUT_EXTENSIONS)} (decompress or extract it first)"
            )
        # A named shard or manifest of this output would be read and rewritten.
        if f.resolve().parent == out.resolve() and (SHARD.fullmatch(f.name) or f.name == MANIFEST):
            raise ScoreError(f"--input {f}: is this job's own output in {out}")
    if cfg.workers > 1 and cfg.engine != "local":
        raise ScoreError(
            f"--workers {cfg.workers} is for --engine local; Spark's parallelism is its "
            "spark_master (local[N]) or cluster"
        )
    check_inputs(files, cfg.columns)
    pinned, version = resolve_model(cfg.model)
    with OutputLock(out):
        # A job killed mid-write leaves its temporary file; under the lock, nobody owns it.
        for tmp in out.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        manifest_path = out / MANIFEST
        fp = fingerprint(files)
        manifest: dict[str, Any] = {}
        if not manifest_path.exists() and (strays := sorted(out.glob("part-*.parquet"))):
            raise ScoreError(
                f"{out}: holds {len(strays)} part-*.parquet files ({strays[0].name}, ...) but "
                f"no {MANIFEST}: not output of `mediaframe score` this job can resume or "
                "replace; choose another --output, or remove them"
            )
        if manifest_path.exists():
            try:
                manifest = read_manifest(manifest_path)
            except ScoreError as exc:
                if not restart:
                    raise ScoreError(f"{exc}; use --restart to start over") from None
                manifest = {"inputs": None}  # corrupt: --restart discards it and its shards
            if not restart and (strays := foreign_shards(out, manifest)):
                raise ScoreError(
                    f"{out}: {', '.join(strays[:3])}{' ...' if len(strays) > 3 else ''} "
                    f"not recorded in its {MANIFEST}: not written by this job; remove them "
                    "or choose another --output"
                )
            changed = input_mismatch(manifest.get("inputs"), fp)
            same = (
                manifest.get("model_version") == version
                and changed is None
                and manifest.get("chunk_size") == cfg.chunk_size
            )
            if changed is not None and not restart:
                raise ScoreError(
                    f"{out}: its manifest does not describe these inputs: {changed}. "
                    "Use --restart to start over, or another --output"
                )
            if not same and not restart:
                raise ScoreError(
                    f"{out} holds output of model {manifest.get('model_version')} in chunks "
                    f"of {manifest.get('chunk_size')}; this job is model {version} in chunks "
                    f"of {cfg.chunk_size}. Use --restart to start over, or another --output"
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
            write_manifest(manifest, manifest_path)
        if manifest.get("complete") and not all((out / n).exists() for n in manifest["shards"]):
            manifest["complete"] = False  # a shard was removed: score it again, not count it
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
        engine = ENGINES[cfg.engine]
        return engine(files, out, cfg, pinned, version, manifest, manifest_path)


def load_model(pinned: str) -> Any:
    """The registered pyfunc; artifacts that are gone or unreadable (a deleted artifact
    folder, a store moved without them) are a ``ScoreError`` naming the version."""
    try:
        return mlflow.pyfunc.load_model(pinned)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScoreError(f"model {pinned}: its artifacts cannot be loaded: {first}") from None


def score_local(
    files: list[Path],
    out: Path,
    cfg: ScoreConfig,
    pinned: str,
    version: str,
    manifest: dict[str, Any],
    manifest_path: Path,
) -> ScoreResult:
    """The pyfunc in this process, one chunk at a time; or, with ``cfg.workers`` > 1, in
    that many one-thread worker processes, a shard each at a time (``pipelines.workers``)."""

    def load() -> tuple[Predict, pa.Schema]:
        model = load_model(pinned)
        return model.predict, output_schema(model)

    if cfg.workers == 1:
        return score_shards(files, out, cfg, version, manifest, manifest_path, load)
    from pipelines.workers import score_shard, worker_pool

    with worker_pool(cfg.workers) as workers:

        def submit(clean, bad, path: Path):
            return workers.submit(score_shard, pinned, version, str(path), clean, bad)

        # Two shards per worker in flight: the next one is read while this one scores.
        pool = ShardPool(submit, 2 * cfg.workers)
        return score_shards(files, out, cfg, version, manifest, manifest_path, load, pool)


# ``--engine``: each takes the same arguments once the output is locked and the manifest read.
ENGINES = {"local": score_local, "spark": score_spark}


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
