"""``mediaframe split``: a grouped, stratified train/dev/test split of a gold file.

Writes ``{"train": [ids], "dev": [ids], "test": [ids]}``, the shape ``label``, ``train``
and ``publish`` read, plus how it was made (``stratify``, ``seed``, and with
``--group-by`` the groups in each split). Grouped: every document of one group (an
outlet, with ``--group-by source``) lands in the same split, so a model is never scored
on an outlet whose house style it trained on. Stratified: each split's mix of the
stratification label (the primary frame, or one target's stance) is kept close to the
whole, choosing among scikit-learn's ``StratifiedGroupKFold`` folds and random sets of
whole groups (``_cut``). Test is cut first, then dev from the rest; deterministic for a
seed.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labeling.gold import NOT_MENTIONED, Annotation, GoldError, Rejection, rejection_message
from pipelines.atomic import write_text


class SplitError(ValueError):
    """A split that cannot be made as asked (too few groups, bad shares)."""


@dataclass
class SplitResult:
    splits: dict[str, list[str]]
    groups: dict[str, list[str]] | None
    distribution: dict[str, dict[str, int]]  # split -> stratification label -> count

    def to_json(self, stratify: str, seed: int, group_by: str | None) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.splits)
        out["stratify"], out["seed"] = stratify, seed
        if self.groups is not None:
            out["group_by"], out["groups"] = group_by, self.groups
        return out


def strata(gold: dict[str, Annotation], stratify: str) -> dict[str, str]:
    """Per document, the label the split keeps balanced: ``primary_frame`` (or the first
    frame, or "none") or ``stance:TARGET``."""
    if stratify == "primary_frame":
        return {
            i: g.primary_frame or (g.frames[0] if g.frames else "none") for i, g in gold.items()
        }
    if stratify.startswith("stance:"):
        t = stratify.split(":", 1)[1]
        return {i: g.stance.get(t, NOT_MENTIONED) for i, g in gold.items()}
    raise SplitError(f"--stratify {stratify!r}: use primary_frame or stance:TARGET")


RANDOM_CANDIDATES = 200  # random group subsets tried beside the StratifiedGroupKFold folds


def _cost(held: np.ndarray, y: np.ndarray, classes: np.ndarray, share: float) -> float:
    """How far a held-out part is from the ask: its size off ``share`` (relative) plus
    the L1 distance of its label mix to the whole's."""
    whole = (y[:, None] == classes).mean(axis=0)
    part = (y[held][:, None] == classes).mean(axis=0) if len(held) else np.zeros_like(whole)
    return abs(len(held) / len(y) - share) / share + float(np.abs(part - whole).sum())


def _cut(
    ids: list[str], y: list[str], groups: list[str], share: float, seed: int
) -> tuple[list[int], list[int]]:
    """(rest, held) positions: the best held-out part of about ``share`` of ``ids``.

    Candidates are the folds of ``StratifiedGroupKFold`` (good with many groups) and
    random sets of whole groups filled up to the share (good with few, where the folds
    are lumpy); the one nearest the share in size and the whole in label mix wins
    (``_cost``), the first on ties, so a seed always gives the same split.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    names = sorted(set(groups))
    if len(names) < 2:
        raise SplitError(f"{len(names)} group left to cut a split from; needs at least 2")
    ya, ga = np.asarray(y), np.asarray(groups)
    classes = np.unique(ya)
    candidates: list[np.ndarray] = []
    k = min(max(2, round(1 / share)), len(names))
    with warnings.catch_warnings():  # rare labels cannot be in every fold; that is fine
        warnings.simplefilter("ignore", UserWarning)
        splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
        candidates += [held for _, held in splitter.split(np.zeros(len(ids)), ya, ga)]
    rng = np.random.default_rng(seed)
    size = {g: int((ga == g).sum()) for g in names}
    for _ in range(RANDOM_CANDIDATES):
        chosen, n = [], 0
        for g in rng.permutation(names):
            if n >= share * len(ids) or len(chosen) == len(names) - 1:
                break
            chosen.append(g)
            n += size[g]
        candidates.append(np.flatnonzero(np.isin(ga, chosen)))
    held = min(candidates, key=lambda h: _cost(h, ya, classes, share))
    rest = np.setdiff1d(np.arange(len(ids)), held)
    return rest.tolist(), sorted(held.tolist())


def make_split(
    gold: dict[str, Annotation],
    groups: dict[str, str] | None = None,
    stratify: str = "primary_frame",
    dev: float = 0.15,
    test: float = 0.15,
    seed: int = 13,
) -> SplitResult:
    """Split the gold documents; ``groups`` (id -> group) keeps each group together."""
    if not (0 < dev < 1 and 0 < test < 1 and dev + test < 1):
        raise SplitError(f"--dev {dev} --test {test}: each must be in (0, 1), together below 1")
    ids = sorted(gold)
    if len(ids) < 3:
        raise SplitError(f"{len(ids)} gold documents; a train/dev/test split needs at least 3")
    label = strata(gold, stratify)
    group = groups or {i: i for i in ids}
    if groups is not None and len(set(group[i] for i in ids)) < 3:
        raise SplitError(
            f"{len(set(group[i] for i in ids))} groups; grouped train/dev/test needs at least 3"
        )
    y = [label[i] for i in ids]
    g = [group[i] for i in ids]
    rest, held = _cut(ids, y, g, test, seed)
    test_ids = [ids[j] for j in held]
    rest_ids = [ids[j] for j in rest]
    r2, d2 = _cut(
        rest_ids,
        [label[i] for i in rest_ids],
        [group[i] for i in rest_ids],
        dev / (1 - test),
        seed + 1,
    )
    splits = {
        "train": sorted(rest_ids[j] for j in r2),
        "dev": sorted(rest_ids[j] for j in d2),
        "test": sorted(test_ids),
    }
    dist = {k: dict(Counter(label[i] for i in v).most_common()) for k, v in splits.items()}
    by_split = {k: sorted({group[i] for i in v}) for k, v in splits.items()} if groups else None
    return SplitResult(splits, by_split, dist)


def read_groups(
    gold_path: str | Path, ids: set[str], column: str, documents: str | Path | None
) -> dict[str, str]:
    """Each gold document's group: the gold row's own ``column`` field, else the
    documents file's ``column``; a document with neither is a ``GoldError`` listing it."""
    found: dict[str, str] = {}
    line_of: dict[str, int] = {}
    with Path(gold_path).open(encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if line.strip():
                row = json.loads(line)
                rid = str(row.get("id"))
                line_of.setdefault(rid, no)
                if row.get(column) not in (None, ""):
                    found.setdefault(rid, str(row[column]))
    if documents and len(found) < len(ids):
        import pyarrow.parquet as pq

        from pipelines.ingest import documents_path

        p = documents_path(documents)
        names = pq.ParquetFile(p).schema_arrow.names
        if column not in names:
            raise SplitError(f"{p}: no column {column!r} to group by (columns: {names})")
        table = pq.read_table(p, columns=["id", column]).to_pydict()
        for rid, val in zip(table["id"], table[column], strict=True):
            if str(rid) in ids and val not in (None, "") and str(rid) not in found:
                found[str(rid)] = str(val)
    missing = sorted(ids - set(found), key=lambda i: line_of.get(i, 0))
    if missing:
        bad = [
            Rejection(str(gold_path), line_of.get(i, 0), column, "no group", i, None)
            for i in missing
        ]
        hint = (
            "give the field in the gold rows or pass --documents DIR/documents.parquet"
            if not documents
            else f"not in the gold row nor in {documents}"
        )
        raise GoldError(rejection_message(str(gold_path), bad, hint), bad)
    return found


def write_split(result: SplitResult, output: str | Path, **how: Any) -> Path:
    """``result`` as splits.json at ``output``, written atomically."""
    write_text(json.dumps(result.to_json(**how), indent=1) + "\n", output)
    return Path(output)
