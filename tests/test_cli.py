"""The CLI contract: --help everywhere, one pattern, user errors as one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STAGES = ["ingest", "label", "train", "publish", "score", "run", "benchmark", "ui"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_top_level_help_lists_every_stage() -> None:
    res = cli("--help")
    assert res.returncode == 0
    for stage in STAGES:
        assert stage in res.stdout


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_help(stage: str) -> None:
    res = cli(stage, "--help")
    assert res.returncode == 0
    assert "usage: mediaframe " + stage in res.stdout
    if stage != "ui":
        assert "--config" in res.stdout and "--set" in res.stdout
        assert "--tracking-uri" in res.stdout


def test_config_error_is_one_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("min_words: 3\nshingle: 5\n")
    res = cli(
        "ingest",
        "--config",
        str(bad),
        "--input",
        str(tmp_path),
        "--output",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert f"{bad}: key 'shingle': unknown key" in res.stderr
    assert "Traceback" not in res.stderr


def test_ingest_cli_end_to_end(tmp_path: Path, root: Path) -> None:
    res = cli(
        "ingest",
        "--input",
        str(root / "data/raw/web/Northern Courier"),
        "--output",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "o" / "documents.parquet").exists()
    assert '"documents_out"' in res.stdout
