"""Cut a held-out-like test folder from a training release, with the test release's names.

The held-out test parts of the public datasets are kept outside the project; this script
shows ``mediaframe benchmark DATASET --data-dir REST --test-dir TEST`` working end to end
without them. It writes two folders under ``--out``:

- ``test/``: a fraction of the training release in the layout the adapter's
  ``read_tests`` reads (the file names of ``Adapter.test_files``), cut the way the real
  test part differs from train (below);
- ``rest/``: the remaining training items in the training release's own layout.

How each dataset's test part was made (``SOURCE.md`` of each release), and so the cut:

- fnc1: the competition test has new claims and new bodies. Whole claim topics
  (``bench.adapters.fnc1.claim_topics``) go to ``competition_test_{stances,bodies}.csv``
  with the pairs whose body and headline are both held out; the pairs that straddle (a
  held body with a kept headline, all unrelated) are dropped, as the adapter's dev split
  drops them. This keeps fewer unrelated pairs than the real test (about 35% against 72%).
- semeval2023: a fixed random 20% of the labelled articles as ``en_test.csv``; cut
  stratified by each article's rarest frame, as the adapter's dev split is.
- gvfc: 20% of the articles stratified by ``Q3 Theme1``, as both release files
  (``GVFC_extension_multimodal.csv`` and the matching rows of
  ``GVFC_headlines_and_annotations.csv``); irrelevant and unframed headlines stay in rest.
- newsmtsc: the test splits come from other articles than train. Whole articles of
  ``official/train.jsonl`` are held out; their sentences with two or more targets form
  ``dev_test_split_mt/test.jsonl``, the others ``dev_test_split_rw/test.jsonl`` (each with
  its ``_flat.csv``). Rest keeps the authors' dev splits unchanged.

Run from the repository root::

    python -m bench.cut_test_dir gvfc --data-dir ../shared/datasets/gvfc --out /tmp/cut-gvfc
    mediaframe benchmark gvfc --data-dir /tmp/cut-gvfc/rest --test-dir /tmp/cut-gvfc/test

Never point ``--out`` inside the repository: the folders hold dataset text.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.adapters import get_adapter
from bench.adapters.base import DatasetError, group_cut, strata_of, stratified_cut
from bench.adapters.fnc1 import FNC_LABELS, FNC_TEST, FNC_TRAIN, claim_topics
from bench.adapters.gvfc import GVFC_FILE
from bench.adapters.newsmtsc import (
    NEWSMTSC_POLARITY,
    NEWSMTSC_SETS,
    NEWSMTSC_TRAIN,
    document_of,
)
from bench.adapters.semeval2023 import SEMEVAL_TEST, SEMEVAL_TRAIN

REPO = Path(__file__).resolve().parents[1]
GVFC_HEADLINES = "GVFC_headlines_and_annotations.csv"
Counts = dict[str, int]


# ============================================================================ csv helpers
def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def pick(rows: list, idx: np.ndarray) -> tuple[list, list]:
    """(the rows at ``idx``, the others), both in file order."""
    chosen = set(idx.tolist())
    return [r for i, r in enumerate(rows) if i in chosen], [
        r for i, r in enumerate(rows) if i not in chosen
    ]


# ============================================================================ per dataset
def cut_fnc1(src: Path, test: Path, rest: Path, fraction: float, seed: int) -> Counts:
    """Whole claim topics to test, with their bodies; straddling pairs dropped."""
    body_fields, bodies = read_rows(src / FNC_TRAIN[1])
    fields, stances = read_rows(src / FNC_TRAIN[0])
    heads = [(r["Headline"] or "").strip() for r in stances]
    bids = [(r["Body ID"] or "").strip() for r in stances]
    y = []
    for row_no, r in enumerate(stances, 2):
        stance = (r["Stance"] or "").strip()
        if stance not in FNC_LABELS:
            raise DatasetError(f"{src / FNC_TRAIN[0]}: row {row_no}: field 'Stance': {stance!r}")
        y.append(FNC_LABELS.index(stance))
    topic = claim_topics(heads, bids, y)
    body_topic = [topic[f"b:{b}"] for b in bids]
    held = {body_topic[i] for i in group_cut(body_topic, fraction, seed)}
    side = []  # "test", "rest" or "" (dropped) per pair
    for h, bt in zip(heads, body_topic, strict=True):
        ht = topic[f"h:{h}"]
        side.append("test" if bt in held and ht in held else "rest" if not {bt, ht} & held else "")
    out: Counts = {}
    for name, folder, files in (("test", test, FNC_TEST), ("rest", rest, FNC_TRAIN)):
        rows = [r for r, s in zip(stances, side, strict=True) if s == name]
        used = {(r["Body ID"] or "").strip() for r in rows}
        write_rows(folder / files[0], fields, rows)
        write_rows(
            folder / files[1], body_fields, [b for b in bodies if b["Body ID"].strip() in used]
        )
        out[f"{name}_pairs"] = len(rows)
        out[f"{name}_bodies"] = len(used)
        out[f"{name}_unrelated"] = sum(1 for r in rows if r["Stance"].strip() == "unrelated")
    out["dropped_pairs"] = side.count("")
    return out


def cut_semeval2023(src: Path, test: Path, rest: Path, fraction: float, seed: int) -> Counts:
    """A stratified fraction of the articles (by rarest frame) as ``en_test.csv``."""
    adapter = get_adapter("semeval2023")
    # the codebook path is relative to the repository, wherever the script is run from
    opts = adapter.options({"codebook": str(REPO / "configs/codebooks/mfc.yaml")})
    pool = adapter.read_pool(src, opts)  # validates every row; one item per row, in order
    fields, rows = read_rows(src / SEMEVAL_TRAIN)
    held, kept = pick(rows, stratified_cut(strata_of(pool, "multilabel"), fraction, seed))
    write_rows(test / SEMEVAL_TEST, fields, held)
    write_rows(rest / SEMEVAL_TRAIN, fields, kept)
    for extra in sorted(src.glob("*.csv")):  # the unlabelled dev articles the weak run reads
        if extra.name != SEMEVAL_TRAIN:
            shutil.copy2(extra, rest / extra.name)
    return {"test_articles": len(held), "rest_articles": len(kept)}


def cut_gvfc(src: Path, test: Path, rest: Path, fraction: float, seed: int) -> Counts:
    """A fraction of the articles stratified by primary frame, in both release files."""
    fields, rows = read_rows(src / GVFC_FILE)
    codes = [(r["Q3 Theme1"] or "").strip() for r in rows]
    held, kept = pick(rows, stratified_cut(codes, fraction, seed))
    write_rows(test / GVFC_FILE, fields, held)
    write_rows(rest / GVFC_FILE, fields, kept)
    out: Counts = {"test_articles": len(held), "rest_articles": len(kept)}
    if (src / GVFC_HEADLINES).is_file():
        h_fields, h_rows = read_rows(src / GVFC_HEADLINES)
        # each held article takes one headline row with its title, the same frame first
        # (ten titles appear twice in the release)
        taken: set[int] = set()
        by_title: dict[str, list[int]] = {}
        for i, r in enumerate(h_rows):
            by_title.setdefault((r["news_title"] or "").strip(), []).append(i)
        for r in held:
            cands = [i for i in by_title.get(r["headline"].strip(), []) if i not in taken]
            same = [i for i in cands if h_rows[i]["Q3 Theme1"].strip() == r["Q3 Theme1"].strip()]
            if same or cands:
                taken.add((same or cands)[0])
        write_rows(test / GVFC_HEADLINES, h_fields, [h_rows[i] for i in sorted(taken)])
        write_rows(
            rest / GVFC_HEADLINES, h_fields, [r for i, r in enumerate(h_rows) if i not in taken]
        )
        out["test_headline_rows"] = len(taken)
        out["rest_headline_rows"] = len(h_rows) - len(taken)
    return out


def _flat_rows(lines: list[dict]) -> list[dict[str, object]]:
    """The release's ``*_flat.csv``: one row per target, polarity as its name."""
    out = []
    for d in lines:
        for t in d["targets"]:
            out.append(
                {
                    "primary_gid": d["primary_gid"],
                    "sentence": d["sentence_normalized"],
                    "target_gid": t.get("Input.gid", ""),
                    "mention": t["mention"],
                    "start": t["from"],
                    "end": t["to"],
                    "polarity": NEWSMTSC_POLARITY[float(t["polarity"])],
                }
            )
    return out


def _write_jsonl(path: Path, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in lines), "utf-8")
    flat = _flat_rows(lines)
    fields = ["primary_gid", "sentence", "target_gid", "mention", "start", "end", "polarity"]
    write_rows(path.with_name(f"{path.stem}_flat.csv"), fields, flat)  # type: ignore[arg-type]


def cut_newsmtsc(src: Path, test: Path, rest: Path, fraction: float, seed: int) -> Counts:
    """Whole articles of train as test; multi-target sentences to mt, the others to rw."""
    path = src / NEWSMTSC_TRAIN
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    lines = []
    for line_no, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}: line {line_no}: {exc}") from None
    docs = [document_of(str(d.get("primary_gid", ""))) for d in lines]
    held_idx = group_cut(docs, fraction, seed)
    held, kept = pick(lines, held_idx)
    sets = {
        "mt": [d for d in held if len(d["targets"]) >= 2],
        "rw": [d for d in held if len(d["targets"]) < 2],
    }
    out: Counts = {}
    for s in NEWSMTSC_SETS:
        _write_jsonl(test / f"dev_test_split_{s}/test.jsonl", sets[s])
        out[f"test_{s}_sentences"] = len(sets[s])
        dev = src / f"dev_test_split_{s}"
        if dev.is_dir():  # the authors' dev splits stay the rest's
            shutil.copytree(dev, rest / dev.name, dirs_exist_ok=True)
    _write_jsonl(rest / NEWSMTSC_TRAIN, kept)
    out["rest_train_sentences"] = len(kept)
    out["test_articles"] = len({docs[i] for i in held_idx.tolist()})
    return out


CUTTERS: dict[str, Callable[[Path, Path, Path, float, int], Counts]] = {
    "fnc1": cut_fnc1,
    "semeval2023": cut_semeval2023,
    "gvfc": cut_gvfc,
    "newsmtsc": cut_newsmtsc,
}


def cut(dataset: str, data_dir: Path, out: Path, fraction: float, seed: int) -> Counts:
    """Write ``out/test`` and ``out/rest``; both must not exist yet (no stale files)."""
    test, rest = out / "test", out / "rest"
    for d in (test, rest):
        if d.exists():
            raise FileExistsError(f"{d}: exists; give a new --out")
        d.mkdir(parents=True)
    counts = CUTTERS[dataset](Path(data_dir), test, rest, fraction, seed)
    missing = [f for f in get_adapter(dataset).test_files if not (test / f).is_file()]
    if missing:  # the adapter would not find its files: a bug here, not in the data
        raise RuntimeError(f"{test}: cut wrote no {missing}")
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.cut_test_dir",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Writes OUT/test (the test release's file names) and OUT/rest (the training "
        "release's); then: mediaframe benchmark DATASET --data-dir OUT/rest --test-dir OUT/test",
    )
    p.add_argument(
        "dataset", choices=sorted(CUTTERS), metavar="DATASET", help=", ".join(sorted(CUTTERS))
    )
    p.add_argument(
        "--data-dir", required=True, type=Path, metavar="DIR", help="the training release"
    )
    p.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="where test/ and rest/ go"
    )
    p.add_argument(
        "--fraction",
        type=float,
        default=0.2,
        help="share of the groups (fnc1 claim topics, newsmtsc articles) or items held out "
        "(default 0.2, the size of the semeval2023 and gvfc test parts)",
    )
    p.add_argument("--seed", type=int, default=101, help="seed of the cut (default 101)")
    args = p.parse_args(argv)
    if not 0 < args.fraction < 1:
        p.error(f"--fraction {args.fraction}: must be between 0 and 1")
    try:
        counts = cut(args.dataset, args.data_dir, args.out, args.fraction, args.seed)
    except (DatasetError, FileExistsError, RuntimeError) as exc:
        print(f"cut_test_dir: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"dataset": args.dataset, **counts}, indent=1))
    print(f"test: {args.out / 'test'}\nrest: {args.out / 'rest'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
