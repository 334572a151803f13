"""Siamese pairs: the frozen encoder embeds target, text and sentences apart, and a small
head reads their comparison plus ``models.pairs.SimilarityFeatures``.

For pairs too many to fine-tune on (FNC-1's 50k headline-body pairs): each distinct text is
encoded once and cached under a hash of (encoder, text).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from labeling.functions import split_sentences
from models.data import Examples
from models.encoder import EmbeddingCache
from models.pairs import SimilarityFeatures
from models.transformer.network import PairHead


class SiameseFeatures:
    """The siamese mode of ``TransformerModel`` (``net``, ``cfg``, ``spec``, ``similarity``
    and ``_cache`` are the model's)."""

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings, each distinct text encoded once (the cache keys by text)."""
        if self._cache is None:
            key = f"{self.cfg.model_name_or_path}|{self.cfg.max_length}|{self.cfg.long_text}"
            self._cache = EmbeddingCache(self.cfg.embedding_cache, key)
        out = self._cache.encode(SimpleNamespace(encode=self.encode_texts), texts)
        return out.astype(np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """The EmbeddingCache's encoder interface: mean-pooled, normalised, no gradients."""
        if not texts:
            return np.zeros((0, self.net.encoder.config.hidden_size), dtype=np.float32)
        vecs = self._embed_all(self.encode(texts, None))
        return torch.nn.functional.normalize(vecs, dim=-1).cpu().numpy()

    def _pair_features(self, texts: list[str], targets: list[str] | None) -> torch.Tensor:
        """[u, v, |u-v|, u*v] for the text and for its sentence closest to the target,
        the cosines, and the similarity features: one row per pair."""
        if not targets:
            raise ValueError("siamese pair input needs a target for every text")
        first = [self.spec.target_text(t) for t in targets]
        U = self._embed_texts(first)
        V = self._embed_texts(list(texts))
        n = self.cfg.siamese_sentences
        # Without sentences, the text stands in for its closest sentence (same width).
        sents = {t: (split_sentences(t)[:n] or [t]) if n else [t] for t in dict.fromkeys(texts)}
        flat = [s for ss in sents.values() for s in ss]
        S_all = self._embed_texts(flat)
        start, pos = 0, {}
        for t, ss in sents.items():
            pos[t] = (start, start + len(ss))
            start += len(ss)
        S = np.zeros_like(U)
        cos = np.zeros((len(texts), 3), dtype=np.float32)
        for i, t in enumerate(texts):
            a, b = pos[t]
            c = S_all[a:b] @ U[i]
            j = int(np.argmax(c))
            S[i] = S_all[a + j]
            top = np.sort(c)[::-1][:3]
            cos[i] = (float(U[i] @ V[i]), float(top[0]), float(top.mean()))
        parts = [U, V, np.abs(U - V), U * V, S, np.abs(U - S), U * S, cos]
        if self.similarity is not None:
            import pandas as pd

            parts.append(
                self.similarity.transform(pd.DataFrame({"target": first, "text": list(texts)}))
            )
        return torch.tensor(np.hstack(parts), dtype=torch.float32, device=self.device)

    def _fit_pair_head(self, train: Examples) -> torch.Tensor:
        """Fit the similarity features, build the head for their width, return train rows."""
        import pandas as pd

        assert self.net is not None
        first = [self.spec.target_text(t) for t in (train.targets or [])]
        self.similarity = SimilarityFeatures().fit(
            pd.DataFrame({"target": first, "text": train.texts})
        )
        X = self._pair_features(train.texts, train.targets)
        head = PairHead(X.shape[1], self.cfg.siamese_hidden, len(self.spec.labels))
        head.mean.copy_(X.mean(0))
        head.std.copy_(X.std(0).clamp(min=1e-4))
        self.net.head = head.to(self.device)
        return X

    def _predict_features(self, X: torch.Tensor) -> np.ndarray:
        assert self.net is not None
        self.net.eval()
        with torch.inference_mode():
            logits = self.net.head(X).float()
        p = torch.sigmoid(logits) if self.spec.kind == "multilabel" else torch.softmax(logits, -1)
        return p.cpu().numpy().astype(np.float64)
