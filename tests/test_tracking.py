"""Run hygiene on a real MLflow store: FAILED on errors, KILLED when found stale, redaction."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import pytest

from pipelines import tracking


def test_a_stage_that_raises_ends_failed(tracking_uri_store) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        tracking.stage_run(
            "frames", "boom", tracking.base_tags("train", "frames", "baseline")
        ) as run,
    ):
        _ = 1 / 0
    assert mlflow.get_run(run.info.run_id).info.status == "FAILED"


def test_a_dead_processes_running_run_is_marked_killed(tracking_uri_store) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    tags = {**tracking.base_tags("train", "frames", "baseline"), "mediaframe.pid": dead}
    exp = tracking.experiment_id("frames")
    stale = mlflow.MlflowClient().create_run(exp, tags=tags)
    with tracking.stage_run("frames", "next", tracking.base_tags("train", "frames", "x")):
        pass
    assert mlflow.get_run(stale.info.run_id).info.status == "KILLED"


def test_credentials_are_redacted() -> None:
    assert (
        tracking.redact("postgresql://user:s3cret@db:5432/ml") == "postgresql://user:***@db:5432/ml"
    )
    assert tracking.redact("https://u:p@mlflow.example") == "https://u:***@mlflow.example"
    assert tracking.redact("sqlite:///x.db") == "sqlite:///x.db"


def test_local_store_keeps_artifacts_beside_the_database(tracking_uri_store, tmp_path) -> None:
    exp = mlflow.get_experiment(tracking.experiment_id("stance"))
    assert exp.name == "mediaframe-stance"
    assert exp.artifact_location.endswith("mlartifacts/mediaframe-stance")
