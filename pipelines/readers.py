"""Row readers for JSONL and CSV that survive what real exports contain.

One broken line (truncated JSON, a row in another code page, stray bytes) must cost that
row, counted and named, not the file or the whole job. So each record is parsed on its
own and decoded on its own: a line that is not UTF-8 goes through the same encoding
detection as a text dump, and a CSV field holding foreign bytes is decoded by itself.
Both readers stream, so memory stays flat whatever the file size; so does
``iter_parquet``, the one way the stages read a Parquet file in chunks.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# A 5 MB article is legal input (ingest's max_bytes); the csv module's 128 KB default is not.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class Record:
    """One row of a file: its values, or why it could not be read, and where it was."""

    where: str  # "line 7" (JSONL) or "row 7" (CSV, 1-based after the header)
    values: dict[str, Any] | None
    error: str | None = None


def decode_bytes(data: bytes) -> str:
    """UTF-8 when it is, otherwise the encoding charset-normalizer finds most likely."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Mac legacy code pages fit Windows-1251/1252 bytes almost as well and win ties on
    # short texts, turning capitals into symbols; news dumps are practically never Mac.
    best = from_bytes(data, cp_exclusion=_RARE_CODEPAGES).best()
    if best is None:
        return data.decode("utf-8", errors="replace")
    return str(best)


_RARE_CODEPAGES = [
    "mac_cyrillic",
    "mac_roman",
    "mac_greek",
    "mac_iceland",
    "mac_latin2",
    "mac_turkish",
    "cp1125",
    "cp855",
    "cp866",
    "kz1048",
    "ptcp154",
]


def iter_jsonl(path: Path) -> Iterator[Record]:
    """One record per non-blank line; a line that is not a JSON object is an error record."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            where = f"line {lineno}"
            try:
                obj = json.loads(decode_bytes(raw))
            except json.JSONDecodeError as exc:
                yield Record(where, None, f"not valid JSON ({exc.msg}, column {exc.colno})")
                continue
            except RecursionError:
                yield Record(where, None, "not valid JSON (nested too deeply)")
                continue
            if not isinstance(obj, dict):
                yield Record(where, None, f"a JSON {type(obj).__name__}, not an object")
                continue
            yield Record(where, obj)


def _fix(value: str) -> str:
    """A CSV field read with surrogateescape: bytes that were not UTF-8 decoded on their own."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("utf-8", errors="surrogateescape"))
    return value


def iter_csv(path: Path) -> Iterator[Record]:
    """One record per CSV row (quoted newlines and doubled quotes included).

    Missing trailing fields are None; extra fields are an error for that row, since the
    columns can no longer be trusted to line up.
    """
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ValueError(f"{path}: header row is not CSV: {exc}") from None
        if header is None:
            return
        header = [_fix(h).strip() for h in header]
        n = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                n += 1
                yield Record(f"row {n}", None, f"not valid CSV ({exc})")
                continue
            if not fields or fields == [""]:
                continue
            n += 1
            if len(fields) > len(header):
                yield Record(
                    f"row {n}",
                    None,
                    f"{len(fields)} fields but the header has {len(header)}",
                )
                continue
            values: dict[str, Any] = dict.fromkeys(header)
            values.update(zip(header, map(_fix, fields), strict=False))
            yield Record(f"row {n}", values)


def iter_parquet(
    path: str | Path, batch_size: int, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of ``batch_size`` rows of one Parquet file, in memory that stays flat.

    Opened with ``pre_buffer=False``: with pyarrow's default, the reader keeps every
    row group it has fetched (the compressed column chunks) until the file is closed
    (apache/arrow#39808), so a pass over ``documents.parquet`` in chunks of 5,000 held
    about 1.7 KB per document read so far, growing with the file instead of the chunk.
    """
    pf = pq.ParquetFile(path, pre_buffer=False)
    try:
        yield from pf.iter_batches(batch_size=batch_size, columns=columns)
    finally:
        pf.close()
