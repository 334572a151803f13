"""Issue #21: publish never packages a run that is not above the trivial reference.

Runs are real runs in a real sqlite store, carrying the figures training logs (the
selection metric, its split's trivial reference, and the repeated-CV means); the choice
is the real ``publish`` ranking.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from conftest import store_in

from pipelines import tracking
from pipelines.publish import PublishError, _best_run, trivial_gate


def _log_run(name: str, metrics: dict[str, float]) -> str:
    # experiment_id, not set_experiment: that sets a process-wide active experiment which
    # later tests' nested runs (in other experiments) would trip over.
    with mlflow.start_run(experiment_id=tracking.experiment_id("stance"), run_name=name) as run:
        mlflow.log_metrics(metrics)
    return run.info.run_id


def test_runs_are_ranked_by_their_cross_validated_figure_ahead_of_dev(tmp_path: Path) -> None:
    with store_in(tmp_path):
        # Best on the one dev split, second by CV; and a run with no CV at all.
        _log_run(
            "lucky-dev",
            {"dev_macro_f1": 0.60, "cv_mean_macro_f1": 0.30, "cv_trivial_macro_f1": 0.25},
        )
        sound = _log_run(
            "sound",
            {"dev_macro_f1": 0.50, "cv_mean_macro_f1": 0.40, "cv_trivial_macro_f1": 0.25},
        )
        _log_run("no-cv", {"dev_macro_f1": 0.70})
        assert _best_run("stance", "dev_macro_f1") == (sound, 3, [], "cv_mean_macro_f1")


def test_without_cv_figures_runs_are_ranked_by_dev(tmp_path: Path) -> None:
    with store_in(tmp_path):
        _log_run("low", {"dev_macro_f1": 0.40})
        high = _log_run("high", {"dev_macro_f1": 0.55})
        assert _best_run("stance", "dev_macro_f1") == (high, 2, [], "dev_macro_f1")


def test_a_run_below_the_trivial_reference_is_passed_over(tmp_path: Path) -> None:
    with store_in(tmp_path):
        # Ranked first, but its cross-validated score is below the trivial reference on
        # its own folds.
        lucky = _log_run(
            "lucky",
            {"dev_macro_f1": 0.60, "cv_mean_macro_f1": 0.45, "cv_trivial_macro_f1": 0.50},
        )
        sound = _log_run(
            "sound",
            {"dev_macro_f1": 0.50, "cv_mean_macro_f1": 0.40, "cv_trivial_macro_f1": 0.25},
        )
        run_id, n, skipped, ranked_by = _best_run("stance", "dev_macro_f1")
        assert (run_id, n, ranked_by) == (sound, 2, "cv_mean_macro_f1")
        assert len(skipped) == 1 and lucky in skipped[0] and "not above" in skipped[0]


def test_no_run_above_the_trivial_reference_is_an_error_naming_task_and_figures(
    tmp_path: Path,
) -> None:
    with store_in(tmp_path):
        # Without CV figures the run is held to its dev figure against dev's trivial one.
        _log_run("majority-like", {"dev_macro_f1": 0.18, "dev_trivial_macro_f1": 0.20})
        with pytest.raises(PublishError) as err:
            _best_run("stance", "dev_macro_f1")
        msg = str(err.value)
        assert msg.startswith("stance: none of 1 finished runs is above the trivial reference")
        assert "0.180" in msg and "0.200" in msg


def test_the_gate_reads_cv_first_then_the_selection_split() -> None:
    cv = {"dev_macro_f1": 0.1, "dev_trivial_macro_f1": 0.2}
    cv |= {"cv_mean_macro_f1": 0.5, "cv_trivial_macro_f1": 0.3}
    assert trivial_gate(cv, "dev_macro_f1")[0]  # CV decides over the one small split
    assert not trivial_gate({"dev_macro_f1": 0.2, "dev_trivial_macro_f1": 0.2}, "dev_macro_f1")[0]
    assert trivial_gate({"dev_macro_f1": 0.2}, "dev_macro_f1") == (
        True,
        "no trivial reference logged",
    )
