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


def train_and_publish(
    tmp: Path,
    root: Path,
    families: tuple[str, ...] = ("baseline", "transformer"),
    transformer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """ingest -> label -> train (frames and stance x ``families``) -> publish, on the
    sample, into the store already set; the transformer is a tiny random one, with
    ``transformer`` overriding its config (e.g. ``{"quantize": "always"}``)."""
    from pipelines.config import (
        IngestConfig,
        LabelConfig,
        PublishConfig,
        TrainConfig,
        TransformerConfig,
    )
    from pipelines.ingest import ingest
    from pipelines.label import run_label
    from pipelines.publish import publish
    from pipelines.train import run_train

    work = tmp / "work"
    ingest([root / "data" / "raw"], work, IngestConfig())
    lcfg = LabelConfig(
        codebook=str(root / "configs/codebooks/mfc.yaml"),
        stance=str(root / "configs/stance.yaml"),
        gold=str(root / "data/gold/gold.jsonl"),
        annotations=str(root / "data/gold/annotations.jsonl"),
        splits=str(root / "data/gold/splits.json"),
        embedding_lf=False,
        bootstrap=50,
    )
    label = run_label(work / "documents.parquet", work, lcfg)
    common = {
        "labels": str(work / "labels.parquet"),
        "documents": str(work / "documents.parquet"),
        "output": str(work / "models"),
        "codebook": lcfg.codebook,
        "stance": lcfg.stance,
        "splits": lcfg.splits,
        "bootstrap": 100,
        "transformer": TransformerConfig(
            init="random",
            max_length=64,
            epochs=1,
            batch_size=16,
            threads=2,
            checkpoint_dir=str(tmp / "ckpt"),
            **(transformer or {}),
        ),
    }
    runs = {}
    for task in ("frames", "stance"):
        cfg = TrainConfig(task=task, **common)
        for family in families:
            runs[(task, family)] = run_train(cfg.model_copy(update={"family": family}))
    # Tiny random models alone are named run by run: a one-epoch random transformer is not
    # above the trivial reference, and publish's default choice (rightly) refuses it.
    named = (
        {f"{t}_run": runs[(t, families[0])]["run_id"] for t in ("frames", "stance")}
        if "baseline" not in families
        else {}
    )
    pcfg = PublishConfig(
        gold=lcfg.gold,
        splits=lcfg.splits,
        documents=str(work / "documents.parquet"),
        bootstrap=200,
        **named,
    )
    first = publish(pcfg)
    return {"work": work, "label": label, "runs": runs, "first": first, "pcfg": pcfg}


def build_baseline_champion(work: Path, tracking_uri: str | None = None) -> dict[str, Any]:
    """Publish baseline models of the sample as ``models:/mediaframe@champion``.

    Runs go to ``tracking_uri`` (default: a sqlite store in ``work``); the process's
    current directory and tracking variable are left as they were.
    """
    import mlflow

    work.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or f"sqlite:///{work / 'mlruns.db'}"
    old_cwd, old_env = Path.cwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(work)  # a local store keeps its artifacts beside the database
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    try:
        built = train_and_publish(work, ROOT, ("baseline",))
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old_env
    data = built["work"]
    return {
        **built,
        "uri": uri,
        "documents": data / "documents.parquet",
        "labels": data / "labels.parquet",
        "model": "models:/mediaframe@champion",
    }
