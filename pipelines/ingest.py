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
from pipelines.boilerplate import LineModel, RecurringLines
from pipelines.clean import Cleaner, content_id, normalise_for_hash
from pipelines.columns import note_unmapped
from pipelines.config import IngestConfig
from pipelines.dedup import NearDuplicateIndex
from pipelines.inputs import list_inputs
from pipelines.language import detect_language
from pipelines.progress import progress
from pipelines.readers import Record, decode_bytes, iter_csv, iter_jsonl

DOC_COLUMNS = ["id", "source_id", "title", "text", "source", "date", "url", "lang", "provenance"]
# the agency a wire dateline names ("RIA Novosti"), kept apart from ``source`` (the outlet)
DOC_COLUMNS.append("dateline_source")
STRUCTURED = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class IngestError(ValueError):
    """Input that cannot be ingested at all (as opposed to a row that is skipped)."""


@dataclass
class IngestReport:
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    # A text dump holding k pasted articles is one row read and k articles: the k - 1
    # extra are counted here, so rows_read + split_extra = documents_out + dropped.
    split_extra: int = 0
    articles_found: int = 0
    documents_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    languages: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["dropped"] = dict(self.dropped)
        d["dropped_total"] = sum(self.dropped.values())
        d["unaccounted"] = (
            self.rows_read + self.split_extra - self.documents_out - d["dropped_total"]
        )
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
    dateline_source: str | None = None


# ----------------------------------------------------------------------------- reading
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


def _records(path: Path) -> Iterator[Record]:
    """JSONL and CSV line by line (a bad row costs that row); Parquet and JSON documents
    through Hugging Face ``datasets`` in streaming mode."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from iter_jsonl(path)
        return
    if suffix == ".csv":
        try:
            yield from iter_csv(path)
        except ValueError as exc:
            raise IngestError(str(exc)) from None
        return
    from datasets import load_dataset

    builder = STRUCTURED[suffix]
    if path.stat().st_size == 0:
        return
    try:
        rows = iter(load_dataset(builder, data_files=str(path), split="train", streaming=True))
        first = next(rows, None)
    except Exception as exc:  # datasets raises many types for unreadable files
        raise IngestError(f"{path}: cannot be read as {builder}: {exc}") from exc
    if first is None:
        return
    yield Record("row 0", first)
    n = 1
    try:
        for row in rows:
            yield Record(f"row {n}", row)
            n += 1
    except Exception as exc:
        raise IngestError(f"{path}: unreadable after row {n}: {exc}") from exc


def read_structured(path: Path, cfg: IngestConfig, report: IngestReport) -> Iterator[RawDoc]:
    cols = cfg.columns
    checked = False
    for i, rec in enumerate(_records(path)):
        report.rows_read += 1
        if rec.values is None:
            report.dropped["unreadable_row"] += 1
            report.errors.append(f"{path}: {rec.where}: {rec.error}")
            continue
        row = rec.values
        if not checked:  # the first readable row shows whether the column exists at all
            if cols.text not in row:
                raise IngestError(
                    f"{path}: text column {cols.text!r} not found; columns are "
                    f"{sorted(map(str, row))}. Map it with --set columns.text=NAME"
                )
            note_unmapped(str(path), row, cols.model_dump())  # pipelines.columns
            checked = True
        text = _cell(row, cols.text)
        if not isinstance(text, str):
            kind = "missing" if text is None else type(text).__name__
            report.dropped["non_string_text"] += 1
            report.errors.append(f"{path}: {rec.where}: field {cols.text!r} is {kind}, not text")
            continue
        yield RawDoc(
            title=_str_or_none(_cell(row, cols.title)) or "",
            text=text,
            source_id=_str_or_none(_cell(row, cols.id)) or f"{path.name}:{i}",
            source=_str_or_none(_cell(row, cols.source)),
            date=_str_or_none(_cell(row, cols.date)),
            url=_str_or_none(_cell(row, cols.url)),
            provenance=f"{path}:{rec.where}",
        )


def read_textfile(
    path: Path,
    cfg: IngestConfig,
    cleaner: Cleaner,
    report: IngestReport,
    recurring: RecurringLines | None = None,
) -> Iterator[RawDoc]:
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
    named = _date_from_name(path)
    segments = cleaner.split_dump(
        text,
        split=cfg.split_pasted_articles,
        recurring=recurring,
        year=int(named[:4]) if named else None,
    )
    if not segments:
        report.dropped["empty_text"] += 1
        return
    report.split_extra += len(segments) - 1
    for k, seg in enumerate(segments):
        yield RawDoc(
            title=seg.title,
            text=seg.text,
            source_id=f"{path.stem}#{k}" if len(segments) > 1 else path.stem,
            source=path.parent.name or None,  # scrapes are usually kept one folder per site
            date=seg.date or named,
            url=None,
            provenance=f"{path}:line {seg.start_line + 1}",
            dateline_source=seg.dateline_source,
        )


def recurring_lines(
    files: list[Path], cleaner: Cleaner, cfg: IngestConfig
) -> dict[Path, RecurringLines]:
    """Per folder of plain-text dumps (one site's scrape, usually), the lines its files share.

    A first pass over the folder's .txt files, each read once more in the main pass: the price
    of knowing, at the first file, that "Share this article" is on every page of the site.
    """
    folders: dict[Path, RecurringLines] = {}
    for path in files:
        if path.suffix.lower() != ".txt" or path.stat().st_size > cfg.max_bytes:
            continue
        table = folders.setdefault(path.parent, RecurringLines())
        text = decode_bytes(path.read_bytes())
        table.add_file(cleaner.normalise_line(x) for x in text.splitlines())
    return {d: t for d, t in folders.items() if t.files >= t.min_files}


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


# ----------------------------------------------------------------------------- main
def iter_documents(
    inputs: list[str | Path],
    cfg: IngestConfig,
    report: IngestReport,
    output: str | Path | None = None,
    line_model: LineModel | None = None,
) -> Iterator[dict[str, Any]]:
    cleaner = Cleaner(cfg.chrome_patterns, line_model)
    # An output folder inside an input folder is left out (and counted): its
    # documents.parquet read back would be this corpus again.
    files = list_inputs(
        inputs, cfg.file_extensions, "ingest input", error=IngestError, exclude=output
    )
    report.files = [str(f) for f in files]
    seen_ids: set[str] = set()
    near = NearDuplicateIndex(
        cfg.near_duplicate_threshold, cfg.minhash_permutations, cfg.shingle_size
    )
    folders = recurring_lines(files, cleaner, cfg)
    for path in progress(files, desc="ingest files", unit="file"):
        suffix = path.suffix.lower()
        if suffix in STRUCTURED:
            raw = read_structured(path, cfg, report)
        else:
            raw = read_textfile(path, cfg, cleaner, report, folders.get(path.parent))
        for doc in raw:
            report.articles_found += 1
            if len(doc.text.encode("utf-8", errors="replace")) > cfg.max_bytes:
                report.dropped["too_large"] += 1
                report.errors.append(f"{doc.provenance}: text exceeds max_bytes={cfg.max_bytes}")
                continue
            title = cleaner.normalise_line(doc.title) if doc.title else ""
            body = _strip_controls(strip_markup(doc.text))
            text, _ = cleaner.clean_text(body, title=title or None)
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
                "dateline_source": doc.dateline_source,
            }


_MARKUP = re.compile(r"<\s*(?:html|body|head|script|style|iframe|p|div|br|span|a)\b", re.I)


def strip_markup(text: str) -> str:
    """A text column holding HTML: its readable text, without scripts, styles or tags.

    Exports from CMSs often put the article's HTML in the text field; scripts and
    markup would otherwise become words the models learn from."""
    if not _MARKUP.search(text):
        return text
    import lxml.html
    from lxml.etree import ParserError
    from lxml_html_clean import Cleaner as HtmlCleaner

    try:
        tree = lxml.html.fromstring(text)
    except (ParserError, ValueError):
        return re.sub(r"<[^>]*>", " ", text)
    tree = HtmlCleaner(scripts=True, javascript=True, style=True, comments=True).clean_html(tree)
    for br in tree.iter("br", "p", "div", "li", "h1", "h2", "h3", "tr"):
        br.tail = "\n" + (br.tail or "")
    return tree.text_content()


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


def ingest(
    inputs: list[str | Path],
    output: str | Path,
    cfg: IngestConfig,
    line_model: LineModel | None = None,
) -> IngestReport:
    """Run the stage; returns the report, which is also written beside the corpus.

    ``line_model`` replaces the shipped plain-text line model (cross-validation fits one per
    fold and scores each fold's pages with its own).
    """
    out = Path(output)
    report = IngestReport()
    report.documents_out = write_documents(
        iter_documents(inputs, cfg, report, out, line_model), out / "documents.parquet"
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


def documents_path(path: str | Path) -> Path:
    """The documents file ingest wrote: ``path`` itself, or ``documents.parquet`` in it."""
    p = Path(path)
    if p.is_dir():
        p = p / "documents.parquet"
    if not p.exists():
        raise IngestError(f"{p}: not found; run `mediaframe ingest` first")
    return p
