"""MLflow plumbing shared by every stage: where runs go, how they are tagged and closed.

The embedded default is ``./mlruns.db`` (sqlite) with artifacts under ``./mlartifacts``
in the directory the command runs from; ``--tracking-uri`` or ``MLFLOW_TRACKING_URI``
points at a real server. Every run carries the same tags, ends FAILED when its stage
raises, and a run this host left RUNNING (the process died) is marked KILLED on the next
start, so nothing sits RUNNING forever.
"""

from __future__ import annotations

import contextlib
import contextvars
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
    "compare": "mediaframe-compare",
}


class TrackingUnavailable(RuntimeError):
    """The tracking server cannot be reached or answers with errors: stop before any work."""


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/?#]*)@")


def redact(uri: str) -> str:
    """Hide credentials in URIs before they reach a log or an MLflow param.

    The user part ends at the last ``@`` before the host, so a password holding ``@``,
    ``:`` or ``/`` is hidden whole, and a token given as the user name is hidden too.
    """
    m = _USERINFO.match(uri)
    if not m:
        return uri
    user = m.group("user")
    name = user.split(":", 1)[0] if ":" in user else "***"
    shown = f"{name}:***" if ":" in user else name
    return f"{m.group('scheme')}{shown}@{uri[m.end() :]}"


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``https://user:pw@host`` -> (``https://host``, user, pw); other URIs unchanged."""
    from urllib.parse import unquote

    m = _USERINFO.match(uri)
    if not m or not uri.startswith(("http://", "https://")):
        return uri, None, None
    user, _, password = m.group("user").partition(":")
    return m.group("scheme") + uri[m.end() :], unquote(user), unquote(password)


def default_uri() -> str:
    return f"sqlite:///{Path.cwd() / 'mlruns.db'}"


def configure(uri: str | None = None) -> str:
    """Point MLflow at the store and make sure a server store answers before any work.

    Credentials in an http(s) URI move to MLFLOW_TRACKING_USERNAME/PASSWORD, which MLflow
    sends as basic auth, so the URI MLflow holds (and prints in "View run" links) has none.
    A server that is down fails here, in seconds, with the URI named (redacted): MLflow
    would otherwise retry each call for minutes. MLFLOW_HTTP_REQUEST_MAX_RETRIES (default
    here 2) and MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR (default 1 s) set how long to retry.
    """
    resolved = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
    clean, user, password = split_credentials(resolved)
    if user is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password or ""
        if os.environ.get("MLFLOW_TRACKING_URI") == resolved:
            os.environ["MLFLOW_TRACKING_URI"] = clean  # child processes inherit no secret
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    mlflow.set_tracking_uri(clean)
    if clean.startswith(("http://", "https://")):
        check_server(clean)
    return clean


def check_server(uri: str) -> None:
    """One real API call, retried with backoff as configured; a clear error if it fails."""
    import time

    import requests

    retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"))
    backoff = float(os.environ.get("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"))
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    auth = (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) if user else None
    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search"
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            resp = requests.post(url, json={"max_results": 1}, auth=auth, timeout=10)
        except requests.RequestException as exc:
            problem = f"unreachable ({type(exc).__name__})"
            continue
        if resp.status_code in (401, 403):
            raise TrackingUnavailable(
                f"tracking server {redact(uri)} refused the credentials (HTTP "
                f"{resp.status_code}); set MLFLOW_TRACKING_USERNAME/PASSWORD"
            )
        if resp.ok:
            return
        problem = f"answered HTTP {resp.status_code}"
    raise TrackingUnavailable(
        f"tracking server {redact(uri)} {problem} after {retries + 1} attempt(s); "
        "nothing was run. Check --tracking-uri / MLFLOW_TRACKING_URI, or raise "
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES to wait for it longer"
    )


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
            Path(uri.split("sqlite:///", 1)[1]).resolve().parent
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


# The name a user gave with --run-name, for the runs started while it is set.
_RUN_NAME: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_name", default=None)


@contextlib.contextmanager
def run_names(name: str | None) -> Iterator[None]:
    """While set, the outermost stage run is called ``name`` and the runs nested in it
    ``name/<stage name>``, so two runs of one stage can be told apart in the UI (the
    training runs of ``mediaframe run`` live in their own experiments, beside others)."""
    if name is not None and not name.strip():
        raise ValueError("--run-name must not be empty")
    token = _RUN_NAME.set(name.strip() if name else None)
    try:
        yield
    finally:
        _RUN_NAME.reset(token)


def given_name(default: str, nested: bool) -> str:
    """The name a new run gets: the user's (see ``run_names``), or the stage's default."""
    given = _RUN_NAME.get()
    if not given:
        return default
    return f"{given}/{default}" if nested else given


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
    run_name = given_name(run_name, nested=parent is not None)
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
