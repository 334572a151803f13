"""Metrics the field reports, and the one choice of selection metric.

Frames (multi-label): micro/macro F1, per-frame P/R/F1, subset accuracy, Hamming loss,
thresholds tuned per frame. Stance (multiclass): macro-F1 and the SemEval-2016 F_avg (mean
F1 of favor and against). A label absent from a small split gets NaN and a warning, never
an error. Bootstrap intervals and a paired bootstrap for two models on the same items.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd


class EvaluationError(ValueError):
    """Evaluation that cannot mean anything (e.g. a task with a single class)."""


# ============================================================================ metrics
def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def multilabel_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], warn: bool = True
) -> dict[str, Any]:
    """``y_true``/``y_pred``: items x labels of 0/1. Absent labels: NaN F1, left out of macro."""
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    per: dict[str, dict[str, float]] = {}
    absent = []
    for j, lab in enumerate(labels):
        t, p = y_true[:, j], y_pred[:, j]
        tp, fp, fn = float((t & p).sum()), float(((1 - t) & p).sum()), float((t & (1 - p)).sum())
        if t.sum() == 0:
            absent.append(lab)
            per[lab] = {"precision": math.nan, "recall": math.nan, "f1": math.nan, "support": 0}
            continue
        pr, rc, f1 = _prf(tp, fp, fn)
        per[lab] = {"precision": pr, "recall": rc, "f1": f1, "support": int(t.sum())}
    if warn and absent:
        warnings.warn(f"labels absent from this split (F1 = NaN): {absent}", stacklevel=2)
    tp = float((y_true & y_pred).sum())
    fp = float(((1 - y_true) & y_pred).sum())
    fn = float((y_true & (1 - y_pred)).sum())
    micro_p, micro_r, micro_f = _prf(tp, fp, fn)
    f1s = [v["f1"] for v in per.values() if not math.isnan(v["f1"])]
    return {
        "micro_f1": micro_f,
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "macro_f1": float(np.mean(f1s)) if f1s else math.nan,
        "subset_accuracy": float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0,
        "hamming_loss": float((y_true != y_pred).mean()) if len(y_true) else 0.0,
        "per_label": per,
        "n": len(y_true),
    }


def multiclass_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], warn: bool = True
) -> dict[str, Any]:
    yt = np.asarray(list(y_true), dtype=object)
    yp = np.asarray(list(y_pred), dtype=object)
    per: dict[str, dict[str, float]] = {}
    absent = []
    for lab in labels:
        t, p = yt == lab, yp == lab
        if t.sum() == 0:
            absent.append(lab)
            per[lab] = {"precision": math.nan, "recall": math.nan, "f1": math.nan, "support": 0}
            continue
        pr, rc, f1 = _prf(float((t & p).sum()), float((~t & p).sum()), float((t & ~p).sum()))
        per[lab] = {"precision": pr, "recall": rc, "f1": f1, "support": int(t.sum())}
    if warn and absent:
        warnings.warn(f"classes absent from this split (F1 = NaN): {absent}", stacklevel=2)
    f1s = [v["f1"] for v in per.values() if not math.isnan(v["f1"])]
    out = {
        "accuracy": float((yt == yp).mean()) if len(yt) else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else math.nan,
        "per_label": per,
        "n": len(yt),
    }
    if "favor" in labels and "against" in labels:
        pair = [per["favor"]["f1"], per["against"]["f1"]]
        pair = [x for x in pair if not math.isnan(x)]
        out["f_avg"] = float(np.mean(pair)) if pair else math.nan
    return out


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
    m = pd.DataFrame(0, index=list(labels), columns=list(labels))
    for t, p in zip(y_true, y_pred, strict=True):
        if t in m.index and p in m.columns:
            m.loc[t, p] += 1
    m.index.name = "true"
    m.columns.name = "predicted"
    return m


# ============================================================================ thresholds
def tune_thresholds(
    y_dev: np.ndarray, p_dev: np.ndarray, default: float = 0.5, grid: Sequence[float] | None = None
) -> np.ndarray:
    """Per-label threshold maximising dev F1; labels absent from dev keep the default."""
    grid = np.asarray(grid if grid is not None else np.arange(0.05, 0.96, 0.05))
    th = np.full(y_dev.shape[1], default)
    for j in range(y_dev.shape[1]):
        t = y_dev[:, j].astype(bool)
        if t.sum() == 0:
            continue
        best, best_f = default, -1.0
        for g in grid:
            p = p_dev[:, j] >= g
            f = _prf(float((t & p).sum()), float((~t & p).sum()), float((t & ~p).sum()))[2]
            if f > best_f + 1e-12 or (abs(f - best_f) <= 1e-12 and abs(g - 0.5) < abs(best - 0.5)):
                best, best_f = float(g), f
        th[j] = best
    return th


def trivial_multilabel(y_train: np.ndarray, n: int) -> np.ndarray:
    """Every label with train prevalence >= 0.4 (at least the most frequent one)."""
    prev = y_train.mean(axis=0) if len(y_train) else np.zeros(y_train.shape[1])
    chosen = prev >= 0.4
    if not chosen.any() and len(prev):
        chosen[int(np.argmax(prev))] = True
    return np.tile(chosen.astype(int), (n, 1))


def trivial_multiclass(y_train: Sequence[str], n: int) -> list[str]:
    if not len(y_train):
        raise EvaluationError("no training labels for the trivial reference")
    return [pd.Series(list(y_train)).mode().iloc[0]] * n


# ============================================================================ calibration
def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return math.nan
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (confidence > lo) & (confidence <= hi) if lo > 0 else (confidence <= hi)
        if m.any():
            total += m.mean() * abs(confidence[m].mean() - correct[m].mean())
    return float(total)


def reliability_points(confidence: np.ndarray, correct: np.ndarray, bins: int = 10):
    edges = np.linspace(0, 1, bins + 1)
    xs, ys, ns = [], [], []
    for lo, hi in itertools.pairwise(edges):
        m = (confidence > lo) & (confidence <= hi)
        if m.any():
            xs.append(float(confidence[m].mean()))
            ys.append(float(correct[m].mean()))
            ns.append(int(m.sum()))
    return xs, ys, ns


# ============================================================================ bootstrap
def bootstrap_ci(
    metric: Callable[[np.ndarray], float],
    n: int,
    n_boot: int = 1000,
    seed: int = 13,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile interval of ``metric(indices)`` over resampled item indices."""
    if n == 0 or n_boot == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = metric(idx)
        if not math.isnan(v):
            vals.append(v)
    if not vals:
        return (math.nan, math.nan)
    return (float(np.quantile(vals, alpha / 2)), float(np.quantile(vals, 1 - alpha / 2)))


def paired_bootstrap(
    metric_a: Callable[[np.ndarray], float],
    metric_b: Callable[[np.ndarray], float],
    n: int,
    n_boot: int = 1000,
    seed: int = 13,
) -> dict[str, float]:
    """Resample items once per round and score both models on the same sample.

    Returns the observed difference (b - a), its 95% interval and the share of rounds in
    which b beat a, the usual one-sided evidence that b is better.
    """
    rng = np.random.default_rng(seed)
    full = np.arange(n)
    observed = metric_b(full) - metric_a(full)
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = metric_b(idx) - metric_a(idx)
        if not math.isnan(d):
            diffs.append(d)
    diffs_a = np.asarray(diffs) if diffs else np.asarray([math.nan])
    return {
        "diff": float(observed),
        "ci_low": float(np.nanquantile(diffs_a, 0.025)),
        "ci_high": float(np.nanquantile(diffs_a, 0.975)),
        "p_b_better": float(np.mean(diffs_a > 0)),
    }


# ============================================================================ selection
SELECTION_METRIC = {"multilabel": "micro_f1", "multiclass": "macro_f1"}


def selection_metric(kind: str) -> str:
    """The metric that picks models, thresholds and champions for a task kind.

    Micro-F1 for multi-label frames (frequent frames dominate, as in the MFC literature);
    macro-F1 for multiclass stance, where the majority class would otherwise win.
    """
    try:
        return SELECTION_METRIC[kind]
    except KeyError:
        raise ValueError(f"unknown task kind {kind!r} (multilabel or multiclass)") from None


def fixed_rule_score(kind: str, y: np.ndarray, probs: np.ndarray) -> float:
    """The selection metric under the fixed decision rule (0.5 per label, or argmax), for
    fold search and early stopping, where no thresholds are tuned yet. ``y`` is 0/1 items x
    labels (multilabel) or class indices (multiclass); absent labels count as F1 0 overall."""
    labels = [str(j) for j in range(probs.shape[1])]
    if kind == "multilabel":
        m = multilabel_metrics(y, (probs >= 0.5).astype(int), labels, warn=False)
    else:
        m = multiclass_metrics(
            [str(v) for v in y], [str(v) for v in probs.argmax(axis=1)], labels, warn=False
        )
    value = m[selection_metric(kind)]
    return 0.0 if math.isnan(value) else float(value)


def oof_score(kind: str, y: np.ndarray, probs: np.ndarray) -> tuple[float, np.ndarray | None]:
    """The selection metric of out-of-fold probabilities: multi-label at per-label
    thresholds tuned on them (returned, to become a bundle's), multiclass by argmax."""
    if kind == "multiclass":
        return fixed_rule_score("multiclass", y, probs), None
    th = tune_thresholds(y, probs)
    labels = [str(j) for j in range(y.shape[1])]
    m = multilabel_metrics(y, (probs >= th).astype(int), labels, warn=False)["micro_f1"]
    return (0.0 if math.isnan(m) else float(m)), th


def through_temperature(raw: Sequence[float], temperature: float) -> list[float]:
    """Thresholds on raw probabilities moved through a bundle's temperature: a raw
    probability over ``t`` is a calibrated one over ``sigmoid(logit(t) / T)``."""
    t = np.clip(np.asarray(raw, dtype=float), 1e-6, 1 - 1e-6)
    z = np.log(t / (1 - t)) / temperature
    return (1 / (1 + np.exp(-z))).tolist()


def task_kind(task: str) -> str:
    """The kind of a task name: frames are multi-label, every other task is multiclass."""
    return "multilabel" if task == "frames" else "multiclass"
