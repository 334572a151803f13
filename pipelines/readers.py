"""Row readers for JSONL and CSV that survive what real exports contain.

One broken line (truncated JSON, a row in another code page, stray bytes) must cost that
row, counted and named, not the file or the whole job. So each record is parsed on its
own and decoded on its own: a line that is not UTF-8 goes through the same encoding
detection as a text dump, and a CSV field holding foreign bytes is decoded by itself.
Both readers stream, so memory stays flat whatever the file size; so does
``iter_parquet``, the one way the stages read a Parquet file in chunks.

A ``.gz`` file is read through gzip as the file its inner name says (``x.jsonl.gz`` is
JSONL), a file opening with a UTF-16 or UTF-32 byte-order mark is decoded as such (Excel's
"Unicode text" export), and a ``.json`` file holding one JSON array is read item by item
rather than as lines.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
import zlib
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


def kind(path: Path) -> str:
    """The format a file holds, by its name with any ``.gz`` removed: ``.csv``, ``.json``..."""
    name = path.name.lower()
    return Path(name[:-3] if name.endswith(".gz") else name).suffix


# Byte-order marks of the wide Unicode encodings, longest first (UTF-32-LE starts like -16).
_WIDE_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
# What a damaged .gz raises while it is read: each becomes one error naming the file.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def open_bytes(path: Path) -> io.BufferedReader:
    """The file's bytes, decompressed if its name ends in ``.gz``."""
    if path.name.lower().endswith(".gz"):
        return io.BufferedReader(gzip.open(path, "rb"))  # type: ignore[arg-type]
    return path.open("rb")


def wide_encoding(fh: io.BufferedReader) -> str | None:
    """``utf-16``/``utf-32`` if the stream opens with that byte-order mark (not consumed)."""
    try:
        head = fh.peek(4)[:4]
    except _GZIP_ERRORS:
        return None  # the read that follows reports the damage, naming the file
    return next((enc for bom, enc in _WIDE_BOMS if head.startswith(bom)), None)


def _lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes: UTF-8 or legacy code pages as they are (decoded per
    line later), a UTF-16/32 file re-encoded to UTF-8 so each line can be found at all."""
    try:
        with open_bytes(path) as fh:
            wide = wide_encoding(fh)
            if wide is None:
                yield from fh
                return
            for line in io.TextIOWrapper(fh, encoding=wide, errors="replace", newline=""):
                yield line.encode("utf-8")
    except _GZIP_ERRORS as exc:
        raise ValueError(f"{path}: not a readable gzip file ({exc})") from None


def _parse(raw: str | bytes, where: str) -> Record:
    try:
        obj = json.loads(decode_bytes(raw) if isinstance(raw, bytes) else raw)
    except json.JSONDecodeError as exc:
        return Record(where, None, f"not valid JSON ({exc.msg}, column {exc.colno})")
    except RecursionError:
        return Record(where, None, "not valid JSON (nested too deeply)")
    return _as_record(obj, where)


def _as_record(obj: Any, where: str) -> Record:
    if not isinstance(obj, dict):
        return Record(where, None, f"a JSON {type(obj).__name__}, not an object")
    return Record(where, obj)


def iter_jsonl(path: Path) -> Iterator[Record]:
    """One record per non-blank line; a line that is not a JSON object is an error record.

    A ``.json`` file whose first character is ``[`` is one JSON array: one record per
    item (``iter_json_array``), not an error per line of it."""
    if kind(path) == ".json" and _first_char(path) == "[":
        yield from iter_json_array(path)
        return
    for lineno, raw in enumerate(_lines(path), 1):
        if raw.strip():
            yield _parse(raw, f"line {lineno}")


def _first_char(path: Path) -> str:
    for raw in _lines(path):
        text = decode_bytes(raw).lstrip()
        if text:
            return text[0]
    return ""


ARRAY_READ = 1 << 20  # characters read at a time from a JSON array


def iter_json_array(path: Path) -> Iterator[Record]:
    """One record per item of a top-level JSON array, streamed: only the item being
    parsed (and one read block) is held, however long the array.

    An item that is not an object is an error record; text that is not JSON where an
    item should start ends the file with one error naming the item, since nothing after
    it can be located."""
    decoder = json.JSONDecoder()
    try:
        with open_bytes(path) as raw:
            enc = wide_encoding(raw) or "utf-8-sig"
            fh = io.TextIOWrapper(raw, encoding=enc, errors="replace")
            buf, pos, eof = fh.read(ARRAY_READ).lstrip(), 1, False  # past the "["
            n = 0
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if pos >= len(buf) and not eof:
                    more = fh.read(ARRAY_READ)
                    buf, pos, eof = buf[pos:] + more, 0, not more
                    continue
                if pos < len(buf) and buf[pos] == "]":
                    return
                if pos >= len(buf):
                    n += 1
                    yield Record(f"item {n}", None, "not valid JSON (the array is not closed)")
                    return
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    if not eof:  # the item may continue in the next block
                        more = fh.read(ARRAY_READ)
                        buf, pos, eof = buf[pos:] + more, 0, not more
                        continue
                    n += 1
                    yield Record(f"item {n}", None, f"not valid JSON ({exc.msg})")
                    return
                except RecursionError:
                    n += 1
                    yield Record(f"item {n}", None, "not valid JSON (nested too deeply)")
                    return
                if end == len(buf) and not eof:  # a number cut by the block: read on
                    more = fh.read(ARRAY_READ)
                    buf, pos, eof = buf[pos:] + more, 0, not more
                    continue
                n += 1
                yield _as_record(obj, f"item {n}")
                pos = end
    except _GZIP_ERRORS as exc:
        raise ValueError(f"{path}: not a readable gzip file ({exc})") from None


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
    with open_bytes(path) as raw:
        wide = wide_encoding(raw)
        fh = io.TextIOWrapper(
            raw,
            encoding=wide or "utf-8-sig",
            errors="replace" if wide else "surrogateescape",
            newline="",
        )
        try:
            yield from _csv_records(path, fh)
        except _GZIP_ERRORS as exc:
            raise ValueError(f"{path}: not a readable gzip file ({exc})") from None


def _csv_records(path: Path, fh: io.TextIOWrapper) -> Iterator[Record]:
    """The rows of an open CSV text stream (see ``iter_csv``)."""
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
