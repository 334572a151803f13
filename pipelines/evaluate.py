"""One model's evaluation on one split: metrics, intervals, tables and plots, ready to log.

The metrics themselves are ``models.metrics``; this module adds what a person reads:
per-label and per-target tables, confusion matrices, reliability and PR plots, and the
HTML page every training run logs.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import (
    EvaluationError,
    bootstrap_ci,
    confusion,
    ece,
    multiclass_metrics,
    multilabel_metrics,
    reliability_points,
    trivial_multiclass,
    trivial_multilabel,
)
from pipelines.plots import pyplot, to_png


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
    extra_metrics: dict[str, Callable[[list[str], list[str]], float]] | None = None,
) -> Evaluation:
    """``extra_metrics``: a dataset's own metrics of (gold, predicted) labels, e.g. FNC-1's
    weighted score; each gets a bootstrap interval and a trivial reference like the rest."""
    extra = extra_metrics or {}
    if len(set(y_train)) < 2:
        raise EvaluationError(f"the task has a single class in training: {set(y_train)}")
    pred = [labels[i] for i in probs.argmax(axis=1)]
    m = multiclass_metrics(y_true, pred, labels)
    metrics = {k: v for k, v in m.items() if k != "per_label"}
    for name, fn in extra.items():
        metrics[name] = fn(y_true, pred)
    conf = probs.max(axis=1)
    correct = np.asarray([a == b for a, b in zip(y_true, pred, strict=True)])
    metrics["ece"] = ece(conf, correct)
    yt = np.asarray(y_true, dtype=object)
    pp = np.asarray(pred, dtype=object)

    def f(metric: str) -> Callable[[np.ndarray], float]:
        if metric in extra:
            return lambda idx: extra[metric](list(yt[idx]), list(pp[idx]))
        return lambda idx: multiclass_metrics(yt[idx], pp[idx], labels, warn=False)[metric]

    keys = ["macro_f1", "accuracy"] + (["f_avg"] if "f_avg" in metrics else []) + list(extra)
    ci = {k: bootstrap_ci(f(k), len(yt), n_boot, seed) for k in keys}
    triv = trivial_multiclass(y_train, len(yt))
    tm = multiclass_metrics(yt, triv, labels, warn=False)
    reference = {"macro_f1": tm["macro_f1"], "accuracy": tm["accuracy"]}
    if "f_avg" in tm:
        reference["f_avg"] = tm["f_avg"]
    for name, fn in extra.items():
        reference[name] = fn(list(yt), triv)
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
def plot_confusion(cm: pd.DataFrame) -> bytes:
    plt = pyplot()
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
    return to_png(fig)


def plot_reliability(conf: np.ndarray, correct: np.ndarray, title: str) -> bytes:
    plt = pyplot()
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
    return to_png(fig)


def plot_pr_curves(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> bytes:
    from sklearn.metrics import precision_recall_curve

    plt = pyplot()
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
    return to_png(fig)


def plot_per_label(per: pd.DataFrame) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(per) + 1))
    ax.barh(per["label"], per["f1"].astype(float).fillna(0), color="#4C72B0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title("F1 per frame (test)")
    return to_png(fig)


# ============================================================================ report
def html_report(title: str, sections: list[tuple[str, Any]]) -> str:
    """A self-contained HTML page: tables inline, figures as base64 PNG."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        # Plain strings, not f-strings: doubled braces here once reached the browser as
        # `}}table{{`, which voided every rule after the first.
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}th{background:#f3f3f3}"
        "img{max-width:100%}</style></head><body>",
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
