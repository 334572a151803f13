"""Scoring speed of champion kinds, side by side: docs/s of frames + stance per family.

    python bench/bench_static.py [--models runs/sample/models] [--texts 2000] \
        [--families baseline static transformer] [--rounds 8]

Reads the bundles that ``mediaframe train`` left in ``--models`` (``frames-FAMILY`` and
``stance-FAMILY``), builds the published scoring function (``models.scorer.Scorer``: the
frames bundle, the stance bundle and the mention rule of ``configs/stance.yaml``) for
each family, and scores the same ``--texts`` generated full articles (bench/common.py,
about 3 KB each) with each. The machine is shared, so the families are timed interleaved:
the texts are cut into ``--rounds`` chunks and every family scores each chunk in a
rotating order, so load that comes and goes falls on all of them alike; each row is the
sum over the chunks. Model loading is outside the timing; one warm-up text is scored
first. Figures: docs/s, the ratio to the slowest family, and the projected hours per
million articles.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, generated_corpus, peak_rss_mb, report


def scorer_for(models: Path, family: str):
    """The published scoring function over ``frames-FAMILY`` and ``stance-FAMILY``."""
    import json
    import tempfile

    from labeling.codebook import load_stance
    from models.scorer import Scorer

    meta = {"stance": load_stance(ROOT / "configs" / "stance.yaml").to_dict()}
    tmp = Path(tempfile.mkdtemp(prefix="bench-static-"))
    (tmp / "meta.json").write_text(json.dumps(meta))
    return Scorer.from_dirs(
        models / f"frames-{family}", models / f"stance-{family}", tmp / "meta.json"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="runs/sample/models", help="mediaframe train's output")
    ap.add_argument("--texts", type=int, default=2000, help="generated articles to score")
    ap.add_argument("--families", nargs="+", default=["baseline", "static", "transformer"])
    ap.add_argument("--rounds", type=int, default=8, help="interleaved chunks of the texts")
    args = ap.parse_args()
    models = Path(args.models)
    rows = list(generated_corpus(args.texts, seed=5))
    df = pd.DataFrame(rows)
    scorers = {}
    load_s = {}
    for fam in args.families:
        t0 = time.perf_counter()
        scorers[fam] = scorer_for(models, fam)
        scorers[fam].score(df.iloc[:1])  # warm-up: lazy imports, first allocations
        load_s[fam] = time.perf_counter() - t0
    seconds = dict.fromkeys(args.families, 0.0)
    size = -(-len(df) // args.rounds)
    load_start = os.getloadavg()[0]
    for r in range(args.rounds):
        part = df.iloc[r * size : (r + 1) * size]
        order = args.families[r % len(args.families) :] + args.families[: r % len(args.families)]
        for fam in order:
            t0 = time.perf_counter()
            out = scorers[fam].score(part)
            seconds[fam] += time.perf_counter() - t0
            assert len(out) == len(part) and out["error"].isna().all(), fam
        print(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{f} {s:.1f}s" for f, s in seconds.items()),
            flush=True,
        )
    slowest = max(seconds.values())
    table = [
        {
            "family": fam,
            "texts": len(df),
            "seconds": round(s, 1),
            "docs_per_s": round(len(df) / s, 1),
            "x_slowest": round(slowest / s, 1),
            "hours_per_million": round(1e6 / (len(df) / s) / 3600, 2),
            "load_seconds": round(load_s[fam], 1),
        }
        for fam, s in seconds.items()
    ]
    extra = {
        "load_avg_start": load_start,
        "load_avg_end": os.getloadavg()[0],
        "peak_rss_mb": round(peak_rss_mb()),
        "models": str(models),
    }
    report("static-throughput", table, extra)


if __name__ == "__main__":
    main()
