"""Unmapped columns that look like document fields are named, with the key to set."""

from __future__ import annotations

import pytest

from pipelines.columns import LABEL_COLUMNS, guess_field, note_unmapped, unmapped

INGEST = {"id": "id", "title": "title", "text": "body", "source": "source", "date": "date"}


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("article_id", "id"),
        ("ArticleID", "id"),
        ("source_id", "id"),  # the last telling word decides
        ("headline", "title"),
        ("published", "date"),
        ("published_date", "date"),
        ("outlet", "source"),
        ("outlet_name", "source"),
        ("link", "url"),
        ("body", None),
        ("sentiment", None),
    ],
)
def test_a_column_name_is_read_as_the_field_it_looks_like(name: str, field: str | None) -> None:
    assert guess_field(name) == field


def test_only_fields_whose_mapped_column_is_absent_are_noted(capsys) -> None:
    cols = ["article_id", "headline", "body", "published", "outlet", "id_old"]
    assert unmapped(cols, INGEST) == [
        ("article_id", "id"),
        ("headline", "title"),
        ("published", "date"),
        ("outlet", "source"),
        ("id_old", "id"),
    ]
    assert unmapped(["id", "article_id", "body"], INGEST) == []  # id is there: no doubt
    assert unmapped(["outlet", "body"], {**INGEST, "source": None}) == []  # null: none
    notes = note_unmapped("docs.parquet", ["id", "text", "headline"], LABEL_COLUMNS, "label")
    assert notes == [
        "note: docs.parquet: column 'headline' looks like the document title but label reads "
        "'title', which is absent; rename it to 'title', or ingest with --set "
        "columns.title=headline"
    ]
    assert capsys.readouterr().err == notes[0] + "\n"
