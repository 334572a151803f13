"""Label models: turn a matrix of votes (rows = items, columns = functions) into probabilities.

Majority vote is the floor. Dawid-Skene (crowd-kit's maintained implementation) learns a
confusion matrix per function without gold, so a precise function outweighs a noisy one.
Frames are aggregated one-vs-rest (a binary problem per frame); stance as one multiclass
problem. Items with no votes get the class prior rather than a made-up certainty.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

ABSTAIN = -1


@dataclass
class FitResult:
    probs: np.ndarray  # (n_items, n_classes)
    accuracies: dict[str, float]  # estimated per function, where the model gives one


def _prior(votes: np.ndarray, n_classes: int) -> np.ndarray:
    v = votes[votes != ABSTAIN]
    counts = np.bincount(v, minlength=n_classes).astype(float) + 1.0
    return counts / counts.sum()


def majority_vote(votes: np.ndarray, n_classes: int, prior: np.ndarray | None = None) -> FitResult:
    n = votes.shape[0]
    counts = np.zeros((n, n_classes))
    for c in range(n_classes):
        counts[:, c] = (votes == c).sum(axis=1)
    total = counts.sum(axis=1, keepdims=True)
    p = prior if prior is not None else _prior(votes, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = np.where(total > 0, counts / np.maximum(total, 1), p)
    return FitResult(probs, {})


def dawid_skene(
    votes: np.ndarray, n_classes: int, names: list[str], n_iter: int = 100
) -> FitResult:
    from crowdkit.aggregation import DawidSkene

    rows, cols = np.nonzero(votes != ABSTAIN)
    p = _prior(votes, n_classes)
    probs = np.tile(p, (votes.shape[0], 1))
    if len(rows) == 0:
        return FitResult(probs, {})
    df = pd.DataFrame(
        {"task": rows, "worker": [names[c] for c in cols], "label": votes[rows, cols]}
    )
    if df["label"].nunique() < 2:
        return majority_vote(votes, n_classes)
    ds = DawidSkene(n_iter=n_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = ds.fit_predict_proba(df)
    proba = proba.reindex(columns=range(n_classes), fill_value=0.0)
    probs[proba.index.to_numpy(dtype=int)] = proba.to_numpy(dtype=float)
    accuracies: dict[str, float] = {}
    errors = getattr(ds, "errors_", None)  # rows (worker, observed), columns true label
    priors = getattr(ds, "priors_", None)
    if errors is not None and priors is not None:
        for w in df["worker"].unique():
            acc = 0.0
            for c in priors.index:
                key = (w, c)
                if key in errors.index and c in errors.columns:
                    acc += float(priors[c]) * float(errors.loc[key, c])
            accuracies[str(w)] = acc
    return FitResult(probs, accuracies)


def aggregate(method: str, votes: np.ndarray, n_classes: int, names: list[str]) -> FitResult:
    if method == "majority_vote":
        return majority_vote(votes, n_classes)
    if method == "dawid_skene":
        return dawid_skene(votes, n_classes, names)
    raise ValueError(f"unknown label model {method!r} (use majority_vote or dawid_skene)")
