"""MLflow plumbing shared by every stage: where runs go, how they are tagged and closed.

The embedded default is ``./mlruns.db`` (sqlite) with artifacts under ``./mlartifacts``
in the directory the command runs from; ``--tracking-uri`` or ``MLFLOW_TRACKING_URI``
points at a real server. Every run carries the same tags, ends FAILED when its stage
raises, and a run this host left RUNNING (the process died) is marked KILLED on the next
start, so nothing sits RUNNING forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import mlflow

TAG = "mediaframe"
EXPERIMENTS = {
    "frames": "mediaframe-frames",
    "stance": "mediaframe-stance",
    "label": "mediaframe-label",
    "score": "mediaframe-score",
    "ingest": "mediaframe-ingest",
    "publish": "mediaframe-publish",
    "report": "mediaframe-report",
    "run": "mediaframe-run",
}


def redact(uri: str) -> str:
    """Hide credentials in URIs before they reach a log or an MLflow param."""
    return re.sub(r"(//[^:/@]+):[^@/]+@", r"\1:***@", uri)


def default_uri() -> str:
    return f"sqlite:///{Path.cwd() / 'mlruns.db'}"


def configure(uri: str | None = None) -> str:
    resolved = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
    mlflow.set_tracking_uri(resolved)
    return resolved


SYSTEM_METRICS_INTERVAL = 5.0  # seconds; MLflow's 10 s would miss most baseline runs


def system_metrics_on() -> bool:
    """CPU, memory and disk per run ("system/..." metrics) when psutil is installed,
    unless ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false`` turns them off."""
    flag = os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING")
    if flag is not None:
        return flag.strip().lower() in ("true", "1")
    import importlib.util

    return importlib.util.find_spec("psutil") is not None


def is_local_store() -> bool:
    uri = mlflow.get_tracking_uri()
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def experiment_id(key: str) -> str:
    """Get or create the stage's experiment; local stores keep artifacts in ./mlartifacts."""
    name = EXPERIMENTS.get(key, key)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if is_local_store():
        uri = mlflow.get_tracking_uri()
        base = (
            Path(uri.split("sqlite:///", 1)[1]).parent
            if uri.startswith("sqlite:///")
            else Path.cwd()
        )
        location = (base / "mlartifacts" / name).as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created concurrently by another process
        exp = mlflow.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def mark_stale_runs(exp_key: str) -> list[str]:
    """Runs this host started that still say RUNNING but whose process is gone -> KILLED."""
    host = socket.gethostname()
    killed = []
    try:
        runs = mlflow.search_runs(
            experiment_ids=[experiment_id(exp_key)],
            filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG}.host` = '{host}'",
            output_format="list",
        )
    except mlflow.exceptions.MlflowException:
        return killed
    for r in runs:
        pid = int(r.data.tags.get(f"{TAG}.pid", "0") or 0)
        if pid and _alive(pid):
            continue
        mlflow.MlflowClient().set_terminated(r.info.run_id, status="KILLED")
        killed.append(r.info.run_id)
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def base_tags(
    stage: str, task: str = "", model: str = "", codebook: str = "", data_digest: str = ""
) -> dict[str, str]:
    return {
        f"{TAG}.stage": stage,
        f"{TAG}.task": task,
        f"{TAG}.model": model,
        f"{TAG}.codebook": codebook,
        f"{TAG}.data_digest": data_digest,
        f"{TAG}.host": socket.gethostname(),
        f"{TAG}.pid": str(os.getpid()),
        f"{TAG}.git_commit": git_commit(),
    }


@contextlib.contextmanager
def stage_run(
    exp_key: str, run_name: str, tags: dict[str, str], system_metrics: bool = True
) -> Iterator[mlflow.ActiveRun]:
    """A run that ends FAILED if the stage raises and KILLED on Ctrl-C; nests under a parent.

    System metrics are sampled while it runs (see ``system_metrics_on``); runs logged
    after the fact (CV folds) pass ``system_metrics=False``, as there is nothing to sample.
    """
    mark_stale_runs(exp_key)
    parent = mlflow.active_run()
    exp = experiment_id(exp_key)
    sysm = system_metrics and system_metrics_on()
    if sysm and not os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"):
        mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL)
    if parent is not None:
        tags = {**tags, "mlflow.parentRunId": parent.info.run_id}
        run = mlflow.MlflowClient().create_run(exp, tags=tags, run_name=run_name)
        active = mlflow.start_run(run_id=run.info.run_id, nested=True, log_system_metrics=sysm)
    else:
        active = mlflow.start_run(
            experiment_id=exp, run_name=run_name, tags=tags, log_system_metrics=sysm
        )
    try:
        with active:
            yield active
    except KeyboardInterrupt:
        mlflow.MlflowClient().set_terminated(active.info.run_id, status="KILLED")
        raise
    except BaseException:
        mlflow.MlflowClient().set_terminated(active.info.run_id, status="FAILED")
        raise


def frame_digest(df) -> str:
    import pandas as pd

    return hashlib.sha256(
        pd.util.hash_pandas_object(df[["id"]], index=False).values.tobytes()
    ).hexdigest()[:16]


def git_commit() -> str:
    try:
        import subprocess

        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent.parent,
        )
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def log_dataset(df, source: str, name: str, context: str) -> None:
    """Record a DataFrame as an MLflow dataset input (lineage), with a content digest."""
    import warnings

    with warnings.catch_warnings():  # MLflow cannot tell two local source kinds apart
        warnings.simplefilter("ignore")
        ds = mlflow.data.from_pandas(df, source=source, name=name)
    mlflow.log_input(ds, context=context)
