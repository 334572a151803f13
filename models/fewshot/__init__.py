"""The SetFit family (``--family setfit``): contrastive few-shot fine-tuning of the
sentence encoder, then a logistic head (one-vs-rest for multi-label)."""

from models.fewshot.config import SetFitConfig
from models.fewshot.model import SetFitTextModel

__all__ = ["SetFitConfig", "SetFitTextModel"]
