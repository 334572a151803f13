"""Gun Violence Frame Corpus (GVFC): nine frames, one per news headline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import numpy as np
from pydantic import Field

from bench.adapters.base import (
    Adapter,
    AdapterOptions,
    DatasetError,
    concat_examples,
    read_csv_rows,
)
from models.data import Examples, TaskSpec

GVFC_FRAMES = [  # Q3 Theme1 codes 1..9, in code order (SOURCE.md)
    "gun_rights",
    "gun_control",
    "politics",
    "mental_health",
    "school_public_safety",
    "race_ethnicity",
    "public_opinion",
    "society_culture",
    "economic_consequences",
]
GVFC_FILE = "GVFC_extension_multimodal.csv"
GVFC_NONE = "99"


def outlet_of(url: str, item_id: str) -> str:
    """The outlet of an article: its URL's host without ``www.`` (``yahoo.com``); a row
    without a URL is a group of its own."""
    host = urlparse(url.strip()).netloc.lower().removeprefix("www.")
    return host or f"id:{item_id}"


class GvfcOptions(AdapterOptions):
    group_by: Literal["outlet", "none"] = Field(
        "outlet",
        description="CV group key: the outlet (article_url's host; 39 in the release), or "
        "none (each headline its own group: the id is unique per row)",
    )
    input: Literal["headline", "headline_lead"] = Field(
        "headline", description="the headline alone, or headline + the first 3 sentences"
    )
    lead_examples: list[Literal["baseline", "transformer"]] = Field(
        default_factory=list,
        description="model families that also train on each training article's headline + "
        "lead as an example of its own, with the article's frame; scoring still reads `input`",
    )


class GvfcAdapter(Adapter):
    """Gun Violence Frame Corpus: one primary frame of nine per news headline.

    Reads the multimodal extension file: it holds exactly the relevant, frame-labelled
    articles (``Q3 Theme1`` 1-9) with their headline and lead, which the headline file
    repeats among its irrelevant and unframed rows.
    """

    name = "gvfc"
    primary_metric = "accuracy"
    metrics = ("accuracy", "macro_f1")
    group_key = "outlet (article_url host; option group_by)"
    anchor = "BERT ≈ 0.84 accuracy (Liu et al. 2019); multimodal 0.824 (Tourni et al.)"
    test_files = (GVFC_FILE,)  # the headline file beside it is not needed
    Options = GvfcOptions

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("gvfc", "multiclass", list(GVFC_FRAMES))

    def _read(self, path: Path, opts: AdapterOptions) -> Examples:
        assert isinstance(opts, GvfcOptions)
        cols = ["id", "headline", "Q3 Theme1"]
        if opts.input == "headline_lead":
            cols.append("lead_3_sentences_summary_of_full_article_text")
        ids, texts, y, groups = [], [], [], []
        for row_no, r in enumerate(read_csv_rows(path, cols), start=2):
            code = (r["Q3 Theme1"] or "").strip()
            if code == GVFC_NONE:  # no frame: not part of the frame-classification set
                continue
            if code not in {str(i) for i in range(1, 10)}:
                raise DatasetError(
                    f"{path}: row {row_no}: field 'Q3 Theme1': expected a frame code 1-9 "
                    f"or 99, got {code!r}"
                )
            head = (r["headline"] or "").strip()
            if not head:
                raise DatasetError(f"{path}: row {row_no}: field 'headline' is empty")
            text = head
            if opts.input == "headline_lead":
                lead = (r["lead_3_sentences_summary_of_full_article_text"] or "").strip()
                text = f"{head}\n\n{lead}" if lead else head
            ids.append(f"gvfc:{r['id']}")
            texts.append(text)
            y.append(int(code) - 1)
            groups.append(outlet_of(r.get("article_url") or "", r["id"]))
        # one outlet, or none shared (every row its own group): the ungrouped, stratified case
        by_outlet = opts.group_by == "outlet" and 2 <= len(set(groups)) < len(groups)
        return Examples(ids, texts, np.asarray(y, dtype=int), groups=groups if by_outlet else None)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / GVFC_FILE, opts)

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir / GVFC_FILE, opts)}

    def extra_train(
        self, train: Examples, data_dir: Path, opts: AdapterOptions, family: str
    ) -> Examples:
        """Headline + lead of each training article beside its headline.

        A headline has eight words; its lead has sixty-odd about the same frame. As extra
        examples they give a bag-of-n-grams model the vocabulary a new headline may use
        (on three dev splits, +4.5 points of accuracy for the linear SVM), while reading
        them as the input itself dilutes the headline (RESULTS.md).
        """
        assert isinstance(opts, GvfcOptions)
        if family not in opts.lead_examples or opts.input == "headline_lead":
            return train
        full = self._read(data_dir / GVFC_FILE, opts.model_copy(update={"input": "headline_lead"}))
        lead_of = dict(zip(full.ids, full.texts, strict=True))
        keep = [
            i
            for i, (d, t) in enumerate(zip(train.ids, train.texts, strict=True))
            if lead_of.get(d, t) != t
        ]
        extra = train.subset(keep)
        extra = replace(
            extra, ids=[f"{d}#lead" for d in extra.ids], texts=[lead_of[d] for d in extra.ids]
        )
        return concat_examples([train, extra])
