"""The small-gold learners' hyper-parameters (``weakgold:``, ``selftrain:``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from models.baseline.config import BaselineConfig
from models.config import Strict
from models.embedding.config import EmbeddingConfig

MEMBER_SECTIONS = ("baseline", "embedding")


class SmallGoldConfig(Strict):
    member: Literal["baseline", "embedding"] = Field(
        "embedding", description="the family fitted on the gold (and the chosen extra rows)"
    )
    baseline: BaselineConfig = BaselineConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    cv_folds: int = Field(
        5, ge=2, description="inner CV over the gold rows only (grouped by source if known)"
    )
    cv_report: bool = Field(
        False, description="train: repeated grouped CV of this config over gold train + dev"
    )
    cv_k: int = Field(5, ge=2, description="cv_report: folds per repeat")
    cv_repeats: int = Field(3, ge=1, description="cv_report: repeats")

    def with_members(self, sections: Any) -> SmallGoldConfig:
        """This config with each member section not set here taken from ``sections`` (a
        training config's own ``baseline:`` and ``embedding:``)."""
        update = {
            k: getattr(sections, k)
            for k in MEMBER_SECTIONS
            if k not in self.model_fields_set and hasattr(sections, k)
        }
        return self.model_copy(update=update) if update else self


class WeakGoldConfig(SmallGoldConfig):
    """``--family weakgold``: the weak rows' weight, 0 allowed, by the gold-only CV."""

    member: Literal["baseline", "embedding"] = "baseline"
    weight_grid: list[float] = Field(
        default_factory=lambda: [0.0, 0.03, 0.1, 0.3, 1.0],
        min_length=1,
        description="multipliers of the weak rows' weights (their label-model confidence); "
        "0 trains on the gold alone",
    )


class SelfTrainConfig(SmallGoldConfig):
    """``--family selftrain``: pseudo-labels on the unlabelled rows (their weak labels
    are never read), confidence threshold and rounds by the gold-only CV."""

    thresholds: list[float] = Field(
        default_factory=lambda: [0.95, 0.9, 0.8],
        min_length=1,
        description="confidence a pseudo-labelled row needs (multi-label: the mean over "
        "labels of max(p, 1 - p); multiclass: the top probability)",
    )
    rounds: int = Field(2, ge=1, le=5, description="self-training rounds tried: 1..rounds")
    pseudo_weight: float = Field(
        1.0, gt=0, le=1, description="a pseudo-labelled row's weight, times its confidence"
    )
