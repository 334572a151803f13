"""Issue #18 items 2, 5, 6: publish checks what each run claims to be.

One baseline champion of the sample is built for the module, trained from a copy of the
configs so the stance file can be edited afterwards; runs are real runs in a real sqlite
store, and every refusal is the real ``publish`` (or the CLI) refusing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import yaml
from conftest import store_in, train_and_publish
from mlflow import MlflowClient

from pipelines import tracking
from pipelines.cli import main
from pipelines.config import TrainConfig
from pipelines.publish import PublishError, publish
from pipelines.train import run_train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, root: Path):
    """A champion trained from ``tmp/root`` (configs copied, data linked)."""
    tmp = tmp_path_factory.mktemp("contract")
    fake = tmp / "root"
    fake.mkdir()
    shutil.copytree(root / "configs", fake / "configs")
    (fake / "data").symlink_to(root / "data")
    with store_in(tmp) as uri:
        out = train_and_publish(tmp, fake, ("baseline",))
        yield {**out, "tmp": tmp, "uri": uri, "fake": fake}


def _ids(built: dict[str, Any]) -> tuple[str, str]:
    runs = built["runs"]
    return runs[("frames", "baseline")]["run_id"], runs[("stance", "baseline")]["run_id"]


def _pcfg(built: dict[str, Any], **update: Any):
    return built["pcfg"].model_copy(update=update)


def test_training_run_records_its_contract(built) -> None:
    frames_id, stance_id = _ids(built)
    fc = mlflow.artifacts.load_dict(f"runs:/{frames_id}/contract.json")
    sc = mlflow.artifacts.load_dict(f"runs:/{stance_id}/contract.json")
    assert fc["task"] == "frames" and sc["task"] == "stance"
    assert fc["codebook_digest"] == sc["codebook_digest"]
    assert "security_and_defense" in fc["labels"]
    spec = mlflow.artifacts.load_dict(f"runs:/{stance_id}/stance.json")
    assert sorted(spec["targets"]) == sorted(sc["targets"])
    bundle = mlflow.artifacts.load_dict(f"runs:/{frames_id}/bundle/bundle.json")
    assert bundle["info"]["contract"] == fc


def test_swapped_runs_are_refused(built) -> None:
    frames_id, stance_id = _ids(built)
    with pytest.raises(PublishError, match=f"--frames-run {stance_id} is a stance run"):
        publish(_pcfg(built, frames_run=stance_id, stance_run=frames_id))


def test_one_run_for_both_is_refused(built) -> None:
    frames_id, _ = _ids(built)
    with pytest.raises(PublishError, match=f"run {frames_id} given as both"):
        publish(_pcfg(built, frames_run=frames_id, stance_run=frames_id))


def test_cli_refuses_in_one_line_exit_2(built, capsys: pytest.CaptureFixture[str]) -> None:
    frames_id, stance_id = _ids(built)
    cfg_path = built["tmp"] / "publish.yaml"
    cfg_path.write_text(yaml.safe_dump(built["pcfg"].model_dump(mode="json")))
    argv = ["publish", "--config", str(cfg_path), "--frames-run", stance_id]
    rc = main([*argv, "--stance-run", frames_id, "--tracking-uri", built["uri"]])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert stance_id in err and "expected a frames run" in err


def test_runs_of_different_codebooks_are_refused(built) -> None:
    frames_id, _ = _ids(built)
    work, fake = built["work"], built["fake"]
    cfg = TrainConfig(
        task="stance",
        family="baseline",
        labels=str(work / "labels.parquet"),
        documents=str(work / "documents.parquet"),
        output=str(work / "models-generic"),
        codebook=str(fake / "configs/codebooks/generic.yaml"),
        stance=str(fake / "configs/stance.yaml"),
        splits=str(fake / "data/gold/splits.json"),
        bootstrap=20,
    )
    other = run_train(cfg)["run_id"]
    with pytest.raises(PublishError, match="different codebooks") as info:
        publish(_pcfg(built, frames_run=frames_id, stance_run=other))
    assert frames_id in str(info.value) and other in str(info.value)


def test_legacy_run_without_task_is_refused_naming_it(built) -> None:
    _, stance_id = _ids(built)
    exp = mlflow.get_experiment_by_name(tracking.EXPERIMENTS["frames"])
    with mlflow.start_run(experiment_id=exp.experiment_id) as run:
        mlflow.log_param("legacy", True)
    with pytest.raises(PublishError, match=f"run {run.info.run_id}: no recorded contract"):
        publish(_pcfg(built, frames_run=run.info.run_id, stance_run=stance_id))


def test_legacy_run_task_comes_from_its_tag(built) -> None:
    frames_id, _ = _ids(built)
    exp = mlflow.get_experiment_by_name(tracking.EXPERIMENTS["stance"])
    with mlflow.start_run(experiment_id=exp.experiment_id, tags={"mediaframe.task": "frames"}):
        legacy = mlflow.active_run().info.run_id
    with pytest.raises(PublishError, match=f"--stance-run {legacy} is a frames run"):
        publish(_pcfg(built, frames_run=frames_id, stance_run=legacy))


def test_published_stance_is_the_one_trained(built) -> None:
    """Editing the stance file after training must not change what is published."""
    frames_id, stance_id = _ids(built)
    path = built["fake"] / "configs/stance.yaml"
    original = path.read_text()
    spec = yaml.safe_load(original)
    spec["targets"]["china"] = {"name": "China", "aliases": ["China"]}
    path.write_text(yaml.safe_dump(spec))
    try:
        res = publish(_pcfg(built, frames_run=frames_id, stance_run=stance_id))
    finally:
        path.write_text(original)
    model = mlflow.pyfunc.load_model(f"models:/{res.name}/{res.version}")
    out = model.predict(pd.DataFrame({"text": ["China and NATO met in Brussels."]}))
    assert "stance_china" not in out.columns
    assert any(c.startswith("stance_") for c in out.columns)


def test_gate_never_promotes_another_codebook(built) -> None:
    """Even with a gate that any model passes, another codebook stays challenger."""
    frames_id, stance_id = _ids(built)
    client = MlflowClient()
    champ = client.get_model_version_by_alias("mediaframe", "champion")
    assert champ.tags["codebook_digest"]
    client.set_model_version_tag("mediaframe", champ.version, "codebook_digest", "0" * 16)
    lax = {"margin": -1.0, "confidence": 0.0}
    try:
        res = publish(_pcfg(built, frames_run=frames_id, stance_run=stance_id, **lax))
    finally:
        client.set_model_version_tag(
            "mediaframe", champ.version, "codebook_digest", champ.tags["codebook_digest"]
        )
    assert res.alias == "challenger" and "another codebook" in res.reason
    assert client.get_model_version_by_alias("mediaframe", "champion").version == champ.version
    # The same lax gate with matching codebooks promotes: the refusal was the codebook.
    res = publish(_pcfg(built, frames_run=frames_id, stance_run=stance_id, **lax))
    assert res.alias == "champion"


def test_two_concurrent_publishes_make_one_first_version(built) -> None:
    """Two publisher processes at once: the lease lets only one find no champion."""
    frames_id, stance_id = _ids(built)
    cfg_path = built["tmp"] / "publish-race.yaml"
    cfg_path.write_text(yaml.safe_dump(built["pcfg"].model_dump(mode="json")))
    argv = [sys.executable, "-m", "pipelines.cli", "publish", "--config", str(cfg_path)]
    argv += ["--frames-run", frames_id, "--stance-run", stance_id, "--set", "model_name=race"]
    argv += ["--tracking-uri", built["uri"]]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [
        subprocess.Popen(argv, cwd=built["tmp"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    client = MlflowClient()
    gates = [v.tags["gate"] for v in client.search_model_versions("name = 'race'")]
    assert len(gates) == 2
    assert sum("first version" in g for g in gates) == 1, gates
    assert "mediaframe.lease" not in client.get_registered_model("race").tags
