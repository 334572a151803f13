"""The train stage's cross-validation on the bundled gold (``baseline.cv_report``): a real
training run, too slow for ``make test`` on shared cores, so it lives here."""

from __future__ import annotations

import pytest

from models.base import ModelBundle
from models.baseline import BaselineConfig


def test_train_stage_logs_the_cv_and_stores_it_in_the_bundle(
    tmp_path, tracking_uri_store: str
) -> None:
    """``mediaframe train`` on the bundled gold with ``baseline.cv_report``: the run has the
    CV's mean, sd and trivial, and the saved bundle carries the folds publish gates on."""
    import json

    import mlflow
    import pandas as pd

    from models.selection import gate_json
    from pipelines.config import TrainConfig
    from pipelines.train import run_train
    from tests.conftest import ROOT

    arts = {}
    for f in sorted((ROOT / "data/articles").glob("*.jsonl")):
        for line in f.read_text().splitlines():
            a = json.loads(line)
            arts[a["source_id"]] = a
    gold = [json.loads(x) for x in (ROOT / "data/gold/gold.jsonl").read_text().splitlines()]
    docs = pd.DataFrame(
        [
            {"id": g["id"], **{k: arts[g["source_id"]][k] for k in ("title", "text", "source")}}
            for g in gold
        ]
    )
    labels = pd.DataFrame(
        [
            {
                "id": g["id"],
                "label_source": "gold",
                "frames": g["frames"],
                "primary_frame": g["primary_frame"],
            }
            for g in gold
        ]
    )
    docs.to_parquet(tmp_path / "documents.parquet")
    labels.to_parquet(tmp_path / "labels.parquet")
    cfg = TrainConfig(
        task="frames",
        labels=str(tmp_path / "labels.parquet"),
        documents=str(tmp_path / "documents.parquet"),
        splits=str(ROOT / "data/gold/splits.json"),
        codebook=str(ROOT / "configs/codebooks/mfc.yaml"),
        output=str(tmp_path / "models"),
        bootstrap=20,
        baseline=BaselineConfig(n_jobs=1, cv_report=True, cv_k=3, cv_repeats=1),
    )
    out = run_train(cfg)
    m = mlflow.get_run(out["run_id"]).data.metrics
    assert {"cv_mean_micro_f1", "cv_sd_micro_f1", "cv_trivial_micro_f1"} <= set(m)
    stored = ModelBundle.load(out["bundle"]).info["cv"]
    assert (stored["k"], stored["repeats"], len(stored["folds"])) == (3, 1, 3)
    assert sum(f["n_test"] for f in stored["folds"]) == 95 + 36  # gold train + dev, not test
    decision = gate_json(stored)
    assert decision is not None and decision.model_mean == pytest.approx(m["cv_mean_micro_f1"])
