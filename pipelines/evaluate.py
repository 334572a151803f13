"""Evaluation shared by every model family, the label model and the benchmarks.

Frames (multi-label): micro/macro F1, per-frame P/R/F1, primary-frame accuracy, subset
accuracy, Hamming loss, thresholds tuned per frame on dev. Stance (multiclass): macro-F1
and the SemEval-2016 F_avg (mean F1 of favor and against) over items that mention the
target, per-target tables and confusion matrices. A label absent from a small test split
gets NaN and a warning, never an error. Bootstrap intervals for the headline metrics and
a paired bootstrap for comparing two models on the same items.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


# ============================================================================ task eval
@dataclass
class Evaluation:
    """Everything one model's evaluation on one split produced, ready to log."""

    task: str
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG bytes
    errors: pd.DataFrame | None = None
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)

    def flat(self, prefix: str = "test_") -> dict[str, float]:
        out = {
            f"{prefix}{k}": float(v)
            for k, v in self.metrics.items()
            if isinstance(v, int | float) and not math.isnan(float(v))
        }
        for k, (lo, hi) in self.ci.items():
            if not math.isnan(lo):
                out[f"{prefix}{k}_ci_low"] = lo
                out[f"{prefix}{k}_ci_high"] = hi
        for k, v in self.reference.items():
            if not math.isnan(v):
                out[f"{prefix}trivial_{k}"] = float(v)
        return out


def evaluate_multilabel(
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: np.ndarray,
    labels: list[str],
    y_train: np.ndarray,
    texts: list[str] | None = None,
    ids: list[str] | None = None,
    primary_true: list[str] | None = None,
    n_boot: int = 1000,
    seed: int = 13,
) -> Evaluation:
    y_true = np.asarray(y_true, dtype=int)
    if y_true.shape[1] < 2:
        raise EvaluationError("a multi-label task needs at least two labels")
    pred = (probs >= thresholds).astype(int)
    m = multilabel_metrics(y_true, pred, labels)
    metrics: dict[str, float] = {k: v for k, v in m.items() if k not in ("per_label",)}
    if primary_true is not None:
        prim_pred = [labels[i] for i in probs.argmax(axis=1)]
        metrics["primary_accuracy"] = (
            float(np.mean([a == b for a, b in zip(primary_true, prim_pred, strict=True)]))
            if primary_true
            else math.nan
        )
    conf = np.where(pred == 1, probs, 1 - probs).ravel()
    correct = (pred == y_true).ravel()
    metrics["ece"] = ece(conf, correct)

    def f(metric: str) -> Callable[[np.ndarray], float]:
        return lambda idx: multilabel_metrics(y_true[idx], pred[idx], labels, warn=False)[metric]

    ci = {k: bootstrap_ci(f(k), len(y_true), n_boot, seed) for k in ("micro_f1", "macro_f1")}
    triv = trivial_multilabel(y_train, len(y_true))
    tm = multilabel_metrics(y_true, triv, labels, warn=False)
    per = pd.DataFrame(m["per_label"]).T.reset_index(names="label")
    per["threshold"] = thresholds
    ev = Evaluation(
        "multilabel",
        metrics,
        {"per_label": per},
        ci=ci,
        reference={"micro_f1": tm["micro_f1"], "macro_f1": tm["macro_f1"]},
    )
    ev.figures["pr_curves.png"] = plot_pr_curves(y_true, probs, labels)
    ev.figures["reliability.png"] = plot_reliability(conf, correct, "frames")
    ev.figures["per_label_f1.png"] = plot_per_label(per)
    if texts is not None and ids is not None:
        wrong = np.abs(probs - y_true)
        worst = np.argsort(-wrong.max(axis=1))[:15]
        rows = []
        for i in worst:
            j = int(wrong[i].argmax())
            rows.append(
                {
                    "id": ids[i],
                    "label": labels[j],
                    "true": int(y_true[i, j]),
                    "prob": float(probs[i, j]),
                    "text": texts[i][:400],
                }
            )
        ev.errors = pd.DataFrame(rows)
    return ev


def evaluate_multiclass(
    y_true: list[str],
    probs: np.ndarray,
    labels: list[str],
    y_train: list[str],
    texts: list[str] | None = None,
    ids: list[str] | None = None,
    groups: list[str] | None = None,
    n_boot: int = 1000,
    seed: int = 13,
    fnc: bool = False,
) -> Evaluation:
    if len(set(y_train)) < 2:
        raise EvaluationError(f"the task has a single class in training: {set(y_train)}")
    pred = [labels[i] for i in probs.argmax(axis=1)]
    m = multiclass_metrics(y_true, pred, labels)
    metrics = {k: v for k, v in m.items() if k != "per_label"}
    if fnc:
        metrics["fnc_score"] = fnc_score(y_true, pred)
    conf = probs.max(axis=1)
    correct = np.asarray([a == b for a, b in zip(y_true, pred, strict=True)])
    metrics["ece"] = ece(conf, correct)
    yt = np.asarray(y_true, dtype=object)
    pp = np.asarray(pred, dtype=object)

    def f(metric: str) -> Callable[[np.ndarray], float]:
        if metric == "fnc_score":
            return lambda idx: fnc_score(list(yt[idx]), list(pp[idx]))
        return lambda idx: multiclass_metrics(yt[idx], pp[idx], labels, warn=False)[metric]

    keys = (
        ["macro_f1", "accuracy"]
        + (["f_avg"] if "f_avg" in metrics else [])
        + (["fnc_score"] if fnc else [])
    )
    ci = {k: bootstrap_ci(f(k), len(yt), n_boot, seed) for k in keys}
    triv = trivial_multiclass(y_train, len(yt))
    tm = multiclass_metrics(yt, triv, labels, warn=False)
    reference = {"macro_f1": tm["macro_f1"], "accuracy": tm["accuracy"]}
    if "f_avg" in tm:
        reference["f_avg"] = tm["f_avg"]
    if fnc:
        reference["fnc_score"] = fnc_score(list(yt), triv)
    per = pd.DataFrame(m["per_label"]).T.reset_index(names="label")
    cm = confusion(y_true, pred, labels)
    tables = {"per_label": per, "confusion": cm.reset_index()}
    if groups is not None:
        rows = []
        for g in sorted(set(groups)):
            idx = np.asarray([x == g for x in groups])
            gm = multiclass_metrics(yt[idx], pp[idx], labels, warn=False)
            rows.append(
                {
                    "group": g,
                    "n": int(idx.sum()),
                    "macro_f1": gm["macro_f1"],
                    "f_avg": gm.get("f_avg", math.nan),
                    "accuracy": gm["accuracy"],
                }
            )
        tables["per_target"] = pd.DataFrame(rows)
    ev = Evaluation("multiclass", metrics, tables, ci=ci, reference=reference)
    ev.figures["confusion.png"] = plot_confusion(cm)
    ev.figures["reliability.png"] = plot_reliability(conf, correct, "stance")
    if texts is not None and ids is not None:
        wrong = [i for i in np.argsort(-conf) if not correct[i]][:15]
        ev.errors = pd.DataFrame(
            [
                {
                    "id": ids[i],
                    "group": groups[i] if groups else "",
                    "true": y_true[i],
                    "pred": pred[i],
                    "prob": float(conf[i]),
                    "text": texts[i][:400],
                }
                for i in wrong
            ]
        )
    return ev


# ============================================================================ plots
def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: pd.DataFrame) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm.values, cmap="Blues")
    ax.set_xticks(range(len(cm.columns)), cm.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(cm.index)), cm.index)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm.values[i, j]), ha="center", va="center")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    return _png(fig)


def plot_reliability(conf: np.ndarray, correct: np.ndarray, title: str) -> bytes:
    plt = _plt()
    xs, ys, ns = reliability_points(np.asarray(conf), np.asarray(correct, dtype=float))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(xs, ys, "o-", label="model")
    for x, y, n in zip(xs, ys, ns, strict=True):
        ax.annotate(str(n), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability ({title}), ECE={ece(np.asarray(conf), np.asarray(correct)):.3f}")
    ax.legend(loc="upper left")
    return _png(fig)


def plot_pr_curves(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> bytes:
    from sklearn.metrics import precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for j, lab in enumerate(labels):
        if y_true[:, j].sum() == 0 or y_true[:, j].sum() == len(y_true):
            continue
        p, r, _ = precision_recall_curve(y_true[:, j], probs[:, j])
        ax.plot(r, p, label=lab[:18], lw=1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall per frame")
    ax.legend(fontsize=6, loc="lower left", ncol=2)
    return _png(fig)


def plot_per_label(per: pd.DataFrame) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(per) + 1))
    ax.barh(per["label"], per["f1"].astype(float).fillna(0), color="#4C72B0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title("F1 per frame (test)")
    return _png(fig)


# ============================================================================ report
def html_report(title: str, sections: list[tuple[str, Any]]) -> str:
    """A self-contained HTML page: tables inline, figures as base64 PNG."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em;"
        "max-width:1100px}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px "
        "solid #ccc;padding:3px 6px}}th{{background:#f3f3f3}}img{{max-width:100%}}</style>"
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            parts.append(
                content.to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="NaN")
            )
        elif isinstance(content, bytes):
            parts.append(
                f"<img alt='{html.escape(heading)}' "
                f"src='data:image/png;base64,{base64.b64encode(content).decode()}'>"
            )
        elif isinstance(content, dict):
            parts.append(f"<pre>{html.escape(json.dumps(content, indent=2, default=str))}</pre>")
        else:
            parts.append(f"<p>{html.escape(str(content))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
