"""`mediaframe score --engine spark`: the registered pyfunc through mlflow.pyfunc.spark_udf.

The acceptance check: on 1,000 generated rows (plus bad ones) the Spark path gives the
local path's labels, probabilities within 1e-5, the same shard layout and Arrow schema,
and the same resume / no-op behaviour. Local Spark on one small session for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import point_at, store_in

from bench.champion import train_and_publish
from bench.common import generated_corpus
from pipelines.config import ScoreConfig
from pipelines.score import score
from pipelines.shards import ScoreError

pytestmark = pytest.mark.slow

pyspark = pytest.importorskip("pyspark", reason="pyspark not installed (the spark extra)")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17", allow_module_level=True)

CHUNK = 250


@pytest.fixture(scope="module")
def spark():
    """One small local session for the module; score_spark reuses the active session."""
    from pyspark.sql import SparkSession

    # The Python workers start from PYSPARK_PYTHON (the conf alone does not reach them
    # in local mode): without it they run the system python3, which has no pandas.
    old = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("mediaframe-test")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
    if old is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = old


def write_input(path: Path, n: int) -> list[str]:
    """n generated articles and the bad rows the scorer must survive; returns the ids."""
    rows: list[dict[str, Any]] = list(generated_corpus(n, seed=7))
    rows += [
        {"id": "bad-missing", "text": None},
        {"id": "bad-empty", "title": "t", "text": "   "},
        {"id": "bad-number", "text": 12345},
        {"id": "title-none", "title": "None", "text": rows[0]["text"]},
        {"id": "unicode", "text": "NATO\u200b and Rus\u0301sia \U0001f600 " * 50},
    ]
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return [str(r["id"]) for r in rows]


def probs(col: pd.Series) -> np.ndarray:
    keys = next(d for d in col if d is not None).keys()
    return np.array([[np.nan] * len(keys) if d is None else list(d.values()) for d in col])


@pytest.fixture(scope="module")
def int8_transformer_champion(tmp_path_factory: pytest.TempPathFactory, root: Path):
    """A champion of tiny transformers kept in int8: the mode whose scores once moved
    with Spark's batches (dynamic activation scales), now fixed by calibration."""
    tmp = tmp_path_factory.mktemp("int8-champion")
    with store_in(tmp) as uri:
        built = train_and_publish(tmp, root, ("transformer",), {"quantize": "always"})
        for run in built["runs"].values():
            assert run["metrics"]["inference_int8"] == 1.0
        yield uri


@pytest.fixture()
def int8_store(int8_transformer_champion: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    yield from point_at(int8_transformer_champion, monkeypatch, tmp_path)


@pytest.mark.parametrize("family", ["baseline", "transformer-int8"])
def test_spark_gives_the_local_labels_on_1000_rows(
    family: str, request: pytest.FixtureRequest, spark, tmp_path: Path
) -> None:
    # the same checks for a baseline champion and for an int8 transformer one
    request.getfixturevalue("champion_store" if family == "baseline" else "int8_store")
    inp = tmp_path / "in.jsonl"
    ids = write_input(inp, 1000)
    local = score([str(inp)], tmp_path / "local", ScoreConfig(chunk_size=CHUNK))
    out = tmp_path / "spark"
    res = score([str(inp)], out, ScoreConfig(chunk_size=CHUNK, engine="spark"))
    assert res.rows == local.rows == len(ids) and res.errors == local.errors == 3
    a, b = pd.read_parquet(tmp_path / "local"), pd.read_parquet(out)
    assert b["id"].tolist() == a["id"].tolist() == ids
    assert pq.read_schema(out / "part-00000.parquet") == pq.read_schema(
        tmp_path / "local" / "part-00000.parquet"
    )
    ma = json.loads((tmp_path / "local" / "_manifest.json").read_text())
    mb = json.loads((out / "_manifest.json").read_text())
    assert mb["complete"] and mb["shards"] == ma["shards"] and len(mb["shards"]) == 5
    for c in ["title", "primary_frame", "error", "model_version", "lang"]:
        assert b[c].tolist() == a[c].tolist(), c
    assert b.loc[b["id"] == "title-none", "title"].item() == "None"  # a string, not a null
    assert [list(x) for x in b["frames"]] == [list(x) for x in a["frames"]]
    assert [list(x) for x in b["evidence"]] == [list(x) for x in a["evidence"]]
    np.testing.assert_allclose(probs(b["frame_probs"]), probs(a["frame_probs"]), atol=1e-5)
    for t in ("nato", "us", "russia", "csto"):
        assert b[f"stance_{t}"].tolist() == a[f"stance_{t}"].tolist(), t
        pa_, pb = probs(a[f"stance_{t}_probs"]), probs(b[f"stance_{t}_probs"])
        np.testing.assert_allclose(pb, pa_, atol=1e-5)
    bad = b[b["error"].notna()]
    assert bad["frame_probs"].isna().all() and bad["stance_nato_probs"].isna().all()
    assert set(b["stance_russia"].dropna()) <= {"favor", "against", "neutral", "not_mentioned"}


def test_spark_resumes_and_is_a_no_op_when_done(champion_store, spark, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    ids = write_input(inp, 300)
    cfg = ScoreConfig(chunk_size=100, engine="spark")
    out = tmp_path / "spark"
    first = score([str(inp)], out, cfg)
    # An interruption after two shards: the last shard and its manifest entry are gone.
    manifest = json.loads((out / "_manifest.json").read_text())
    last = sorted(manifest["shards"])[-1]
    (out / last).unlink()
    del manifest["shards"][last]
    manifest["complete"] = False
    (out / "_manifest.json").write_text(json.dumps(manifest))
    again = score([str(inp)], out, cfg)
    assert again.skipped_shards == first.shards - 1 and again.rows == len(ids)
    done = score([str(inp)], out, cfg)
    assert done.seconds == 0.0 and done.rows == len(ids)
    assert pd.read_parquet(out)["id"].tolist() == ids
    with pytest.raises(ScoreError, match="--restart"):
        score([str(inp)], out, cfg.model_copy(update={"chunk_size": 50}))
