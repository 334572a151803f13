"""The stages ``bench/bench_pipeline.py`` times, each run alone in a fresh process.

Each ``stage_*`` takes a work folder holding ``corpus.jsonl`` (and the ingested corpus
once ``ingest`` has run) and returns its counts and timings.
"""

from __future__ import annotations

import json
import os
import random
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, generated_corpus, timer

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
