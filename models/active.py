"""Which unlabelled documents to annotate next: the active-learning strategies.

A strategy turns a model's probabilities over unlabelled documents into an order, the
most useful to annotate first. The simulated loop (``bench/active.py``) measures them
against random sampling; ``mediaframe suggest`` orders a user's annotation tasks by one.

- ``uncertainty``: the document whose decision the model is least sure of. Multi-label:
  the smallest distance of any frame's probability to that frame's tuned threshold (one
  frame the model cannot decide is one label an annotator settles); multiclass: the
  smallest gap between the two most probable classes.
- ``entropy``: mean binary entropy over frames (multi-label) or the entropy of the class
  distribution (multiclass): the document the model is unsure of on the whole.
- ``random``: a seeded shuffle, the reference every other strategy has to beat.

Pure numpy on probabilities: no model, family or dataset is known here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRATEGIES = ("uncertainty", "entropy", "random")


def _check(probs: np.ndarray, kind: str) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be documents x labels, got shape {p.shape}")
    if kind not in ("multilabel", "multiclass"):
        raise ValueError(f"unknown task kind {kind!r}")
    return p


def informativeness(
    probs: np.ndarray,
    kind: str,
    strategy: str,
    thresholds: Sequence[float] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """One score per document, higher = annotate sooner (``random``: seeded noise)."""
    p = _check(probs, kind)
    if strategy == "random":
        return np.random.default_rng(seed).random(len(p))
    if strategy == "uncertainty":
        if kind == "multilabel":
            th = np.asarray(thresholds if thresholds else [0.5] * p.shape[1], dtype=float)
            if th.shape != (p.shape[1],):
                raise ValueError(f"{len(th)} thresholds for {p.shape[1]} labels")
            return -np.abs(p - th).min(axis=1) if p.shape[1] else np.zeros(len(p))
        if p.shape[1] < 2:
            return np.zeros(len(p))
        top2 = np.sort(p, axis=1)[:, -2:]
        return -(top2[:, 1] - top2[:, 0])
    if strategy == "entropy":
        q = np.clip(p, 1e-12, 1 - 1e-12)
        if kind == "multilabel":
            return (-(q * np.log(q) + (1 - q) * np.log(1 - q))).mean(axis=1)
        return -(q * np.log(q)).sum(axis=1)
    raise ValueError(f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")


def rank(
    probs: np.ndarray,
    kind: str,
    strategy: str,
    thresholds: Sequence[float] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of the documents, the one to annotate first first (ties keep input order)."""
    score = informativeness(probs, kind, strategy, thresholds, seed)
    return np.argsort(-score, kind="stable")


def parse_strategies(text: str) -> list[str]:
    """``uncertainty,random`` -> the list, each checked; one clear error otherwise."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGIES]
    if bad or not names:
        raise ValueError(
            f"--strategy {text}: {', '.join(bad) or 'empty'} is not a strategy; "
            f"use a comma-separated list of {', '.join(STRATEGIES)}"
        )
    return list(dict.fromkeys(names))
