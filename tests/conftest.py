"""Shared fixtures: a real MLflow sqlite store per test session, and the sample paths."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
URI_VAR = "MLFLOW_TRACKING_URI"
if str(ROOT) not in sys.path:  # bench/common.py's generated corpus serves tests too
    sys.path.insert(0, str(ROOT))

from bench.champion import train_and_publish  # noqa: E402  (the one champion builder)

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


@contextlib.contextmanager
def store_in(tmp: Path) -> Iterator[str]:
    """Work in ``tmp`` against a sqlite store there, for longer than one test (module or
    session fixtures, where monkeypatch cannot reach); cwd and tracking URI are restored."""
    old_cwd, old_env = Path.cwd(), os.environ.get(URI_VAR)
    # Left pointing at this store unless one was set before, as the module fixtures did
    # before this helper: "restoring" mlflow's own default would send later tests that
    # set no store to ./mlflow.db in the checkout.
    old_uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    os.chdir(tmp)
    uri = f"sqlite:///{tmp / 'mlruns.db'}"
    os.environ[URI_VAR] = uri
    mlflow.set_tracking_uri(uri)
    try:
        yield uri
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop(URI_VAR, None)
        else:
            os.environ[URI_VAR] = old_env
        if old_uri is not None:
            mlflow.set_tracking_uri(old_uri)


@pytest.fixture(scope="session")
def baseline_champion(tmp_path_factory: pytest.TempPathFactory, root: Path) -> dict[str, Any]:
    """A baseline-only champion published once per session, for the scoring tests that
    need a registered model but not the transformer (use it through ``champion_store``)."""
    tmp = tmp_path_factory.mktemp("champion")
    with store_in(tmp) as uri:
        built = train_and_publish(tmp, root, ("baseline",))
    work = built["work"]
    return {
        **built,
        "tmp": tmp,
        "uri": uri,
        "documents": work / "documents.parquet",
        "labels": work / "labels.parquet",
        "model": "models:/mediaframe@champion",
    }


def point_at(uri: str, monkeypatch: pytest.MonkeyPatch, cwd: Path) -> Iterator[str]:
    """Point one test (and its subprocesses) at the store ``uri``, working in ``cwd``."""
    old = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(URI_VAR, uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    if old is not None:  # see store_in
        mlflow.set_tracking_uri(old)


@pytest.fixture()
def champion_store(
    baseline_champion: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """Point this test (and its subprocesses) at the baseline champion's store."""
    for _ in point_at(baseline_champion["uri"], monkeypatch, tmp_path):
        yield baseline_champion
