"""The CLI contract: --help everywhere, one pattern, user errors as one clear line."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import PLUGIN_GROUP, build_parser, main

# Plugin commands (``benchmark`` from bench) are there only when their package is installed.
PLUGINS = [ep.name for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP)]
STAGES = [
    *("ingest", "label", "train", "publish", "score", "report", "run", "compare", "ui", "suggest"),
    *PLUGINS,
]


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


@pytest.mark.parametrize("stage", ["ingest", "label", "train", "publish", "score", "report", "run"])
def test_a_missing_config_file_is_an_error_naming_it(
    tmp_path: Path, monkeypatch, capsys, stage: str
) -> None:
    # Regression: a --config that does not exist used to fall back to the defaults silently.
    monkeypatch.chdir(tmp_path)
    extra = ["--task", "frames"] if stage == "train" else []
    rc = main([stage, "--config", "nope.yaml", *extra, "--tracking-uri", "sqlite:///m.db"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--config nope.yaml: config file not found" in err
    assert "Traceback" not in err


def test_train_model_flag_is_the_deprecated_name_of_family(capsys) -> None:
    args = build_parser([]).parse_args(["train", "--task", "frames", "--model", "transformer"])
    assert args.family == "transformer"
    assert "--model is deprecated; use --family transformer" in capsys.readouterr().err
    args = build_parser([]).parse_args(["train", "--task", "stance", "--family", "transformer"])
    assert args.family == "transformer"
    assert build_parser([]).parse_args(["train", "--task", "stance"]).family is None


class _Hello:
    """A plugin command, shaped like bench.command: NAME, HELP, add_arguments, run."""

    NAME = "hello"
    HELP = "say hello"

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("--who", default="world")

    @staticmethod
    def run(args) -> int:
        print(f"hello {args.who}")
        return 0


def test_a_plugin_command_becomes_a_subcommand(capsys) -> None:
    args = build_parser([_Hello]).parse_args(["hello", "--who", "you"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out == "hello you\n"
