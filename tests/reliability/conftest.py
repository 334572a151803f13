"""Fault and load suites (`make test-reliability`): real subprocesses, a real `mlflow server`.

The server runs on 127.0.0.1 with a sqlite backend store and proxied artifacts in a temp
dir, started and stopped by the session (PostgreSQL would need a second service and a
driver the project does not otherwise use).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from reliability_helpers import child_env, free_port, stop, wait_http


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`mlflow server` on 127.0.0.1 over sqlite, artifacts proxied; its own process group."""
    d = tmp_path_factory.mktemp("server")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{d / 'mlflow.db'}",
            "--artifacts-destination",
            str(d / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=d,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 180, proc)
        yield {"url": url, "backend": "sqlite", "dir": str(d)}
    finally:
        stop(proc)
