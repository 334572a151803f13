"""A frozen-encoder head over the whole article, and its static-embedding tier.

The article is cut into chunks of whole sentences (``max_tokens`` each), every chunk is
embedded by a frozen sentence encoder, the chunk vectors are pooled, and a logistic head
reads the pooled vector; for stance, the sentences that mention the target are pooled
apart and concatenated. ``encoder: static`` (the ``static`` family) swaps the transformer
for a model2vec distillation of it: the same head, a hundred times cheaper to run.
One module per job: ``config``, ``encoders`` (transformer, static, distillation cache),
``inputs`` (chunks, target sentences, pooling) and ``model`` (the API and persistence).
"""

from models.embedding.config import EmbeddingConfig, StaticConfig
from models.embedding.model import EmbeddingModel, StaticEmbeddingModel

__all__ = ["EmbeddingConfig", "EmbeddingModel", "StaticConfig", "StaticEmbeddingModel"]
