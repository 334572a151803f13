"""`mediaframe report` at scale: time and peak memory over generated scored Parquet.

    python bench/bench_report.py [--rows 100000 1000000] [--batch-rows 100000]

For each size, scored rows in the schema `mediaframe score` writes (15 MFC frames, four
stance targets, 50 outlets, two years of dates, 1% error rows, 2% undated) are written
in shards of 100,000 rows by one subprocess and reported on by another, so each peak RSS
is the report's own. Memory should stay flat as the row count grows: the report keeps
counts, not rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, peak_rss_mb, report, timer

TARGETS = ["nato", "us", "russia", "csto"]
STANCE = ["favor", "against", "neutral", "not_mentioned"]
SHARD = 100_000


def generate(out: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labeling.codebook import load_codebook
    from labeling.schema import arrow_schema

    frames = load_codebook(ROOT / "configs/codebooks/mfc.yaml").keys
    extra = {"model_version": pa.string(), "error": pa.string()}
    schema = arrow_schema(frames, TARGETS, STANCE[:3], extra)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    sources = np.array([f"Outlet {i:02d}" for i in range(50)], dtype=object)
    days = np.datetime64("2024-01-01") + np.arange(730)
    for k, start in enumerate(range(0, rows, SHARD)):
        n = min(SHARD, rows - start)
        probs = rng.random((n, len(frames)))
        present = probs > 0.7
        primary = probs.argmax(axis=1)
        present[np.arange(n), primary] = True
        counts = present.sum(axis=1)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        values = np.asarray(frames, dtype=object)[np.nonzero(present)[1]]
        dates = np.datetime_as_string(rng.choice(days, n)).astype(object)
        dates[rng.random(n) < 0.02] = None
        error = np.where(rng.random(n) < 0.01, "text is missing, not a string", None)
        cols = {
            "id": pa.array([f"d{start + i}" for i in range(n)]),
            "title": pa.nulls(n, pa.string()),
            "source": pa.array(rng.choice(sources, n)),
            "date": pa.array(dates, pa.string()),
            "url": pa.nulls(n, pa.string()),
            "lang": pa.array(["en"] * n),
            "frames": pa.ListArray.from_arrays(offsets, pa.array(values, pa.string())),
            "primary_frame": pa.array(np.asarray(frames, dtype=object)[primary]),
            "frame_probs": pa.StructArray.from_arrays(
                [pa.array(probs[:, j]) for j in range(len(frames))], names=frames
            ),
            "evidence": pa.array([[]] * n, pa.list_(pa.string())),
            "model_version": pa.array(["mediaframe/1"] * n),
            "error": pa.array(error, pa.string()),
        }
        sp = rng.dirichlet(np.ones(3), n)
        for t in TARGETS:
            cols[f"stance_{t}"] = pa.array(rng.choice(np.asarray(STANCE, dtype=object), n))
            cols[f"stance_{t}_probs"] = pa.StructArray.from_arrays(
                [pa.array(sp[:, j]) for j in range(3)], names=STANCE[:3]
            )
        pq.write_table(pa.table(cols, schema=schema), out / f"part-{k:05d}.parquet")


def measure(scored: Path, out: Path, batch_rows: int) -> dict:
    import os

    os.environ["MEDIAFRAME_PROGRESS"] = "0"
    from pipelines.config import ReportConfig
    from pipelines.report import build_report

    with timer() as t:
        res = build_report([str(scored)], out, ReportConfig(batch_rows=batch_rows))
    return {"rows": res.rows, "seconds": t["seconds"], "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--batch-rows", type=int, default=100_000)
    ap.add_argument("--generate", nargs=2, metavar=("DIR", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--measure", nargs=2, metavar=("SCORED", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]), args.batch_rows)))
        return
    rows = []
    me = [sys.executable, str(Path(__file__).resolve())]
    for n in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            scored = Path(tmp) / "scored"
            subprocess.run([*me, "--generate", str(scored), str(n)], check=True)
            res = subprocess.run(
                [*me, "--batch-rows", str(args.batch_rows), "--measure", str(scored),
                 str(Path(tmp) / "report")],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            m = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(
            {
                "row": f"report, {args.batch_rows:,} rows per batch",
                "n": m["rows"],
                "seconds": round(m["seconds"], 1),
                "rows per second": round(m["rows"] / m["seconds"]),
                "peak RSS MB": round(m["peak_rss_mb"]),
            }
        )
    report("report", rows, {"command": " ".join(sys.argv)})


if __name__ == "__main__":
    main()
