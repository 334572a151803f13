"""A fine-tuned (or frozen) transformer encoder with a classification head."""

from models.transformer.config import TransformerConfig
from models.transformer.model import (
    StaticInputInt8Linear,
    TrainingInterrupted,
    TransformerModel,
    quantize_int8,
    seed_everything,
)

__all__ = [
    "StaticInputInt8Linear",
    "TrainingInterrupted",
    "TransformerConfig",
    "TransformerModel",
    "quantize_int8",
    "seed_everything",
]
