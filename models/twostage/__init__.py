"""FNC-1 as the field solves it: relatedness from similarity features, then the stance
of related pairs from the target and the text's sentences most similar to it."""

from models.twostage.config import TwoStageConfig
from models.twostage.model import TwoStageModel

__all__ = ["TwoStageConfig", "TwoStageModel"]
