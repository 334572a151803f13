"""The served scoring function under a bounded loopback load: latency p50/p99 and errors.

Starts ``mlflow models serve -m MODEL --env-manager local`` on 127.0.0.1, waits for it,
then sends a fixed number of POST /invocations requests from a fixed number of client
threads (each request: ``--rows`` documents from the sample corpus) and checks that every
answer has one prediction per document with its id. Prints a table and writes
``bench/results/serve.json``.

    .venv/bin/python bench/bench_serve.py                        # ./mlruns.db @champion
    .venv/bin/python bench/bench_serve.py --build-sample         # publish a small one first
    .venv/bin/python bench/bench_serve.py --requests 400 --concurrency 4 --rows 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, tracking_uri: str, workers: int = 1) -> tuple[subprocess.Popen, int]:
    """`mlflow models serve` in its own process group, answering on 127.0.0.1."""
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        # The server execs `uvicorn` by name: the venv's bin must be on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager"]
    cmd += ["local", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=tempfile.mkdtemp(prefix="serve-"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError("server did not answer /ping within 300 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _documents(n: int) -> list[dict[str, str]]:
    from bench.common import sample_articles

    docs = [
        {"id": str(a.get("id", i)), "title": a.get("title") or "", "text": a["text"]}
        for i, a in enumerate(sample_articles())
    ]
    if not docs:  # no data/articles: a fixed short text
        docs = [{"id": "d0", "title": "", "text": "NATO ministers met in Brussels."}]
    return [dict(docs[i % len(docs)], id=f"q{i}") for i in range(n)]


def load(
    port: int, requests: int, concurrency: int, rows: int, timeout: float = 120
) -> dict[str, Any]:
    """Send ``requests`` requests from ``concurrency`` threads; latencies and every error."""
    docs = _documents(requests * rows)
    bodies = [
        json.dumps({"dataframe_records": docs[k * rows : (k + 1) * rows]}).encode()
        for k in range(requests)
    ]

    def one(k: int) -> tuple[float, str | None]:
        t = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("POST", "/invocations", bodies[k], {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except OSError as exc:
            return time.perf_counter() - t, f"{type(exc).__name__}: {exc}"
        secs = time.perf_counter() - t
        if resp.status != 200:
            return secs, f"HTTP {resp.status}: {data[:200]!r}"
        preds = json.loads(data).get("predictions", [])
        want = [d["id"] for d in docs[k * rows : (k + 1) * rows]]
        if [p.get("id") for p in preds] != want:
            return secs, "answer does not hold one prediction per document, in order"
        if any(p.get("error") for p in preds):
            return secs, f"row error: {preds[0].get('error')}"
        return secs, None

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results]) * 1000
    errors = [r[1] for r in results if r[1]]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "rows_per_request": rows,
        "ok": requests - len(errors),
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p90_ms": round(float(np.percentile(lat, 90)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
        "requests_per_s": round(requests / wall, 1),
        "docs_per_s": round(requests * rows / wall, 1),
        "wall_s": round(wall, 1),
        "first_errors": errors[:5],
    }


def run(
    model: str,
    tracking_uri: str,
    requests: int,
    concurrency: int,
    rows: list[int],
    warmup: int = 5,
) -> list[dict[str, Any]]:
    proc, port = start_server(model, tracking_uri)
    try:
        load(port, warmup, 1, 1)  # first request loads lazily-built pieces
        return [load(port, requests, concurrency, r) for r in rows]
    finally:
        stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models:/mediaframe@champion")
    ap.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlruns.db'}",
    )
    ap.add_argument("--requests", type=int, default=400, help="requests per setting (fixed)")
    ap.add_argument("--concurrency", type=int, default=4, help="client threads (fixed)")
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 16], help="documents per request")
    ap.add_argument(
        "--build-sample",
        action="store_true",
        help="first publish baseline models of the sample into a temp store and serve those",
    )
    args = ap.parse_args()
    uri, model = args.tracking_uri, args.model
    if args.build_sample:
        from bench.champion import build_baseline_champion

        champ = build_baseline_champion(Path(tempfile.mkdtemp(prefix="bench-serve-")))
        uri, model = champ["uri"], champ["model"]
    rows = run(model, uri, args.requests, args.concurrency, args.rows)
    table = [{k: v for k, v in r.items() if k != "first_errors"} for r in rows]
    report(
        "serve",
        table,
        {
            "model": model,
            "command": " ".join(["bench/bench_serve.py", *sys.argv[1:]]),
            "load_average": os.getloadavg(),
            "first_errors": [r["first_errors"] for r in rows],
        },
    )


if __name__ == "__main__":
    main()
