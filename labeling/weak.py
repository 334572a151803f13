"""Weak supervision end to end: apply labeling functions, aggregate, build label rows.

``labeling.stream`` runs it over a corpus a chunk at a time; ``pipelines/label.py`` wraps
that with files, gold labels and MLflow. A function that raises is reported by name with
the document id and dropped for the rest of the run (counted), instead of failing the
corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labeling.codebook import Codebook, StanceSpec
from labeling.functions import (
    Doc,
    FrameCues,
    LabelingFunction,
    StanceCues,
    cue_functions,
    embedding_functions,
    stance_functions,
)
from labeling.label_model import ABSTAIN, aggregate

# Wraps the documents being labelled (a progress bar, say); labeling itself shows none.
Progress = Callable[[Sequence[Doc]], Iterable[Doc]]

NOT_MENTIONED = "not_mentioned"


@dataclass
class VoteMatrix:
    """Votes of the functions in one group (one frame, or stance) over its items."""

    group: str
    names: list[str]
    classes: list[str]
    votes: np.ndarray  # items x functions, int, -1 = abstain
    items: list  # doc index (frames) or (doc index, target) pairs (stance)


@dataclass
class CueNotes:
    """What evidence and the primary frame need from the texts, found once per document.

    ``words``: per document, frame -> its first five body cue words (sorted, comma-joined),
    for the frames with any; ``bonus``: documents x frames, body cue count + 3 x title cue
    count; ``stance_cues``: per stance item, the first six cues near its mentions. Plain
    strings and ints, so a chunk's notes can wait on disk while the label model is fitted.
    """

    words: list[dict[str, str]]
    bonus: np.ndarray
    stance_cues: list[list[str]]


@dataclass
class WeakLabels:
    frame_probs: np.ndarray  # docs x frames
    frame_evidence: list[list[str]]
    stance_pairs: list[tuple[int, str]]
    stance_probs: np.ndarray  # pairs x stance labels
    stance_evidence: dict[tuple[int, str], list[str]]
    mentions: list[dict[str, int]]
    matrices: list[VoteMatrix]
    lf_errors: list[str] = field(default_factory=list)
    estimated_accuracy: dict[str, float] = field(default_factory=dict)


class WeakLabeler:
    def __init__(
        self,
        codebook: Codebook,
        stance: StanceSpec,
        similarity: Callable[[list[Doc]], np.ndarray] | None = None,
        extra_lfs: Sequence[LabelingFunction] = (),
        progress: Progress | None = None,
    ) -> None:
        self.codebook = codebook
        self.progress = progress
        self.stance = stance
        self.frame_cues = FrameCues(codebook)
        self.stance_cues = StanceCues(stance)
        self.similarity = similarity
        self.frame_lfs = cue_functions(self.frame_cues) + [
            lf for lf in extra_lfs if lf.task == "frames"
        ]
        self.stance_lfs = stance_functions(self.stance_cues) + [
            lf for lf in extra_lfs if lf.task == "stance"
        ]
        self.errors: list[str] = []
        self.failed: set[str] = set()

    # ------------------------------------------------------------------ applying
    def _call(self, lf: LabelingFunction, *args) -> int:
        if lf.name in self.failed:
            return ABSTAIN
        try:
            return lf(*args)
        except Exception as exc:  # a user's function may raise anything
            self.failed.add(lf.name)
            self.errors.append(
                f"labeling function {lf.name!r} raised on document "
                f"{args[0].id}: {type(exc).__name__}: {exc}; dropped"
            )
            return ABSTAIN

    def apply(self, docs: list[Doc]) -> tuple[list[VoteMatrix], list[tuple[int, str]]]:
        frame_lfs = list(self.frame_lfs)
        if self.similarity is not None:
            sims = self.similarity(docs)
            index = {d.id: i for i, d in enumerate(docs)}
            frame_lfs += embedding_functions(self.codebook, lambda d: sims[index[d.id]])
        by_frame: dict[str, list[LabelingFunction]] = {k: [] for k in self.codebook.keys}
        for lf in frame_lfs:
            if lf.frame not in by_frame:
                raise ValueError(
                    f"labeling function {lf.name!r} votes on unknown frame "
                    f"{lf.frame!r} (codebook {self.codebook.name})"
                )
            by_frame[lf.frame].append(lf)
        frame_votes = {
            k: np.full((len(docs), len(v)), ABSTAIN, dtype=np.int64) for k, v in by_frame.items()
        }
        pairs: list[tuple[int, str]] = []
        stance_rows: list[list[int]] = []
        for i, doc in enumerate(self.progress(docs) if self.progress else docs):
            for k, lfs in by_frame.items():
                for j, lf in enumerate(lfs):
                    frame_votes[k][i, j] = self._call(lf, doc)
            mentioned = self.stance_cues.mentioned(doc)
            for t in self.stance.targets:
                if mentioned.get(t):
                    pairs.append((i, t))
                    stance_rows.append([self._call(lf, doc, t) for lf in self.stance_lfs])
        for k, lfs in by_frame.items():  # a function that failed part-way is dropped whole
            for j, lf in enumerate(lfs):
                if lf.name in self.failed:
                    frame_votes[k][:, j] = ABSTAIN
        stance_votes = np.array(stance_rows, dtype=np.int64).reshape(
            len(pairs), len(self.stance_lfs)
        )
        for j, lf in enumerate(self.stance_lfs):
            if lf.name in self.failed:
                stance_votes[:, j] = ABSTAIN
        mats = [
            VoteMatrix(
                k,
                [lf.name for lf in by_frame[k]],
                ["absent", "present"],
                frame_votes[k],
                list(range(len(docs))),
            )
            for k in self.codebook.keys
        ]
        mats.append(
            VoteMatrix(
                "stance",
                [lf.name for lf in self.stance_lfs],
                list(self.stance.labels),
                stance_votes,
                pairs,
            )
        )
        return mats, pairs

    # ------------------------------------------------------------------ aggregating
    def fit(
        self, mats: list[VoteMatrix], frame_method: str, stance_method: str
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """The label model over whole vote matrices (the last one stance).

        Returns frame probabilities (documents x frames), stance probabilities (pairs x
        labels) and the functions' estimated accuracies. Only the votes are read, so the
        matrices may be compact (int8) and their ``items`` anything: the probabilities
        of each row are those of the corpus-wide fit, whatever chunk it came from.
        """
        keys = self.codebook.keys
        fprobs = np.zeros((len(mats[0].votes) if len(mats) > 1 else 0, len(keys)))
        accuracies: dict[str, float] = {}
        for f, mat in enumerate(mats[:-1]):
            res = aggregate(frame_method, np.asarray(mat.votes, dtype=np.int64), 2, mat.names)
            fprobs[:, f] = res.probs[:, 1]
            accuracies.update(res.accuracies)
        stance_mat = mats[-1]
        sres = aggregate(
            stance_method,
            np.asarray(stance_mat.votes, dtype=np.int64),
            len(stance_mat.classes),
            stance_mat.names,
        )
        accuracies.update(sres.accuracies)
        return fprobs, sres.probs, accuracies

    def notes(self, docs: list[Doc], stance_items: Sequence[tuple[int, str]]) -> CueNotes:
        """What the evidence and the primary frame need from the texts (see ``CueNotes``)."""
        keys = self.codebook.keys
        words: list[dict[str, str]] = []
        bonus = np.zeros((len(docs), len(keys)), dtype=np.int64)
        for i, doc in enumerate(docs):
            h = self.frame_cues.hits(doc)
            body = h["body"]
            words.append({k: ",".join(sorted(set(body[k]))[:5]) for k in keys if body.get(k)})
            for f, k in enumerate(keys):
                bonus[i, f] = len(body.get(k, [])) + 3 * len(h["title"].get(k, []))
        cues = [self.stance_cues.analyse(docs[i], t)["cues"][:6] for i, t in stance_items]
        return CueNotes(words, bonus, cues)

    def explain(
        self,
        docs: list[Doc],
        mats: list[VoteMatrix],
        frame_probs: np.ndarray,
        notes: CueNotes | None = None,
    ) -> tuple[list[list[str]], dict[tuple[int, str], list[str]]]:
        """Readable evidence for ``docs``: the functions that fired and the cue words.

        ``mats`` and ``frame_probs`` hold the rows of these documents only (stance items
        indexed from 0 within them), so a corpus is explained one chunk at a time;
        ``notes`` are ``self.notes`` of the same documents, if already found.
        """
        keys = self.codebook.keys
        stance_mat = mats[-1]
        if notes is None:
            notes = self.notes(docs, stance_mat.items)
        evidence: list[list[str]] = [[] for _ in docs]
        for mat in mats[:-1]:
            for i in np.nonzero((mat.votes == 1).any(axis=1))[0]:
                fired = [n for n, v in zip(mat.names, mat.votes[i], strict=True) if v == 1]
                evidence[i].extend(fired)
        s_evidence: dict[tuple[int, str], list[str]] = {}
        for row, (i, t) in enumerate(stance_mat.items):
            fired = [
                f"{n}={stance_mat.classes[v]}"
                for n, v in zip(stance_mat.names, stance_mat.votes[row], strict=True)
                if v != ABSTAIN
            ]
            s_evidence[(i, t)] = [f"stance_{t}:{x}" for x in fired + notes.stance_cues[row]]
        for i, words in enumerate(notes.words):  # cue words make frame evidence readable
            for k in keys:
                if k in words and frame_probs[i, keys.index(k)] >= 0.5:
                    evidence[i].append(f"cues:{k}={words[k]}")
        return evidence, s_evidence

    def aggregate(
        self, docs: list[Doc], mats: list[VoteMatrix], frame_method: str, stance_method: str
    ) -> WeakLabels:
        fprobs, sprobs, accuracies = self.fit(mats, frame_method, stance_method)
        evidence, s_evidence = self.explain(docs, mats, fprobs)
        return WeakLabels(
            frame_probs=fprobs,
            frame_evidence=evidence,
            stance_pairs=list(mats[-1].items),
            stance_probs=sprobs,
            stance_evidence=s_evidence,
            mentions=[self.stance_cues.mentioned(d) for d in docs],
            matrices=mats,
            lf_errors=list(self.errors),
            estimated_accuracy=accuracies,
        )

    def primary_scores(
        self, docs: list[Doc], probs: np.ndarray, notes: CueNotes | None = None
    ) -> np.ndarray:
        """Probability, with cue counts (title counts triple) breaking near-ties."""
        if notes is None:
            notes = self.notes(docs, [])
        bonus = notes.bonus.astype(probs.dtype)
        bonus = bonus / np.maximum(bonus.sum(axis=1, keepdims=True), 1)
        return probs + 0.25 * bonus


def to_rows(
    docs_df: pd.DataFrame,
    docs: list[Doc],
    labeler: WeakLabeler,
    weak: WeakLabels,
    threshold: float,
    source: str,
    notes: CueNotes | None = None,
) -> list[dict]:
    keys = labeler.codebook.keys
    labels = labeler.stance.labels
    targets = list(labeler.stance.targets)
    primary = labeler.primary_scores(docs, weak.frame_probs, notes).argmax(axis=1)
    pair_index = {p: r for r, p in enumerate(weak.stance_pairs)}
    rows = []
    meta = docs_df.reset_index(drop=True)
    for i, _doc in enumerate(docs):
        probs = weak.frame_probs[i]
        row = {"id": meta.at[i, "id"]}
        for c in ("title", "source", "date", "url", "lang"):
            v = meta.at[i, c] if c in meta.columns else None
            row[c] = None if v is None or (isinstance(v, float) and v != v) else str(v)
        row["frames"] = [k for k, p in zip(keys, probs, strict=True) if p >= threshold]
        row["primary_frame"] = keys[int(primary[i])]
        row["frame_probs"] = {k: float(p) for k, p in zip(keys, probs, strict=True)}
        ev = list(weak.frame_evidence[i])
        for t in targets:
            r = pair_index.get((i, t))
            if r is None:
                row[f"stance_{t}"] = NOT_MENTIONED
                row[f"stance_{t}_probs"] = {lab: 0.0 for lab in labels}
            else:
                p = weak.stance_probs[r]
                row[f"stance_{t}"] = labels[int(np.argmax(p))]
                row[f"stance_{t}_probs"] = {lab: float(x) for lab, x in zip(labels, p, strict=True)}
                ev.extend(weak.stance_evidence.get((i, t), []))
        row["label_source"] = source
        row["evidence"] = ev
        rows.append(row)
    return rows
