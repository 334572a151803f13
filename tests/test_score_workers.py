"""``score --workers N``: shards scored in one-thread worker processes are the shards one
process writes (same rows, ids, labels and probabilities), and a job with workers resumes
from the partial output a killed job leaves: shards finished out of order, some written
but not yet recorded in the manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.common import generated_corpus
from pipelines.config import ScoreConfig
from pipelines.score import score
from pipelines.shards import ScoreError

pytestmark = pytest.mark.slow  # a published champion, worker processes

ROWS, CHUNK = 160, 20  # 8 shards: 4 in flight with two workers, then 4 more


@pytest.fixture()
def job(champion_store, tmp_path: Path):
    inp = tmp_path / "in.jsonl"
    rows = list(generated_corpus(ROWS, seed=7))
    pd.DataFrame(rows).to_json(inp, orient="records", lines=True)
    one = score([str(inp)], tmp_path / "one", ScoreConfig(chunk_size=CHUNK))
    assert one.rows == ROWS and one.shards == ROWS // CHUNK
    return inp, rows, pd.read_parquet(tmp_path / "one")


def test_two_workers_write_the_shards_one_process_writes(job, tmp_path: Path) -> None:
    inp, rows, _ref = job
    res = score([str(inp)], tmp_path / "two", ScoreConfig(chunk_size=CHUNK, workers=2))
    assert (res.rows, res.shards, res.skipped_shards, res.errors) == (ROWS, ROWS // CHUNK, 0, 0)
    for k in range(ROWS // CHUNK):  # shard by shard, every column, probabilities exact
        name = f"part-{k:05d}.parquet"
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "two" / name), pd.read_parquet(tmp_path / "one" / name)
        )
    manifest = json.loads((tmp_path / "two" / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["window"] == 4
    assert list(manifest["shards"]) == sorted(manifest["shards"])
    assert pd.read_parquet(tmp_path / "two")["id"].tolist() == [r["id"] for r in rows]

    with pytest.raises(ScoreError, match="--workers 2 is for --engine local"):
        score([str(inp)], tmp_path / "spark", ScoreConfig(workers=2, engine="spark"))


def test_workers_resume_a_partial_output_with_shards_out_of_order(job, tmp_path: Path) -> None:
    """What a killed two-worker job leaves: shards 0, 1 and 3 recorded, 2 and 4 written
    but unrecorded (within the window), 5 to 7 never written, a temporary file."""
    inp, _rows, ref = job
    out = tmp_path / "partial"
    shutil.copytree(tmp_path / "one", out)
    manifest = json.loads((out / "_manifest.json").read_text())
    for k in (2, 4):
        del manifest["shards"][f"part-{k:05d}.parquet"]
    for k in (5, 6, 7):
        del manifest["shards"][f"part-{k:05d}.parquet"]
        (out / f"part-{k:05d}.parquet").unlink()
    manifest["complete"], manifest["window"] = False, 4  # as two workers' job records it
    del manifest["rows"]
    (out / "_manifest.json").write_text(json.dumps(manifest))
    (out / ".part-00005.parquet.x1.tmp").write_bytes(b"half a shard")

    res = score([str(inp)], out, ScoreConfig(chunk_size=CHUNK, workers=2))
    assert (res.rows, res.shards, res.skipped_shards) == (ROWS, ROWS // CHUNK, 3)
    assert not list(out.glob(".*.tmp"))
    pd.testing.assert_frame_equal(pd.read_parquet(out), ref)

    # A shard beyond len(done) + window is not this job's: refused, as with one process.
    manifest = json.loads((out / "_manifest.json").read_text())
    manifest["shards"] = {k: v for k, v in manifest["shards"].items() if k < "part-00002"}
    manifest["complete"] = False
    (out / "_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ScoreError, match=r"part-00006\.parquet, part-00007\.parquet not recorded"):
        score([str(inp)], out, ScoreConfig(chunk_size=CHUNK, workers=2))
