"""The train stage's data: a task's examples from ``labels.parquet`` and the gold split.

Gold where it exists, the label model elsewhere: train on the train split plus weakly
labelled documents outside the split; dev and test are gold only. A held-out group (an
outlet whose documents are all in dev or test, as a split grouped by outlet makes it)
stays held out: its weakly labelled documents never enter training either, or the
outlet hold-out would measure outlets the model was trained on. The weakly labelled
rows' ids carry ``models.data.WEAK_PREFIX``, so the small-gold families and the
cross-validation tell them from gold as they do in the benchmark.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from labeling.codebook import load_codebook, load_stance
from labeling.gold import read_splits
from labeling.text import join_title_text
from models.data import WEAK_PREFIX, Examples, TaskSpec
from models.training import TaskData
from pipelines import tracking
from pipelines.config import TrainConfig


class TrainDataError(ValueError):
    """Training data that cannot produce a meaningful model or evaluation."""


def _load_tables(cfg: TrainConfig) -> pd.DataFrame:
    for p in (cfg.labels, cfg.documents, cfg.splits):
        if not Path(p).exists():
            raise TrainDataError(
                f"{p}: not found (run `mediaframe ingest` and `label` first, "
                "or set the path in the train config)"
            )
    labels = pd.read_parquet(cfg.labels)
    docs = pd.read_parquet(cfg.documents, columns=["id", "title", "text", "source"])
    df = labels.drop(columns=[c for c in ("title", "source") if c in labels.columns]).merge(
        docs, on="id", how="inner"
    )
    if df.empty:
        raise TrainDataError(f"{cfg.labels} and {cfg.documents} share no document ids")
    return df


def _split_frame(df: pd.DataFrame, cfg: TrainConfig) -> dict[str, pd.DataFrame]:
    splits = read_splits(cfg.splits)
    is_gold = df["label_source"] == "gold"
    part = {
        k: df[df["id"].isin(set(v)) & is_gold]
        for k, v in splits.items()
        if k in ("train", "dev", "test")
    }
    if part["test"].empty:
        raise TrainDataError(
            f"{cfg.splits}: no gold documents in the test split; evaluation needs gold test labels"
        )
    if part["dev"].empty:
        raise TrainDataError(f"{cfg.splits}: no gold documents in the dev split")
    in_split = set().union(*map(set, splits.values()))
    extra = df[~df["id"].isin(in_split) & ~is_gold]
    held_out = held_out_groups(df, splits)
    leaking = extra["source"].astype(str).isin(held_out)
    if cfg.use_weak_labels and leaking.any():
        print(
            f"train: {int(leaking.sum())} weakly labelled documents of the {len(held_out)} "
            f"dev/test-only sources ({', '.join(sorted(held_out)[:5])}"
            f"{', ...' if len(held_out) > 5 else ''}) left out of training",
            file=sys.stderr,
        )
    extra = extra[~leaking]
    if cfg.use_weak_labels and len(extra):
        part["train"] = pd.concat([part["train"], extra], ignore_index=True)
    return part


def held_out_groups(df: pd.DataFrame, splits: dict[str, list[str]]) -> set[str]:
    """The sources (outlets) with documents in dev or test and none in the train split.

    With a split grouped by outlet these are the held-out outlets; with a random split
    every outlet is usually in train too, and nothing is held out beyond the split's ids.
    """
    source = dict(zip(df["id"], df["source"].astype(str), strict=True))
    seen = {k: {source[i] for i in splits[k] if i in source} for k in ("train", "dev", "test")}
    return (seen["dev"] | seen["test"]) - seen["train"]


def _confidence(row: pd.Series, keys: list[str]) -> float:
    probs = row["frame_probs"]
    return float(np.mean([max(probs[k], 1 - probs[k]) for k in keys]))


def build_frames(cfg: TrainConfig) -> TaskData:
    codebook = load_codebook(cfg.codebook)
    keys = codebook.keys
    df = _load_tables(cfg)
    parts = _split_frame(df, cfg)
    spec = TaskSpec("frames", "multilabel", keys)

    def examples(d: pd.DataFrame) -> Examples:
        y = np.array([[int(k in set(fr)) for k in keys] for fr in d["frames"]], dtype=int).reshape(
            len(d), len(keys)
        )
        w = np.array(
            [
                1.0 if s == "gold" else _confidence(r, keys)
                for s, (_, r) in zip(d["label_source"], d.iterrows(), strict=True)
            ]
        )
        keep = w >= cfg.min_confidence
        ex = Examples(
            [
                i if s == "gold" else WEAK_PREFIX + i
                for i, s in zip(d["id"], d["label_source"], strict=True)
            ],
            [join_title_text(t, x) for t, x in zip(d["title"], d["text"], strict=True)],
            y,
            weights=w,
            groups=[str(s) for s in d["source"]],
        )
        return ex.subset(np.nonzero(keep)[0])

    return TaskData(
        spec,
        examples(parts["train"]),
        examples(parts["dev"]),
        examples(parts["test"]),
        primary_test=list(parts["test"]["primary_frame"]),
        digest=tracking.frame_digest(df),
    )


def build_stance(cfg: TrainConfig) -> TaskData:
    stance = load_stance(cfg.stance)
    labels = stance.labels
    df = _load_tables(cfg)
    parts = _split_frame(df, cfg)
    spec = TaskSpec(
        "stance",
        "multiclass",
        labels,
        pair=True,
        target_names={k: t.name for k, t in stance.targets.items()},
        target_aliases={k: t.aliases for k, t in stance.targets.items()},
        cue_lexicon={
            "favor": stance.favor_cues,
            "against": stance.against_cues,
            "negations": stance.negations,
        },
    )

    def examples(d: pd.DataFrame) -> Examples:
        ids, texts, targets, y, w, g = [], [], [], [], [], []
        for _, r in d.iterrows():
            text = join_title_text(r["title"], r["text"])
            for t in stance.targets:
                lab = r.get(f"stance_{t}")
                if lab not in labels:  # not_mentioned: decided by rule, never trained on
                    continue
                probs = r.get(f"stance_{t}_probs") or {}
                weak = "" if r["label_source"] == "gold" else WEAK_PREFIX
                ids.append(f"{weak}{r['id']}:{t}")
                texts.append(text)
                targets.append(t)
                y.append(labels.index(lab))
                w.append(1.0 if r["label_source"] == "gold" else float(max(probs.values())))
                g.append(str(r["source"]))
        keep = np.nonzero(np.asarray(w) >= cfg.min_confidence)[0]
        return Examples(ids, texts, np.asarray(y, dtype=int), targets, np.asarray(w), g).subset(
            keep
        )

    data = TaskData(
        spec,
        examples(parts["train"]),
        examples(parts["dev"]),
        examples(parts["test"]),
        digest=tracking.frame_digest(df),
    )
    if len(set(data.train.y.tolist())) < 2:
        raise TrainDataError("stance training data holds a single class")
    return data


def build_task(cfg: TrainConfig) -> TaskData:
    return build_frames(cfg) if cfg.task == "frames" else build_stance(cfg)
