"""Shared fixtures: a real MLflow sqlite store per test session, and the sample paths."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MEDIAFRAME_PROGRESS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture()
def tracking_uri_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite tracking store in a temp dir; the process cwd moves there too."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# --------------------------------------------------------------------------- reliability
# Suites that try bad inputs and inject faults record each attempt here; the terminal
# summary prints them as one table: what was tried, what was expected, what was found.
_TRIALS: list[dict[str, object]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability",
        action="store_true",
        help="also collect tests/reliability (faults and load; `make test-reliability`)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/reliability kills processes and starts servers: only with --reliability."""
    inside = collection_path.is_relative_to(ROOT / "tests" / "reliability")
    if inside and not config.getoption("--reliability"):
        return True
    return None


class Trials:
    """One row per attempt: the suite, the stage, what was tried, expected vs found."""

    def record(
        self, suite: str, stage: str, tried: str, expected: object, found: object, ok: bool
    ) -> None:
        _TRIALS.append(
            {
                "suite": suite,
                "stage": stage,
                "tried": tried[:60],
                "expected": str(expected)[:40],
                "found": str(found)[:40],
                "survived": "yes" if ok else "NO",
            }
        )


@pytest.fixture(scope="session")
def trials() -> Trials:
    return Trials()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _TRIALS:
        return
    import pandas as pd

    df = pd.DataFrame(_TRIALS)
    tw = terminalreporter
    tw.section("what was tried and what survived")
    grouped = (
        df.groupby(["suite", "stage"])
        .agg(tried=("tried", "size"), survived=("survived", lambda s: int((s == "yes").sum())))
        .reset_index()
    )
    tw.write_line(grouped.to_string(index=False))
    tw.write_line("")
    shown = df.drop_duplicates(subset=["suite", "stage", "tried"]).head(80)
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        tw.write_line(shown.to_string(index=False))


@pytest.fixture(scope="session")
def baseline_champion(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real published ``models:/mediaframe@champion`` (baselines of the sample), built once
    per session in its own sqlite store; tests point MLFLOW_TRACKING_URI at ``["uri"]``."""
    from bench.champion import build_baseline_champion

    return build_baseline_champion(tmp_path_factory.mktemp("champion"))
