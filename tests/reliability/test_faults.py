"""Faults on real processes: kill -9 mid-epoch and mid-shard, a second job on the same
output, a tracking server that is down or answers errors, a registry that fails during
publish. Nothing may be left RUNNING, lost, duplicated or half-promoted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from reliability_helpers import ROOT, child_env, cli, free_port

pytestmark = pytest.mark.slow


def popen_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"{what}: process ended first ({proc.returncode}): {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail(f"{what}: not within {timeout} s")


def printed_json(stdout: str) -> dict:
    """The summary object the CLI prints last (other lines may come before it)."""
    start = stdout.rindex("\n{\n") + 1 if "\n{\n" in stdout else stdout.index("{")
    return json.loads(stdout[start:])


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# ----------------------------------------------------------------------------- training
def train_args(champ: dict, tmp: Path) -> list[str]:
    sets = {
        "labels": champ["labels"],
        "documents": champ["documents"],
        "output": tmp / "models",
        "codebook": ROOT / "configs/codebooks/mfc.yaml",
        "splits": ROOT / "data/gold/splits.json",
        "bootstrap": 10,
        "transformer.init": "random",
        "transformer.max_length": 48,
        "transformer.epochs": 2,
        "transformer.patience": 5,
        "transformer.batch_size": 2,
        "transformer.checkpoint_every": 4,
        "transformer.checkpoint_dir": tmp / "ckpt",
        "transformer.threads": 1,
        "transformer.device": "cpu",
    }
    args = ["train", "--task", "frames", "--family", "transformer", "--tracking-uri", champ["uri"]]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def test_training_killed_mid_epoch_resumes_to_the_same_predictions(
    baseline_champion, tmp_path: Path, trials
) -> None:
    champ = baseline_champion
    args = train_args(champ, tmp_path)
    env = child_env(MLFLOW_TRACKING_URI=champ["uri"])
    ckpt = tmp_path / "ckpt"

    ref = cli(*args, cwd=tmp_path, env=env)
    assert ref.returncode == 0, ref.stderr[-3000:]
    ref_run = printed_json(ref.stdout)["run_id"]
    seen = {p.name for p in ckpt.iterdir()}

    proc = popen_cli(*args, cwd=tmp_path, env=env)

    def checkpointed() -> bool:
        new = [p for p in ckpt.iterdir() if p.name not in seen]
        return bool(new) and (new[0] / "checkpoint.json").exists()

    wait_for(checkpointed, proc, 600, "first checkpoint of the run to kill")
    kill9(proc)
    killed_dir = next(p for p in ckpt.iterdir() if p.name not in seen)
    state = json.loads((killed_dir / "checkpoint.json").read_text())
    mlflow.set_tracking_uri(champ["uri"])
    killed = mlflow.get_run(killed_dir.name)
    assert killed.info.status == "RUNNING"  # what a kill -9 leaves behind

    res = cli(*args, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"resuming from the last checkpoint of run {killed_dir.name}" in res.stdout
    new_run = printed_json(res.stdout)["run_id"]
    assert mlflow.get_run(killed_dir.name).info.status == "KILLED"
    resumed = mlflow.get_run(new_run)
    assert resumed.info.status == "FINISHED"
    assert resumed.data.tags["mediaframe.resumed_from"] == killed_dir.name

    def predictions(run_id: str) -> pd.DataFrame:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="evaluation/test_predictions.parquet",
            dst_path=str(tmp_path / run_id),
        )
        return pd.read_parquet(path)

    a, b = predictions(ref_run), predictions(new_run)
    assert a["id"].tolist() == b["id"].tolist()
    cols = [c for c in a.columns if c.startswith("p_")]
    diff = float(np.abs(a[cols].to_numpy() - b[cols].to_numpy()).max())
    assert diff <= 1e-4, diff
    running = mlflow.search_runs(
        experiment_names=["mediaframe-frames"],
        filter_string="attributes.status = 'RUNNING'",
        output_format="list",
    )
    assert not running
    trials.record(
        "faults",
        "train",
        f"kill -9 at step {state['step']} (epoch {state['epoch']}, batch {state['batch']})",
        "resume, |dp| <= 1e-4",
        f"KILLED + resumed, |dp| = {diff:.1e}",
        True,
    )


# ----------------------------------------------------------------------------- scoring
@pytest.fixture(scope="module")
def score_input(baseline_champion, tmp_path_factory) -> Path:
    """Enough rows for many shards: the sample's documents repeated under new ids."""
    docs = pd.read_parquet(baseline_champion["documents"])
    reps = max(1, 1500 // len(docs))
    frames = []
    for r in range(reps):
        d = docs[["id", "title", "text", "source", "date", "url"]].copy()
        d["id"] = [f"{i}-{r}" for i in d["id"]]
        frames.append(d)
    path = tmp_path_factory.mktemp("score-in") / "in.jsonl"
    pd.concat(frames, ignore_index=True).to_json(path, orient="records", lines=True)
    return path


CHUNK = 50


def score_args(champ: dict, inp: Path, out: Path) -> list[str]:
    return [
        "score",
        "--input",
        str(inp),
        "--output",
        str(out),
        "--tracking-uri",
        champ["uri"],
        "--set",
        f"chunk_size={CHUNK}",
    ]


def test_scorer_killed_mid_shard_resumes_to_the_same_output(
    baseline_champion, score_input: Path, tmp_path: Path, trials
) -> None:
    champ = baseline_champion
    env = child_env(MLFLOW_TRACKING_URI=champ["uri"])
    n_in = sum(1 for _ in score_input.open())

    ref = cli(*score_args(champ, score_input, tmp_path / "ref"), cwd=tmp_path, env=env)
    assert ref.returncode == 0, ref.stderr[-3000:]

    out = tmp_path / "out"
    proc = popen_cli(*score_args(champ, score_input, out), cwd=tmp_path, env=env)

    def shards_done() -> int:
        try:
            return len(json.loads((out / "_manifest.json").read_text())["shards"])
        except (OSError, ValueError, KeyError):
            return 0

    wait_for(lambda: shards_done() >= 2, proc, 600, "two finished shards")
    os.kill(proc.pid, signal.SIGSTOP)  # frozen mid-job, lock held: now a second job
    try:
        second = cli(*score_args(champ, score_input, out), cwd=tmp_path, env=env)
        assert second.returncode == 2
        assert "another scoring job holds this output directory" in second.stderr
        trials.record("faults", "score", "second job on a locked output", "refused", "exit 2", True)
    finally:
        kill9(proc)  # SIGKILL ends a stopped process too
    done_at_kill = shards_done()
    manifest = json.loads((out / "_manifest.json").read_text())
    assert not manifest["complete"] and done_at_kill * CHUNK < n_in

    res = cli(*score_args(champ, score_input, out), cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"{done_at_kill} already done" in res.stdout
    assert not list(out.glob(".*.tmp"))

    a, b = pd.read_parquet(tmp_path / "ref"), pd.read_parquet(out)
    assert len(a) == len(b) == n_in
    assert b["id"].is_unique and b["id"].tolist() == a["id"].tolist()
    for col in ["primary_frame", "stance_nato", "stance_us", "stance_russia", "stance_csto"]:
        assert b[col].tolist() == a[col].tolist(), col
    assert [list(x) for x in b["frames"]] == [list(x) for x in a["frames"]]
    mlflow.set_tracking_uri(champ["uri"])
    running = mlflow.search_runs(
        experiment_names=["mediaframe-score"],
        filter_string="attributes.status = 'RUNNING'",
        output_format="list",
    )
    assert not running
    trials.record(
        "faults",
        "score",
        f"kill -9 after {done_at_kill} of {-(-n_in // CHUNK)} shards",
        f"{n_in} rows, same ids/labels",
        f"{len(b)} rows, equal",
        True,
    )


# ----------------------------------------------------------------------------- tracking
class _Failing(BaseHTTPRequestHandler):
    """Answers every request with HTTP 503, counting them."""

    hits = 0

    def _fail(self) -> None:
        type(self).hits += 1
        self.send_response(503)
        self.end_headers()
        self.wfile.write(b'{"error_code": "TEMPORARILY_UNAVAILABLE"}')

    do_GET = do_POST = _fail

    def log_message(self, *a) -> None:  # quiet
        pass


def test_unreachable_tracking_server_fails_fast_before_work(
    baseline_champion, tmp_path: Path, trials
) -> None:
    port = free_port()  # nothing listens here
    uri = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    res = cli(
        "ingest",
        "--input",
        str(ROOT / "data/raw/wire-export.jsonl"),
        "--output",
        str(tmp_path / "out"),
        "--tracking-uri",
        uri,
        cwd=tmp_path,
    )
    secs = time.perf_counter() - t0
    assert res.returncode == 2
    assert f"tracking server {uri} unreachable" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()  # nothing was done
    trials.record(
        "faults", "tracking", "server unreachable", "exit 2, no output", f"{secs:.0f} s", True
    )


def test_tracking_server_errors_are_retried_with_backoff_then_fail(tmp_path: Path, trials) -> None:
    _Failing.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    env = child_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="3", MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0.5")
    try:
        t0 = time.perf_counter()
        res = cli("publish", "--tracking-uri", uri, cwd=tmp_path, env=env)
        secs = time.perf_counter() - t0
    finally:
        server.shutdown()
    assert res.returncode == 2
    assert f"tracking server {uri} answered HTTP 503 after 4 attempt(s)" in res.stderr
    assert _Failing.hits == 4 and secs >= 0.5 + 1 + 2
    trials.record(
        "faults",
        "tracking",
        "server answers 503",
        "4 tries, backoff",
        f"{_Failing.hits} tries",
        True,
    )


class _Proxy(BaseHTTPRequestHandler):
    """Forwards to the real server, except that requests whose path holds ``fail`` get 500."""

    upstream = ""
    fail = ""
    failed = 0

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.fail and self.fail in self.path:
            type(self).failed += 1
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error_code": "INTERNAL_ERROR", "message": "injected"}')
            return
        req = urllib.request.Request(
            self.upstream + self.path, data=body or None, method=self.command
        )
        for k in ("Content-Type", "Authorization"):
            if self.headers.get(k):
                req.add_header(k, self.headers[k])
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                code, data, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            code, data, ctype = e.code, e.read(), e.headers.get("Content-Type")
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def log_message(self, *a) -> None:
        pass


@pytest.mark.parametrize(
    "fail", ["registered-models/alias", "model-versions/set-tag"], ids=["alias", "version-tag"]
)
def test_registry_failing_during_publish_leaves_no_champion(
    mlflow_server, baseline_champion, tmp_path: Path, monkeypatch, fail: str, trials
) -> None:
    """Publish through a proxy that fails one registry call: the version is registered but
    never gets an alias, and the publish run ends FAILED."""
    from pipelines.config import PublishConfig
    from pipelines.publish import publish

    champ = baseline_champion
    server = mlflow_server["url"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # The runs to publish, copied onto the server by training there.
    mlflow.set_tracking_uri(server)
    from pipelines.config import TrainConfig
    from pipelines.train import run_train

    runs = {}
    for task in ("frames", "stance"):
        cfg = TrainConfig(
            task=task,
            labels=str(champ["labels"]),
            documents=str(champ["documents"]),
            output=str(tmp_path / "models"),
            codebook=str(ROOT / "configs/codebooks/mfc.yaml"),
            stance=str(ROOT / "configs/stance.yaml"),
            splits=str(ROOT / "data/gold/splits.json"),
            bootstrap=10,
        )
        runs[task] = run_train(cfg)["run_id"]

    _Proxy.upstream, _Proxy.fail, _Proxy.failed = server, fail, 0
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    name = f"faulty-{fail.split('/')[-1]}"
    try:
        mlflow.set_tracking_uri(f"http://127.0.0.1:{proxy.server_address[1]}")
        with pytest.raises(mlflow.exceptions.MlflowException):
            publish(
                PublishConfig(
                    model_name=name,
                    frames_run=runs["frames"],
                    stance_run=runs["stance"],
                    documents=str(champ["documents"]),
                    gold=str(ROOT / "data/gold/gold.jsonl"),
                    splits=str(ROOT / "data/gold/splits.json"),
                    bootstrap=10,
                )
            )
    finally:
        proxy.shutdown()
        mlflow.set_tracking_uri(server)
    assert _Proxy.failed >= 1
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    assert len(versions) == 1  # registered: the failure came after
    assert client.get_registered_model(name).aliases == {}
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(name, "champion")
    publish_run = client.get_run(versions[0].tags["run_id"])
    assert publish_run.info.status == "FAILED"
    trials.record(
        "faults",
        "publish",
        f"registry fails on {fail}",
        "no @champion, run FAILED",
        "as expected",
        True,
    )
