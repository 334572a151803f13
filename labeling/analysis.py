"""Labeling-function analysis: coverage, overlaps, conflicts and accuracy against gold.

Like Snorkel's LFAnalysis, computed per group of functions that vote on the same
question (one frame, or stance), so an overlap or conflict means two functions spoke
about the same thing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from labeling.label_model import ABSTAIN


def lf_summary(
    votes: np.ndarray,
    names: list[str],
    classes: list[str],
    group: str,
    gold: np.ndarray | None = None,
) -> pd.DataFrame:
    """``votes`` (items x functions); ``gold`` (items,) with -1 where unknown."""
    voted = votes != ABSTAIN
    n = max(votes.shape[0], 1)
    rows = []
    for j, name in enumerate(names):
        me = voted[:, j]
        others = np.delete(voted, j, axis=1)
        other_votes = np.delete(votes, j, axis=1)
        overlap = me & others.any(axis=1) if others.size else np.zeros_like(me)
        conflict = np.zeros_like(me)
        if others.size:
            disagree = (other_votes != votes[:, [j]]) & (other_votes != ABSTAIN)
            conflict = me & disagree.any(axis=1)
        row = {
            "group": group,
            "function": name,
            "polarity": ",".join(sorted({classes[v] for v in np.unique(votes[me, j])})),
            "coverage": float(me.sum() / n),
            "overlaps": float(overlap.sum() / n),
            "conflicts": float(conflict.sum() / n),
            "n_votes": int(me.sum()),
        }
        if gold is not None:
            known = me & (gold != ABSTAIN)
            row["n_gold"] = int(known.sum())
            row["emp_accuracy"] = (
                float((votes[known, j] == gold[known]).mean()) if known.any() else float("nan")
            )
        rows.append(row)
    return pd.DataFrame(rows)


def label_coverage(votes: np.ndarray, group: str) -> dict[str, float]:
    voted = votes != ABSTAIN
    n = max(votes.shape[0], 1)
    return {
        "group": group,
        "coverage_any": float(voted.any(axis=1).sum() / n),
        "mean_votes_per_item": float(voted.sum(axis=1).mean()) if len(votes) else 0.0,
    }


def plot_summary(table: pd.DataFrame, path: str) -> None:
    """Coverage and empirical accuracy of every function, sorted, in one figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.sort_values("coverage")
    h = max(3.0, 0.16 * len(t))
    # Function names come from user codebooks: a `$` in one must print, not parse as math.
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        _draw_summary(plt, t, h, path)


def _draw_summary(plt: Any, t: pd.DataFrame, h: float, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, h), sharey=True)
    labels = [f"{f}" for f in t["function"]]
    axes[0].barh(labels, t["coverage"], color="#4C72B0")
    axes[0].set_xlabel("coverage")
    if "emp_accuracy" in t:
        axes[1].barh(labels, t["emp_accuracy"].fillna(0), color="#55A868")
        axes[1].set_xlabel("empirical accuracy on gold")
        axes[1].set_xlim(0, 1)
    axes[0].tick_params(axis="y", labelsize=6)
    fig.suptitle("Labeling functions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
