"""`mediaframe split` on the sample gold: how close each split's mix is to the whole.

    python bench/bench_split.py DOCUMENTS.parquet

DOCUMENTS.parquet is an ingest of ``data/raw`` (it holds each gold document's outlet).
Prints one Markdown row per split (the bundled ``data/gold/splits.json``, made by an
exhaustive search over outlet assignments, then ``make_split`` grouped by outlet for
each stratification label and seed): sizes, outlets in dev/test, and the L1 distance of
dev's and test's primary-frame and stance mixes to the whole gold's (0 = identical).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeling.gold import Annotation, read_gold, read_splits
from pipelines.split import make_split, read_groups

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "data" / "gold" / "gold.jsonl"


def l1(gold: dict[str, Annotation], ids: list[str], values) -> float:
    whole = Counter(v for g in gold.values() for v in values(g))
    part = Counter(v for i in ids for v in values(gold[i]))
    n, m = sum(whole.values()), max(sum(part.values()), 1)
    return sum(abs(part[k] / m - whole[k] / n) for k in whole)


def row(name: str, gold, groups, sp: dict[str, list[str]]) -> str:
    def prim(g):
        return [g.primary_frame]

    def stance(g):
        return list(g.stance.values())

    sizes = "/".join(str(len(sp[k])) for k in ("train", "dev", "test"))
    outlets = "/".join(str(len({groups[i] for i in sp[k]})) for k in ("dev", "test"))
    return (
        f"| {name} | {sizes} | {outlets} | {l1(gold, sp['dev'], prim):.2f} / "
        f"{l1(gold, sp['test'], prim):.2f} | {l1(gold, sp['dev'], stance):.2f} / "
        f"{l1(gold, sp['test'], stance):.2f} |"
    )


def main() -> None:
    gold = read_gold(GOLD)
    groups = read_groups(GOLD, set(gold), "source", sys.argv[1])
    print("| split | train/dev/test | outlets dev/test | primary L1 dev / test | stance L1 |")
    print("|---|---|---|---|---|")
    print(
        row(
            "bundled `data/gold/splits.json`",
            gold,
            groups,
            read_splits(ROOT / "data/gold/splits.json"),
        )
    )
    for strat in ("primary_frame", "stance:nato"):
        for seed in (13, 1):
            t = time.perf_counter()
            res = make_split(gold, groups, strat, 0.2, 0.2, seed)
            name = f"`--stratify {strat} --seed {seed}` ({time.perf_counter() - t:.2f} s)"
            print(row(name, gold, groups, res.splits))


if __name__ == "__main__":
    main()
