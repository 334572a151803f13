"""bench/webclean.py scores exactly as webclean's score.py, on two pages written for the test."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.webclean import (
    cross_validate,
    folds,
    frame_rows,
    labelled_lines,
    run_webclean,
    score_pages,
)
from pipelines.config import IngestConfig
from pipelines.ingest import ingest

FIXTURE = Path(__file__).parent / "fixtures" / "webclean"
SCORE_PY = Path("/work/shared/datasets/webclean/score.py")


def test_figures_equal_score_py_on_the_same_output(tmp_path: Path) -> None:
    if not SCORE_PY.exists():
        pytest.skip("webclean's score.py is not on this machine")
    pages = json.loads((FIXTURE / "snippets.json").read_text(encoding="utf-8"))
    for folder in ("text", "html"):
        out = tmp_path / folder
        ingest([FIXTURE / folder], out, IngestConfig())
        docs = out / "documents.parquet"
        ours = score_pages(pages, FIXTURE, frame_rows(pd.read_parquet(docs)))
        printed = subprocess.run(
            [sys.executable, str(SCORE_PY), str(docs), str(FIXTURE / "snippets.json")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        theirs = dict(re.findall(r"(\w+)=(\S+)", printed))
        for key in ("pages", "no_document", "cut_into_several"):
            assert str(ours[key]) == theirs[key]
        for key in ("text_kept", "boilerplate_removed"):
            assert ours[key] == theirs[key]
        for key in ("precision", "recall", "F1"):
            assert f"{ours[key]:.3f}" == theirs[key]


def test_run_webclean_scores_both_inputs_and_the_references(tmp_path: Path) -> None:
    result = run_webclean(FIXTURE, FIXTURE, tmp_path / "webclean.json")
    assert json.loads((tmp_path / "webclean.json").read_text()) == result
    data = result["data"]
    assert set(data) == {
        "dir",
        "keep everything (text)",
        "trafilatura.extract (html)",
        "mediaframe ingest (text)",
        "mediaframe ingest (html)",
    }
    keep = data["keep everything (text)"]
    # "a snippet that never renders" is not in the dump, so it is not counted at all
    assert keep["text_kept"] == "6/6" and keep["boilerplate_removed"] == "0/7"
    ours = data["mediaframe ingest (text)"]
    assert ours["recall"] == 1.0 and ours["cut_into_several"] == 0
    assert ours["precision"] > keep["precision"]
    assert result["test"]["mediaframe ingest (text)"] == ours


def test_folds_deal_every_page_to_exactly_one_fold() -> None:
    pages = {f"p{i:02d}": {} for i in range(23)}
    got = folds(pages, 5)
    assert sorted(n for f in got for n in f) == sorted(pages)
    assert [len(f) for f in got] == [5, 5, 5, 4, 4]


def test_snippets_label_the_lines_they_sit_on() -> None:
    pages = json.loads((FIXTURE / "snippets.json").read_text(encoding="utf-8"))
    texts, labels, weak = labelled_lines(pages, FIXTURE)["harbour"]
    assert len(weak) == len(texts)
    kept = {texts[k] for k, y in labels.items() if y == 1}
    dropped = {texts[k] for k, y in labels.items() if y == 0}
    assert any("dredging of the inner harbour" in t for t in kept)
    assert any("Share this article" in t for t in dropped) and not kept & dropped


def test_cross_validation_scores_each_page_with_a_model_fitted_on_the_others(
    tmp_path: Path,
) -> None:
    # two pages, two folds: each page is ingested with a model fitted on the other one only
    result = cross_validate(FIXTURE, 2)
    assert result["pages"] == 2 and result["folds"] == 2 and len(result["cutoffs"]) == 2
    assert result["recall"] > 0
