"""The labeling functions over a corpus too big to hold: two passes, a chunk at a time.

The label model needs every document's votes at once, the label rows need each text
again. So :func:`collect_votes` applies the functions chunk by chunk, keeping only the
votes (a few bytes a document, see :class:`VoteStore`) and spilling each chunk's cue
notes to a file; the caller fits the label model on the corpus-wide votes; then
:func:`label_rows` turns the same chunks, read again, into label rows. The chunks come
from the caller, so this module reads no files and shows no progress of its own.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd

from labeling.functions import Doc
from labeling.label_model import ABSTAIN
from labeling.weak import VoteMatrix, WeakLabeler, WeakLabels, to_rows


class Pairs(Sequence):
    """Stance items (document row, target) held as two arrays, not a list of tuples."""

    def __init__(self, doc: np.ndarray, target: np.ndarray, targets: list[str]) -> None:
        self.doc, self.target, self.targets = doc, target, targets

    def __len__(self) -> int:
        return len(self.doc)

    def __getitem__(self, r):
        if isinstance(r, slice):
            return [self[i] for i in range(*r.indices(len(self)))]
        return int(self.doc[r]), self.targets[int(self.target[r])]

    def rows_of(self, lo: int, hi: int) -> tuple[int, int]:
        """The pair rows of documents ``lo``..``hi - 1`` (pairs are in document order)."""
        a, b = np.searchsorted(self.doc, [lo, hi])
        return int(a), int(b)

    def index_of(self, docs: list[int]) -> dict[tuple[int, str], int]:
        """(document, target) -> pair row, for the pairs of ``docs`` only."""
        sel = np.flatnonzero(np.isin(self.doc, np.asarray(docs, dtype=self.doc.dtype)))
        return {self[int(r)]: int(r) for r in sel}


def compact(votes: np.ndarray) -> np.ndarray:
    """``votes`` as int8 when that loses nothing: most of what the first pass holds."""
    small = votes.astype(np.int8)
    return small if np.array_equal(small, votes) else votes


class VoteStore:
    """Every document's votes, compact: the one thing the label model needs all of.

    Per document one int8 per frame function; per (document, target) pair one int8 per
    stance function, plus the pair's document (int32) and target (int8). -1 = abstain.
    """

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.frames: dict[str, list[np.ndarray]] = {}
        self.stance: list[np.ndarray] = []
        self.pair_doc: list[np.ndarray] = []
        self.pair_target: list[np.ndarray] = []
        self.layout: list[tuple[str, list[str], list[str]]] = []  # group, names, classes
        self.n = 0

    def add(self, mats: list[VoteMatrix], n_docs: int) -> None:
        """The matrices ``WeakLabeler.apply`` gave for the next ``n_docs`` documents."""
        if not self.layout:
            self.layout = [(m.group, m.names, m.classes) for m in mats]
        for m in mats[:-1]:
            self.frames.setdefault(m.group, []).append(compact(m.votes))
        s = mats[-1]
        self.stance.append(compact(s.votes))
        t_index = {t: j for j, t in enumerate(self.targets)}
        self.pair_doc.append(np.array([self.n + i for i, _ in s.items], dtype=np.int32))
        self.pair_target.append(np.array([t_index[t] for _, t in s.items], dtype=np.int8))
        self.n += n_docs

    def finish(self, failed: set[str]) -> tuple[list[VoteMatrix], Pairs]:
        """The corpus-wide matrices; a function that raised anywhere is dropped whole."""
        out = []
        for group, names, classes in self.layout[:-1]:
            votes = np.concatenate(self.frames.pop(group))
            out.append(VoteMatrix(group, names, classes, votes, range(len(votes))))
        group, names, classes = self.layout[-1]
        pairs = Pairs(np.concatenate(self.pair_doc), np.concatenate(self.pair_target), self.targets)
        out.append(VoteMatrix(group, names, classes, np.concatenate(self.stance), pairs))
        self.stance, self.pair_doc, self.pair_target = [], [], []
        for m in out:
            for j, name in enumerate(m.names):
                if name in failed:
                    m.votes[:, j] = ABSTAIN
        return out, pairs


def chunk_matrices(mats: list[VoteMatrix], pairs: Pairs, lo: int, hi: int) -> list[VoteMatrix]:
    """The rows of documents ``lo``..``hi - 1``, stance items indexed from 0 among them."""
    out = [
        VoteMatrix(m.group, m.names, m.classes, m.votes[lo:hi], range(hi - lo)) for m in mats[:-1]
    ]
    s = mats[-1]
    a, b = pairs.rows_of(lo, hi)
    items = [(i - lo, t) for i, t in pairs[a:b]]
    out.append(VoteMatrix(s.group, s.names, s.classes, s.votes[a:b], items))
    return out


@dataclass
class CorpusVotes:
    """What the first pass keeps of the corpus: nothing of its text."""

    mats: list[VoteMatrix]  # corpus-wide votes, compact (see ``VoteStore``)
    pairs: Pairs
    found: dict[str, int]  # wanted (gold and annotated) documents -> their row
    mentions: dict[str, dict[str, int]]  # what the mention rule found in the gold ones


def collect_votes(
    chunks: Iterable[list[Doc]],
    labeler: WeakLabeler,
    gold_ids: set[str],
    wanted: set[str],
    spill: IO[bytes],
) -> CorpusVotes:
    """The labeling functions over ``chunks``: votes in memory, each chunk's cue notes
    (``WeakLabeler.notes``) pickled to ``spill`` for :func:`label_rows`."""
    votes = VoteStore(list(labeler.stance.targets))
    found: dict[str, int] = {}
    mentions: dict[str, dict[str, int]] = {}
    for docs in chunks:
        mats, _ = labeler.apply(docs)
        pickle.dump(labeler.notes(docs, mats[-1].items), spill, pickle.HIGHEST_PROTOCOL)
        for k, d in enumerate(docs):
            if d.id in wanted:
                found[d.id] = votes.n + k
            if d.id in gold_ids:
                mentions[d.id] = labeler.stance_cues.mentioned(d)
        votes.add(mats, len(docs))
    mats, pairs = votes.finish(labeler.failed)
    return CorpusVotes(mats, pairs, found, mentions)


def label_rows(
    chunks: Iterable[tuple[pd.DataFrame, list[Doc]]],
    votes: CorpusVotes,
    spill: IO[bytes],
    labeler: WeakLabeler,
    frame_probs: np.ndarray,
    stance_probs: np.ndarray,
    threshold: float,
    source: str,
) -> Iterator[tuple[list[dict[str, Any]], list[Doc]]]:
    """The label rows of each chunk, with its documents (its metadata and documents, as given to
    :func:`collect_votes`, in order), from the corpus-wide probabilities; ``spill`` is
    read back from its start."""
    lo = 0
    for part, docs in chunks:
        notes = pickle.load(spill)
        hi = lo + len(docs)
        local = chunk_matrices(votes.mats, votes.pairs, lo, hi)
        evidence, s_evidence = labeler.explain(docs, local, frame_probs[lo:hi], notes)
        a, b = votes.pairs.rows_of(lo, hi)
        weak = WeakLabels(
            frame_probs=frame_probs[lo:hi],
            frame_evidence=evidence,
            stance_pairs=local[-1].items,
            stance_probs=stance_probs[a:b],
            stance_evidence=s_evidence,
            mentions=[],
            matrices=local,
        )
        yield to_rows(part, docs, labeler, weak, threshold, source, notes), docs
        lo = hi


class LabelDistribution:
    """Label counts, added a chunk of rows at a time."""

    def __init__(self, keys: list[str], targets: list[str]) -> None:
        self.keys, self.targets = keys, targets
        self.frames = dict.fromkeys(keys, 0)
        self.primary = dict.fromkeys(keys, 0)
        self.stance: dict[str, dict[str, int]] = {t: {} for t in targets}
        self.sources: dict[str, int] = {}

    def add(self, rows: list[dict]) -> None:
        for r in rows:
            for k in self.keys:
                self.frames[k] += k in r["frames"]
                self.primary[k] += r["primary_frame"] == k
            for t in self.targets:
                c = self.stance[t]
                c[r[f"stance_{t}"]] = c.get(r[f"stance_{t}"], 0) + 1
            self.sources[r["label_source"]] = self.sources.get(r["label_source"], 0) + 1

    @staticmethod
    def _ranked(counts: dict[str, int]) -> dict[str, int]:
        # what Series.value_counts() gives: by count, ties in order of first appearance
        s = pd.Series(list(counts.values()), index=list(counts), dtype="int64")
        return s.sort_values(ascending=False).to_dict()

    def result(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "primary_frame": self.primary,
            "stance": {t: self._ranked(c) for t, c in self.stance.items()},
            "label_source": self._ranked(self.sources),
        }
