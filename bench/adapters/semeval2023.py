"""SemEval-2023 Task 3 subtask 2 (English): the 14 MFC frames, multi-label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from bench.adapters.base import Adapter, AdapterOptions, DatasetError, read_csv_rows
from labeling.codebook import load_codebook
from models.data import Examples, TaskSpec

SEMEVAL_TRAIN = "en_train.csv"
SEMEVAL_TEST = "en_test.csv"


class SemevalOptions(AdapterOptions):
    codebook: str = Field(
        "configs/codebooks/mfc.yaml", description="the codebook whose keys name the frames"
    )


class Semeval2023Adapter(Adapter):
    """SemEval-2023 Task 3 subtask 2 (English): the 14 MFC frames, multi-label, on ``text``.

    Frame names (``Crime_and_punishment``) become our MFC codebook keys by lower-casing,
    checked against the codebook, so the labeling module's functions vote on the same
    labels (the codebook's ``other`` frame has no SemEval counterpart and is left out).
    """

    name = "semeval2023"
    primary_metric = "micro_f1"
    metrics = ("micro_f1", "macro_f1")
    anchor = "best English system ≈ 0.57 micro-F1 on the official test (not comparable)"
    test_files = (SEMEVAL_TEST,)
    Options = SemevalOptions
    # One row per article (346 ids, 346 rows): the article is the item, so the dev split
    # and the CV folds are stratified (rarest frame) and need no group key.
    group_key = "article (one item each)"

    def _keys(self, opts: AdapterOptions) -> list[str]:
        assert isinstance(opts, SemevalOptions)
        return [k for k in load_codebook(opts.codebook).keys if k != "other"]

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("semeval2023", "multilabel", self._keys(opts))

    def _read(self, path: Path, opts: AdapterOptions) -> Examples:
        keys = self._keys(opts)
        ids, texts, rows = [], [], []
        for row_no, r in enumerate(read_csv_rows(path, ["id", "text", "frames"]), start=2):
            text = (r["text"] or "").strip()
            if not text:
                raise DatasetError(f"{path}: row {row_no}: field 'text' is empty")
            frames = [f.strip() for f in (r["frames"] or "").split(",") if f.strip()]
            if not frames:
                raise DatasetError(f"{path}: row {row_no}: field 'frames' is empty")
            vec = np.zeros(len(keys), dtype=int)
            for f in frames:
                key = f.lower()
                if key not in keys:
                    raise DatasetError(
                        f"{path}: row {row_no}: field 'frames': unknown frame {f!r} "
                        f"(expected one of the 14 SemEval/MFC frames)"
                    )
                vec[keys.index(key)] = 1
            ids.append(f"semeval2023:{r['id']}")
            texts.append(text)
            rows.append(vec)
        y = np.asarray(rows, dtype=int).reshape(len(rows), len(keys))
        return Examples(ids, texts, y)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / SEMEVAL_TRAIN, opts)

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir / SEMEVAL_TEST, opts)}
