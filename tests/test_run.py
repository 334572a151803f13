"""`mediaframe run` itself: the whole flow under one parent run, on the bundled sample."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from pipelines.cli import main

pytestmark = pytest.mark.slow


def test_run_command_end_to_end(root: Path, tracking_uri_store: str, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    r = root
    cfg.write_text(f"""
input: [{r}/data/raw]
workdir: {tmp_path}/work
families: [baseline, transformer]
ingest: {r}/configs/ingest.yaml
label:
  codebook: {r}/configs/codebooks/mfc.yaml
  stance: {r}/configs/stance.yaml
  gold: {r}/data/gold/gold.jsonl
  annotations: {r}/data/gold/annotations.jsonl
  splits: {r}/data/gold/splits.json
  embedding_lf: false
  bootstrap: 20
train_frames: {r}/configs/train_frames.yaml
train_stance: {r}/configs/train_stance.yaml
publish:
  gold: {r}/data/gold/gold.jsonl
  splits: {r}/data/gold/splits.json
  bootstrap: 50
""")
    tiny = [
        "transformer.init=random",
        "transformer.epochs=1",
        "transformer.max_length=32",
        "transformer.batch_size=32",
        "bootstrap=50",
    ]
    sets = []
    for task in ("train_frames", "train_stance"):
        sets += [f"{task}.{x}" for x in tiny]
        sets += [
            f"{task}.codebook={r}/configs/codebooks/mfc.yaml",
            f"{task}.stance={r}/configs/stance.yaml",
            f"{task}.splits={r}/data/gold/splits.json",
            f"{task}.transformer.checkpoint_dir={tmp_path}/ck",
        ]
    args = ["run", "--config", str(cfg), "--tracking-uri", tracking_uri_store]
    for x in sets:
        args += ["--set", x]
    assert main(args) == 0
    parent = mlflow.search_runs(
        [mlflow.get_experiment_by_name("mediaframe-run").experiment_id], output_format="list"
    )
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    pid = parent[0].info.run_id
    children = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=f"tags.mlflow.parentRunId = '{pid}'",
        output_format="list",
    )
    stages = sorted(c.data.tags["mediaframe.stage"] for c in children)
    assert stages == [
        "compare",
        "compare",
        "ingest",
        "label",
        "publish",
        "report",
        "score",
        "train",
        "train",
        "train",
        "train",
    ]
    assert all(c.info.status == "FINISHED" for c in children)
    assert "frames_transformer_minus_baseline_diff" in parent[0].data.metrics
    client = mlflow.MlflowClient()
    assert client.get_model_version_by_alias("mediaframe", "champion").version
    assert (tmp_path / "work" / "scored" / "_manifest.json").exists()
    assert (tmp_path / "work" / "report" / "outlet_report.html").exists()
    for task in ("frames", "stance"):  # run writes each task's comparison page
        page = (tmp_path / "work" / "compare" / task / "compare.html").read_text()
        assert f"{task}-baseline" in page and f"{task}-transformer" in page
