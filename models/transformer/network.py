"""The transformer family's torch modules: an encoder with a linear head, and the siamese
head over pair features."""

from __future__ import annotations

import torch
from torch import nn

from models.encoder import mean_pool


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kw).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.head(self.dropout(self.embed(input_ids, attention_mask, token_type_ids)))


class PairHead(nn.Module):
    """The siamese head: standardised pair features into one hidden layer."""

    def __init__(self, n_in: int, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels)
        )

    def forward(self, x):
        return self.mlp((x - self.mean) / self.std)
