"""Build the adjudicated gold labels and the train/dev/test split from the annotations.

Inputs (all in ``data/gold``): ``annotations.jsonl`` (one row per document x annotator)
and ``adjudications.jsonl`` (the adjudicator's decision on every field the two passes
disagreed on). Output: ``gold.jsonl`` (one row per document) and ``splits.json``.

The split is grouped by outlet, so no outlet's house style sits on both sides of an
evaluation, stratified (each split's stance mix is as close as the outlets allow to
the corpus-wide one) and stable (deterministic, ties broken by a hash order).

    python data/build_gold.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GOLD = HERE / "gold"
SHARE = {"test": 0.2, "dev": 0.2}


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.open(encoding="utf-8") if x.strip()]


def _distribution(rows: list[dict]) -> np.ndarray:
    stance = ["favor", "against", "neutral", "not_mentioned"]
    v = np.zeros(len(stance) + 1)
    for r in rows:
        for lab in r["stance"].values():
            v[stance.index(lab)] += 1
    return v[:-1] / max(v.sum(), 1)


def stratified_group_split(gold: list[dict], source_of: dict[str, str]) -> dict[str, str]:
    """Outlets -> split, sizes near SHARE, stance mix of each split close to the whole.

    Every assignment of outlets to test/dev/train is tried (outlets are few); among those
    whose test and dev sizes lie within 25% of their targets, the one whose stance
    distributions are closest (L1) to the corpus-wide one wins; ties go to the first in
    a hash order of outlet names, so the split is stable.
    """
    import itertools

    sources = sorted(
        {source_of[r["id"]] for r in gold}, key=lambda s: hashlib.sha1(s.encode()).hexdigest()
    )
    rows_of = {s: [r for r in gold if source_of[r["id"]] == s] for s in sources}
    overall = _distribution(gold)
    best, best_cost = None, float("inf")
    for combo in itertools.product(("train", "dev", "test"), repeat=len(sources)):
        sizes = {
            p: sum(len(rows_of[s]) for s, c in zip(sources, combo, strict=False) if c == p)
            for p in ("dev", "test")
        }
        if any(abs(sizes[p] - SHARE[p] * len(gold)) > 0.25 * SHARE[p] * len(gold) for p in sizes):
            continue
        cost = 0.0
        for p in ("train", "dev", "test"):
            part = [r for s, c in zip(sources, combo, strict=False) if c == p for r in rows_of[s]]
            cost += float(np.abs(_distribution(part) - overall).sum())
        if cost < best_cost - 1e-12:
            best, best_cost = combo, cost
    if best is None:
        raise SystemExit("no outlet assignment meets the split sizes")
    return dict(zip(sources, best, strict=False))


def main() -> None:
    import sys

    sys.path.insert(0, str(HERE.parent))
    from pipelines.clean import content_id

    source_of: dict[str, str] = {}
    for f in sorted((HERE / "articles").glob("*.jsonl")):
        for a in read(f):
            source_of[content_id(a["title"], a["text"])] = a["source"]

    by_id: dict[str, dict[str, dict]] = {}
    for row in read(GOLD / "annotations.jsonl"):
        by_id.setdefault(row["id"], {})[row["annotator"]] = row
    adjudicated = {r["id"]: r["decisions"] for r in read(GOLD / "adjudications.jsonl")}

    gold = []
    for doc_id, anns in by_id.items():
        first = anns.get("annotator_a") or next(iter(anns.values()))
        label = {
            "id": doc_id,
            "frames": list(first["frames"]),
            "primary_frame": first["primary_frame"],
            "stance": dict(first["stance"]),
        }
        if len(anns) > 1:
            decisions = adjudicated.get(doc_id, {})
            others = [a for a in anns.values() if a is not first]
            if "frames" in decisions:
                label["frames"] = decisions["frames"]
            if "primary_frame" in decisions:
                label["primary_frame"] = decisions["primary_frame"]
            for t, v in decisions.get("stance", {}).items():
                label["stance"][t] = v
            unresolved = [
                k
                for k in ("frames", "primary_frame")
                if any(
                    set(o[k]) != set(first[k]) if k == "frames" else o[k] != first[k]
                    for o in others
                )
                and k not in decisions
            ]
            unresolved += [
                f"stance.{t}"
                for t in first["stance"]
                if any(o["stance"].get(t) != first["stance"][t] for o in others)
                and t not in decisions.get("stance", {})
            ]
            if unresolved:
                raise SystemExit(f"{doc_id}: disagreement on {unresolved} not adjudicated")
        if label["primary_frame"] not in label["frames"]:
            label["frames"].append(label["primary_frame"])
        label["source_id"] = first.get("source_id")
        gold.append(label)
    gold.sort(key=lambda r: r["source_id"] or r["id"])
    with (GOLD / "gold.jsonl").open("w", encoding="utf-8") as fh:
        for r in gold:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    assign = stratified_group_split(gold, source_of)
    splits = {
        p: sorted(r["id"] for r in gold if assign[source_of[r["id"]]] == p)
        for p in ("train", "dev", "test")
    }
    splits["sources"] = {
        p: sorted(s for s, a in assign.items() if a == p) for p in ("train", "dev", "test")
    }
    (GOLD / "splits.json").write_text(json.dumps(splits, indent=1))
    print(
        f"gold: {len(gold)} documents; split sizes "
        f"{ {p: len(splits[p]) for p in ('train', 'dev', 'test')} }; sources {splits['sources']}"
    )


if __name__ == "__main__":
    main()
