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
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, generated_corpus, peak_rss_mb, report, timer

CHUNK = 5000  # documents per chunk in the streaming stages


@contextmanager
def cpu_timer() -> Iterator[dict[str, float]]:
    """Wall seconds and CPU seconds (all threads of this process) of the block.

    On a shared machine wall time stretches with other people's load; CPU time much less,
    so docs per CPU-second is the figure to compare across runs.
    """

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    c0 = cpu()
    with timer() as box:
        yield box
    box["cpu_seconds"] = cpu() - c0


# ----------------------------------------------------------------------------- corpus
def perturbed_corpus(n: int, seed: int) -> Iterator[dict[str, Any]]:
    """``generated_corpus`` with about one word in ten replaced by another sample word.

    Shuffled paragraphs alone leave two articles made from one source near-duplicates
    (MinHash would drop nearly all of them); replacing words breaks enough 5-word shingles
    that ingest keeps them, while titles and most cue words survive for labeling.
    """
    rng = random.Random(seed + 1)
    vocab: list[str] = []
    for d in generated_corpus(200, seed=seed):
        vocab += d["text"].split()
    for d in generated_corpus(n, seed=seed):
        words = d["text"].split(" ")
        for _ in range(len(words) // 10):
            i = rng.randrange(len(words))
            if "\n" not in words[i]:
                words[i] = rng.choice(vocab).replace("\n", " ")
        d["text"] = " ".join(words)
        yield d


def write_corpus(n: int, path: Path, seed: int = 0) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for d in perturbed_corpus(n, seed):
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------- stages
def _configs():
    from pipelines.config import IngestConfig, LabelConfig, load_config

    os.chdir(ROOT)  # configs name paths relative to the repository
    return load_config(IngestConfig, "configs/ingest.yaml"), load_config(
        LabelConfig, "configs/label.yaml"
    )


def _doc_batches(parquet: Path, limit: int | None = None) -> Iterator[list]:
    """Documents from documents.parquet, one chunk at a time (bounded memory)."""
    from labeling.functions import Doc
    from pipelines.readers import iter_parquet

    seen = 0
    for batch in iter_parquet(parquet, CHUNK, ["id", "title", "text"]):
        rows = batch.to_pylist()
        if limit is not None:
            rows = rows[: limit - seen]
        seen += len(rows)
        yield [Doc(str(r["id"]), str(r["title"] or ""), str(r["text"])) for r in rows]
        if limit is not None and seen >= limit:
            return


def stage_ingest(work: Path) -> dict[str, Any]:
    from pipelines.ingest import ingest

    cfg, _ = _configs()
    with cpu_timer() as t:
        rep = ingest([work / "corpus.jsonl"], work / "ingest", cfg)
    return {
        "n": rep.rows_read,
        "seconds": t["seconds"],
        "cpu_seconds": t["cpu_seconds"],
        "docs_out": rep.documents_out,
        "dropped": dict(rep.dropped),
    }


def stage_rules(work: Path) -> dict[str, Any]:
    """The default rule functions over the ingested corpus, chunk by chunk."""
    from labeling.codebook import load_codebook, load_stance
    from labeling.weak import WeakLabeler

    _, cfg = _configs()
    labeler = WeakLabeler(load_codebook(cfg.codebook), load_stance(cfg.stance))
    frames: dict[str, list[np.ndarray]] = {}
    stance: list[np.ndarray] = []
    n = n_pairs = 0
    with cpu_timer() as t:
        for docs in _doc_batches(work / "ingest" / "documents.parquet"):
            mats, pairs = labeler.apply(docs)
            for m in mats[:-1]:
                frames.setdefault(m.group, []).append(m.votes.astype(np.int8))
            stance.append(mats[-1].votes.astype(np.int8))
            n += len(docs)
            n_pairs += len(pairs)
    np.savez(
        work / "votes.npz",
        stance=np.concatenate(stance),
        **{f"frame__{k}": np.concatenate(v) for k, v in frames.items()},
    )
    n_frame_lfs, n_stance_lfs = len(labeler.frame_lfs), len(labeler.stance_lfs)
    return {
        "n": n,
        "seconds": t["seconds"],
        "cpu_seconds": t["cpu_seconds"],
        "functions": n_frame_lfs + n_stance_lfs,
        "frame_functions": n_frame_lfs,
        "stance_functions": n_stance_lfs,
        "stance_pairs": n_pairs,
        # one vote = one function on one document (frames) or one (document, target) pair
        "votes_per_second": (n * n_frame_lfs + n_pairs * n_stance_lfs) / t["seconds"],
        "lf_errors": len(labeler.errors),
    }


def stage_label(work: Path) -> dict[str, Any]:
    """The product's label stage (``run_label``) with the rule functions: two passes in
    chunks, the label model on all votes, labels.parquet and the Label Studio tasks
    streamed, the report and MLflow run (a store in the work folder) as in production."""
    import mlflow

    from pipelines.label import run_label

    _, cfg = _configs()
    cfg.embedding_lf = False  # the embedding LF is its own stage
    mlflow.set_tracking_uri(f"sqlite:///{work / 'label-mlruns.db'}")
    with cpu_timer() as t:
        res = run_label(work / "ingest" / "documents.parquet", work / "label", cfg)
    return {
        "n": res.report["documents"],
        "seconds": t["seconds"],
        "cpu_seconds": t["cpu_seconds"],
        "label_model_frames": res.report["label_model_frames"],
    }


def stage_label_model(work: Path, rows: int) -> dict[str, Any]:
    """Dawid-Skene on the rule votes: one binary model per frame, one for stance.

    With ``rows`` above the corpus size the real vote matrices are tiled to that many
    documents (the stance pairs in proportion): the fit's cost at a size whose rule
    labeling there was no time to run.
    """
    from labeling.codebook import load_stance
    from labeling.label_model import aggregate

    _, cfg = _configs()
    n_stance = len(load_stance(cfg.stance).labels)
    votes = np.load(work / "votes.npz")
    mats = {k: votes[k].astype(np.int64) for k in votes.files}
    n = len(mats[next(k for k in mats if k.startswith("frame__"))])
    if rows > n:
        mats = {k: np.resize(v, (len(v) * rows // n, v.shape[1])) for k, v in mats.items()}
        n = rows
    with cpu_timer() as t:
        for k, v in mats.items():
            classes = n_stance if k == "stance" else 2
            aggregate("dawid_skene", v, classes, [f"{k}:{j}" for j in range(v.shape[1])])
    return {
        "n": n,
        "seconds": t["seconds"],
        "cpu_seconds": t["cpu_seconds"],
        "stance_pairs": len(mats["stance"]),
    }


def stage_embedding(work: Path, limit: int) -> dict[str, Any]:
    """The embedding labeling function: encode each document, compare with definitions."""
    from labeling.codebook import load_codebook
    from labeling.functions import embedding_functions
    from pipelines.label import make_similarity

    _, cfg = _configs()
    cfg.embedding_cache = str(work / "embedding-cache")  # cold: nothing encoded yet
    codebook = load_codebook(cfg.codebook)
    similarity = make_similarity(cfg, codebook)
    docs = next(_doc_batches(work / "ingest" / "documents.parquet", limit=limit))
    with cpu_timer() as t:
        sims = similarity(docs)
        index = {d.id: i for i, d in enumerate(docs)}
        lfs = embedding_functions(codebook, lambda d: sims[index[d.id]])
        votes = np.array([[lf(d) for lf in lfs] for d in docs])
    return {
        "n": len(docs),
        "seconds": t["seconds"],
        "cpu_seconds": t["cpu_seconds"],
        "functions": votes.shape[1],
    }


def _frame_labels(work: Path) -> tuple[list[str], np.ndarray]:
    """Training targets for the baseline: majority vote of the rule functions."""
    from labeling.label_model import majority_vote

    votes = np.load(work / "votes.npz")
    keys = [k for k in votes.files if k.startswith("frame__")]
    y = np.stack(
        [majority_vote(votes[k].astype(np.int64), 2).probs[:, 1] >= 0.5 for k in keys], axis=1
    )
    return [k.removeprefix("frame__") for k in keys], y.astype(int)


def stage_train(work: Path, limit: int) -> dict[str, Any]:
    """Baseline fit (TF-IDF + one-vs-rest, 2 workers) on the first ``limit`` documents.

    It holds its whole training set in memory (TF-IDF vocabulary and matrix). The model
    is saved beside the size folders, so scoring at every size uses this one model.
    """
    import pandas as pd

    from models.baseline import BaselineModel
    from models.data import Examples, TaskSpec
    from pipelines.config import BaselineConfig

    keys, y = _frame_labels(work)
    df = pd.read_parquet(work / "ingest" / "documents.parquet", columns=["id", "title", "text"])
    df, y = df.iloc[:limit], y[:limit]
    texts = (df["title"].fillna("") + "\n\n" + df["text"]).tolist()
    model = BaselineModel(TaskSpec("frames", "multilabel", keys), BaselineConfig(n_jobs=2))
    with cpu_timer() as t:
        model.fit(Examples(df["id"].tolist(), texts, y))
    del df, texts
    model.save(work.parent / "baseline")
    (work.parent / "baseline" / "keys.json").write_text(json.dumps(keys))
    return {"n": len(y), "seconds": t["seconds"], "cpu_seconds": t["cpu_seconds"]}


def stage_score(work: Path) -> dict[str, Any]:
    """Baseline scoring, streamed chunk by chunk from documents.parquet."""
    from models.baseline import BaselineModel
    from models.data import TaskSpec

    keys = json.loads((work.parent / "baseline" / "keys.json").read_text())
    model = BaselineModel.load(work.parent / "baseline", TaskSpec("frames", "multilabel", keys))
    n = 0
    with cpu_timer() as t:
        for docs in _doc_batches(work / "ingest" / "documents.parquet"):
            model.predict_proba([f"{d.title}\n\n{d.text}" for d in docs])
            n += len(docs)
    return {"n": n, "seconds": t["seconds"], "cpu_seconds": t["cpu_seconds"]}


STAGES = {
    "ingest": stage_ingest,
    "rules": stage_rules,
    "label": stage_label,
    "label_model": stage_label_model,
    "embedding": stage_embedding,
    "train": stage_train,
    "score": stage_score,
}
# the streaming stages, and the label model and the product's label stage, which hold votes
SCALING_STAGES = ["ingest", "rules", "label", "label_model", "score"]


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


def main() -> None:
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
    if args.stage:  # child process: one stage, one JSON line
        fn = STAGES[args.stage]
        work = Path(args.work)
        out = (
            fn(work, args.limit)
            if args.stage in ("embedding", "train", "label_model")
            else fn(work)
        )
        out["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(out))
        return
    if args.quick:
        args.docs, args.scaling = 2000, "1000,2000,4000"
        args.train_docs, args.embed_docs = 1000, 100
    limits = {"train": args.train_docs, "embedding": args.embed_docs, "model_rows": 0}
    sizes = [int(x) for x in args.scaling.split(",") if x]
    stages = [x for x in args.scaling_stages.split(",") if x]
    if unknown := set(stages) - set(SCALING_STAGES):
        ap.error(f"--scaling-stages: not a scaling stage: {', '.join(sorted(unknown))}")
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
        earlier = json.loads(Path(args.merge_scaling).read_text())
        for r in earlier["scaling"]:
            if r["stage"] in stages and corpus_size(r) not in sizes:
                scaling.append({**r, "from": f"{earlier['date']}: {earlier['command']}"})
        scaling.sort(key=lambda r: (stages.index(r["stage"]), corpus_size(r)))
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
