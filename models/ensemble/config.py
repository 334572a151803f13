"""The ensemble family's hyper-parameters (``ensemble:``): its members' own sections,
and how the mixing weight and thresholds are chosen."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from models.baseline.config import BaselineConfig
from models.config import Strict
from models.embedding.config import EmbeddingConfig, StaticConfig
from models.transformer.config import TransformerConfig

MEMBER_SECTIONS = ("baseline", "embedding", "static", "transformer")


def _weights() -> list[float]:
    return [round(0.1 * i, 1) for i in range(11)]


class EnsembleConfig(Strict):
    member: Literal["embedding", "static", "transformer"] = Field(
        "embedding",
        description="the family averaged with the TF-IDF baseline (its section below)",
    )
    baseline: BaselineConfig = BaselineConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    static: StaticConfig = StaticConfig()
    transformer: TransformerConfig = TransformerConfig()
    weight_grid: list[float] = Field(
        default_factory=_weights,
        min_length=1,
        description="candidate weights of the baseline (the member gets 1 - w), chosen by "
        "the out-of-fold score on the training set",
    )
    cv_folds: int = Field(
        5, ge=2, description="folds of the out-of-fold predictions (grouped by source)"
    )
    calibrate_members: bool = Field(
        True,
        description="scale each member by a temperature fitted on its out-of-fold "
        "predictions before averaging, so neither dominates by being over-confident",
    )
    thresholds: Literal["oof", "dev"] = Field(
        "oof",
        description="multi-label: per-label thresholds from the mix's out-of-fold "
        "probabilities (the same ones the weight is chosen on), or tuned on dev",
    )
    cv_report: bool = Field(
        False, description="train: repeated grouped CV of this config over gold train + dev"
    )
    cv_k: int = Field(5, ge=2, description="cv_report: folds per repeat")
    cv_repeats: int = Field(3, ge=1, description="cv_report: repeats")

    def with_members(self, sections: Any) -> EnsembleConfig:
        """This config with each member section not set here taken from ``sections`` (a
        training config's own ``baseline:``, ``embedding:``, ...), so a dataset's tuned
        baseline is the ensemble's baseline too."""
        update = {
            k: getattr(sections, k)
            for k in MEMBER_SECTIONS
            if k not in self.model_fields_set and hasattr(sections, k)
        }
        return self.model_copy(update=update) if update else self
