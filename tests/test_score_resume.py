"""A scoring job killed with SIGKILL half-way, then run again: a real subprocess, a real
kill. The re-run resumes after the finished shards and ends with exactly one row per
input row, ids in input order, and the labels of an uninterrupted run; an input rewritten
in between (same size, same mtime) is refused by its content hash, not resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from bench.common import generated_corpus
from pipelines.config import ScoreConfig
from pipelines.score import score

pytestmark = pytest.mark.slow

ROWS, CHUNK = 600, 30  # 20 shards: time to kill after 3, cheap to score twice


def shards_done(out: Path) -> int:
    try:
        return len(json.loads((out / "_manifest.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def kill_after(cmd: list[str], env: dict[str, str], cwd: Path, out: Path, shards: int) -> int:
    """Run the job, SIGKILL it once ``shards`` shards are done; the shards finished then."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while shards_done(out) < shards and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"job ended before the kill: {proc.stderr.read()[-2000:]!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return shards_done(out)


def score_job(tmp_path: Path, seed: int):
    """A JSONL input of ROWS generated articles and the `score` command over it in chunks."""
    inp = tmp_path / "in.jsonl"
    rows = list(generated_corpus(ROWS, seed=seed))
    pd.DataFrame(rows).to_json(inp, orient="records", lines=True)
    out = tmp_path / "scored"
    cmd = [sys.executable, "-m", "pipelines.cli", "score", "--input", str(inp)]
    cmd += ["--output", str(out), "--set", f"chunk_size={CHUNK}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDIAFRAME_PROGRESS": "0"}
    return inp, rows, out, cmd, env


def test_a_killed_job_resumes_to_exactly_one_row_per_input(champion_store, tmp_path: Path) -> None:
    inp, rows, out, cmd, env = score_job(tmp_path, seed=3)
    killed_at = kill_after(cmd, env, tmp_path, out, 3)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert not manifest["complete"] and 3 <= killed_at < ROWS // CHUNK

    # The kernel dropped the lock with the process: the same command runs at once.
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"scored {ROWS} rows" in res.stdout and f"{killed_at} already done" in res.stdout
    assert not list(out.glob(".*.tmp"))
    resumed = pd.read_parquet(out)
    assert len(resumed) == ROWS and resumed["id"].tolist() == [r["id"] for r in rows]

    whole = score([str(inp)], tmp_path / "whole", ScoreConfig(chunk_size=CHUNK))
    assert whole.rows == ROWS
    ref = pd.read_parquet(tmp_path / "whole")
    for col in ("primary_frame", "stance_nato", "stance_russia", "error"):
        assert resumed[col].tolist() == ref[col].tolist(), col
    assert [list(f) for f in resumed["frames"]] == [list(f) for f in ref["frames"]]


def test_a_file_without_the_text_column_fails_fast_and_a_column_map_fixes_it(
    champion_store, tmp_path: Path
) -> None:
    from pipelines.config import ColumnMap
    from pipelines.shards import ScoreError

    rows = list(generated_corpus(5, seed=5))
    inp = tmp_path / "body.csv"
    pd.DataFrame(rows).rename(columns={"text": "body", "id": "doc_id"}).to_csv(inp, index=False)
    with pytest.raises(ScoreError, match=r"body\.csv: no 'text' column.*columns\.text"):
        score([str(inp)], tmp_path / "x", ScoreConfig())
    assert not (tmp_path / "x").exists()  # nothing started: no lock, no manifest
    cfg = ScoreConfig(columns=ColumnMap(text="body", id="doc_id"))
    res = score([str(inp)], tmp_path / "y", cfg)
    out = pd.read_parquet(tmp_path / "y")
    assert res.rows == 5 and res.errors == 0 and out["id"].tolist() == [r["id"] for r in rows]


def test_an_input_rewritten_with_the_same_size_and_mtime_is_refused_not_resumed(
    champion_store, tmp_path: Path
) -> None:
    inp, rows, out, cmd, env = score_job(tmp_path, seed=4)
    killed_at = kill_after(cmd, env, tmp_path, out, 2)
    assert 2 <= killed_at < ROWS // CHUNK

    # The same lines in another order: same size, and the old mtime put back (as cp -p,
    # rsync -a or a same-second rewrite leave it).
    st = inp.stat()
    lines = inp.read_bytes().splitlines(keepends=True)
    inp.write_bytes(b"".join(reversed(lines)))
    os.utime(inp, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert inp.stat().st_size == st.st_size and inp.stat().st_mtime_ns == st.st_mtime_ns

    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 2, res.stdout[-2000:]
    assert "in.jsonl" in res.stderr and "--restart" in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and "already done" not in res.stdout
    assert shards_done(out) == killed_at  # refused: the earlier shards are left as they were

    res = subprocess.run(
        [*cmd, "--restart"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"scored {ROWS} rows" in res.stdout and "0 already done" in res.stdout
    again = pd.read_parquet(out)
    assert again["id"].tolist() == [r["id"] for r in reversed(rows)]


def test_content_not_mtime_is_the_identity_and_old_manifests_count_as_changed(
    champion_store, tmp_path: Path
) -> None:
    from pipelines.shards import ScoreError

    inp = tmp_path / "in.jsonl"
    pd.DataFrame(list(generated_corpus(8, seed=6))).to_json(inp, orient="records", lines=True)
    out = tmp_path / "scored"
    cfg = ScoreConfig(chunk_size=3)
    assert score([str(inp)], out, cfg).rows == 8
    entry = json.loads((out / "_manifest.json").read_text())["inputs"][0]
    assert set(entry) == {"path", "size", "blake2b"} and len(entry["blake2b"]) == 64

    os.utime(inp, (1, 1))  # touched, not changed: still the same input, a no-op
    assert score([str(inp)], out, cfg).skipped_shards == 3

    manifest = json.loads((out / "_manifest.json").read_text())
    for e in manifest["inputs"]:
        del e["blake2b"]  # as a manifest from before content hashes were recorded
    (out / "_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ScoreError, match=r"no content hash for .*in\.jsonl.*--restart"):
        score([str(inp)], out, cfg)
    res = score([str(inp)], out, cfg, restart=True)
    assert res.rows == 8 and res.skipped_shards == 0


@pytest.mark.parametrize(
    "garbage",
    [b'{"model_version": "mediaframe/1", "shards": {"part-0', b"\x00\xff" * 40, b"[]", b"{}"],
    ids=["truncated", "binary", "a-list", "no-shards"],
)
def test_a_corrupt_manifest_is_named_and_restart_recovers(
    champion_store, tmp_path: Path, garbage: bytes, trials
) -> None:
    from pipelines.shards import ScoreError

    inp = tmp_path / "in.jsonl"
    rows = list(generated_corpus(7, seed=8))
    pd.DataFrame(rows).to_json(inp, orient="records", lines=True)
    out, cfg = tmp_path / "scored", ScoreConfig(chunk_size=3)
    assert score([str(inp)], out, cfg).rows == 7
    (out / "_manifest.json").write_bytes(garbage)  # a full disk, a crash of the editor
    with pytest.raises(ScoreError, match=r"scored/_manifest\.json: .*--restart"):
        score([str(inp)], out, cfg)
    res = score([str(inp)], out, cfg, restart=True)
    assert res.rows == 7 and res.skipped_shards == 0
    assert pd.read_parquet(out)["id"].tolist() == [r["id"] for r in rows]
    assert json.loads((out / "_manifest.json").read_text())["complete"] is True
    trials.record("faults", "score", f"{garbage[:12]!r} manifest, --restart", 7, res.rows, True)


def test_foreign_shards_in_the_output_are_refused_not_merged(
    champion_store, tmp_path: Path, trials
) -> None:
    """Parquet files named like shards that no manifest accounts for would be merged into
    the output (and counted by `report`): refused, with or without a manifest."""
    from pipelines.shards import ScoreError

    inp = tmp_path / "in.jsonl"
    pd.DataFrame(list(generated_corpus(5, seed=9))).to_json(inp, orient="records", lines=True)
    foreign = pd.DataFrame({"id": ["x"], "text": ["someone else's"]})
    out = tmp_path / "scored"
    out.mkdir()
    foreign.to_parquet(out / "part-00000.parquet")
    with pytest.raises(ScoreError, match=r"1 part-\*\.parquet files .* no _manifest\.json"):
        score([str(inp)], out, ScoreConfig(chunk_size=2))
    assert pd.read_parquet(out)["id"].tolist() == ["x"]  # left alone, nothing merged

    mine = tmp_path / "mine"
    res = score([str(inp)], mine, ScoreConfig(chunk_size=2))
    foreign.to_parquet(mine / "part-00007.parquet")  # beside a finished job's 3 shards
    with pytest.raises(ScoreError, match=r"part-00007\.parquet not recorded"):
        score([str(inp)], mine, ScoreConfig(chunk_size=2))
    (mine / "part-00007.parquet").unlink()
    (mine / "part-00001.parquet").unlink()  # a shard lost from a finished job is rescored
    again = score([str(inp)], mine, ScoreConfig(chunk_size=2))
    assert again.rows == res.rows == len(pd.read_parquet(mine)) == 5
    assert again.skipped_shards == 2
    trials.record("faults", "score", "foreign part-*.parquet, a lost shard", "refused", 5, True)


def test_output_inside_the_input_folder_is_not_read_back(
    champion_store, tmp_path: Path, capsys: pytest.CaptureFixture[str], trials
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(list(generated_corpus(6, seed=10))).to_json(
        data / "in.jsonl", orient="records", lines=True
    )
    cfg = ScoreConfig(chunk_size=4)
    first = score([str(data)], data / "scored", cfg)
    # The second run lists data/ again: its own shards and manifest are left out (and
    # counted), so the inputs are the same and the finished job is a no-op.
    second = score([str(data)], data / "scored", cfg)
    assert first.rows == second.rows == 6 and second.skipped_shards == 2
    assert "2 files inside the output folder" in capsys.readouterr().err
    trials.record("faults", "score", "output inside the input folder", 6, second.rows, True)
