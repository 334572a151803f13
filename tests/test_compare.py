"""Runs that compare: named runs, params as trained, a description, and ``compare``.

Two real baseline frames runs on the sample's labels (the session champion's work dir),
in a sqlite store of their own: one with a fixed C, one whose grouped CV search picks C.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from conftest import store_in

from models.baseline.config import BaselineConfig
from pipelines.compare import CompareError, compare
from pipelines.config import PublishConfig, TrainConfig
from pipelines.train import run_train


@pytest.fixture(scope="module")
def two_runs(baseline_champion, tmp_path_factory, root: Path) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("compare")
    work = baseline_champion["work"]
    common = {
        "labels": str(work / "labels.parquet"),
        "documents": str(work / "documents.parquet"),
        "output": str(tmp / "models"),
        "codebook": str(root / "configs/codebooks/mfc.yaml"),
        "stance": str(root / "configs/stance.yaml"),
        "splits": str(root / "data/gold/splits.json"),
        "bootstrap": 50,
    }
    small = {"n_jobs": 1, "ngram_max": 1, "max_features": 3000}  # ten CV fits in seconds
    fixed = BaselineConfig(C=0.05, **small)
    searched = BaselineConfig(C=4.0, cv_search=True, cv_grid_C=[0.5, 16.0], **small)
    with store_in(tmp) as uri:
        a = run_train(TrainConfig(task="frames", baseline=fixed, **common), run_name="tiny-C")
        b = run_train(TrainConfig(task="frames", baseline=searched, **common), run_name="cv-C")
        s1, s2 = (
            run_train(TrainConfig(task="stance", baseline=BaselineConfig(C=c, **small), **common))
            for c in (0.1, 4.0)
        )
        client = mlflow.MlflowClient()
        runs = {k: client.get_run(s["run_id"]) for k, s in (("a", a), ("b", b))}
        cv_children = mlflow.search_runs(
            [runs["b"].info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{b['run_id']}'",
            output_format="list",
        )
    return {
        **{"uri": uri, "tmp": tmp, "a": a, "b": b, "s1": s1, "s2": s2},
        **{"runs": runs, "cv_children": cv_children},
    }


@pytest.fixture()
def in_store(two_runs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", two_runs["uri"])
    mlflow.set_tracking_uri(two_runs["uri"])
    return two_runs


def test_run_name_names_the_run_and_its_nested_cv_runs(two_runs) -> None:
    assert two_runs["runs"]["a"].info.run_name == "tiny-C"
    assert two_runs["runs"]["b"].info.run_name == "cv-C"
    names = sorted(c.info.run_name for c in two_runs["cv_children"])
    assert names and all(n.startswith("cv-C/frames-baseline-cv-fold") for n in names)


def test_params_are_the_chosen_values_and_name_the_selection_metric(two_runs) -> None:
    fixed, searched = two_runs["runs"]["a"].data, two_runs["runs"]["b"].data
    assert fixed.params["baseline.C"] == "0.05"
    chosen = searched.metrics["cv_best_C"]
    assert chosen in (0.5, 16.0)
    # The configured C (4.0) is not what was trained; the search's pick is logged.
    assert float(searched.params["baseline.C"]) == chosen
    assert searched.params["baseline.cv_grid_C"] == "[0.5, 16.0]"
    for data in (fixed, searched):
        assert data.params["selection_metric"] == "dev_micro_f1"
        assert "dev_micro_f1" in data.metrics


def test_description_carries_the_headline_figures(two_runs) -> None:
    data = two_runs["runs"]["b"].data
    note = data.tags["mlflow.note.content"]
    micro = data.metrics["test_micro_f1"]
    lo = data.metrics["test_micro_f1_ci_low"]
    assert f"micro_f1 **{micro:.3f}** [{lo:.3f}," in note
    assert f"`dev_micro_f1` = {data.metrics['dev_micro_f1']:.3f}" in note
    assert f"C={data.metrics['cv_best_C']:g} by grouped CV over [0.5, 16]" in note


def test_compare_pairs_two_runs_on_one_page_logged_to_mlflow(in_store, tmp_path: Path) -> None:
    a, b = in_store["a"]["run_id"], in_store["b"]["run_id"]
    res = compare([a, b], tmp_path / "cmp", PublishConfig(bootstrap=200))
    page = res.html.read_text()
    assert "Paired bootstrap" in page and "Per-label F1" in page
    ma, mb = in_store["runs"]["a"].data.metrics, in_store["runs"]["b"].data.metrics
    # Headline figures with the intervals training logged, per run.
    for m in (ma, mb):
        cell = f"{m['test_micro_f1']:.3f} [{m['test_micro_f1_ci_low']:.3f}, "
        assert cell in page
    # Same test items, so the paired difference is the difference of the logged figures.
    row = res.paired.iloc[0]
    assert res.n_items == int(in_store["runs"]["a"].data.params["n_test"])
    assert row["diff"] == pytest.approx(mb["test_micro_f1"] - ma["test_micro_f1"], abs=1e-9)
    assert row["ci_low"] <= row["diff"] <= row["ci_high"]
    # Per-label deltas agree with each run's own per-label F1 from training.
    per = res.per_label.set_index("label")
    delta = per.filter(like="delta").iloc[:, 0]
    f1a, f1b = per.filter(like="F1").iloc[:, 0], per.filter(like="F1").iloc[:, 1]
    pd.testing.assert_series_equal(delta, f1b - f1a, check_names=False)
    logged = mlflow.get_run(res.run_id)
    assert logged.data.params["reference"] == a
    assert logged.data.metrics["run1_minus_reference_diff"] == pytest.approx(row["diff"])
    files = {f.path for f in mlflow.MlflowClient().list_artifacts(res.run_id)}
    assert "compare.html" in files
    exp = mlflow.get_experiment(logged.info.experiment_id)
    assert exp.name == "mediaframe-compare"


def test_compare_pairs_stance_runs_per_target_item(in_store, tmp_path: Path) -> None:
    s1, s2 = in_store["s1"], in_store["s2"]
    res = compare([s1["run_id"], s2["run_id"]], tmp_path, PublishConfig(bootstrap=100))
    assert res.metric == "macro_f1"
    # Items are (document, target) pairs, as in training's own evaluation.
    assert res.n_items == int(res.runs[0].params["n_test"])
    assert res.runs[0].items.index.names == ["id", "target"]
    diff = s2["metrics"]["test_macro_f1"] - s1["metrics"]["test_macro_f1"]
    assert res.paired.iloc[0]["diff"] == pytest.approx(diff, abs=1e-9)
    assert list(res.per_label["label"]) == ["favor", "against", "neutral"]


def test_compare_refuses_runs_of_two_tasks_and_unknown_runs(in_store, tmp_path: Path) -> None:
    a = in_store["a"]["run_id"]
    with pytest.raises(CompareError, match="compare runs of one task"):
        compare([a, in_store["s1"]["run_id"]], tmp_path, PublishConfig())
    with pytest.raises(CompareError, match="not found"):
        compare([a, "0" * 32], tmp_path, PublishConfig())
    with pytest.raises(CompareError, match="at least two"):
        compare([a], tmp_path, PublishConfig())


def test_compare_command_prints_the_verdict_and_exits_2_on_a_bad_run(
    in_store, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main

    a, b = in_store["a"]["run_id"], in_store["b"]["run_id"]
    out = tmp_path / "page"
    assert main(["compare", a, b, "--output", str(out), "--set", "bootstrap=50"]) == 0
    printed = capsys.readouterr().out
    assert f"{out / 'compare.html'}" in printed and "P(better)" in printed
    assert main(["compare", a, "f" * 32, "--set", "bootstrap=50"]) == 2
    assert f"run {'f' * 32}: not found" in capsys.readouterr().err


def test_compare_refuses_a_run_without_gold_in_its_predictions(in_store, tmp_path: Path) -> None:
    """A run trained before test_predictions.parquet held gold answers cannot be paired:
    the refusal names the run and says to train it again."""
    from pipelines import tracking

    tags = tracking.base_tags("train", "frames", "baseline")
    with tracking.stage_run("frames", "old-run", tags, system_metrics=False) as old:
        path = tmp_path / "test_predictions.parquet"
        pd.DataFrame({"id": ["d1", "d2"], "p_economic": [0.2, 0.9]}).to_parquet(path)
        mlflow.log_artifact(str(path), "evaluation")
    with pytest.raises(CompareError, match=rf"run {old.info.run_id}: .* train it again"):
        compare([in_store["a"]["run_id"], old.info.run_id], tmp_path, PublishConfig())
    with tracking.stage_run("frames", "not-train", tracking.base_tags("label"), False) as lab:
        pass
    with pytest.raises(CompareError, match="not a training run"):
        compare([in_store["a"]["run_id"], lab.info.run_id], tmp_path, PublishConfig())


def test_compare_takes_the_names_given_with_run_name(in_store, tmp_path: Path) -> None:
    """A user compares the runs they named (`--run-name`), not ids they must look up."""
    res = compare(["tiny-C", "cv-C"], tmp_path, PublishConfig(bootstrap=50))
    assert [r.run_id for r in res.runs] == [in_store["a"]["run_id"], in_store["b"]["run_id"]]
    with pytest.raises(CompareError, match="a run is named twice"):
        compare(["tiny-C", in_store["a"]["run_id"]], tmp_path, PublishConfig(bootstrap=50))
    with pytest.raises(CompareError, match="run no-such-name: not found"):
        compare(["tiny-C", "no-such-name"], tmp_path, PublishConfig(bootstrap=50))
