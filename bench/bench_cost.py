"""Cost per million articles: docs/s, projected hours and peak memory per champion kind,
with the quality figures already measured beside them.

    python bench/bench_cost.py [--rows 20000] [--transformer-rows 2000] [--spark-rows 1000]
        [--families baseline,static,transformer]

For each champion kind (``mediaframe run``'s own code on the bundled sample, one family,
in a temporary store: bench_score's ``publish_champion``; the transformer is the default
MiniLM with a head over its frozen encoder, int8 where the guard keeps it) the real CLI
scores generated full articles (bench/common.py's corpus) in subprocesses: ``--engine
local`` with one process (torch's two threads), ``--workers 2`` (two one-thread
processes), and, for baseline and static, Spark ``local[2]`` on the first
``--spark-rows``. The two-worker output is checked against the one-process output
(labels equal, largest probability difference).

Figures: wall seconds per job (start-up and model load included), docs/s, hours per
million at that rate, and the peak resident memory of the whole process tree (parent,
workers, Spark's JVM and Python workers), sampled every 0.2 s. Quality columns are not
measured here: they are the figures bench/RESULTS.md already reports (``QUALITY``, each
with its section), quoted so cost and quality sit in one table and one plot
(bench/cost.png: quality against docs/s, log x).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_score import (
    labels,
    max_prob_diff,
    publish_champion,
    run_job,
    size_arguments,
    started,
    write_corpus,
)
from bench.common import ROOT, report

# Quality already measured, quoted from bench/RESULTS.md (not rerun here). Public sets:
# the fixed dev split of each release ("Quality on public datasets", 2026-12-01; the
# static rows "Embedding and static families", 2026-12-03); sample: gold test of the
# bundled sample (the static section's table, 2026-12-03; its transformer had 3 epochs).
SOURCES = {
    "public": "bench/RESULTS.md, 'Quality on public datasets' (dev, 2026-12-01)",
    "static": "bench/RESULTS.md, 'Embedding and static families' (dev, 2026-12-03)",
    "sample": "bench/RESULTS.md, 'Embedding and static families' (sample gold test)",
}
QUALITY: dict[str, dict[str, Any]] = {
    "baseline": {
        "model": "TF-IDF linear",
        "semeval2023_microf1": 0.661,
        "gvfc_acc": 0.740,
        "fnc1_score": 86.67,
        "newsmtsc_macrof1": 0.630,
        "sample_frames_microf1": 0.618,
        "sample_stance_macrof1": 0.421,
        "source": f"{SOURCES['public']}; {SOURCES['sample']}",
    },
    "static": {
        "model": "model2vec MiniLM, 256 dims",
        "semeval2023_microf1": 0.635,
        "gvfc_acc": 0.712,
        "fnc1_score": None,  # not measured
        "newsmtsc_macrof1": None,  # not measured
        "sample_frames_microf1": 0.602,
        "sample_stance_macrof1": 0.350,
        "source": f"{SOURCES['static']}; {SOURCES['sample']}",
    },
    "transformer": {
        "model": "MiniLM-L6 fine-tuned (fnc1: frozen siamese)",
        "semeval2023_microf1": 0.692,
        "gvfc_acc": 0.788,
        "fnc1_score": 88.11,
        "newsmtsc_macrof1": 0.815,
        "sample_frames_microf1": 0.447,
        "sample_stance_macrof1": 0.364,
        "source": f"{SOURCES['public']}; {SOURCES['sample']}",
    },
}
QUALITY_COLUMNS = [k for k in QUALITY["baseline"] if k not in ("model", "source")]


def cost_row(kind: str, engine: str, n: int, secs: float, peak_mb: float) -> dict[str, Any]:
    rate = n / secs
    row = {
        "kind": kind,
        "engine": engine,
        "rows": n,
        "seconds": round(secs, 1),
        "docs_per_s": round(rate, 1),
        "hours_per_million": round(1e6 / rate / 3600, 2),
        "peak_rss_mb": round(peak_mb),
    }
    row.update({k: QUALITY[kind][k] for k in QUALITY_COLUMNS})
    print(f"[row] {row}", flush=True)
    return row


def measure(
    kind: str, uri: str, work: Path, n: int, spark_rows: int, chunk: int
) -> list[dict[str, Any]]:
    inp = work / f"{kind}.parquet"
    write_corpus(inp, n)
    rows, outs = [], {}
    for workers in (1, 2):
        out = outs[workers] = work / f"{kind}-w{workers}"
        peak: list[float] = []
        secs, _, _ = run_job(uri, inp, out, chunk, "local", workers=workers, tree_peak=peak)
        engine = "local, 1 process" if workers == 1 else "local, 2 workers"
        rows.append(cost_row(kind, engine, n, secs, peak[0]))
    same = labels(outs[2]).equals(labels(outs[1]))
    diff = max_prob_diff(outs[2], outs[1], n)
    rows[-1]["check"] = f"labels = 1 process: {same}; max |prob diff| {diff:.1e}"
    rows[-1]["ok"] = same and diff == 0.0
    if kind != "transformer" and spark_rows:
        m = min(spark_rows, n)
        sinp = work / f"{kind}-spark.parquet"
        write_corpus(sinp, n, first=m)
        peak = []
        out = work / f"{kind}-spark"
        secs, _, _ = run_job(uri, sinp, out, chunk, "spark", tree_peak=peak)
        rows.append(cost_row(kind, "spark local[2]", m, secs, peak[0]))
        same = labels(out).equals(labels(outs[1]).head(m))
        rows[-1]["check"] = f"labels = local on {m}: {same}"
        rows[-1]["ok"] = same
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Quality against docs/s (log x): SemEval-2023 dev and the sample's frames test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for metric, marker, label in (
        ("semeval2023_microf1", "o", "SemEval-2023 dev micro-F1"),
        ("sample_frames_microf1", "s", "sample frames test micro-F1"),
    ):
        xs = [r["docs_per_s"] for r in rows]
        ys = [r[metric] for r in rows]
        ax.scatter(xs, ys, marker=marker, label=label)
        for i, r in enumerate(rows):  # labels alternate above and below: close x overlap
            ax.annotate(
                f"{r['kind']}, {r['engine']}",
                (r["docs_per_s"], r[metric]),
                fontsize=7,
                xytext=(4, 4 if i % 2 == 0 else -10),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_xlabel("docs/s on 2 cores (full generated articles; log scale)")
    ax.set_ylabel("quality (quoted from bench/RESULTS.md)")
    ax.set_title("Cost per million: quality against scoring speed")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size_arguments(ap, 20_000, "baseline and static rows")
    ap.add_argument("--families", default="baseline,static,transformer", help="comma-separated")
    ap.add_argument("--out", default="cost", help="results/NAME.json and bench/NAME.png")
    args = ap.parse_args()
    t0, load_before = started()
    rows: list[dict[str, Any]] = []
    loads: dict[str, list[float]] = {}
    png = ROOT / "bench" / f"{args.out}.png"

    def write() -> None:
        """After every kind: a run cut short still leaves its table, JSON and plot."""
        extra = {
            "command": "python bench/bench_cost.py " + " ".join(sys.argv[1:]),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "load_averages": loads,
            "total_seconds": round(time.perf_counter() - t0),
            "quality": QUALITY,
            "quality_sources": SOURCES,
        }
        report(args.out, rows, extra)
        plot(rows, png)
        print(f"plot: {png}\nload average before {load_before}, after {os.getloadavg()}")

    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        work = Path(tmp)
        for kind in args.families.split(","):
            n = args.transformer_rows if kind == "transformer" else args.rows
            store = work / kind
            store.mkdir()
            uri = publish_champion(kind, store)
            loads[f"{kind} scoring start"] = list(os.getloadavg())
            rows += measure(kind, uri, work, n, args.spark_rows, args.chunk or max(10, n // 20))
            loads[f"{kind} scoring end"] = list(os.getloadavg())
            write()
    failed = [f"{r['kind']}, {r['engine']}" for r in rows if r.get("ok") is False]
    if failed:
        sys.exit(f"outputs differ: {', '.join(failed)}")


if __name__ == "__main__":
    main()
