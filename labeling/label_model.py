"""Label models: turn a matrix of votes (rows = items, columns = functions) into probabilities.

Majority vote is the floor. Dawid-Skene learns a confusion matrix per function without gold,
so a precise function outweighs a noisy one: crowd-kit's algorithm, run on dense arrays
(the same result in about a seventh of the CPU time; see ``dawid_skene``).
Frames are aggregated one-vs-rest (a binary problem per frame); stance as one multiclass
problem. Items with no votes get the class prior rather than a made-up certainty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The one abstain vote of every vote matrix; functions, label models and analysis share it.
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


_EPS = 1e-10


def dawid_skene(
    votes: np.ndarray, n_classes: int, names: list[str], n_iter: int = 100, tol: float = 1e-5
) -> FitResult:
    """Dawid-Skene EM, the algorithm of crowd-kit's ``DawidSkene`` on dense arrays.

    Same initialisation (majority vote), E- and M-steps, clipping and stopping rule
    (evidence lower bound per response improving by less than ``tol``), so the result
    equals crowd-kit's (tested against it); but each step is one ``einsum`` over the
    vote matrix instead of pandas joins and group-bys over one row per vote: on the
    benchmark's 30,000-document vote matrix (16 models) 0.8 CPU-seconds instead of 5.5
    (bench/RESULTS.md).
    """
    p0 = _prior(votes, n_classes)
    probs = np.tile(p0, (votes.shape[0], 1))
    rows = np.nonzero((votes != ABSTAIN).any(axis=1))[0]
    labels = np.unique(votes[votes != ABSTAIN])
    if len(rows) == 0:
        return FitResult(probs, {})
    if len(labels) < 2:
        return majority_vote(votes, n_classes)
    v = votes[rows]
    # one-hot responses: items x functions x observed labels
    onehot = (v[:, :, None] == labels[None, None, :]).astype(np.float64)
    answered = onehot.sum(axis=0) > 0  # (function, label) pairs that occur at all
    n_resp = onehot.sum()
    post = onehot.sum(axis=1)
    post /= post.sum(axis=1, keepdims=True)  # majority vote
    errors = _m_step(onehot, post, answered)
    prior = post.mean(axis=0)
    loss = -np.inf
    for _ in range(n_iter):
        prior = np.clip(prior, _EPS, None)
        log_lik = np.log2(prior) + np.einsum("ijl,jlc->ic", onehot, _log(errors, np.log2))
        post = np.exp2(log_lik - log_lik.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        prior = post.mean(axis=0)
        errors = _m_step(onehot, post, answered)
        # evidence lower bound: expected joint log-likelihood (the prior counted per
        # response, as crowd-kit does) plus the posterior's entropy, per response
        joint = np.einsum("ijl,jlc->ic", onehot, _log(errors, np.log))
        joint += onehot.sum(axis=(1, 2))[:, None] * np.log(np.clip(prior, _EPS, None))
        post = np.clip(post, _EPS, None)
        new_loss = float((post * joint).sum() - (post * np.log(post)).sum()) / n_resp
        if new_loss - loss < tol:
            break
        loss = new_loss
    probs[rows] = 0.0
    probs[np.ix_(rows, labels)] = post
    prior = np.clip(prior, _EPS, None)
    accuracies = {
        names[j]: float(
            sum(prior[c] * errors[j, c, c] for c in range(len(labels)) if answered[j, c])
        )
        for j in range(votes.shape[1])
        if answered[j].any()
    }
    return FitResult(probs, accuracies)


def _m_step(onehot: np.ndarray, post: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Each function's confusion matrix P(observed label | true class), (j, l, c)."""
    errors = np.einsum("ijl,ic->jlc", onehot, post)
    errors = np.where(answered[:, :, None], np.clip(errors, _EPS, None), 0.0)
    total = errors.sum(axis=1, keepdims=True)  # 0 for a function that never voted
    return np.divide(errors, total, out=np.zeros_like(errors), where=total > 0)


def _log(x: np.ndarray, fn) -> np.ndarray:
    """Log where defined; the zeros (label never given by a function) are never used."""
    out = np.zeros_like(x)
    np.copyto(out, fn(np.where(x > 0, x, 1.0)))
    return out


# Every label model behind the one signature (votes, number of classes, function names).
LabelModel = Callable[[np.ndarray, int, list[str]], FitResult]
LABEL_MODELS: dict[str, LabelModel] = {
    "majority_vote": lambda votes, n_classes, names: majority_vote(votes, n_classes),
    "dawid_skene": dawid_skene,
}


def aggregate(method: str, votes: np.ndarray, n_classes: int, names: list[str]) -> FitResult:
    """Probabilities of ``votes`` under the label model named ``method``."""
    model = LABEL_MODELS.get(method)
    if model is None:
        raise ValueError(f"unknown label model {method!r} (use {' or '.join(LABEL_MODELS)})")
    return model(votes, n_classes, names)


def candidates(choice: str) -> list[str]:
    """The label models to fit for a configured ``choice``: all of them for "auto"."""
    return list(LABEL_MODELS) if choice == "auto" else [choice]


def choose(scores: dict[str, dict[str, float]], metric: str) -> str:
    """The label model with the best ``metric`` against gold (scored by the caller).

    A model without the metric (no gold) counts as -1; ties go to Dawid-Skene, which
    weighs functions by their estimated accuracy where majority vote cannot.
    """
    return max(scores, key=lambda m: (scores[m].get(metric, -1.0), m == "dawid_skene"))
