"""An ensemble of TF-IDF and a second family: calibrated probabilities averaged.

The baseline and a member (the embedding family by default; static or the transformer by
config) are each fitted on the training set's folds; their out-of-fold probabilities, each
scaled by its own temperature fitted on them, choose the baseline's weight ``w`` in
``w * p_baseline + (1 - w) * p_member`` and, for multi-label frames, the per-label
thresholds. Only training data is read for these choices: never the split it is scored on.
One module per job: ``config`` and ``model`` (fit, predict, persistence).
"""

from models.ensemble.config import EnsembleConfig
from models.ensemble.model import EnsembleModel

__all__ = ["EnsembleConfig", "EnsembleModel"]
