"""A small real ``@champion`` for tests and benchmarks that need a registered model.

The bundled sample goes through the real stages (ingest, label without the embedding
function, baseline frames and stance, publish), so what is served or scored is exactly
what a user would publish, only smaller and in about half a minute on two cores.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def build_baseline_champion(work: Path, tracking_uri: str | None = None) -> dict[str, Any]:
    """Publish baseline models of the sample as ``models:/mediaframe@champion``.

    Runs go to ``tracking_uri`` (default: a sqlite store in ``work``); the process's
    current directory is left as it was. Returns the paths and the publish result.
    """
    import mlflow

    from pipelines.config import IngestConfig, LabelConfig, PublishConfig, TrainConfig
    from pipelines.ingest import ingest
    from pipelines.label import run_label
    from pipelines.publish import publish
    from pipelines.train import run_train

    work.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or f"sqlite:///{work / 'mlruns.db'}"
    old_cwd, old_env = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(work)  # a local store keeps its artifacts beside the database
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    try:
        data = work / "data"
        ingest([ROOT / "data" / "raw"], data, IngestConfig())
        gold = {
            "gold": str(ROOT / "data/gold/gold.jsonl"),
            "splits": str(ROOT / "data/gold/splits.json"),
        }
        lcfg = LabelConfig(
            codebook=str(ROOT / "configs/codebooks/mfc.yaml"),
            stance=str(ROOT / "configs/stance.yaml"),
            annotations=None,
            embedding_lf=False,
            bootstrap=20,
            **gold,
        )
        run_label(data / "documents.parquet", data, lcfg)
        runs = {}
        for task in ("frames", "stance"):
            cfg = TrainConfig(
                task=task,
                labels=str(data / "labels.parquet"),
                documents=str(data / "documents.parquet"),
                output=str(work / "models"),
                codebook=lcfg.codebook,
                stance=lcfg.stance,
                bootstrap=20,
                **gold,
            )
            runs[task] = run_train(cfg, "baseline")["run_id"]
        result = publish(
            PublishConfig(documents=str(data / "documents.parquet"), bootstrap=20, **gold)
        )
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_env
    return {
        "uri": uri,
        "work": work,
        "documents": data / "documents.parquet",
        "labels": data / "labels.parquet",
        "runs": runs,
        "publish": result,
        "model": "models:/mediaframe@champion",
    }
