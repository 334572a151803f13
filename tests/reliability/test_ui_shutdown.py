"""Shutdown: stopping `mediaframe ui` stops `mlflow server` and its uvicorn workers.

Regression (issue #20): SIGTERM to `mediaframe ui` killed only the ui process and left
`mlflow server` and its 4 workers answering on the port. The server now runs in its own
process group, which the ui stops on SIGINT/SIGTERM/SIGHUP and on exit. Here, because a
real server with four workers takes from seconds to a minute or more to come up on a
loaded machine.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from reliability_helpers import child_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_ui_stops_the_server_and_its_workers(tmp_path: Path, sig: int) -> None:
    port = _free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
        cwd=tmp_path,
        env=child_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlruns.db'}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300
        while not _answers(port):
            assert ui.poll() is None, f"mediaframe ui exited with {ui.returncode}"
            assert time.monotonic() < deadline, "the MLflow server did not answer in 300 s"
            time.sleep(0.5)
        family += psutil.Process(ui.pid).children(recursive=True)
        assert len(family) >= 2, "the server and its workers run as child processes"
        ui.send_signal(sig)
        ui.wait(timeout=60)
        _, alive = psutil.wait_procs(family, timeout=20)
        assert not alive, f"still running after the ui stopped: {[p.pid for p in alive]}"
        assert not _answers(port)
        assert ui.returncode == 130  # stopped by a signal, said so
    finally:
        if ui.poll() is None:
            ui.kill()
        for p in family:  # never leave a server behind, whatever failed
            if p.is_running():
                p.kill()
