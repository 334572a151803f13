"""Learners for a few hundred gold labels beside an unlabelled corpus (issue #21):
``weakgold`` (weak rows weighted by a gold-only inner CV, 0 allowed) and ``selftrain``
(confident pseudo-labels on the unlabelled rows, threshold and rounds by the same CV)."""

from models.smallgold.config import SelfTrainConfig, SmallGoldConfig, WeakGoldConfig
from models.smallgold.model import SelfTrainModel, SmallGoldModel, WeakGoldModel

__all__ = [
    "SelfTrainConfig",
    "SelfTrainModel",
    "SmallGoldConfig",
    "SmallGoldModel",
    "WeakGoldConfig",
    "WeakGoldModel",
]
