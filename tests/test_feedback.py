"""Feedback: transformer training shows its epochs and batches, runs keep their final dev
figure, and publish says which runs it packaged and why."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from models.base import ModelBundle
from models.data import Examples, TaskSpec
from models.training import trained_params
from models.transformer.config import TransformerConfig
from models.transformer.model import TransformerModel
from pipelines import tracking
from pipelines.train import _log_step

SPEC = TaskSpec("frames", "multilabel", ["security", "economic"])


def _data(n: int) -> Examples:
    texts = [("troops at the border" if i % 2 else "grain prices rose") + f" {i}" for i in range(n)]
    y = np.array([[i % 2, 1 - i % 2] for i in range(n)])
    return Examples([f"d{i}" for i in range(n)], texts, y)


def _tiny() -> TransformerConfig:
    return TransformerConfig(
        init="random", max_length=16, epochs=2, batch_size=4, patience=5, threads=1
    )


def _fit(monkeypatch: pytest.MonkeyPatch, flag: str) -> TransformerModel:
    monkeypatch.setenv("MEDIAFRAME_PROGRESS", flag)
    m = TransformerModel(SPEC, _tiny())
    data = _data(12)
    m.fit(data, data.subset(range(4)))
    return m


def test_transformer_training_shows_epochs_and_batches(monkeypatch, capsys) -> None:
    m = _fit(monkeypatch, "1")
    err = capsys.readouterr().err
    assert f"training frames: 12 examples, 2 epochs, 6 optimiser steps on {m.device}" in err
    # A batch bar per epoch (3 batches of 4), the epoch bar, and one line per epoch.
    assert "epoch 1/2:   0%|          | 0/3 [" in err and "epoch 2/2:" in err
    assert "epochs:   0%|          | 0/2 [" in err
    for e, h in enumerate(m.history, start=1):
        assert f"epoch {e}/2: train_loss {h['train_loss']:.4f}, dev_loss {h['dev_loss']:.4f}" in err
    # The epoch kept is the one with the best dev score, and it is said which figure chose it.
    best = 1 + int(np.argmax([h["dev_score"] for h in m.history]))
    assert m.best_epoch == best and m.epoch_criterion == "dev_loss"
    params = trained_params(ModelBundle(m), m.cfg)
    assert params["best_epoch"] == best and params["epochs_run"] == 2
    assert params["epochs"] == 2  # the configured value stays beside what was kept


def test_progress_off_means_silent(monkeypatch, capsys) -> None:
    _fit(monkeypatch, "0")
    assert capsys.readouterr().err == ""


def test_per_epoch_dev_figures_do_not_hide_the_final_dev_figure(tracking_uri_store) -> None:
    """Regression: epochs were logged as ``dev_micro_f1`` at steps 1..N, and MLflow shows
    the highest step's value, so the run's dev_micro_f1 (what publish ranks runs by) was
    the last epoch's fixed-0.5 score, not the tuned model's."""
    tags = tracking.base_tags("train", "frames", "transformer")
    with tracking.stage_run("frames", "frames-transformer", tags, system_metrics=False) as run:
        _log_step({"train_loss": 0.7, "dev_loss": 0.6, "dev_micro_f1": 0.2}, 1)
        _log_step({"train_loss": 0.5, "dev_loss": 0.4, "dev_micro_f1": 0.25}, 2)
        mlflow.log_metrics({"dev_micro_f1": 0.61})  # the final, tuned dev figure
    metrics = mlflow.get_run(run.info.run_id).data.metrics
    assert metrics["dev_micro_f1"] == 0.61
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "epoch_dev_micro_f1")
    assert [(h.step, h.value) for h in history] == [(1, 0.2), (2, 0.25)]
    assert metrics["train_loss"] == 0.5


def test_publish_names_the_runs_it_packaged_and_why(baseline_champion) -> None:
    res, runs = baseline_champion["first"], baseline_champion["runs"]
    by_task = {p.task: p for p in res.packaged}
    assert set(by_task) == {"frames", "stance"}
    for task, metric in (("frames", "dev_micro_f1"), ("stance", "dev_macro_f1")):
        p, trained = by_task[task], runs[(task, "baseline")]
        assert p.run_id == trained["run_id"] and p.run_name == f"{task}-baseline"
        assert p.metric == metric and p.value == pytest.approx(trained["metrics"][metric])
        assert p.why == f"highest {metric} ({p.value:.4f}) of 1 finished {task} run"
    lines = res.lines()
    assert lines[0].startswith(f"packaged frames run {runs[('frames', 'baseline')]['run_id']} ")
    assert lines[-1] == "gate: mediaframe version 1 -> @champion: first version"
