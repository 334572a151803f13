"""The ``label`` stage: documents in, ``labels.parquet`` out, with its evidence logged.

Runs the labeling functions, aggregates them with the label model that scores best on
gold dev (majority vote or Dawid-Skene, with bootstrap intervals), lets gold labels win,
and logs the function analysis, label distribution and annotator agreement to MLflow
(experiment ``mediaframe-label``) with the corpus and the output as datasets.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import tempfile
import warnings
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.agreement import agreement
from labeling.analysis import label_coverage, lf_summary, plot_summary
from labeling.codebook import Codebook, StanceSpec, load_codebook, load_stance
from labeling.functions import ABSTAIN, Doc
from labeling.gold import (
    Annotation,
    label_studio_config,
    label_studio_task,
    read_jsonl,
    read_splits,
    validate,
)
from labeling.schema import arrow_schema
from labeling.weak import VoteMatrix, WeakLabeler, WeakLabels, to_rows
from models.metrics import bootstrap_ci, multiclass_metrics, multilabel_metrics
from pipelines import tracking
from pipelines.atomic import atomic_path
from pipelines.config import LabelConfig
from pipelines.ingest import IngestError, documents_path
from pipelines.readers import iter_parquet


@dataclass
class LabelResult:
    path: Path
    report: dict[str, Any]
    lf_table: pd.DataFrame
    agreement: pd.DataFrame | None


def make_similarity(cfg: LabelConfig, codebook: Codebook):
    """Embedding similarity of documents to frame definitions (cached by document id)."""
    from models.encoder import EmbeddingCache, SentenceEncoder

    encoder = SentenceEncoder(cfg.encoder, max_length=256, batch_size=32)
    cache = EmbeddingCache(cfg.embedding_cache, cfg.encoder)
    defs = encoder.encode([f"{f.label}. {f.definition}" for f in codebook.frames.values()])

    def similarity(docs: list[Doc]) -> np.ndarray:
        emb = cache.encode(encoder, [d.id for d in docs], [f"{d.title}\n\n{d.text}" for d in docs])
        return emb @ defs.T

    return similarity


def load_gold(
    path: str | None,
    codebook: Codebook,
    stance: StanceSpec,
    doc_ids: set[str],
    problems_out: list[str],
) -> dict[str, Annotation]:
    if not path or not Path(path).exists():
        return {}
    rows = read_jsonl(path)
    probs = validate(rows, codebook.keys, list(stance.targets), doc_ids, where=str(path))
    problems_out.extend(probs.lines())
    bad = {line.split("id=")[1].split(",")[0] for line in probs.lines() if "id=" in line}
    return {r.id: r for r in rows if r.id in doc_ids and r.id not in bad}


def _with_ci(name: str, metric, n: int, n_boot: int, seed: int) -> dict[str, float]:
    """The metric on all items, with its bootstrap interval, under one name."""
    lo, hi = bootstrap_ci(metric, n, n_boot, seed)
    return {name: metric(np.arange(n)), f"{name}_ci_low": lo, f"{name}_ci_high": hi}


def _score_method(
    frame_probs: np.ndarray,
    stance_probs: np.ndarray,
    pairs: _Pairs,
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


def apply_gold(
    rows: list[dict],
    gold: dict[str, Annotation],
    keys: list[str],
    targets: list[str],
    labels: list[str],
) -> int:
    n = 0
    for row in rows:
        g = gold.get(row["id"])
        if g is None:
            continue
        n += 1
        row["frames"] = [k for k in keys if k in g.frames]
        row["primary_frame"] = g.primary_frame or (
            row["frames"][0] if row["frames"] else row["primary_frame"]
        )
        row["frame_probs"] = {k: float(k in g.frames) for k in keys}
        for t in targets:
            lab = g.stance.get(t, "not_mentioned")
            row[f"stance_{t}"] = lab
            row[f"stance_{t}_probs"] = {x: float(x == lab) for x in labels}
        row["label_source"] = "gold"
        row["evidence"] = ["gold", *row["evidence"]]
    return n


MAX_ROW_ERRORS = 1000  # listed in the report; all of them are counted
CHUNK = 5000  # documents held at a time; the corpus is read twice, a chunk at a time


def _row_problem(rid: Any, text: Any) -> tuple[str, str] | None:
    """Why a row cannot be labelled (reason, message), before the duplicate check."""
    if rid is None or (isinstance(rid, float) and rid != rid):
        return "missing_id", "field 'id' is missing"
    if not isinstance(text, str):
        kind = "missing" if text is None or text != text else type(text).__name__
        return "non_string_text", f"field 'text' is {kind}, not text"
    if not text.strip():
        return "empty_text", "field 'text' is empty"
    return None


class _RowFilter:
    """The rows that can be labelled, a chunk at a time, and a count and a line for each
    that cannot.

    ``ingest`` never writes a row without text or a repeated id, but a documents file can
    come from elsewhere: such a row is skipped and counted rather than labelled as the
    string "None" or given two contradicting label rows. ``repeats`` (sorted file row
    numbers) are the only rows whose id can repeat another's, found beforehand; their ids
    are the only ones remembered. Without it every id is.
    """

    def __init__(self, where: str, repeats: np.ndarray | None = None) -> None:
        self.where = where
        self.repeats = repeats
        self.skipped: dict[str, int] = {}
        self.errors: list[str] = []
        self.seen: set[str] = set()

    def _skip(self, reason: str, i: int, rid: Any, message: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if len(self.errors) < MAX_ROW_ERRORS:
            self.errors.append(f"{self.where}: row {i} (id={rid!r}): {message}")

    def keep(self, chunk: pd.DataFrame, offset: int) -> list[int]:
        """Positions in ``chunk`` (file rows ``offset``...) of the rows to label."""
        maybe = set()
        if self.repeats is not None:
            lo, hi = np.searchsorted(self.repeats, [offset, offset + len(chunk)])
            maybe = set((self.repeats[lo:hi] - offset).tolist())
        keep: list[int] = []
        for k, (rid, text) in enumerate(zip(chunk["id"], chunk["text"], strict=True)):
            problem = _row_problem(rid, text)
            if problem is not None:
                self._skip(problem[0], offset + k, rid, problem[1])
            elif self.repeats is not None and k not in maybe:
                keep.append(k)
            elif str(rid) in self.seen:
                self._skip(
                    "duplicate_id",
                    offset + k,
                    rid,
                    "id repeats an earlier row; the first one is labelled",
                )
            else:
                self.seen.add(str(rid))
                keep.append(k)
        return keep


def usable_documents(
    docs_df: pd.DataFrame, where: str
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """The rows that can be labelled, and a count and a line for each that cannot."""
    rows = _RowFilter(where)
    out = docs_df.iloc[rows.keep(docs_df, 0)].reset_index(drop=True)
    out["id"] = out["id"].map(str)
    return out, rows.skipped, rows.errors


def _float_columns(pf: pq.ParquetFile) -> list[str]:
    """Integer columns with a null somewhere in the file.

    ``pd.read_parquet`` of the whole file reads them as float; a chunk without a null
    would read as int, and an id 7 become "7" in one chunk and "7.0" in another.
    """
    out = []
    for name in pf.schema_arrow.names:
        if not pa.types.is_integer(pf.schema_arrow.field(name).type):
            continue
        nulls = 0
        for g in range(pf.metadata.num_row_groups):
            rg = pf.metadata.row_group(g)
            col = next(
                (
                    rg.column(j)
                    for j in range(rg.num_columns)
                    if rg.column(j).path_in_schema == name
                ),
                None,
            )
            stats = col.statistics if col is not None else None
            if stats is None or not stats.has_null_count:
                nulls = pf.read(columns=[name]).column(0).null_count
                break
            nulls += stats.null_count
        if nulls:
            out.append(name)
    return out


@dataclass(frozen=True)
class _DocumentsFile:
    """The documents file, read in chunks by every pass; its metadata is read once."""

    path: Path
    names: list[str]
    n_rows: int
    as_float: list[str]  # see _float_columns

    @classmethod
    def open(cls, documents: str | Path) -> _DocumentsFile:
        p = documents_path(documents)
        pf = pq.ParquetFile(p)
        try:
            names = pf.schema_arrow.names
            missing = [c for c in ("id", "text") if c not in names]
            if missing:
                raise IngestError(f"{p}: missing columns {missing}")
            return cls(p, names, pf.metadata.num_rows, _float_columns(pf))
        finally:
            pf.close()

    def chunks(self, size: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """``size`` rows at a time, each chunk as a read of the whole file gives them."""
        for batch in iter_parquet(self.path, size, columns):
            table = pa.Table.from_batches([batch])
            for name in self.as_float:
                if name in table.column_names:
                    i = table.column_names.index(name)
                    col = table.column(i).cast(pa.float64(), safe=False)
                    table = table.set_column(i, name, col)
            yield table.to_pandas()


def _repeat_candidates(docs: _DocumentsFile, size: int) -> tuple[np.ndarray, int, dict[str, int]]:
    """A first pass over ids and texts only: the rows whose id may repeat another's.

    Duplicate ids must be known before the first row is labelled; rather than every id
    as a Python string, this keeps an 8-byte hash of each labelable row's id (and its row
    number) while it reads, and returns only the rows whose hash occurs twice. Those are
    then compared by their ids. Also the number of labelable rows, and, for the error
    when there are none, the skip counts.
    """
    skipped: dict[str, int] = {}
    hashes: list[np.ndarray] = []
    numbers: list[np.ndarray] = []
    offset = 0
    for chunk in docs.chunks(size, ["id", "text"]):
        ok: list[int] = []
        for k, (rid, text) in enumerate(zip(chunk["id"], chunk["text"], strict=True)):
            problem = _row_problem(rid, text)
            if problem is None:
                ok.append(k)
            else:
                skipped[problem[0]] = skipped.get(problem[0], 0) + 1
        hashes.append(np.fromiter((_id_hash(x) for x in chunk["id"].iloc[ok]), np.uint64, len(ok)))
        numbers.append(np.asarray(ok, dtype=np.int64) + offset)
        offset += len(chunk)
    if not hashes:
        return np.zeros(0, dtype=np.int64), 0, skipped
    h, r = np.concatenate(hashes), np.concatenate(numbers)
    del hashes, numbers
    order = np.argsort(h, kind="stable")
    h = h[order]
    same = h[1:] == h[:-1]
    twice = np.zeros(len(h), dtype=bool)
    twice[1:] |= same
    twice[:-1] |= same
    return np.sort(r[order[twice]]), len(h), skipped


def _id_hash(rid: Any) -> int:
    data = str(rid).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class _Pairs(Sequence):
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


def _compact(votes: np.ndarray) -> np.ndarray:
    small = votes.astype(np.int8)
    return small if np.array_equal(small, votes) else votes


class _Votes:
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
            self.frames.setdefault(m.group, []).append(_compact(m.votes))
        s = mats[-1]
        self.stance.append(_compact(s.votes))
        t_index = {t: j for j, t in enumerate(self.targets)}
        self.pair_doc.append(np.array([self.n + i for i, _ in s.items], dtype=np.int32))
        self.pair_target.append(np.array([t_index[t] for _, t in s.items], dtype=np.int8))
        self.n += n_docs

    def finish(self, failed: set[str]) -> tuple[list[VoteMatrix], _Pairs]:
        """The corpus-wide matrices; a function that raised anywhere is dropped whole."""
        out = []
        for group, names, classes in self.layout[:-1]:
            votes = np.concatenate(self.frames.pop(group))
            out.append(VoteMatrix(group, names, classes, votes, range(len(votes))))
        group, names, classes = self.layout[-1]
        pairs = _Pairs(
            np.concatenate(self.pair_doc), np.concatenate(self.pair_target), self.targets
        )
        out.append(VoteMatrix(group, names, classes, np.concatenate(self.stance), pairs))
        self.stance, self.pair_doc, self.pair_target = [], [], []
        for m in out:
            for j, name in enumerate(m.names):
                if name in failed:
                    m.votes[:, j] = ABSTAIN
        return out, pairs


def _chunk_mats(mats: list[VoteMatrix], pairs: _Pairs, lo: int, hi: int) -> list[VoteMatrix]:
    """The rows of documents ``lo``..``hi - 1``, stance items indexed from 0 among them."""
    out = [
        VoteMatrix(m.group, m.names, m.classes, m.votes[lo:hi], range(hi - lo)) for m in mats[:-1]
    ]
    s = mats[-1]
    a, b = pairs.rows_of(lo, hi)
    items = [(i - lo, t) for i, t in pairs[a:b]]
    out.append(VoteMatrix(s.group, s.names, s.classes, s.votes[a:b], items))
    return out


class _Distribution:
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


class _TaskFile:
    """Label Studio tasks, most uncertain first, without holding them.

    Each task is serialised as it comes into a temporary file; memory keeps its offset,
    length and uncertainty (24 bytes), and the tasks are copied out in order at the end:
    the same bytes as ``json.dumps(to_label_studio(...), ensure_ascii=False, indent=1)``.
    """

    def __init__(self, targets: list[str], spool) -> None:
        self.targets = targets
        self.model: str | None = None
        self.fh = spool  # a binary temporary file
        self.offset = array("q")
        self.length = array("q")
        self.uncertainty = array("d")

    def add(self, rows: list[dict], docs: list[Doc]) -> None:
        if self.model is None and rows:
            self.model = f"label-model:{rows[0]['label_source']}"
        for row, doc in zip(rows, docs, strict=True):
            if row["label_source"] == "gold":
                continue
            probs = np.array(list(row["frame_probs"].values()))
            uncertainty = float(1 - np.mean(np.abs(probs - 0.5)) * 2)
            todo = {
                **{k: row[k] for k in row if k.startswith("stance_") and not k.endswith("_probs")},
                "id": row["id"],
                "title": doc.title,
                "text": doc.text,
                "frames": row["frames"],
                "primary_frame": row["primary_frame"],
                "uncertainty": uncertainty,
            }
            task = label_studio_task(todo, self.targets, self.model or "label-model")
            # one list item at indent level 1: "[\n " + item + "\n]"
            data = json.dumps([task], ensure_ascii=False, indent=1)[3:-2].encode("utf-8")
            self.offset.append(self.fh.tell())
            self.length.append(len(data))
            self.uncertainty.append(uncertainty)
            self.fh.write(data)

    def write(self, path: Path) -> None:
        order = np.argsort(-np.frombuffer(self.uncertainty, dtype=np.float64), kind="stable")
        with atomic_path(path) as tmp, tmp.open("wb") as out:
            out.write(b"[\n " if len(order) else b"[")
            for n, i in enumerate(order.tolist()):
                if n:
                    out.write(b",\n ")
                self.fh.seek(self.offset[i])
                out.write(self.fh.read(self.length[i]))
            out.write(b"\n]" if len(order) else b"]")


def _analysis(
    mats: list[VoteMatrix],
    pairs: _Pairs,
    gold: dict[str, Annotation],
    where: dict[str, int],
    stance: StanceSpec,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each function's coverage, overlaps, conflicts and accuracy on gold; coverage."""
    gold_rows = {where[d]: g for d, g in gold.items() if d in where}
    pair_index = pairs.index_of(sorted(gold_rows))
    lf_tables = []
    for mat in mats:
        if mat.group == "stance":
            g = np.full(len(mat.votes), -1, dtype=np.int64)
            for (i, t), r in pair_index.items():
                lab = gold_rows[i].stance.get(t)
                if lab in stance.labels:
                    g[r] = stance.labels.index(lab)
        else:
            g = np.full(len(mat.votes), -1, dtype=np.int64)
            for i, ann in gold_rows.items():
                g[i] = int(mat.group in set(ann.frames))
        lf_tables.append(lf_summary(mat.votes, mat.names, mat.classes, mat.group, g))
    lf_table = pd.concat(lf_tables, ignore_index=True)
    coverage = pd.DataFrame([label_coverage(m.votes, m.group) for m in mats])
    return lf_table, coverage


def _jsonl_ids(path: str | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    return {r.id for r in read_jsonl(path)}


def _labelled(chunk: pd.DataFrame, keep) -> tuple[pd.DataFrame, list[Doc]]:
    part = chunk.iloc[keep].reset_index(drop=True)
    part["id"] = part["id"].map(str)
    return part, [Doc(str(r.id), str(r.title or ""), str(r.text)) for r in part.itertuples()]


@dataclass
class _FirstPass:
    """What the first pass keeps of the corpus: nothing of its text."""

    mats: list[VoteMatrix]  # corpus-wide votes, compact (see ``_Votes``)
    pairs: _Pairs
    keep: np.ndarray  # per file row: labelled (bool)
    skipped: dict[str, int]
    errors: list[str]
    found: dict[str, int]  # gold and annotated documents -> their row
    mentions: dict[str, dict[str, int]]  # what the mention rule found in the gold ones
    digest: str  # tracking.frame_digest of the labelled documents


def _first_pass(
    docs_file: _DocumentsFile,
    size: int,
    where: str,
    repeats: np.ndarray,
    labeler: WeakLabeler,
    gold_ids: set[str],
    wanted: set[str],
    spill,
) -> _FirstPass:
    """The labeling functions over the corpus, a chunk at a time: votes in memory, each
    chunk's cue notes (``WeakLabeler.notes``) pickled to ``spill`` for the second pass."""
    rows = _RowFilter(where, repeats)
    keep_mask = np.zeros(docs_file.n_rows, dtype=bool)
    votes = _Votes(list(labeler.stance.targets))
    found: dict[str, int] = {}
    mentions: dict[str, dict[str, int]] = {}
    digest = hashlib.sha256()
    offset = 0
    for chunk in docs_file.chunks(size):
        keep = rows.keep(chunk, offset)
        keep_mask[np.asarray(keep, dtype=np.int64) + offset] = True
        offset += len(chunk)
        if not keep:
            continue
        part, docs = _labelled(chunk, keep)
        digest.update(pd.util.hash_pandas_object(part[["id"]], index=False).values.tobytes())
        mats, _ = labeler.apply(docs)
        pickle.dump(labeler.notes(docs, mats[-1].items), spill, pickle.HIGHEST_PROTOCOL)
        for k, d in enumerate(docs):
            if d.id in wanted:
                found[d.id] = votes.n + k
            if d.id in gold_ids:
                mentions[d.id] = labeler.stance_cues.mentioned(d)
        votes.add(mats, len(docs))
    mats, pairs = votes.finish(labeler.failed)
    digest_hex = digest.hexdigest()[:16]
    return _FirstPass(
        mats, pairs, keep_mask, rows.skipped, rows.errors, found, mentions, digest_hex
    )


def _second_pass(
    docs_file: _DocumentsFile,
    size: int,
    first: _FirstPass,
    spill,
    labeler: WeakLabeler,
    frame_probs: np.ndarray,
    stance_probs: np.ndarray,
    cfg: LabelConfig,
    source: str,
    gold: dict[str, Annotation],
    out: Path,
) -> tuple[int, int, dict[str, Any]]:
    """Label rows a chunk at a time, streamed to ``labels.parquet``, and the Label Studio
    tasks; returns the rows written, how many of them are gold, and their distribution."""
    codebook, stance = labeler.codebook, labeler.stance
    targets = list(stance.targets)
    schema = arrow_schema(codebook.keys, targets, stance.labels, {"label_source": pa.string()})
    distribution = _Distribution(codebook.keys, targets)
    n_rows = n_gold = offset = 0
    with atomic_path(out / "labels.parquet") as tmp, tempfile.TemporaryFile() as spool:
        tasks = _TaskFile(targets, spool)
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in docs_file.chunks(size):
                keep = np.flatnonzero(first.keep[offset : offset + len(chunk)])
                offset += len(chunk)
                if not len(keep):
                    continue
                part, docs = _labelled(chunk, keep)
                notes = pickle.load(spill)
                lo, hi = n_rows, n_rows + len(docs)
                local = _chunk_mats(first.mats, first.pairs, lo, hi)
                evidence, s_evidence = labeler.explain(docs, local, frame_probs[lo:hi], notes)
                a, b = first.pairs.rows_of(lo, hi)
                weak = WeakLabels(
                    frame_probs=frame_probs[lo:hi],
                    frame_evidence=evidence,
                    stance_pairs=local[-1].items,
                    stance_probs=stance_probs[a:b],
                    stance_evidence=s_evidence,
                    mentions=[],
                    matrices=local,
                )
                rows = to_rows(part, docs, labeler, weak, cfg.frame_threshold, source, notes)
                n_gold += apply_gold(rows, gold, codebook.keys, targets, stance.labels)
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                tasks.add(rows, docs)
                distribution.add(rows)
                n_rows = hi
        tasks.write(out / "label_studio_tasks.json")
        (out / "label_studio_config.xml").write_text(
            label_studio_config(codebook.keys, {k: t.name for k, t in stance.targets.items()})
        )
    return n_rows, n_gold, distribution.result()


def run_label(
    documents: str | Path, output: str | Path, cfg: LabelConfig, chunk_size: int = CHUNK
) -> LabelResult:
    """Label a documents file in memory that grows only by the votes, not the texts.

    Two passes of ``chunk_size`` documents. The first runs the labeling functions and
    keeps their votes (a few bytes a document, see ``_Votes``), spilling to a temporary
    file what the evidence needs from each text; the label model is then fitted on all
    the votes; the second pass streams the label rows to ``labels.parquet`` and the
    Label Studio tasks to a temporary file. Same output as labelling all at once.
    """
    docs_file = _DocumentsFile.open(documents)
    where = str(documents)
    n_in = docs_file.n_rows
    repeats, n_usable, skipped0 = _repeat_candidates(docs_file, chunk_size)
    if not n_usable:
        raise ValueError(
            f"{documents}: no document can be labelled ({n_in} rows, skipped: {skipped0 or 'none'})"
        )
    codebook = load_codebook(cfg.codebook)
    stance = load_stance(cfg.stance)
    targets = list(stance.targets)
    similarity = make_similarity(cfg, codebook) if cfg.embedding_lf else None
    labeler = WeakLabeler(codebook, stance, similarity)
    gold_ids = _jsonl_ids(cfg.gold)
    wanted = gold_ids | _jsonl_ids(cfg.annotations)

    with tempfile.TemporaryFile() as spill:
        first = _first_pass(docs_file, chunk_size, where, repeats, labeler, gold_ids, wanted, spill)
        mats, pairs, found = first.mats, first.pairs, first.found

        problems: list[str] = []
        gold = load_gold(cfg.gold, codebook, stance, set(found), problems)
        eval_ids = set(gold)
        if cfg.splits and Path(cfg.splits).exists() and gold:
            eval_ids = set(read_splits(cfg.splits)["dev"]) & set(gold) or set(gold)

        candidates = (
            ["majority_vote", "dawid_skene"] if cfg.label_model == "auto" else [cfg.label_model]
        )
        scores: dict[str, dict[str, float]] = {}
        fits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for method in candidates:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fprobs, sprobs, _ = labeler.fit(mats, method, method)
            fits[method] = (fprobs, sprobs)
            scores[method] = _score_method(
                fprobs,
                sprobs,
                pairs,
                labeler,
                gold,
                found,
                eval_ids,
                cfg.frame_threshold,
                cfg.bootstrap,
                cfg.seed,
            )

        def pick(metric: str) -> str:
            return max(candidates, key=lambda m: (scores[m].get(metric, -1.0), m == "dawid_skene"))

        frame_method, stance_method = pick("frames_macro_f1"), pick("stance_macro_f1")
        # one aggregation per task, each the better one
        frame_probs, stance_probs = fits[frame_method][0], fits[stance_method][1]
        del fits, fprobs, sprobs
        source = frame_method

        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        spill.seek(0)
        n_rows, n_gold, distribution = _second_pass(
            docs_file,
            chunk_size,
            first,
            spill,
            labeler,
            frame_probs,
            stance_probs,
            cfg,
            source,
            gold,
            out,
        )

    # ------------------------------------------------------------------ analysis
    lf_table, coverage = _analysis(mats, pairs, gold, found, stance)

    agree = None
    if cfg.annotations and Path(cfg.annotations).exists():
        ann = read_jsonl(cfg.annotations)
        ap = validate(ann, codebook.keys, targets, set(found), str(cfg.annotations))
        problems.extend(ap.lines())
        rep = agreement(ann, codebook.keys, targets)
        agree = rep.table
        (out / "disagreements.csv").write_text(rep.disagreements.to_csv(index=False))

    report = {
        "documents_in": n_in,
        "documents": n_rows,
        "skipped": first.skipped,
        "skipped_total": sum(first.skipped.values()),
        "row_errors": first.errors,
        "gold_documents": n_gold,
        "label_model_frames": frame_method,
        "label_model_stance": stance_method,
        "label_model_scores_dev": scores,
        "mention_quality": mention_quality(first.mentions, gold, targets),
        "lf_errors": labeler.errors,
        "lf_failed": sorted(labeler.failed),
        "gold_problems": problems,
        "distribution": distribution,
    }
    (out / "label_report.json").write_text(json.dumps(report, indent=2, default=str))
    lf_table.to_csv(out / "lf_analysis.csv", index=False)
    if agree is not None:
        agree.to_csv(out / "agreement.csv", index=False)

    def documents_meta(columns: list[str]) -> pd.DataFrame:
        """The labelled rows' metadata (no text), for MLflow's dataset lineage."""
        parts, offset = [], 0
        for chunk in docs_file.chunks(chunk_size, columns):
            parts.append(chunk[first.keep[offset : offset + len(chunk)]])
            offset += len(chunk)
        meta = pd.concat(parts, ignore_index=True)
        meta["id"] = meta["id"].map(str)
        return meta

    _log_mlflow(
        docs_file.names,
        documents_meta,
        first.digest,
        out,
        cfg,
        codebook,
        report,
        lf_table,
        coverage,
        agree,
        scores,
        Path(documents),
    )
    return LabelResult(out / "labels.parquet", report, lf_table, agree)


def _log_mlflow(
    columns: list[str],
    documents_meta,
    data_digest: str,
    out,
    cfg,
    codebook,
    report,
    lf_table,
    coverage,
    agree,
    scores,
    documents_path,
) -> None:
    """``data_digest`` is ``tracking.frame_digest`` of the labelled documents; their
    metadata columns (``documents_meta(names)``) are read back only here, for the
    dataset MLflow records as the run's input."""
    if not mlflow.get_tracking_uri():
        return
    tags = tracking.base_tags(
        "label",
        task="frames+stance",
        model="weak",
        codebook=codebook.name,
        data_digest=data_digest,
    )
    with tracking.stage_run("label", "label", tags):
        mlflow.log_params(
            {
                "codebook": cfg.codebook,
                "stance": cfg.stance,
                "label_model": cfg.label_model,
                "label_model_frames": report["label_model_frames"],
                "label_model_stance": report["label_model_stance"],
                "frame_threshold": cfg.frame_threshold,
                "embedding_lf": cfg.embedding_lf,
                "encoder": cfg.encoder,
                "n_documents": report["documents"],
                "n_gold": report["gold_documents"],
            }
        )
        for method, vals in scores.items():
            mlflow.log_metrics(
                {
                    f"dev_{method}_{k.replace(':', '.')}": v
                    for k, v in vals.items()
                    if isinstance(v, float) and not math.isnan(v)
                }
            )
        mq = {k: v for k, v in report["mention_quality"].items() if not math.isnan(v)}
        mlflow.log_metrics(mq)
        mlflow.log_metric("lf_errors", len(report["lf_errors"]))
        mlflow.log_metrics(
            {"documents_in": report["documents_in"], "skipped_total": report["skipped_total"]}
        )
        meta_cols = [
            c for c in ("id", "source_id", "title", "source", "date", "lang") if c in columns
        ]
        tracking.log_dataset(documents_meta(meta_cols), str(documents_path), "documents", "input")
        labels = pd.read_parquet(
            out / "labels.parquet", columns=["id", "primary_frame", "label_source"]
        )
        tracking.log_dataset(labels, str(out / "labels.parquet"), "labels", "output")
        mlflow.log_artifact(str(out / "lf_analysis.csv"), "analysis")
        mlflow.log_artifact(str(out / "label_report.json"))
        coverage_path = out / "label_coverage.csv"
        coverage.to_csv(coverage_path, index=False)
        mlflow.log_artifact(str(coverage_path), "analysis")
        plot = out / "lf_summary.png"
        plot_summary(lf_table, str(plot))
        mlflow.log_artifact(str(plot), "analysis")
        if agree is not None:
            mlflow.log_artifact(str(out / "agreement.csv"), "agreement")
            mlflow.log_artifact(str(out / "disagreements.csv"), "agreement")
            for _, r in agree.iterrows():
                if r["label"] in ("frames (mean)", "stance (mean)"):
                    key = r["label"].split()[0]
                    for m in ("cohen_kappa", "fleiss_kappa", "krippendorff_alpha"):
                        v = r.get(m)
                        if v is not None and not (isinstance(v, float) and math.isnan(v)):
                            mlflow.log_metric(f"agreement_{key}_{m}", float(v))
        mlflow.log_dict(report["distribution"], "label_distribution.json")
