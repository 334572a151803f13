"""Which label model labels best: each candidate fitted on the corpus votes, scored on gold.

The scores use ``models.metrics``, which ``labeling`` may not import, so they are made
here; the rule that picks from them is ``labeling.label_model.choose``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from labeling.gold import Annotation
from labeling.label_model import candidates, choose
from labeling.stream import CorpusVotes, Pairs
from labeling.weak import WeakLabeler
from models.metrics import bootstrap_ci, multiclass_metrics, multilabel_metrics
from pipelines.config import LabelConfig


def _with_ci(name: str, metric, n: int, n_boot: int, seed: int) -> dict[str, float]:
    """The metric on all items, with its bootstrap interval, under one name."""
    lo, hi = bootstrap_ci(metric, n, n_boot, seed)
    return {name: metric(np.arange(n)), f"{name}_ci_low": lo, f"{name}_ci_high": hi}


def score_label_model(
    frame_probs: np.ndarray,
    stance_probs: np.ndarray,
    pairs: Pairs,
    labeler: WeakLabeler,
    gold: dict[str, Annotation],
    where: dict[str, int],
    eval_ids: set[str],
    threshold: float,
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    """Frame macro-F1 and stance macro-F1 of one aggregation against gold.

    ``where`` gives the row of each gold document; rows are scored in corpus order.
    """
    keys = labeler.codebook.keys
    rows = sorted(where[d] for d in eval_ids if d in gold and d in where)
    ids = {where[d]: d for d in gold if d in where}
    out: dict[str, float] = {}
    if rows:
        yt = np.array([[int(k in gold[ids[i]].frames) for k in keys] for i in rows])
        yp = (frame_probs[rows] >= threshold).astype(int)
        m = multilabel_metrics(yt, yp, keys, warn=False)
        out["frames_micro_f1"] = m["micro_f1"]
        for k, v in m["per_label"].items():
            out[f"frame_f1:{k}"] = v["f1"]
        out.update(
            _with_ci(
                "frames_macro_f1",
                lambda idx: multilabel_metrics(yt[idx], yp[idx], keys, warn=False)["macro_f1"],
                len(rows),
                n_boot,
                seed,
            )
        )
    labels = labeler.stance.labels
    pair_index = pairs.index_of(rows)
    yt_s, yp_s, tg_s = [], [], []
    for i in rows:
        for t in labeler.stance.targets:
            g = gold[ids[i]].stance.get(t)
            r = pair_index.get((i, t))
            if g in labels and r is not None:
                yt_s.append(g)
                yp_s.append(labels[int(np.argmax(stance_probs[r]))])
                tg_s.append(t)
    for t in labeler.stance.targets:
        sel = [j for j, x in enumerate(tg_s) if x == t]
        if sel:
            out[f"stance_macro_f1:{t}"] = multiclass_metrics(
                [yt_s[j] for j in sel], [yp_s[j] for j in sel], labels, warn=False
            )["macro_f1"]
    if yt_s:
        yt_a, yp_a = np.array(yt_s, dtype=object), np.array(yp_s, dtype=object)
        out.update(
            _with_ci(
                "stance_macro_f1",
                lambda idx: multiclass_metrics(yt_a[idx], yp_a[idx], labels, warn=False)[
                    "macro_f1"
                ],
                len(yt_s),
                n_boot,
                seed,
            )
        )
    return out


def mention_quality(
    mentions: dict[str, dict[str, int]], gold: dict[str, Annotation], targets: list[str]
) -> dict[str, float]:
    """Precision/recall of the mention rule against gold not_mentioned decisions.

    ``mentions`` holds the rule's target counts for (at least) the gold documents.
    """
    tp = fp = fn = 0
    for d, found in mentions.items():
        if d not in gold:
            continue
        for t in targets:
            g = gold[d].stance.get(t, "not_mentioned") != "not_mentioned"
            p = bool(found.get(t))
            tp += g and p
            fp += p and not g
            fn += g and not p
    prec = tp / (tp + fp) if tp + fp else math.nan
    rec = tp / (tp + fn) if tp + fn else math.nan
    return {"mention_precision": prec, "mention_recall": rec}


@dataclass
class LabelModelChoice:
    """The label model of each task, its probabilities, and every candidate's dev scores."""

    frame_method: str
    stance_method: str
    frame_probs: np.ndarray  # documents x frames
    stance_probs: np.ndarray  # stance pairs x labels
    scores: dict[str, dict[str, float]]


def choose_label_models(
    labeler: WeakLabeler,
    votes: CorpusVotes,
    gold: dict[str, Annotation],
    eval_ids: set[str],
    cfg: LabelConfig,
) -> LabelModelChoice:
    """Fit each candidate of ``cfg.label_model`` and keep, per task, the better one."""
    scores: dict[str, dict[str, float]] = {}
    fits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for method in candidates(cfg.label_model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fprobs, sprobs, _ = labeler.fit(votes.mats, method, method)
        fits[method] = (fprobs, sprobs)
        scores[method] = score_label_model(
            fprobs,
            sprobs,
            votes.pairs,
            labeler,
            gold,
            votes.found,
            eval_ids,
            cfg.frame_threshold,
            cfg.bootstrap,
            cfg.seed,
        )
    frame_method = choose(scores, "frames_macro_f1")
    stance_method = choose(scores, "stance_macro_f1")
    return LabelModelChoice(
        frame_method, stance_method, fits[frame_method][0], fits[stance_method][1], scores
    )
