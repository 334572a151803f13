"""Ingest on real files of every supported format, including bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.clean import content_id
from pipelines.config import IngestConfig
from pipelines.ingest import IngestError, ingest

TEXT = (
    "Officials from several countries met on Tuesday to discuss border security, trade "
    "and the movement of goods across the region, a statement said. "
)


def article(k: int) -> dict:
    return {
        "id": f"src-{k}",
        "title": f"Headline number {k} on border talks",
        "text": f"{TEXT} Item {k} adds detail number {k}. " * 3,
        "source": "Wire",
        "date": "2024-05-01",
        "url": f"https://x.example/{k}",
    }


def test_jsonl_csv_parquet_are_read_and_deduplicated(tmp_path: Path) -> None:
    rows = [article(k) for k in range(6)]
    (tmp_path / "in").mkdir()
    with (tmp_path / "in" / "a.jsonl").open("w") as fh:
        for r in rows[:3]:
            fh.write(json.dumps(r) + "\n")
    pd.DataFrame([*rows[3:], rows[0]]).to_csv(tmp_path / "in" / "b.csv", index=False)
    near = dict(rows[1], id="near")
    near["text"] = rows[1]["text"] + " One more closing sentence."
    pd.DataFrame([near]).to_parquet(tmp_path / "in" / "c.parquet")
    rep = ingest([tmp_path / "in"], tmp_path / "out", IngestConfig())
    df = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    assert len(df) == 6
    assert rep.dropped["exact_duplicate"] == 1
    assert rep.dropped["near_duplicate"] == 1
    assert set(df["source_id"]) == {f"src-{k}" for k in range(6)}
    assert {
        "id",
        "source_id",
        "title",
        "text",
        "source",
        "date",
        "url",
        "lang",
        "provenance",
    } <= set(df.columns)
    assert (df["lang"] == "en").all()
    report = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    assert report["documents_out"] == 6 and report["dropped_total"] == 2


def test_missing_text_column_names_file_and_column(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    pd.DataFrame([{"id": 1, "body": "x"}]).to_csv(p, index=False)
    with pytest.raises(IngestError, match=r"bad\.csv.*'text'"):
        ingest([p], tmp_path / "out", IngestConfig())
    assert not (tmp_path / "out" / "documents.parquet").exists()


def test_column_mapping_from_config(tmp_path: Path) -> None:
    p = tmp_path / "mapped.csv"
    pd.DataFrame([{"headline": "A headline here", "body": TEXT * 2}]).to_csv(p, index=False)
    cfg = IngestConfig.model_validate({"columns": {"title": "headline", "text": "body"}})
    ingest([p], tmp_path / "out", cfg)
    df = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    assert df.loc[0, "title"] == "A headline here"


def test_non_string_and_empty_rows_are_counted_not_crashing(tmp_path: Path) -> None:
    p = tmp_path / "mixed.jsonl"
    rows = [
        article(0),
        {"id": "n", "title": "t", "text": None},
        {"id": "e", "text": "   "},
        {"id": "s", "text": "too short"},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    rep = ingest([p], tmp_path / "out", IngestConfig())
    assert rep.documents_out == 1
    assert rep.dropped["non_string_text"] == 1
    assert rep.dropped["empty_text"] == 1
    assert rep.dropped["too_short"] == 1
    assert any("mixed.jsonl: row 1" in e and "'text'" in e for e in rep.errors)


def test_encodings_binary_and_oversized_files(tmp_path: Path) -> None:
    d = tmp_path / "dump"
    d.mkdir()
    ru = "Министры обсудили вопросы безопасности и торговли на встрече в столице. " * 6
    (d / "cp1251.txt").write_bytes(("Встреча министров в столице\n" + ru).encode("cp1251"))
    (d / "latin1.txt").write_bytes(
        ("Café owners protest new rules\n" + TEXT * 3 + " café").encode("latin-1")
    )
    (d / "junk.txt").write_bytes(b"\x00\x01\x02" * 100)
    (d / "huge.txt").write_bytes(b"word " * 300_000)
    rep = ingest([d], tmp_path / "out", IngestConfig(max_bytes=1_000_000))
    df = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    texts = " ".join(df["text"])
    assert "Министры" in texts and "café" in texts
    assert rep.dropped["binary"] == 1 and rep.dropped["too_large"] == 1
    assert set(df["lang"]) == {"ru", "en"}


def test_html_goes_through_the_main_text_extractor(tmp_path: Path) -> None:
    paras = "".join(f"<p>{TEXT} Paragraph {k}.</p>" for k in range(3))
    (tmp_path / "page.html").write_text(
        "<html><head><title>Ministers meet on border security</title></head><body>"
        "<nav>Home World Listen Live</nav><script>var x=1;</script>"
        f"<article><h1>Ministers meet on border security</h1>{paras}</article>"
        "<footer>Get short URL</footer></body></html>"
    )
    ingest([tmp_path / "page.html"], tmp_path / "out", IngestConfig())
    df = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    assert len(df) == 1
    assert "var x" not in df.loc[0, "text"] and "Listen Live" not in df.loc[0, "text"]
    assert df.loc[0, "text"].count("\n\n") == 2


def test_sample_corpus_recovers_every_written_article(root: Path, tmp_path: Path) -> None:
    """The bundled dumps (chrome, doubled titles, pasted files, HTML) give back each article."""
    rep = ingest([root / "data" / "raw"], tmp_path / "out", IngestConfig())
    df = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    written = [
        json.loads(x)
        for f in sorted((root / "data" / "articles").glob("*.jsonl"))
        for x in f.open()
    ]
    ids = {content_id(a["title"], a["text"]) for a in written}
    assert ids <= set(df["id"]), f"{len(ids - set(df['id']))} articles not recovered exactly"
    assert rep.dropped["exact_duplicate"] >= 3 and rep.dropped["near_duplicate"] >= 2
    gold = [json.loads(x) for x in (root / "data" / "gold" / "gold.jsonl").open()]
    assert {g["id"] for g in gold} <= set(df["id"])
    assert (df["lang"] == "ru").sum() == 2


def test_documents_are_written_in_chunks_with_one_string_schema(tmp_path: Path) -> None:
    """Streaming the corpus out chunk by chunk keeps every row and one schema throughout."""
    import pyarrow.parquet as pq

    from pipelines.ingest import DOC_COLUMNS, write_documents

    docs = [{c: (None if c == "url" else f"{c}-{k}") for c in DOC_COLUMNS} for k in range(5)]
    n = write_documents(iter(docs), tmp_path / "documents.parquet", chunk_size=2)
    f = pq.ParquetFile(tmp_path / "documents.parquet")
    assert n == 5 and f.metadata.num_row_groups >= 3
    assert {str(f.schema_arrow.field(c).type) for c in DOC_COLUMNS} == {"string"}
    df = pd.read_parquet(tmp_path / "documents.parquet")
    assert df["id"].tolist() == [f"id-{k}" for k in range(5)] and df["url"].isna().all()
    assert write_documents(iter([]), tmp_path / "empty.parquet") == 0
    assert list(pd.read_parquet(tmp_path / "empty.parquet").columns) == DOC_COLUMNS
