"""The baseline family's hyper-parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.config import Strict


class BaselineConfig(Strict):
    classifier: Literal["logreg", "linear_svm"] = "logreg"
    C: float = Field(4.0, gt=0)
    ngram_max: int = Field(2, ge=1, le=4)
    min_df: int = Field(1, ge=1)
    max_features: int | None = 200_000
    char_ngrams: bool = False
    class_weight: Literal["balanced"] | None = "balanced"
    target_window: int = Field(1, ge=0, description="sentences around a target mention")
    pair_full_text: bool = Field(True, description="pairs: also use the whole text's n-grams")
    target_features: bool = Field(True, description="pairs: n-grams of the target itself")
    span_window: int = Field(
        4, ge=0, description="marked-span pairs: n-grams of the words either side of the span"
    )
    similarity_features: bool = Field(
        False, description="pairs: target-text similarity and refuting/hedging cue counts"
    )
    refuting_cues: list[str] | None = Field(None, description="None: the FNC-1 baseline's list")
    hedging_cues: list[str] | None = Field(None, description="None: models/pairs.py HEDGING")
    cv_search: bool = False
    cv_grid_C: list[float] = [0.5, 2.0, 8.0]
    cv_report: bool = Field(
        False, description="train: repeated grouped CV of this config over gold train + dev"
    )
    cv_k: int = Field(5, ge=2, description="cv_search: folds per repeat (grouped by source)")
    cv_repeats: int = Field(3, ge=1, description="cv_search: repeats, each its own shuffle")
    n_jobs: int = 2
