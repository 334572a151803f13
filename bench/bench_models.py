"""Model speed on this machine: the baseline at 50,000 articles, the transformer on CPU.

    python bench/bench_models.py [--docs 50000] [--char-docs 10000] [--texts 2000]

Rows: baseline training time and scoring docs/s (word n-grams, 2 workers), and the
character n-gram option on its own rows (slower, so on fewer documents); transformer
training and inference examples/s at 128 and 256 tokens. Inference compares our path
(``TransformerModel.predict_proba``: length-sorted batches under a token budget,
``torch.inference_mode``, int8 on CPU when the training guard keeps it) with a plain
``transformers.pipeline("text-classification")`` over the same fine-tuned encoder weights,
the same 2,000 mixed-length texts and the same max length, at batch size 1 and 32; the
ratio counts against the better pipeline setting. Our int8 path also runs in two
one-thread worker processes (``pipelines.workers``, as ``score --workers 2``), each chunk
split round-robin between them, beside the one two-thread process. int8 is its own row,
beside fp32, and the pipeline over the same int8 model shows how much of the gain is
quantisation alone.
The machine is shared, so the methods are timed interleaved: the texts are cut into
``--rounds`` chunks and every method scores each chunk, in a rotating order, so load that
comes and goes falls on all of them alike; each row is the sum over the chunks. The int8
F1 rows read the frames and stance transformers that ``make run`` (or ``mediaframe train``)
left in ``runs/sample/models``: the guard's dev scores, and gold-test F1 in both modes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, generated_corpus, peak_rss_mb, report, timer
from pipelines.workers import one_thread, worker_pool


def row(name: str, n: int, seconds: float | None, per_second: float | None = None) -> dict:
    """One table row, also printed at once: on a shared machine a long run may not finish."""
    if per_second is None and seconds:
        per_second = n / seconds
    print(f"[row] {name}: n={n} seconds={seconds} per_second={per_second}", flush=True)
    return {
        "row": name,
        "n": n,
        "seconds": None if seconds is None else round(seconds, 1),
        "per_second": None if per_second is None else round(per_second, 3 if n == 0 else 1),
        "peak_rss_mb": round(peak_rss_mb()),
    }


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


def bench_baseline(n_docs: int, n_char_docs: int) -> list[dict]:
    from models.baseline import BaselineModel
    from models.data import Examples, TaskSpec
    from pipelines.config import BaselineConfig

    keys, frames_of = gold_frames()
    docs = list(generated_corpus(max(n_docs, n_char_docs), seed=1))
    texts = [f"{d['title']}\n\n{d['text']}" for d in docs]
    y = np.array([[int(k in frames_of.get(d["title"], [])) for k in keys] for d in docs])
    spec = TaskSpec("frames", "multilabel", keys)
    rows = []
    for label, n, cfg in (
        ("word 1-2 grams", n_docs, BaselineConfig(n_jobs=2)),
        ("word 1-2 + char 2-5 grams", n_char_docs, BaselineConfig(n_jobs=2, char_ngrams=True)),
    ):
        if n == 0:
            continue
        model = BaselineModel(spec, cfg)
        with timer() as t:
            model.fit(Examples([d["id"] for d in docs[:n]], texts[:n], y[:n]))
        rows.append(row(f"baseline train ({label}, 15 frames, 2 workers)", n, t["seconds"]))
        with timer() as t:
            for i in range(0, n, 5000):
                model.predict_proba(texts[i : min(i + 5000, n)])
        rows.append(row(f"baseline score ({label})", n, t["seconds"]))
        del model
    return rows


def mixed_texts(n: int) -> list[str]:
    rng = random.Random(3)
    docs = list(generated_corpus(n, seed=2))
    return [d["text"][: rng.randint(60, 3000)] for d in docs]


def interleaved(
    methods: dict[str, Callable[[list[str]], object]], texts: list[str], rounds: int
) -> dict[str, float]:
    """Seconds per method over all texts, timed chunk by chunk in a rotating order."""
    for f in methods.values():  # warm-up: one-time kernel and allocator set-up
        f(texts[:16])
    names = list(methods)
    total = dict.fromkeys(names, 0.0)
    step = -(-len(texts) // rounds)
    for r in range(rounds):
        chunk = texts[r * step : (r + 1) * step]
        for name in names[r % len(names) :] + names[: r % len(names)]:
            with timer() as t:
                methods[name](chunk)
            total[name] += t["seconds"]
    return total


# One worker process's int8 model for the "2 one-thread workers" row (set up by _load_int8).
_WORKER: dict[str, object] = {}


def _load_int8(path: str, labels: list[str], calibration: list[str]) -> None:
    """In each worker: the fine-tuned weights, int8 with the same calibrated scales."""
    from models.data import TaskSpec
    from models.transformer import TransformerModel

    model = TransformerModel.load(Path(path), TaskSpec("bench", "multiclass", labels))
    model.calibrate_int8(calibration)
    assert model.set_inference("int8") == "int8"
    # The bench trains with ``threads: 2``, which loading sets again: back to one thread,
    # as ``score --workers`` does, or two workers run four threads on two cores.
    one_thread()
    _WORKER["model"] = model


def _worker_proba(texts: list[str]) -> np.ndarray:
    return _WORKER["model"].predict_proba(texts)


def in_workers(pool, n: int) -> Callable[[list[str]], np.ndarray]:
    """Score a chunk split round-robin (so lengths balance) over ``n`` worker processes."""

    def f(texts: list[str]) -> np.ndarray:
        parts = list(pool.map(_worker_proba, [texts[i::n] for i in range(n)]))
        out = np.empty((len(texts), parts[0].shape[1]), dtype=parts[0].dtype)
        for i, part in enumerate(parts):
            out[i::n] = part
        return out

    return f


def bench_transformer(
    n_texts: int,
    rounds: int,
    n_train: int = 96,
    int8_b1: bool = True,
    lengths: tuple[int, ...] = (128, 256),
) -> list[dict]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from models.data import Examples, TaskSpec
    from models.transformer import TransformerModel, quantize_int8
    from pipelines.config import TransformerConfig

    torch.set_num_threads(2)
    spec = TaskSpec("bench", "multiclass", ["a", "b", "c"])
    texts = mixed_texts(n_texts)
    rows = []
    for length in lengths:
        cfg = TransformerConfig(max_length=length, epochs=1, batch_size=16, threads=2)
        trained = TransformerModel(spec, cfg)
        train = Examples(
            [str(i) for i in range(n_train)],
            texts[:n_train],
            np.array([i % 3 for i in range(n_train)]),
        )
        with timer() as t:
            trained.fit(train)
        rows.append(
            row(f"transformer train, {length} tokens (MiniLM-L6, batch 16)", n_train, t["seconds"])
        )
        stack = contextlib.ExitStack()
        with tempfile.TemporaryDirectory() as tmp:
            # Both sides read the same fine-tuned weights from disk; ours loads them the
            # way the scorer does (TransformerModel.load), int8 quantised at load.
            trained.save(Path(tmp))
            fp32 = TransformerModel.load(Path(tmp), spec)
            int8 = TransformerModel.load(Path(tmp), spec)
            int8.calibrate_int8(train.texts)  # fixed activation scales, as training sets
            assert int8.set_inference("int8") == "int8"
            int8_dyn = TransformerModel.load(Path(tmp), spec)  # per-batch scales: its cost
            assert int8_dyn.set_inference("int8") == "int8"
            tok = AutoTokenizer.from_pretrained(Path(tmp) / "encoder")
            hf = AutoModelForSequenceClassification.from_pretrained(
                Path(tmp) / "encoder", num_labels=3
            ).eval()
            # Two one-thread worker processes (as `score --workers 2`), each with its own
            # int8 model calibrated on the same texts; loaded before the folder goes.
            pool = stack.enter_context(
                worker_pool(2, _load_int8, (tmp, spec.labels, list(train.texts)))
            )
            workers = in_workers(pool, 2)
            workers(texts[:4])
        hf_int8 = quantize_int8(hf)
        clf = pipeline("text-classification", model=hf, tokenizer=tok, device="cpu")
        clf_int8 = pipeline("text-classification", model=hf_int8, tokenizer=tok, device="cpu")

        def pipe(p, bs: int, cap: int = length) -> Callable[[list[str]], object]:
            return lambda c: p(c, batch_size=bs, truncation=True, max_length=cap)

        same = float(np.abs(workers(texts[:64]) - int8.predict_proba(texts[:64])).max())
        methods = {
            "ours_int8_workers": workers,
            "ours_int8": int8.predict_proba,
            "ours_int8_dynamic": int8_dyn.predict_proba,
            "ours_fp32": fp32.predict_proba,
            "pipeline_fp32_b1": pipe(clf, 1),
            "pipeline_fp32_b32": pipe(clf, 32),
            "pipeline_int8_b32": pipe(clf_int8, 32),
        }
        if int8_b1:
            methods["pipeline_int8_b1"] = pipe(clf_int8, 1)
        with timer() as t:
            lengths = [len(x) for x in fp32.encode(texts, None).input_ids]
        rows.append(
            row(f"ours: tokenizing alone, {length} tokens (head+tail cut)", n_texts, t["seconds"])
        )
        secs = interleaved(methods, texts, rounds)
        rate = {k: n_texts / v for k, v in secs.items()}
        stack.close()
        names = {
            "ours_int8_workers": "transformer inference, ours, int8, 2 one-thread workers",
            "ours_int8": "transformer inference, ours, int8 (default on CPU, calibrated scales)",
            "ours_int8_dynamic": "transformer inference, ours, int8 with per-batch scales",
            "ours_fp32": "transformer inference, ours, fp32",
            "pipeline_fp32_b1": "transformers.pipeline fp32, batch 1",
            "pipeline_fp32_b32": "transformers.pipeline fp32, batch 32",
            "pipeline_int8_b1": "transformers.pipeline int8 (dynamic scales), batch 1",
            "pipeline_int8_b32": "transformers.pipeline int8 (dynamic scales), batch 32",
        }
        for k, name in names.items():
            if k in secs:
                rows.append(row(f"{name}, {length} tokens", n_texts, secs[k]))
        best_fp32 = max(rate["pipeline_fp32_b1"], rate["pipeline_fp32_b32"])
        best_int8 = max(rate.get("pipeline_int8_b1", 0.0), rate["pipeline_int8_b32"])
        best = max(best_fp32, best_int8)
        for label, value in (
            ("ours int8 2 workers / best pipeline", rate["ours_int8_workers"] / best),
            ("ours int8 2 workers / 1 process", rate["ours_int8_workers"] / rate["ours_int8"]),
            ("max |prob diff| 2 workers vs 1 process (64 texts)", same),
            ("ours int8 / best fp32 pipeline", rate["ours_int8"] / best_fp32),
            ("ours fp32 / best fp32 pipeline", rate["ours_fp32"] / best_fp32),
            ("ours int8 / best int8 pipeline", rate["ours_int8"] / best_int8),
            (
                "ours int8 calibrated / ours int8 per-batch scales",
                rate["ours_int8"] / rate["ours_int8_dynamic"],
            ),
        ):
            rows.append(row(f"ratio {label}, {length} tokens", 0, None, value))
        at_cap = float(np.mean(np.array(lengths) == length))
        rows.append(
            row(
                f"mean tokens per text, {length} tokens ({at_cap:.0%} at the cap)",
                0,
                None,
                float(np.mean(lengths)),
            )
        )
        del trained, fp32, int8, int8_dyn, hf, hf_int8, clf, clf_int8
    return rows


def quantisation_f1() -> list[dict]:
    """The int8 guard on the sample's trained transformers: dev scores, gold-test F1."""
    from models.base import ModelBundle
    from models.training import calibrated, selection_score
    from pipelines.config import TrainConfig, load_config
    from pipelines.train_data import build_task

    rows = []
    for task in ("frames", "stance"):
        bundle_dir = ROOT / f"runs/sample/models/{task}-transformer"
        if not (bundle_dir / "bundle.json").exists():
            rows.append(row(f"int8 {task}: skipped (run `make run` first)", 0, None, None))
            continue
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            data = build_task(load_config(TrainConfig, f"configs/train_{task}.yaml"))
        finally:
            os.chdir(cwd)
        bundle = ModelBundle.load(bundle_dir)
        guard = bundle.info.get("inference", {})
        test = {}
        for mode in ("fp32", "int8"):
            # Each mode with its own dev-fitted temperature and thresholds, as the guard saw it.
            bundle.model.set_inference(mode)
            name, test[mode] = selection_score(calibrated(bundle.model, data), data, "test")
        if guard:
            rows.append(
                row(
                    f"int8 guard, {task}: {guard['metric']} fp32 {guard['fp32']:.3f}, "
                    f"int8 {guard.get('int8', float('nan')):.3f}, tolerance "
                    f"{guard['tolerance']} -> {guard['mode']}",
                    len(data.dev),
                    None,
                    guard.get("int8", float("nan")) - guard["fp32"],
                )
            )
        rows.append(
            row(
                f"int8 {task} {name} on gold test: {test['fp32']:.3f} -> {test['int8']:.3f}",
                len(data.test),
                None,
                test["int8"] - test["fp32"],
            )
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50_000, help="baseline corpus size")
    ap.add_argument(
        "--char-docs", type=int, default=10_000, help="corpus size for the char n-gram rows"
    )
    ap.add_argument("--texts", type=int, default=2_000, help="transformer inference texts")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved timing chunks")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-transformer", action="store_true")
    ap.add_argument("--skip-f1", action="store_true", help="skip the int8 F1 rows")
    ap.add_argument("--train-texts", type=int, default=96, help="transformer training rows")
    ap.add_argument(
        "--skip-int8-b1", action="store_true", help="no int8 pipeline at batch 1 (slowest row)"
    )
    ap.add_argument("--out", default="models", help="results/NAME.json")
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 256], help="max tokens")
    args = ap.parse_args()
    t0 = time.time()
    load_before = os.getloadavg()
    rows = []
    if not args.skip_baseline:
        rows += bench_baseline(args.docs, args.char_docs)
    if not args.skip_transformer:
        rows += bench_transformer(
            args.texts, args.rounds, args.train_texts, not args.skip_int8_b1, tuple(args.lengths)
        )
    if not args.skip_f1:
        rows += quantisation_f1()
    extra = {
        "command": " ".join(sys.argv),
        "wall_seconds": time.time() - t0,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    report(args.out, rows, extra)
    print(f"load average before {load_before}, after {extra['load_average_after']}")


if __name__ == "__main__":
    main()
