"""The whole flow on real components: sample subset, real MLflow store, real registry.

ingest -> label -> train (baseline + a tiny random transformer) -> publish (first version
becomes champion; a second, worse one becomes challenger) -> batch score (resumable,
idempotent) -> load the registered pyfunc in a fresh process outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from conftest import store_in, train_and_publish

from pipelines.config import ScoreConfig, TrainConfig, TransformerConfig
from pipelines.publish import publish
from pipelines.score import score
from pipelines.shards import ScoreError
from pipelines.train import run_train
from pipelines.train_data import TrainDataError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory, root: Path):
    """Run the stages once for the module; tests then inspect what they produced."""
    tmp = tmp_path_factory.mktemp("flow")
    with store_in(tmp) as uri:
        yield {**train_and_publish(tmp, root), "tmp": tmp, "uri": uri, "root": root}


def test_labels_follow_the_schema_and_gold_wins(flow) -> None:
    df = pd.read_parquet(flow["work"] / "labels.parquet")
    for col in (
        "id",
        "title",
        "source",
        "date",
        "url",
        "lang",
        "frames",
        "primary_frame",
        "frame_probs",
        "stance_nato",
        "stance_nato_probs",
        "stance_csto",
        "label_source",
        "evidence",
    ):
        assert col in df.columns
    assert df["primary_frame"].notna().all()
    gold = {
        json.loads(x)["id"]: json.loads(x) for x in (flow["root"] / "data/gold/gold.jsonl").open()
    }
    g = df[df["label_source"] == "gold"]
    assert len(g) == len(gold)
    row = g.iloc[0]
    assert set(row["frames"]) == set(gold[row["id"]]["frames"]) | {gold[row["id"]]["primary_frame"]}
    weak = df[df["label_source"] != "gold"]
    assert len(weak) == 2 and set(weak["label_source"]) <= {"majority_vote", "dawid_skene"}
    assert flow["label"].report["mention_quality"]["mention_precision"] > 0.9
    tasks = json.loads((flow["work"] / "label_studio_tasks.json").read_text())
    assert {t["data"]["id"] for t in tasks} == set(weak["id"])
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)  # most uncertain (lowest confidence) first
    assert 'name="stance_csto"' in (flow["work"] / "label_studio_config.xml").read_text()


def test_runs_are_tagged_and_complete(flow) -> None:
    client = mlflow.MlflowClient()
    for (task, family), s in flow["runs"].items():
        run = client.get_run(s["run_id"])
        assert run.info.status == "FINISHED"
        t = run.data.tags
        assert t["mediaframe.stage"] == "train" and t["mediaframe.task"] == task
        assert t["mediaframe.model"] == family and t["mediaframe.codebook"] == "mfc"
        assert t["mediaframe.data_digest"]
        m = run.data.metrics
        assert any("f1" in k for k in m) and any("ece" in k for k in m)
        arts = {a.path for a in client.list_artifacts(s["run_id"])}
        assert {"evaluation_report.html", "config.yaml", "plots", "evaluation", "bundle"} <= arts
    exp = mlflow.get_experiment_by_name("mediaframe-label")
    label_runs = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert label_runs and label_runs[0].data.tags["mediaframe.model"] == "weak"
    assert "agreement_frames_krippendorff_alpha" in label_runs[0].data.metrics


def test_first_version_is_champion_and_a_worse_one_is_challenger(flow) -> None:
    client = mlflow.MlflowClient()
    assert flow["first"].alias == "champion"
    champ = client.get_model_version_by_alias("mediaframe", "champion")
    assert str(champ.version) == flow["first"].version
    assert champ.tags["git_commit"] and champ.tags["data_digest"]
    # Publishing the same models again cannot beat the champion by a margin.
    pcfg = flow["pcfg"].model_copy(update={"margin": 0.01})
    second = publish(pcfg)
    assert second.alias == "challenger" and "does not beat" in second.reason
    assert str(client.get_model_version_by_alias("mediaframe", "champion").version) == str(
        champ.version
    )
    assert (
        client.get_model_version("mediaframe", second.version).tags["gate"].startswith("challenger")
    )


def test_batch_scoring_resumes_and_is_idempotent(flow) -> None:
    work = flow["work"]
    docs = pd.read_parquet(work / "documents.parquet")
    inp = work / "to_score.jsonl"
    extra = pd.DataFrame(
        [
            {"id": "bad1", "text": None},
            {"id": "bad2", "text": ""},
            {"id": "dup", "text": docs.loc[0, "text"]},
            {"id": "dup", "text": docs.loc[1, "text"]},
        ]
    )
    pd.concat([docs[["id", "title", "text", "source", "date", "url"]], extra]).to_json(
        inp, orient="records", lines=True
    )
    n = len(docs) + len(extra)
    cfg = ScoreConfig(chunk_size=40)
    out = work / "scored"
    res = score([str(inp)], out, cfg)
    assert res.rows == n and res.errors == 2
    # Simulate an interruption: drop the last shard and its manifest entry, then resume.
    manifest = json.loads((out / "_manifest.json").read_text())
    last = sorted(manifest["shards"])[-1]
    (out / last).unlink()
    del manifest["shards"][last]
    manifest["complete"] = False
    (out / "_manifest.json").write_text(json.dumps(manifest))
    res2 = score([str(inp)], out, cfg)
    assert res2.skipped_shards == len(manifest["shards"]) and res2.rows == n
    res3 = score([str(inp)], out, cfg)  # complete: a no-op
    assert res3.rows == n and res3.seconds == 0.0
    scored = pd.read_parquet(out)
    assert len(scored) == n
    assert scored["id"].tolist() == [*docs["id"], "bad1", "bad2", "dup", "dup"]
    assert scored.loc[scored["id"] == "bad1", "error"].item() == "text is missing, not a string"
    assert scored["model_version"].unique().tolist() == [res.model_version]
    ok = scored[scored["error"].isna()]
    assert ok["primary_frame"].notna().all()
    assert set(ok["stance_nato"]) <= {"favor", "against", "neutral", "not_mentioned"}


def test_scoring_refuses_unknown_models_and_other_versions(flow) -> None:
    work = flow["work"]
    with pytest.raises(ScoreError, match="not found"):
        score(
            [str(work / "documents.parquet")],
            work / "x",
            ScoreConfig(model="models:/mediaframe@nope"),
        )
    with pytest.raises(ScoreError, match="registry URIs"):
        score([str(work / "documents.parquet")], work / "x", ScoreConfig(model="runs:/abc/m"))
    out = work / "scored-v"
    score([str(work / "documents.parquet")], out, ScoreConfig(model="models:/mediaframe/1"))
    with pytest.raises(ScoreError, match="--restart"):
        score([str(work / "documents.parquet")], out, ScoreConfig(model="models:/mediaframe/2"))


def test_pyfunc_loads_in_a_fresh_process_outside_the_checkout(flow, tmp_path: Path) -> None:
    code = (
        "import mlflow, pandas as pd, sys\n"
        "m = mlflow.pyfunc.load_model('models:/mediaframe@champion')\n"
        "out = m.predict(pd.DataFrame({'id': ['a'], 'text': ['NATO troops held drills "
        "near the border as Moscow condemned the provocation.'], 'title': ['Drills']}))\n"
        "print(out.loc[0, 'stance_nato'], out.loc[0, 'stance_russia'], "
        "out.loc[0, 'primary_frame'])\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": flow["uri"], "PYTHONPATH": ""}
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    nato, russia, primary = res.stdout.split()[-3:]
    assert nato in {"favor", "against", "neutral"} and russia in {"favor", "against", "neutral"}
    assert primary


def test_a_failing_stage_leaves_its_run_failed(flow) -> None:
    cfg = TrainConfig(
        task="frames",
        labels=str(flow["work"] / "labels.parquet"),
        documents=str(flow["work"] / "documents.parquet"),
        splits=str(flow["tmp"] / "missing.json"),
        codebook=str(flow["root"] / "configs/codebooks/mfc.yaml"),
    )
    with pytest.raises(TrainDataError, match=r"missing\.json"):
        run_train(cfg)
    bad = flow["tmp"] / "no_test.json"
    bad.write_text(json.dumps({"train": [], "dev": [], "test": []}))
    with pytest.raises(TrainDataError, match="no gold documents in the test split"):
        run_train(cfg.model_copy(update={"splits": str(bad)}))


def test_an_interrupted_training_run_resumes_in_a_new_tagged_run(flow) -> None:
    from models.transformer import TrainingInterrupted

    root = flow["root"]
    base = TrainConfig(
        task="frames",
        labels=str(flow["work"] / "labels.parquet"),
        documents=str(flow["work"] / "documents.parquet"),
        output=str(flow["tmp"] / "resume-models"),
        codebook=str(root / "configs/codebooks/mfc.yaml"),
        family="transformer",
        splits=str(root / "data/gold/splits.json"),
        bootstrap=10,
        transformer=TransformerConfig(
            init="random",
            max_length=32,
            epochs=2,
            batch_size=32,
            threads=2,
            checkpoint_every=100,
            checkpoint_dir=str(flow["tmp"] / "rck"),
        ),
    )
    cut = base.model_copy(deep=True)
    cut.transformer.stop_after_steps = 2
    with pytest.raises(TrainingInterrupted):
        run_train(cut)
    exp = mlflow.get_experiment_by_name("mediaframe-frames")
    failed = mlflow.search_runs(
        [exp.experiment_id], filter_string="attributes.status = 'FAILED'", output_format="list"
    )
    assert failed
    s = run_train(base)
    run = mlflow.get_run(s["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mediaframe.resumed_from"] == failed[0].info.run_id


def test_mlflow_models_serve_answers_a_rest_request(flow, tmp_path: Path) -> None:
    """`mlflow models serve -m models:/mediaframe@champion --env-manager local` on loopback."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The server execs `uvicorn` by name: the venv's bin must be on PATH, as it is for a
    # user with the venv active.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": flow["uri"], "PATH": path}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/mediaframe@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = json.dumps(
            {
                "dataframe_records": [
                    {
                        "id": "r1",
                        "text": "NATO troops held drills near the border as Moscow "
                        "condemned the provocation.",
                    }
                ]
            }
        ).encode()
        deadline = time.time() + 120
        answer = None
        while time.time() < deadline and answer is None:
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read().decode()[-2000:])
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=30) as resp:
                    answer = json.loads(resp.read())
            except OSError:
                time.sleep(1)
        assert answer is not None, "server did not answer within 120 s"
        row = answer["predictions"][0]
        assert row["id"] == "r1" and row["error"] is None
        assert row["stance_nato"] in {"favor", "against", "neutral"}
        assert row["stance_us"] == "not_mentioned"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_transformer_runs_record_the_int8_choice_and_stream_epoch_metrics(flow) -> None:
    client = mlflow.MlflowClient()
    for task in ("frames", "stance"):
        run_id = flow["runs"][(task, "transformer")]["run_id"]
        run = client.get_run(run_id)
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="bundle/bundle.json"
        )
        guard = json.loads(Path(path).read_text())["info"]["inference"]
        assert (
            guard["policy"] == "guarded" and run.data.tags["mediaframe.inference"] == guard["mode"]
        )
        assert run.data.metrics[f"{guard['metric']}_fp32"] == pytest.approx(guard["fp32"])
        assert run.data.metrics[f"{guard['metric']}_int8"] == pytest.approx(guard["int8"])
        assert (guard["mode"] == "int8") == (guard["fp32"] - guard["int8"] <= guard["tolerance"])
        # One point per epoch, logged while training (the flow trains one epoch).
        assert [m.step for m in client.get_metric_history(run_id, "train_loss")] == [1]
