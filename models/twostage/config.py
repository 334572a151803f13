"""The two-stage pair family's hyper-parameters (relatedness, then stance among related)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.config import Strict


class TwoStageConfig(Strict):
    unrelated_label: str = Field(
        "unrelated", description="the label stage 1 separates from all the others"
    )
    stage1: Literal["gbdt", "logreg"] = Field(
        "gbdt", description="relatedness classifier on the similarity features"
    )
    stage1_iter: int = Field(300, ge=10, description="gbdt: boosting iterations")
    relatedness_threshold: float = Field(
        0.5, gt=0, lt=1, description="P(related) at or above which a pair goes to stage 2"
    )
    top_k: int = Field(3, ge=1, description="stage 2 reads the k body sentences nearest the target")
    ngram_max: int = Field(2, ge=1, le=3)
    min_df: int = Field(2, ge=1)
    max_features: int | None = 100_000
    target_features: bool = Field(
        False, description="stage 2: n-grams of the target (off: new claims at test, #23)"
    )
    C: float = Field(1.0, gt=0, description="stage 2 logistic regression")
    class_weight: Literal["balanced"] | None = "balanced"
