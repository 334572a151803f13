"""Pipeline speed and scaling: ingest, rules, label stage, label model, embedding LF, baseline.

    python bench/bench_pipeline.py                      # 100,000 docs + scaling 10k/30k/100k
    python bench/bench_pipeline.py --quick              # 2,000 docs, scaling 1k/2k/4k
    python bench/bench_pipeline.py --jobs 2 --scaling 10000,100000,1000000   # make bench

``--jobs 2`` runs rule labeling beside baseline scoring (both only read the ingested
corpus), so at 1,000,000 documents scoring's 20 minutes hide behind rule labeling's 85.

Each stage runs in a fresh subprocess (``--stage``), so its peak RSS is its own and not
the high-water mark of everything before it. One stage alone, on a folder holding
``corpus.jsonl`` (and ``ingest/`` once the ingest stage has run), prints its JSON line:
``python bench/bench_pipeline.py --stage rules --work DIR --limit N``.
The corpus is generated at bench time from the sample articles
(``bench.common.generated_corpus``) with word-level perturbations, so near-duplicate
detection keeps most of it as it would a real feed, and is never committed.
Writes ``bench/results/pipeline.json`` and ``bench/scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, peak_rss_mb, report
from bench.pipeline_stages import SCALING_STAGES, STAGES, cpu_timer, write_corpus

# ----------------------------------------------------------------------------- driver
# stage processes still running, so that one stage's failure can stop the one beside it
# at once instead of after up to an hour and a half of work nobody will read
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def run_stage(stage: str, work: Path, limit: int) -> dict[str, Any]:
    """One stage in a fresh interpreter; its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--stage", stage, "--work", str(work), "--limit", str(limit)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDIAFRAME_PROGRESS": "0"}
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        stdout, stderr = proc.communicate()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["stage"] = stage
    out["wall_interval"] = [started, time.time()]
    out["per_second"] = out["n"] / out["seconds"]
    out["per_cpu_second"] = out["n"] / max(out["cpu_seconds"], 1e-9)
    print(
        f"  {stage:<12} n={out['n']:>8,}  {out['seconds']:8.1f} s  "
        f"{out['per_second']:9.1f}/s  cpu {out['cpu_seconds']:8.1f} s  "
        f"{out['per_cpu_second']:9.1f}/cpu-s  peak {out['peak_rss_mb']:7.0f} MB",
        flush=True,
    )
    return out


# a stage reads what these wrote: the corpus's documents.parquet, the votes, the model
NEEDS = {
    "ingest": [],
    "rules": ["ingest"],
    "label": ["ingest"],
    "label_model": ["rules"],
    "embedding": ["ingest"],
    "train": ["rules"],
    "score": ["ingest", "train"],
}


def run_stages(stages: list[str], work: Path, limits: dict[str, int], jobs: int) -> list[dict]:
    """The stages in order, up to ``jobs`` at once where none needs another's output.

    Each stage is one single-threaded process (the baseline's fit aside), so on 2 cores
    rules and scoring, which both only read the ingested corpus, can share the machine and
    a 1M-document run takes the longest stage's time instead of the sum. Docs per CPU
    second stay comparable; wall seconds of stages that ran side by side do not, so each
    row names in ``beside`` the stages whose run overlapped its own.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    jobs = max(jobs, 1)
    results: dict[str, dict[str, Any]] = {}
    pending = list(stages)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running: dict[Any, str] = {}
        while pending or running:
            for s in list(pending):
                blocked = [d for d in NEEDS[s] if d in stages and d not in results]
                if len(running) < jobs and not blocked:
                    running[pool.submit(run_stage, s, work, limits[s])] = s
                    pending.remove(s)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                stage = running.pop(f)
                try:
                    results[stage] = f.result()
                except BaseException:
                    with _LIVE_LOCK:
                        for proc in _LIVE:
                            proc.kill()
                    raise
    for s, r in results.items():
        a0, a1 = r["wall_interval"]
        r["beside"] = [
            o
            for o, q in results.items()
            if o != s and q["wall_interval"][0] < a1 and a0 < q["wall_interval"][1]
        ]
    return [results[s] for s in stages]


def run_size(
    n: int, stages: list[str], root: Path, limits: dict[str, int], jobs: int = 1
) -> list[dict[str, Any]]:
    work = root / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    with cpu_timer() as t:
        write_corpus(n, work / "corpus.jsonl")
    print(f"n={n:,}: corpus written in {t['seconds']:.0f} s", flush=True)
    rows = run_stages(stages, work, {s: limits.get(s, n) for s in stages}, jobs)
    if "label_model" in stages and limits.get("model_rows", 0) > n:
        rows.append(run_stage("label_model", work, limits["model_rows"]))
        rows[-1]["stage"] = "label_model (tiled)"
    for r in rows:
        r["corpus_docs"] = n
    return rows


def corpus_size(row: dict[str, Any]) -> int:
    """The size a scaling row belongs to: the generated corpus, not the documents a stage
    saw (ingest drops a few near-duplicates, so rules see 999,997 of 1,000,000)."""
    return row.get("corpus_docs", row["n"])


def plot(scaling: list[dict[str, Any]], path: Path) -> None:
    """CPU seconds and peak RSS against corpus size; CPU, since wall time on a shared
    machine measures the neighbours as much as the code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.6))
    sizes = sorted({corpus_size(r) for r in scaling})
    for stage in dict.fromkeys(r["stage"] for r in scaling):
        rs = sorted((r for r in scaling if r["stage"] == stage), key=corpus_size)
        ns = [corpus_size(r) for r in rs]
        ax_t.plot(ns, [r["cpu_seconds"] for r in rs], marker="o", label=stage)
        ax_m.plot(ns, [r["peak_rss_mb"] for r in rs], marker="o", label=stage)
    ax_t.set(xscale="log", yscale="log", xlabel="documents", ylabel="CPU seconds")
    ax_t.set_title("time (log-log: linear growth = slope 1)", fontsize=10)
    ax_m.set(xscale="log", xlabel="documents", ylabel="peak RSS, MB")
    ax_m.set_title("memory (each stage its own process)", fontsize=10)
    ax_m.set_ylim(bottom=0)
    for ax in (ax_t, ax_m):
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax_t.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000, help="corpus for the stage table")
    ap.add_argument(
        "--scaling",
        default="10000,30000,100000",
        help="comma-separated sizes for the scaling runs ('' to skip)",
    )
    ap.add_argument("--train-docs", type=int, default=100_000, help="baseline training set")
    ap.add_argument("--embed-docs", type=int, default=1000, help="documents for the embedding LF")
    ap.add_argument(
        "--model-rows", type=int, default=0, help="also fit the label model on votes tiled to N"
    )
    ap.add_argument(
        "--scaling-stages",
        default=",".join(SCALING_STAGES),
        help="comma-separated stages for the scaling runs (default: %(default)s)",
    )
    ap.add_argument(
        "--jobs", type=int, default=1, help="independent stages at once (rules beside scoring)"
    )
    ap.add_argument(
        "--merge-scaling",
        metavar="JSON",
        help="add an earlier run's scaling rows, at sizes this run skips, to the plot and JSON",
    )
    ap.add_argument("--out", default="pipeline", help="results/NAME.json (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="2,000 docs, scaling 1k/2k/4k")
    ap.add_argument("--workdir", help="keep generated data here (default: a temp dir)")
    ap.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    stages = [x for x in args.scaling_stages.split(",") if x]
    if unknown := set(stages) - set(SCALING_STAGES):
        ap.error(f"--scaling-stages: not a scaling stage: {', '.join(sorted(unknown))}")
    return args


def _child(args: argparse.Namespace) -> None:
    """One stage, one JSON line: what a parent ``run_stage`` reads."""
    fn = STAGES[args.stage]
    work = Path(args.work)
    limited = args.stage in ("embedding", "train", "label_model")
    out = fn(work, args.limit) if limited else fn(work)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def _merge_earlier(path: str, scaling: list, stages: list[str], sizes: list[int]) -> list:
    """Add an earlier run's scaling rows at sizes this run skipped, marked with its origin."""
    earlier = json.loads(Path(path).read_text())
    for r in earlier["scaling"]:
        if r["stage"] in stages and corpus_size(r) not in sizes:
            scaling.append({**r, "from": f"{earlier['date']}: {earlier['command']}"})
    scaling.sort(key=lambda r: (stages.index(r["stage"]), corpus_size(r)))
    return scaling


def main() -> None:
    args = _parse_args()
    if args.stage:  # child process: one stage, one JSON line
        _child(args)
        return
    if args.quick:
        args.docs, args.scaling = 2000, "1000,2000,4000"
        args.train_docs, args.embed_docs = 1000, 100
    limits = {"train": args.train_docs, "embedding": args.embed_docs, "model_rows": 0}
    sizes = [int(x) for x in args.scaling.split(",") if x]
    stages = [x for x in args.scaling_stages.split(",") if x]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="mediaframe-bench-"))
    t0 = time.time()
    uptime = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    try:
        full = run_size(
            args.docs, list(STAGES), root, {**limits, "model_rows": args.model_rows}, args.jobs
        )
        scaling = list(full) if args.docs in sizes else []
        for n in sizes:
            if n != args.docs:
                scaling += run_size(n, stages, root, limits, args.jobs)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    scaling = [r for r in scaling if r["stage"] in stages]
    if args.merge_scaling:
        scaling = _merge_earlier(args.merge_scaling, scaling, stages, sizes)
    png = ROOT / "bench" / ("scaling-quick.png" if args.quick else "scaling.png")
    if sizes:
        plot(scaling, png)
    cols = ["stage", "n", "seconds", "per_second", "cpu_seconds", "per_cpu_second", "peak_rss_mb"]
    rows = [{c: (round(r[c], 1) if isinstance(r[c], float) else r[c]) for c in cols} for r in full]
    report(
        "pipeline-quick" if args.quick else args.out,
        rows,
        {
            "command": " ".join(sys.argv),
            "wall_seconds": time.time() - t0,
            "loadavg_at_start": uptime,
            "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
            "stages": full,
            "scaling": scaling,
            "plot": str(png.relative_to(ROOT)) if sizes else None,
        },
    )


if __name__ == "__main__":
    main()
