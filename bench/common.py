"""Shared benchmark plumbing: a generated corpus, timing, peak memory, table + JSON out."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.system import machine, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

__all__ = ["RESULTS", "ROOT", "generated_corpus", "machine", "peak_rss_mb", "report", "timer"]


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    t = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - t


def sample_articles() -> list[dict[str, Any]]:
    rows = []
    for f in sorted((ROOT / "data" / "articles").glob("*.jsonl")):
        rows += [json.loads(x) for x in f.open(encoding="utf-8")]
    return rows


def generated_corpus(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """n articles of about 3 KB made from the sample by shuffling and mixing paragraphs.

    Made at bench time, never committed: each keeps a real article's title and most of its
    paragraphs, in a new order, with paragraphs of another article mixed in.
    """
    base = sample_articles()
    rng = random.Random(seed)
    for i in range(n):
        a, b = rng.choice(base), rng.choice(base)
        paras = a["text"].split("\n\n")
        rng.shuffle(paras)
        extra = b["text"].split("\n\n")
        paras = paras + rng.sample(extra, k=min(2, len(extra)))
        text = "\n\n".join(paras)
        while len(text) < 2800:
            text += "\n\n" + rng.choice(extra)
        yield {
            "id": f"g{i}",
            "title": a["title"],
            "text": text[:3400],
            "source": a["source"],
            "date": a["date"],
            "url": f"{a['url']}?v={i}",
        }


def report(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print the rows as a table and write them, with the machine, to results/NAME.json."""
    import pandas as pd

    print(pd.DataFrame(rows).to_string(index=False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": name,
                "date": time.strftime("%Y-%m-%d"),
                "machine": machine(),
                "rows": rows,
                **(extra or {}),
            },
            indent=1,
        )
    )
    print(f"\nwritten: {out}")
    return out
