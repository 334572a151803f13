"""A fine-tuned (or frozen) transformer encoder with a classification head.

One module per job: ``config`` (hyper-parameters), ``network`` (torch modules), ``inputs``
(tokens and batches), ``trainer`` (the training loop), ``int8`` (CPU inference),
``siamese`` (frozen pairs) and ``model`` (the ``TextModel`` API and persistence).
"""

from models.transformer.config import TransformerConfig
from models.transformer.int8 import StaticInputInt8Linear, choose_inference, quantize_int8
from models.transformer.model import TransformerModel
from models.transformer.trainer import TrainingArguments, TrainingInterrupted, seed_everything

__all__ = [
    "StaticInputInt8Linear",
    "TrainingArguments",
    "TrainingInterrupted",
    "TransformerConfig",
    "TransformerModel",
    "choose_inference",
    "quantize_int8",
    "seed_everything",
]
