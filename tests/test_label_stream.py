"""The label stage reads its corpus in chunks: the chunk size must not change any output.

Duplicate ids across chunk boundaries, rows that cannot be labelled, gold documents, a
labeling function that raises in a later chunk (dropped for the whole corpus, its
earlier votes too) and integer ids with a null (read as floats, "7.0", in every chunk,
as a whole-file read gives them) are all labelled the same at any chunk size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.functions import Doc, frame_lf
from labeling.weak import WeakLabeler
from pipelines import label as label_stage
from pipelines.config import LabelConfig

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ["label_report.json", "label_studio_tasks.json", "lf_analysis.csv"]


def _articles(n: int) -> list[dict]:
    rows = []
    for f in sorted((ROOT / "data" / "articles").glob("*.jsonl")):
        rows += [json.loads(x) for x in f.open(encoding="utf-8")]
    return rows[:n]


def _config(tmp: Path, gold: list[dict]) -> LabelConfig:
    path = tmp / "gold.jsonl"
    path.write_text("".join(json.dumps(g) + "\n" for g in gold))
    splits = tmp / "splits.json"  # gold needs a split; all of it dev, as no split used to be
    splits.write_text(json.dumps({"train": [], "dev": [g["id"] for g in gold], "test": []}))
    return LabelConfig(
        codebook=str(ROOT / "configs/codebooks/mfc.yaml"),
        stance=str(ROOT / "configs/stance.yaml"),
        gold=str(path) if gold else None,  # an empty gold file is an error; null is none
        annotations=None,
        splits=str(splits),
        embedding_lf=False,
        bootstrap=20,
    )


def _run(docs: Path, out: Path, cfg: LabelConfig, chunk: int) -> tuple[pd.DataFrame, dict]:
    res = label_stage.run_label(docs, out, cfg, chunk_size=chunk)
    files = {f: (out / f).read_bytes() for f in OUTPUTS}
    return pd.read_parquet(out / "labels.parquet"), {"report": res.report, **files}


def test_any_chunk_size_gives_the_same_labels(tmp_path, tracking_uri_store, monkeypatch) -> None:
    arts = _articles(30)
    rows = [{"id": f"d{i}", "title": a["title"], "text": a["text"]} for i, a in enumerate(arts)]
    rows.insert(4, {"id": "d1", "title": "again", "text": "a repeat of an earlier id"})
    rows.insert(12, {"id": "empty", "title": "t", "text": "  "})
    rows.insert(13, {"id": None, "title": "t", "text": "no id"})
    rows.insert(20, {"id": "late", "title": "t", "text": None})  # not labelled: id stays free
    rows.append({"id": "late", "title": "later", "text": "labelled: the first usable row"})
    pd.DataFrame(rows).to_parquet(tmp_path / "documents.parquet")
    gold = [
        {"id": "d3", "frames": ["economic"], "primary_frame": "economic", "stance": {}},
        {"id": "d17", "frames": ["political"], "primary_frame": "political", "stance": {}},
    ]
    cfg = _config(tmp_path, gold)

    @frame_lf("raises_late", "economic")
    def raises_late(doc: Doc) -> int:
        if doc.id == "d25":
            raise ValueError("boom")
        return 1

    def labeler(*args, **kwargs) -> WeakLabeler:
        return WeakLabeler(*args, extra_lfs=[raises_late], **kwargs)

    monkeypatch.setattr(label_stage, "WeakLabeler", labeler)
    whole, whole_files = _run(tmp_path / "documents.parquet", tmp_path / "whole", cfg, 1000)
    assert whole_files["report"]["skipped"] == {
        "duplicate_id": 1,
        "empty_text": 1,
        "missing_id": 1,
        "non_string_text": 1,
    }
    assert whole_files["report"]["gold_documents"] == 2
    assert whole_files["report"]["lf_failed"] == ["raises_late"]
    assert not any("raises_late" in e for ev in whole["evidence"] for e in ev)
    for chunk in (1, 5, 7):
        part, part_files = _run(tmp_path / "documents.parquet", tmp_path / f"c{chunk}", cfg, chunk)
        pd.testing.assert_frame_equal(part, whole)
        assert part_files == whole_files


@pytest.mark.parametrize("chunk", [2, 3])
def test_integer_ids_read_alike_in_every_chunk(tmp_path, tracking_uri_store, chunk) -> None:
    arts = _articles(6)
    table = pa.table(
        {
            "id": pa.array([1, 2, 3, None, 5, 6], pa.int64()),  # no pandas metadata
            "title": [a["title"] for a in arts],
            "text": [a["text"] for a in arts],
        }
    )
    pq.write_table(table, tmp_path / "documents.parquet")
    cfg = _config(tmp_path, [])
    whole, whole_files = _run(tmp_path / "documents.parquet", tmp_path / "whole", cfg, 100)
    assert whole["id"].tolist() == ["1.0", "2.0", "3.0", "5.0", "6.0"]  # as pd.read_parquet
    part, part_files = _run(tmp_path / "documents.parquet", tmp_path / "part", cfg, chunk)
    pd.testing.assert_frame_equal(part, whole)
    assert part_files == whole_files
