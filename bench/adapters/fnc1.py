"""FNC-1: the stance of an article body toward a headline, and its weighted score."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.adapters.base import (
    Adapter,
    AdapterOptions,
    DatasetError,
    group_cut,
    read_csv_rows,
)
from models.data import Examples, TaskSpec

FNC_LABELS = ["agree", "disagree", "discuss", "unrelated"]
FNC_TRAIN = ("train_stances.csv", "train_bodies.csv")
FNC_TEST = ("competition_test_stances.csv", "competition_test_bodies.csv")


def fnc_score(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """FNC-1 weighted score as a percentage of the best possible (0-100).

    +0.25 for getting related/unrelated right; +0.75 more for the exact class of a
    related pair (agree/disagree/discuss).
    """
    related = {"agree", "disagree", "discuss"}
    score = best = 0.0
    for t, p in zip(y_true, y_pred, strict=True):
        best += 0.25 + (0.75 if t in related else 0.0)
        if t == p:
            score += 0.25
            if t in related:
                score += 0.75
        elif t in related and p in related:
            score += 0.25
    return 100.0 * score / best if best else 0.0


class Fnc1Adapter(Adapter):
    """FNC-1: the stance of an article body toward a headline, the headline as the target.

    One example per (headline, body) row: the body is the text, the headline the target,
    the Body ID the group, so the dev cut (and the tune cut inside a dev run) keeps every
    body on one side, as the official baseline's hold-out split does. Scored by the
    official weighted FNC score and by macro-F1.
    """

    name = "fnc1"
    primary_metric = "fnc_score"
    metrics = ("fnc_score", "macro_f1", "accuracy")
    anchor = (
        "FNC score 82.02 (winner, SOLAT), 81.72 (UCL TF + MLP), official baseline 75.20 "
        "(79.53 on its own dev hold-out); test macro-F1 of the top systems ≈ 0.58-0.60"
    )
    test_files = FNC_TEST
    extra_metrics = {"fnc_score": fnc_score}  # noqa: RUF012 (read-only)

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("fnc1", "multiclass", list(FNC_LABELS), pair=True)

    def _read(self, stances: Path, bodies_path: Path) -> Examples:
        bodies: dict[str, str] = {}
        for row_no, r in enumerate(read_csv_rows(bodies_path, ["Body ID", "articleBody"]), 2):
            bid = (r["Body ID"] or "").strip()
            if not bid or not (r["articleBody"] or "").strip():
                raise DatasetError(f"{bodies_path}: row {row_no}: empty 'Body ID' or 'articleBody'")
            bodies[bid] = r["articleBody"]
        ids, texts, targets, y, groups = [], [], [], [], []
        for row_no, r in enumerate(read_csv_rows(stances, ["Headline", "Body ID", "Stance"]), 2):
            bid, stance = (r["Body ID"] or "").strip(), (r["Stance"] or "").strip()
            head = (r["Headline"] or "").strip()
            if bid not in bodies:
                raise DatasetError(
                    f"{stances}: row {row_no}: field 'Body ID': {bid!r} is not in "
                    f"{bodies_path.name}"
                )
            if stance not in FNC_LABELS:
                raise DatasetError(
                    f"{stances}: row {row_no}: field 'Stance': expected one of {FNC_LABELS}, "
                    f"got {stance!r}"
                )
            if not head:
                raise DatasetError(f"{stances}: row {row_no}: field 'Headline' is empty")
            ids.append(f"fnc1:{stances.stem}:{row_no}")
            texts.append(bodies[bid])
            targets.append(head)
            y.append(FNC_LABELS.index(stance))
            groups.append(bid)
        return Examples(ids, texts, np.asarray(y, dtype=int), targets, groups=groups)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / FNC_TRAIN[0], data_dir / FNC_TRAIN[1])

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir / FNC_TEST[0], test_dir / FNC_TEST[1])}

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """Whole bodies, seeded: a body's headlines never straddle train and dev."""
        return group_cut(list(pool.groups or []), fraction, seed)
