"""Unmapped columns that look like document fields: a note per column, never silence.

A user's CSV with ``article_id`` and ``headline`` but no ``id`` or ``title`` column used
to be ingested without a word: every id became ``file.csv:0`` and every title empty.
``note_unmapped`` looks at the column names once per file and, for each field whose
mapped column is absent, names the columns that look like it and the key to set. A
field mapped to null is left alone (the user said "none").
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping

# Name tokens that say which document field a column holds; the last telling token of
# a name wins, so ``source_id`` is an id and ``published_date`` a date.
FIELD_TOKENS: dict[str, set[str]] = {
    "id": {"id", "ids", "guid", "uuid", "identifier", "docid", "articleid", "uid"},
    "title": {"title", "headline", "heading", "hed", "header", "subject", "headlines"},
    "date": {
        "date",
        "published",
        "publish",
        "pubdate",
        "datetime",
        "timestamp",
        "time",
        "created",
        "day",
        "dt",
    },
    "source": {
        "source",
        "outlet",
        "publisher",
        "publication",
        "media",
        "newspaper",
        "paper",
        "site",
        "domain",
        "feed",
        "channel",
        "agency",
        "station",
        "medium",
    },
    "url": {"url", "link", "href", "permalink", "uri"},
}
# What `label` reads by name from a documents file (it has no column mapping).
LABEL_COLUMNS = {"id": "id", "title": "title", "source": "source", "date": "date"}


def _tokens(name: str) -> list[str]:
    """``ArticleID`` / ``article-id`` / ``article_id`` -> ["article", "id"]."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return [t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t]


def guess_field(name: str) -> str | None:
    """The document field a column name looks like, or None."""
    for tok in reversed(_tokens(name)):
        for fld, words in FIELD_TOKENS.items():
            if tok in words:
                return fld
    return None


def unmapped(names: Iterable[str], mapping: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """(column, field) for each column that looks like a field whose mapped column is
    not among ``names``."""
    cols = [str(n) for n in names]
    mapped = {v for v in mapping.values() if v}
    return [
        (c, fld)
        for c in cols
        if c not in mapped
        and (fld := guess_field(c)) is not None
        and mapping.get(fld)
        and mapping[fld] not in cols
    ]


def note_unmapped(
    where: str, names: Iterable[str], mapping: Mapping[str, str | None], stage: str = "ingest"
) -> list[str]:
    """Print (to stderr) and return one note per unmapped column that looks like a field."""
    notes = []
    for col, fld in unmapped(names, {k: v for k, v in mapping.items() if k != "text"}):
        if stage == "ingest":
            how = f"map it with --set columns.{fld}={col}"
        else:
            how = f"rename it to {mapping[fld]!r}, or ingest with --set columns.{fld}={col}"
        notes.append(
            f"note: {where}: column {col!r} looks like the document {fld} but {stage} reads "
            f"{mapping[fld]!r}, which is absent; {how}"
        )
    for n in notes:
        print(n, file=sys.stderr)
    return notes
