"""Ingest: raw files in, one clean, de-duplicated ``documents.parquet`` out.

Structured files (JSONL, CSV, Parquet) are read row by row through Hugging Face
``datasets`` in streaming mode, so memory stays flat whatever the corpus size. Folders
of .txt/.html dumps are decoded with encoding detection, HTML goes through trafilatura,
plain text through our chrome rules and the pasted-article splitter. Output is written
to a temporary file and renamed at the end: a failed ingest never leaves a corpus that
looks complete.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.atomic import atomic_path, write_text
from pipelines.clean import Cleaner, content_id, normalise_for_hash
from pipelines.config import IngestConfig
from pipelines.progress import progress

DOC_COLUMNS = ["id", "source_id", "title", "text", "source", "date", "url", "lang", "provenance"]
STRUCTURED = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class IngestError(ValueError):
    """Input that cannot be ingested at all (as opposed to a row that is skipped)."""


@dataclass
class IngestReport:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    articles_found: int = 0
    documents_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    languages: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["dropped"] = dict(self.dropped)
        d["dropped_total"] = sum(self.dropped.values())
        d["languages"] = dict(self.languages)
        return d


@dataclass
class RawDoc:
    title: str
    text: str
    source_id: str
    source: str | None
    date: str | None
    url: str | None
    provenance: str


# ----------------------------------------------------------------------------- reading
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


def list_inputs(paths: list[str | Path], cfg: IngestConfig) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise IngestError(f"{p}: no such file or directory")
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in cfg.file_extensions
            )
            files.extend(found)
        elif p.suffix.lower() in cfg.file_extensions:
            files.append(p)
        else:
            raise IngestError(
                f"{p}: unsupported file type {p.suffix!r} (supported: {cfg.file_extensions})"
            )
    if not files:
        raise IngestError(f"no input files found under {[str(p) for p in paths]}")
    return files


def _cell(row: dict[str, Any], col: str | None) -> Any:
    if not col:
        return None
    v = row.get(col)
    if v is None or (isinstance(v, float) and v != v):
        return None
    return v


def _str_or_none(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def read_structured(path: Path, cfg: IngestConfig, report: IngestReport) -> Iterator[RawDoc]:
    from datasets import load_dataset

    builder = STRUCTURED[path.suffix.lower()]
    try:
        ds = load_dataset(builder, data_files=str(path), split="train", streaming=True)
        rows = iter(ds)
        first = next(rows, None)
    except Exception as exc:  # datasets raises many types for unreadable files
        raise IngestError(f"{path}: cannot be read as {builder}: {exc}") from exc
    if first is None:
        return
    cols = cfg.columns
    if cols.text not in first:
        raise IngestError(
            f"{path}: text column {cols.text!r} not found; columns are {sorted(first)}. "
            "Map it with --set columns.text=NAME"
        )

    def all_rows() -> Iterator[dict[str, Any]]:
        yield first
        try:
            yield from rows
        except Exception as exc:
            raise IngestError(f"{path}: unreadable after row {report.rows_read}: {exc}") from exc

    for i, row in enumerate(all_rows()):
        report.rows_read += 1
        text = _cell(row, cols.text)
        if not isinstance(text, str):
            kind = "missing" if text is None else type(text).__name__
            report.dropped["non_string_text"] += 1
            report.errors.append(f"{path}: row {i}: field {cols.text!r} is {kind}, not text")
            continue
        yield RawDoc(
            title=_str_or_none(_cell(row, cols.title)) or "",
            text=text,
            source_id=_str_or_none(_cell(row, cols.id)) or f"{path.name}:{i}",
            source=_str_or_none(_cell(row, cols.source)),
            date=_str_or_none(_cell(row, cols.date)),
            url=_str_or_none(_cell(row, cols.url)),
            provenance=f"{path}:row {i}",
        )


def read_textfile(path: Path, cfg: IngestConfig, cleaner: Cleaner, report: IngestReport):
    data = path.read_bytes()
    report.rows_read += 1
    if len(data) > cfg.max_bytes:
        report.dropped["too_large"] += 1
        report.errors.append(f"{path}: {len(data)} bytes exceeds max_bytes={cfg.max_bytes}")
        return
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        report.dropped["binary"] += 1
        report.errors.append(f"{path}: binary content, not text")
        return
    text = decode_bytes(data)
    if path.suffix.lower() in {".html", ".htm"}:
        yield from _read_html(path, text, report)
        return
    segments = cleaner.split_dump(text, split=cfg.split_pasted_articles)
    for k, seg in enumerate(segments):
        yield RawDoc(
            title=seg.title,
            text=seg.text,
            source_id=f"{path.stem}#{k}" if len(segments) > 1 else path.stem,
            source=path.parent.name or None,  # scrapes are usually kept one folder per site
            date=seg.date or _date_from_name(path),
            url=None,
            provenance=f"{path}:line {seg.start_line + 1}",
        )


def _date_from_name(path: Path) -> str | None:
    m = re.match(r"(\d{4}-\d{2}-\d{2})", path.name)
    return m.group(1) if m else None


def _read_html(path: Path, html: str, report: IngestReport) -> Iterator[RawDoc]:
    import trafilatura

    extracted = trafilatura.bare_extraction(html, with_metadata=True, favor_precision=True)
    if not extracted or not getattr(extracted, "text", None):
        report.dropped["html_no_main_text"] += 1
        report.errors.append(f"{path}: no main text found in HTML")
        return
    yield RawDoc(
        title=extracted.title or "",
        text=extracted.text,
        source_id=path.stem,
        source=extracted.sitename or extracted.hostname or path.parent.name or None,
        date=extracted.date or _date_from_name(path),
        url=extracted.url,
        provenance=str(path),
    )


# ----------------------------------------------------------------------------- language
_EN_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "on",
        "with",
        "as",
        "was",
        "by",
        "it",
        "said",
        "at",
        "from",
        "be",
        "are",
        "has",
        "have",
        "will",
        "its",
        "an",
        "not",
        "this",
        "which",
        "were",
        "but",
        "after",
        "their",
        "they",
    ]
)


def detect_language(text: str) -> str:
    """Cheap English check first (most of the corpus), langdetect for the rest."""
    sample = text[:2000]
    words = re.findall(r"[a-zA-Z]+", sample.lower())
    letters = sum(ch.isalpha() for ch in sample) or 1
    latin = sum("a" <= ch.lower() <= "z" for ch in sample)
    if words and latin / letters > 0.9:
        share = sum(w in _EN_WORDS for w in words) / len(words)
        if share > 0.2:
            return "en"
    try:
        from langdetect import DetectorFactory, detect

        DetectorFactory.seed = 0
        return detect(sample)
    except Exception:
        return "und"


# ----------------------------------------------------------------------------- dedup
def _shingles(norm: str, k: int) -> set[bytes]:
    words = norm.split()
    if len(words) <= k:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)}


class NearDuplicateIndex:
    """MinHash LSH over word shingles: keeps the first of each near-duplicate group."""

    def __init__(self, threshold: float, num_perm: int, shingle: int) -> None:
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.num_perm = num_perm
        self.shingle = shingle

    def seen(self, key: str, norm: str) -> str | None:
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=1)
        m.update_batch(list(_shingles(norm, self.shingle)) or [b""])
        hits = self.lsh.query(m)
        if hits:
            return str(sorted(hits)[0])
        self.lsh.insert(key, m)
        return None


# ----------------------------------------------------------------------------- main
def iter_documents(
    inputs: list[str | Path], cfg: IngestConfig, report: IngestReport
) -> Iterator[dict[str, Any]]:
    cleaner = Cleaner(cfg.chrome_patterns)
    files = list_inputs(inputs, cfg)
    report.files = [str(f) for f in files]
    seen_ids: set[str] = set()
    near = NearDuplicateIndex(
        cfg.near_duplicate_threshold, cfg.minhash_permutations, cfg.shingle_size
    )
    for path in progress(files, desc="ingest files", unit="file"):
        suffix = path.suffix.lower()
        raw = (
            read_structured(path, cfg, report)
            if suffix in STRUCTURED
            else read_textfile(path, cfg, cleaner, report)
        )
        for doc in raw:
            report.articles_found += 1
            if len(doc.text.encode("utf-8", errors="replace")) > cfg.max_bytes:
                report.dropped["too_large"] += 1
                report.errors.append(f"{doc.provenance}: text exceeds max_bytes={cfg.max_bytes}")
                continue
            title = cleaner.normalise_line(doc.title) if doc.title else ""
            text, _ = cleaner.clean_text(_strip_controls(doc.text), title=title or None)
            if not text.strip():
                report.dropped["empty_text"] += 1
                continue
            if len(text.split()) < cfg.min_words:
                report.dropped["too_short"] += 1
                continue
            doc_id = content_id(title, text)
            if doc_id in seen_ids:
                report.dropped["exact_duplicate"] += 1
                continue
            seen_ids.add(doc_id)
            if near.seen(doc_id, normalise_for_hash(title, text)):
                report.dropped["near_duplicate"] += 1
                continue
            lang = detect_language(text)
            report.languages[lang] += 1
            yield {
                "id": doc_id,
                "source_id": doc.source_id,
                "title": title,
                "text": text,
                "source": doc.source,
                "date": doc.date,
                "url": doc.url,
                "lang": lang,
                "provenance": doc.provenance,
            }


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strip_controls(text: str) -> str:
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))


def write_documents(docs: Iterable[dict[str, Any]], path: Path, chunk_size: int = 5000) -> int:
    """Stream documents into one Parquet file, ``chunk_size`` rows per row group.

    Memory stays flat in the corpus size: only one chunk of texts is held at a time. Every
    column is a string column, so chunks share one schema whatever values they hold.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in DOC_COLUMNS])
    n = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        chunk: list[dict[str, Any]] = []
        for doc in docs:
            chunk.append(doc)
            if len(chunk) >= chunk_size:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                n += len(chunk)
                chunk = []
        writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
        n += len(chunk)
    return n


def ingest(inputs: list[str | Path], output: str | Path, cfg: IngestConfig) -> IngestReport:
    """Run the stage; returns the report, which is also written beside the corpus."""
    out = Path(output)
    report = IngestReport()
    report.documents_out = write_documents(
        iter_documents(inputs, cfg, report), out / "documents.parquet"
    )
    write_text(json.dumps(report.to_json(), indent=2), out / "ingest_report.json")
    return report


def log_ingest_run(report: IngestReport, output: str | Path) -> None:
    """One MLflow run per ingest: counts, the report, and the corpus as a dataset."""
    import mlflow

    from pipelines import tracking

    out = Path(output)
    df = pd.read_parquet(
        out / "documents.parquet", columns=["id", "source_id", "title", "source", "date", "lang"]
    )
    tags = tracking.base_tags("ingest", data_digest=tracking.frame_digest(df))
    with tracking.stage_run("ingest", "ingest", tags):
        mlflow.log_params({"n_files": len(report.files), "output": str(out)})
        mlflow.log_metrics(
            {
                "rows_read": report.rows_read,
                "articles_found": report.articles_found,
                "documents_out": report.documents_out,
                **{f"dropped_{k}": v for k, v in report.dropped.items()},
            }
        )
        mlflow.log_artifact(str(out / "ingest_report.json"))
        tracking.log_dataset(df, str(out / "documents.parquet"), "documents", "output")


def read_documents(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    if p.is_dir():
        p = p / "documents.parquet"
    if not p.exists():
        raise IngestError(f"{p}: not found; run `mediaframe ingest` first")
    df = pd.read_parquet(p)
    missing = [c for c in ("id", "text") if c not in df.columns]
    if missing:
        raise IngestError(f"{p}: missing columns {missing}")
    return df
