"""The label stage's input: the labelable rows of a documents file, read a chunk at a time.

``labeling.stream`` labels a corpus in two passes over chunks of documents; this module
gives it those chunks from parquet, skipping (and counting) rows that cannot be
labelled, and remembers which rows it kept so the second pass and the MLflow dataset
read the same ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.functions import Doc
from pipelines.ingest import IngestError, documents_path
from pipelines.readers import iter_parquet

MAX_ROW_ERRORS = 1000  # listed in the report; all of them are counted


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
class DocumentsFile:
    """The documents file, read in chunks by every pass; its metadata is read once."""

    path: Path
    names: list[str]
    n_rows: int
    as_float: list[str]  # see _float_columns

    @classmethod
    def open(cls, documents: str | Path) -> DocumentsFile:
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


def _repeat_candidates(docs: DocumentsFile, size: int) -> tuple[np.ndarray, int, dict[str, int]]:
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
    """An 8-byte hash of an id: what the duplicate search holds instead of the id."""
    data = str(rid).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _labelled(chunk: pd.DataFrame, keep) -> tuple[pd.DataFrame, list[Doc]]:
    """The kept rows of ``chunk`` (ids as strings) and their documents."""
    part = chunk.iloc[keep].reset_index(drop=True)
    part["id"] = part["id"].map(str)
    return part, [Doc(str(r.id), str(r.title or ""), str(r.text)) for r in part.itertuples()]


class LabelInput:
    """The labelable documents of a documents file, for each pass of the label stage.

    Opening it finds the rows whose ids may repeat (see ``_repeat_candidates``) and fails
    when no row can be labelled; :meth:`documents` is the first pass, which decides the
    rows kept; :meth:`again` and :meth:`metadata` read those same rows back.
    """

    def __init__(self, documents: str | Path, size: int) -> None:
        self.file = DocumentsFile.open(documents)
        self.size = size
        repeats, n_usable, skipped = _repeat_candidates(self.file, size)
        if not n_usable:
            raise ValueError(
                f"{documents}: no document can be labelled "
                f"({self.file.n_rows} rows, skipped: {skipped or 'none'})"
            )
        self.rows = _RowFilter(str(documents), repeats)
        self.keep = np.zeros(self.file.n_rows, dtype=bool)  # per file row: labelled
        self._digest = hashlib.sha256()

    @property
    def digest(self) -> str:
        """``tracking.frame_digest`` of the labelled documents' ids, once read."""
        return self._digest.hexdigest()[:16]

    def documents(self) -> Iterator[list[Doc]]:
        """The first pass: each chunk's labelable documents, the others counted."""
        offset = 0
        for chunk in self.file.chunks(self.size):
            keep = self.rows.keep(chunk, offset)
            self.keep[np.asarray(keep, dtype=np.int64) + offset] = True
            offset += len(chunk)
            if not keep:
                continue
            part, docs = _labelled(chunk, keep)
            self._digest.update(
                pd.util.hash_pandas_object(part[["id"]], index=False).values.tobytes()
            )
            yield docs

    def again(self) -> Iterator[tuple[pd.DataFrame, list[Doc]]]:
        """The rows the first pass kept, a chunk at a time: metadata and documents."""
        offset = 0
        for chunk in self.file.chunks(self.size):
            keep = np.flatnonzero(self.keep[offset : offset + len(chunk)])
            offset += len(chunk)
            if len(keep):
                yield _labelled(chunk, keep)

    def metadata(self, columns: list[str]) -> pd.DataFrame:
        """The labelled rows' ``columns`` (no text), for MLflow's dataset lineage."""
        parts, offset = [], 0
        for chunk in self.file.chunks(self.size, columns):
            parts.append(chunk[self.keep[offset : offset + len(chunk)]])
            offset += len(chunk)
        meta = pd.concat(parts, ignore_index=True)
        meta["id"] = meta["id"].map(str)
        return meta
