"""Run hygiene on a real MLflow store: FAILED on errors, KILLED when found stale, redaction."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import numpy as np
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


def test_stage_runs_log_system_metrics(tracking_uri_store, monkeypatch) -> None:
    import time

    pytest.importorskip("psutil", reason="system metrics need psutil (a dependency)")
    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    assert tracking.system_metrics_on()
    with tracking.stage_run("frames", "busy", tracking.base_tags("train", "frames")) as run:
        time.sleep(1.5)
    keys = set(mlflow.get_run(run.info.run_id).data.metrics)
    assert (
        "system/cpu_utilization_percentage" in keys
        and "system/system_memory_usage_megabytes" in keys
    )
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    assert not tracking.system_metrics_on()
    with tracking.stage_run("frames", "quiet", tracking.base_tags("train", "frames")) as run:
        time.sleep(0.6)
    assert not any(k.startswith("system/") for k in mlflow.get_run(run.info.run_id).data.metrics)


def test_cv_folds_become_nested_runs_of_the_training_run(tracking_uri_store) -> None:
    from models.baseline import BaselineModel
    from models.data import Examples, TaskSpec
    from pipelines.config import BaselineConfig
    from pipelines.train import log_cv_folds

    texts, groups, y = [], [], []
    for i in range(60):
        sec = i % 2 == 0
        texts.append(
            ("troops and missiles at the border" if sec else "grain prices and tariffs") + f" {i}"
        )
        y.append([int(sec), int(not sec)])
        groups.append(f"outlet{i % 4}")
    ex = Examples([f"d{i}" for i in range(60)], texts, np.array(y), groups=groups)
    spec = TaskSpec("frames", "multilabel", ["security", "economic"])
    model = BaselineModel(
        spec, BaselineConfig(cv_search=True, cv_grid_C=[0.5, 4.0], cv_repeats=1, n_jobs=1)
    )
    model.fit(ex)
    assert len(model.cv_results) == 2 * 4  # GroupKFold over 4 outlets, 2 values of C
    assert all(len(r["held_out"]) == 1 for r in model.cv_results)  # one outlet per fold
    tags = tracking.base_tags("train", "frames", "baseline")
    with tracking.stage_run("frames", "frames-baseline", tags) as parent:
        log_cv_folds(model.cv_results, "frames", "baseline", tags)
    pid = parent.info.run_id
    children = mlflow.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{pid}'",
        output_format="list",
    )
    names = sorted(c.info.run_name for c in children)
    assert names == [f"frames-baseline-cv-fold{i}" for i in range(4)]
    for c in children:
        assert c.info.status == "FINISHED"
        assert c.data.tags["mediaframe.stage"] == "train-cv"
        assert c.data.tags["mediaframe.task"] == "frames"
        assert {"cv_f1_C0.5", "cv_f1_C4"} <= set(c.data.metrics)
        assert c.data.params["held_out_sources"].startswith("outlet")
    pm = mlflow.get_run(pid).data.metrics
    assert pm["cv_best_C"] == model.best_C
    assert {"cv_mean_f1_C0.5", "cv_mean_f1_C4"} <= set(pm)


def test_run_names_name_the_outer_run_and_prefix_the_nested_ones(tracking_uri_store) -> None:
    """`mediaframe run --run-name X`: the parent is X, its stage runs (which live in other
    experiments, beside every other run of that stage) X/<stage name>."""
    from pipelines.cli import build_parser

    assert build_parser([]).parse_args(["run", "--run-name", "eu-v2"]).run_name == "eu-v2"
    args = build_parser([]).parse_args(["train", "--task", "frames", "--run-name", "c8"])
    assert args.run_name == "c8"
    tags = tracking.base_tags("run")
    with (
        tracking.run_names("eu-v2"),
        tracking.stage_run("run", "run", tags, system_metrics=False) as parent,
        tracking.stage_run("frames", "frames-baseline", tags, False) as child,
    ):
        pass
    with tracking.stage_run("frames", "frames-baseline", tags, False) as plain:
        pass
    assert mlflow.get_run(parent.info.run_id).info.run_name == "eu-v2"
    assert mlflow.get_run(child.info.run_id).info.run_name == "eu-v2/frames-baseline"
    assert mlflow.get_run(plain.info.run_id).info.run_name == "frames-baseline"
    with pytest.raises(ValueError, match="must not be empty"), tracking.run_names("  "):
        pass


def test_a_relative_sqlite_uri_keeps_artifacts_beside_its_database(
    tracking_uri_store, tmp_path
) -> None:
    """Regression: `--tracking-uri sqlite:///mlruns.db` (relative) failed with "relative
    path can't be expressed as a file URI" on the first run of a new experiment."""
    mlflow.set_tracking_uri("sqlite:///mlruns.db")
    exp = mlflow.get_experiment(tracking.experiment_id("compare"))
    assert exp.name == "mediaframe-compare"
    assert exp.artifact_location == (tmp_path / "mlartifacts" / "mediaframe-compare").as_uri()
