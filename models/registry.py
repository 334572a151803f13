"""The model families, by name: a new family is one sub-package and one entry here.

Each entry names the module that holds the family's model class and its config class, and
the key of the family's section in a training config. Modules are imported only when a
family is used, so scoring a baseline never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.base import TextModel
    from models.config import Strict


@dataclass(frozen=True)
class Family:
    name: str
    module: str  # the sub-package; it exports ``model_class`` and ``config_class`` by name
    model_class: str
    config_class: str
    summary: str

    def model(self) -> type[TextModel]:
        return getattr(importlib.import_module(self.module), self.model_class)

    def config(self) -> type[Strict]:
        return getattr(importlib.import_module(self.module), self.config_class)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family(
            "baseline",
            "models.baseline",
            "BaselineModel",
            "BaselineConfig",
            "TF-IDF n-grams into logistic regression or a linear SVM",
        ),
        Family(
            "transformer",
            "models.transformer",
            "TransformerModel",
            "TransformerConfig",
            "a fine-tuned (or frozen) sentence encoder with a classification head",
        ),
        Family(
            "embedding",
            "models.embedding",
            "EmbeddingModel",
            "EmbeddingConfig",
            "frozen-encoder embeddings of the whole article's chunks, pooled, into logreg",
        ),
        Family(
            "static",
            "models.embedding",
            "StaticEmbeddingModel",
            "StaticConfig",
            "the embedding family on a model2vec static distillation of the encoder",
        ),
        Family(
            "twostage",
            "models.twostage",
            "TwoStageModel",
            "TwoStageConfig",
            "pairs: relatedness from similarity features, then stance of related pairs (FNC-1)",
        ),
        Family(
            "ensemble",
            "models.ensemble",
            "EnsembleModel",
            "EnsembleConfig",
            "TF-IDF and a second family (embedding by default), calibrated and averaged "
            "with the weight chosen by cross-validation on the training set",
        ),
        Family(
            "weakgold",
            "models.smallgold",
            "WeakGoldModel",
            "WeakGoldConfig",
            "gold plus weakly labelled rows at a weight (0 allowed) chosen by a gold-only "
            "inner CV, over a baseline or embedding member",
        ),
        Family(
            "selftrain",
            "models.smallgold",
            "SelfTrainModel",
            "SelfTrainConfig",
            "self-training: confident pseudo-labels on the unlabelled rows, threshold and "
            "rounds chosen by a gold-only inner CV (embedding member by default)",
        ),
        Family(
            "setfit",
            "models.fewshot",
            "SetFitTextModel",
            "SetFitConfig",
            "SetFit: contrastive few-shot fine-tuning of the local sentence encoder + logreg "
            "head (one-vs-rest for multi-label)",
        ),
    ]
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(FAMILIES)
        raise ValueError(f"unknown model family {name!r} (one of: {known})") from None


def family_names() -> list[str]:
    return list(FAMILIES)
