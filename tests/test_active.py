"""`mediaframe benchmark DATASET --active`: the simulated annotation loop on the bundled
sample corpus (real baseline fits, real MLflow store), small budget."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from bench.adapters import get_adapter
from bench.benchmark import load_bench_config
from tests.conftest import ROOT
from tests.test_benchmark import run_cli


def test_active_loop_json_plot_and_run_on_the_sample(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "active.json"
    args = ["benchmark", "sample", "--data-dir", str(ROOT / "data"), "--active"]
    small = ["--seed-size", "10", "--batch", "10", "--budget", "30", "--output", str(out)]
    assert run_cli([*args, *small]) == 0
    res = json.loads(out.read_text())
    assert {"dataset", "learner", "strategies", "batch", "curve"} <= set(res)
    assert res["strategies"] == ["uncertainty", "random"] and res["batch"] == 10
    assert res["learner"].startswith("baseline: TF-IDF")
    cfg, opts = load_bench_config("sample")
    data = get_adapter("sample").load(ROOT / "data", None, opts, cfg.dev_fraction, cfg.seed)
    evaluation = {i for ex in data.scored.values() for i in ex.ids}
    assert res["n_eval"] == len(evaluation)
    runs: dict[tuple[str, int], list[dict]] = {}
    for e in res["curve"]:
        assert {"strategy", "seed", "labels", "metrics"} <= set(e)
        runs.setdefault((e["strategy"], e["seed"]), []).append(e)
    assert sorted(runs) == [(s, d) for s in ("random", "uncertainty") for d in (13, 14, 15)]
    for entries in runs.values():
        assert [e["labels"] for e in entries] == [10, 20, 30]
        picked = [i for e in entries for i in e["added"]]
        assert len(picked) == len(set(picked)) == 30  # each document annotated once
        assert not set(picked) & evaluation  # the evaluation fold is never in the pool
    for d in (13, 14, 15):  # one seed set per seed, shared by the strategies
        u, r = runs[("uncertainty", d)], runs[("random", d)]
        assert u[0]["added"] == r[0]["added"] and u[0]["metrics"] == r[0]["metrics"]
    assert any(
        runs[("uncertainty", d)][1]["added"] != runs[("random", d)][1]["added"]
        for d in (13, 14, 15)
    )
    assert res["target"]["random_labels"] == 30
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "active learning on dev" in printed and "random at 30 labels" in printed
    exp = mlflow.get_experiment_by_name("benchmark-sample")
    (run,) = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert run.info.run_name == "sample-baseline-dev-active"
    assert run_cli([*args, "--strategy", "margin"]) == 2
    assert "margin is not a strategy" in capsys.readouterr().err
    assert run_cli([*args, "--curve", "20"]) == 2
    assert "give one" in capsys.readouterr().err
