"""Load: a real `mlflow server` under concurrent logging from several processes, and the
served scoring function under a bounded loopback load (bench/bench_serve.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from reliability_helpers import ROOT, child_env

pytestmark = pytest.mark.slow

PROCESSES = 4
STEPS = 120
KEYS = ["train_loss", "dev_loss", "dev_micro_f1"]

# What a training process does with the tracking server, as a stage run: params, one
# batch of metrics per step, a closing summary. Prints its run id.
WORKER = """
import sys
import mlflow
from pipelines import tracking
uri, worker, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tracking.configure(uri)
tags = tracking.base_tags("train", "frames", f"load-{worker}")
with tracking.stage_run("frames", f"load-{worker}", tags) as run:
    mlflow.log_params({"worker": worker, "steps": steps})
    for s in range(steps):
        mlflow.log_metrics(
            {"train_loss": worker + s / 1000, "dev_loss": s * 0.5, "dev_micro_f1": s % 7 / 7},
            step=s,
        )
    mlflow.log_metric("done", 1)
print(run.info.run_id)
"""


def test_concurrent_logging_loses_no_metric(mlflow_server, tmp_path: Path, trials) -> None:
    uri = mlflow_server["url"]
    env = child_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="5")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, uri, str(w), str(STEPS)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    run_ids = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        run_ids.append(out.strip().splitlines()[-1])
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    expected = PROCESSES * STEPS * len(KEYS)
    found = 0
    for w, rid in enumerate(run_ids):
        run = client.get_run(rid)
        assert run.info.status == "FINISHED"
        assert run.data.params["worker"] == str(w)
        for key in KEYS:
            hist = client.get_metric_history(rid, key)
            steps = sorted(m.step for m in hist)
            assert steps == list(range(STEPS)), (rid, key, len(steps))
            found += len(hist)
        train = {m.step: m.value for m in client.get_metric_history(rid, "train_loss")}
        assert all(abs(train[s] - (w + s / 1000)) < 1e-9 for s in range(STEPS))
    assert found == expected
    trials.record(
        "load",
        f"mlflow server ({mlflow_server['backend']})",
        f"{PROCESSES} processes x {STEPS} steps x {len(KEYS)} metrics",
        f"{expected} metric points",
        f"{found} found",
        found == expected,
    )


def test_served_model_under_bounded_load(baseline_champion, trials) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.bench_serve import run

    rows = run(
        baseline_champion["model"],
        baseline_champion["uri"],
        requests=120,
        concurrency=4,
        rows=[1, 8],
    )
    for r in rows:
        assert r["errors"] == 0, r["first_errors"]
        assert r["ok"] == r["requests"] == 120
        assert 0 < r["p50_ms"] <= r["p99_ms"]
        trials.record(
            "load",
            "models serve",
            f"120 requests x {r['rows_per_request']} docs, 4 clients",
            "120 ok, 0 errors",
            f"{r['ok']} ok, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms",
            True,
        )
    print(json.dumps(rows))


def test_no_secret_reaches_logs_params_or_artifacts(
    mlflow_server, baseline_champion, tmp_path: Path, trials
) -> None:
    """A stage run with a password in the tracking URI: the password is in no output, no
    param, no tag and no logged artifact."""
    from reliability_helpers import cli

    secret = "S3cr3t-pw-9917"
    url = mlflow_server["url"].replace("http://", f"http://alice:{secret}@")
    res_ingest = cli(
        "ingest",
        "--input",
        str(ROOT / "data/raw/wire-export.jsonl"),
        "--output",
        str(tmp_path / "out"),
        "--tracking-uri",
        url,
        cwd=tmp_path,
    )
    champ = baseline_champion
    res_train = cli(
        "train",
        "--task",
        "frames",
        "--family",
        "baseline",
        "--tracking-uri",
        url,
        "--set",
        f"labels={champ['labels']}",
        "--set",
        f"documents={champ['documents']}",
        "--set",
        f"output={tmp_path / 'models'}",
        "--set",
        f"codebook={ROOT / 'configs/codebooks/mfc.yaml'}",
        "--set",
        f"splits={ROOT / 'data/gold/splits.json'}",
        "--set",
        "bootstrap=10",
        cwd=tmp_path,
        env=child_env(MLFLOW_TRACKING_URI=url),
    )
    for res in (res_ingest, res_train):
        assert res.returncode == 0, res.stderr[-3000:]
        assert secret not in res.stdout and secret not in res.stderr
    mlflow.set_tracking_uri(mlflow_server["url"])
    client = mlflow.MlflowClient()
    checked = 0
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            blob = json.dumps(
                {"params": run.data.params, "tags": run.data.tags, "name": run.info.run_name}
            )
            assert secret not in blob, run.info.run_id
            for art in ("config.yaml", "ingest_report.json"):
                try:
                    path = mlflow.artifacts.download_artifacts(
                        run_id=run.info.run_id, artifact_path=art, dst_path=str(tmp_path / "a")
                    )
                except Exception:
                    continue
                assert secret not in Path(path).read_text()
            checked += 1
    for f in (tmp_path / "out").iterdir():
        if f.suffix == ".json":
            assert secret not in f.read_text()
    assert checked >= 2
    trials.record(
        "security",
        "tracking",
        "password in --tracking-uri",
        "in no log/param/tag",
        f"{checked} runs clean",
        True,
    )
