"""The embedding family: pooled frozen-encoder chunks into a logistic head.

Fitting embeds the training texts once, standardises the pooled vectors and picks the
head's C by an inner cross-validation over the training set (folds grouped by source when
sources are known), whose out-of-fold probabilities also give the multi-label per-label
thresholds: on a few hundred labels they are steadier than thresholds tuned on a small dev
split. Multi-label is one-vs-rest (a label with no positive example is a constant);
multiclass is one multinomial head. Bundles store the encoder itself (the transformer's
weights, or the distilled static model), ``head.pkl`` and ``embedding.json``.
"""

from __future__ import annotations

import json
import pickle
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from models.base import FitOptions, MetricLogger, ModelBundle, TextModel
from models.data import Examples, TaskSpec
from models.embedding.config import EmbeddingConfig, StaticConfig
from models.embedding.encoders import (
    StaticChunkEncoder,
    TransformerChunkEncoder,
    distilled_path,
)
from models.embedding.inputs import TargetSentences, pack_chunks, pool
from models.encoder import EmbeddingCache, ModelPathError, resolve_model_path, set_threads
from models.metrics import oof_score, through_temperature

Encoder = TransformerChunkEncoder | StaticChunkEncoder


class EmbeddingModel(TextModel):
    family = "embedding"
    config_class: type[EmbeddingConfig] = EmbeddingConfig

    def __init__(self, spec: TaskSpec, cfg: EmbeddingConfig | None = None, seed: int = 13) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or self.config_class()
        self.encoder: Encoder | None = None
        self.scaler: StandardScaler | None = None
        self.estimators: list = []  # multiclass: one; multi-label: one per label (or None)
        self.constant: dict[int, float] = {}
        self.raw_thresholds: list[float] = []  # inner-CV thresholds, before temperature
        self.best_C: float | None = None
        self.cv_scores: dict[str, float] = {}  # C -> inner-CV selection metric
        self.encoder_info: dict[str, Any] = {}
        self.target_sentences = TargetSentences(spec)
        self._lru: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def mode(self) -> str:
        return f"frozen {self.cfg.encoder} encoder, {self.cfg.pooling}-pooled chunks + logreg"

    # ------------------------------------------------------------------ encoder
    def check(self) -> None:
        resolve_model_path(self.cfg.model_name_or_path)
        if self.cfg.encoder == "static":
            try:
                import model2vec.distill  # noqa: F401
            except ImportError as exc:
                raise ModelPathError(
                    f"encoder: static needs model2vec and its distillation extras ({exc}); "
                    "pip install model2vec skeletoken"
                ) from None

    def _load_encoder(self) -> Encoder:
        if self.encoder is not None:
            return self.encoder
        cfg = self.cfg
        if cfg.encoder == "static":
            t0 = time.perf_counter()
            path = distilled_path(cfg.model_name_or_path, cfg.static_pca_dims, cfg.static_cache)
            seconds = time.perf_counter() - t0
            self.encoder = StaticChunkEncoder(path)
            self.encoder_info = {"distil_seconds": round(seconds, 2), "static_path": path}
        else:
            set_threads(cfg.threads)
            self.encoder = TransformerChunkEncoder(
                resolve_model_path(cfg.model_name_or_path),
                cfg.max_tokens,
                cfg.batch_size,
                cfg.pad_multiple,
                cfg.device,
            )
        self.encoder_info.update(
            encoder=cfg.encoder, source=cfg.model_name_or_path, dim=self.encoder.dim
        )
        return self.encoder

    def share_encoder(self, template: EmbeddingModel) -> None:
        """Use ``template``'s encoder and chunk cache: a family that fits many heads (the
        ensemble's folds, the small-gold learners' candidates) embeds each text once."""
        self.encoder = template._load_encoder()
        self.encoder_info = template.encoder_info
        self._lru = template._lru

    def _embed(self, chunks: list[str]) -> dict[str, np.ndarray]:
        """A vector per distinct chunk: the bounded in-memory LRU first, then the disk
        cache (when configured), then the encoder."""
        enc = self._load_encoder()
        found: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for c in dict.fromkeys(chunks):
            v = self._lru.get(c)
            if v is None:
                missing.append(c)
            else:
                self._lru.move_to_end(c)
                found[c] = v
        if missing:
            if self.cfg.embedding_cache:
                key = f"{enc.kind}:{enc.digest}:{self.cfg.max_tokens}"
                vecs = EmbeddingCache(self.cfg.embedding_cache, key).encode(enc, missing)
            else:
                vecs = enc.encode(missing)
            for c, v in zip(missing, vecs, strict=True):
                found[c] = v
                if self.cfg.memory_cache:
                    self._lru[c] = v
            while len(self._lru) > self.cfg.memory_cache:
                self._lru.popitem(last=False)
        return found

    # ------------------------------------------------------------------ features
    def features(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        """The pooled article vector, and for pairs the pooled target sentences and a
        flag saying whether the text mentions the target at all."""
        enc = self._load_encoder()
        cfg = self.cfg

        def chunks_of(text: str) -> list[str]:
            return pack_chunks(text, enc.count_tokens, cfg.max_tokens, cfg.max_chunks)

        pairs = self.spec.pair and cfg.target_input
        use_article = not pairs or cfg.pair_article
        memo: dict[str, list[str]] = {}  # stance repeats an article once per target
        for t in texts if use_article else []:
            if t not in memo:
                memo[t] = chunks_of(t)
        art = [memo[t] for t in texts] if use_article else [[] for _ in texts]
        tgt: list[list[str]] = []
        if pairs:
            tg = targets or [None] * len(texts)
            for text, target in zip(texts, tg, strict=True):
                sents = self.target_sentences(text, target)
                tgt.append(chunks_of(" ".join(sents)) if sents else [])
        vecs = self._embed([c for cs in art + tgt for c in cs])
        rows = []
        for i, cs in enumerate(art):
            parts = []
            if use_article:
                parts.append(pool(np.stack([vecs[c] for c in cs]), cfg.pooling, enc.dim))
            if pairs:
                tv = np.stack([vecs[c] for c in tgt[i]]) if tgt[i] else np.zeros((0, enc.dim))
                parts += [pool(tv, cfg.pooling, enc.dim), np.array([float(bool(tgt[i]))])]
            rows.append(np.concatenate(parts).astype(np.float32))
        return np.stack(rows)

    # ------------------------------------------------------------------ the head
    def _fit_head(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, C: float):
        """(estimators, constants) of the head on standardised features."""

        def clf():
            return LogisticRegression(C=C, class_weight=self.cfg.class_weight, max_iter=2000)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.spec.kind == "multiclass":
                if len(np.unique(y)) < 2:
                    return [None], {int(y[0]): 1.0}
                return [clf().fit(X, y, sample_weight=w)], {}
            from joblib import Parallel, delayed

            def one(j: int):
                yj = y[:, j]
                return None if yj.min() == yj.max() else clf().fit(X, yj, sample_weight=w)

            ests = Parallel(n_jobs=self.cfg.n_jobs, backend="threading")(
                delayed(one)(j) for j in range(y.shape[1])
            )
            const = {j: float(y[:, j].max()) for j, e in enumerate(ests) if e is None}
            return ests, const

    def _head_proba(self, X: np.ndarray, ests: list, const: dict[int, float]) -> np.ndarray:
        out = np.zeros((len(X), len(self.spec.labels)))
        if self.spec.kind == "multiclass":
            if ests[0] is None:  # a single class seen: it is certain
                out[:, next(iter(const))] = 1.0
            else:
                out[:, ests[0].classes_] = ests[0].predict_proba(X)
            return out
        for j, e in enumerate(ests):
            out[:, j] = const[j] if e is None else e.predict_proba(X)[:, 1]
        return out

    def _folds(self, train: Examples) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

        n, k = len(train), self.cfg.cv_folds
        idx = np.arange(n)
        groups = train.groups
        if groups and len(set(groups)) >= 3:
            return list(GroupKFold(n_splits=min(k, len(set(groups)))).split(idx, groups=groups))
        if self.spec.kind == "multiclass":
            smallest = min(c for c in np.bincount(train.y) if c > 0)
            if smallest >= 2:
                skf = StratifiedKFold(min(k, smallest), shuffle=True, random_state=self.seed)
                return list(skf.split(idx, train.y))
        return list(KFold(min(k, n), shuffle=True, random_state=self.seed).split(idx))

    def _cv_score(self, y: np.ndarray, oof: np.ndarray) -> tuple[float, np.ndarray | None]:
        """The selection metric of out-of-fold probabilities (multi-label: at thresholds
        tuned on them, which are returned)."""
        return oof_score(self.spec.kind, y, oof)

    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        if self.spec.kind == "multiclass" and len(np.unique(train.y)) < 2:
            raise ValueError("training data has a single class; nothing to learn")
        X = self.features(train.texts, train.targets)
        self.scaler = StandardScaler().fit(X)
        Xs = self.scaler.transform(X)
        w = train.weights
        best: tuple[float, float, np.ndarray | None] | None = None
        self.cv_scores = {}
        # One C and thresholds not taken from the inner CV: nothing to cross-validate.
        inner = len(self.cfg.C_grid) > 1 or (
            self.spec.kind == "multilabel" and self.cfg.thresholds == "inner_cv"
        )
        folds = self._folds(train) if inner and len(train) >= 4 else []
        for C in self.cfg.C_grid if folds else []:
            oof = np.zeros((len(train), len(self.spec.labels)))
            for tr, va in folds:
                ests, const = self._fit_head(Xs[tr], train.y[tr], None if w is None else w[tr], C)
                oof[va] = self._head_proba(Xs[va], ests, const)
            score, th = self._cv_score(train.y, oof)
            self.cv_scores[str(C)] = score
            if best is None or score > best[0]:
                best = (score, C, th)
        if best is None:  # too few examples (or no need) to cross-validate: the grid's middle
            grid = sorted(self.cfg.C_grid)
            best = (float("nan"), grid[len(grid) // 2], None)
        self.best_C = float(best[1])
        self.raw_thresholds = [] if best[2] is None else [float(t) for t in best[2]]
        self.estimators, self.constant = self._fit_head(Xs, train.y, w, self.best_C)
        if log is not None and self.cv_scores:
            log({"inner_cv_best": float(best[0]), "inner_cv_C": self.best_C}, 0)

    def finalize(self, bundle: ModelBundle, data) -> ModelBundle:
        """Inner-CV thresholds (when chosen) moved through the dev temperature: a raw
        probability over ``t`` is a calibrated one over ``sigmoid(logit(t) / T)``."""
        use_cv = self.spec.kind == "multilabel" and self.cfg.thresholds == "inner_cv"
        if use_cv and self.raw_thresholds:
            bundle.thresholds = through_temperature(self.raw_thresholds, bundle.temperature)
        bundle.info["embedding"] = {
            **self.encoder_info,
            "pooling": self.cfg.pooling,
            "C": self.best_C,
            "inner_cv": self.cv_scores,
            "thresholds": "inner_cv" if use_cv and self.raw_thresholds else "dev",
        }
        return bundle

    # ------------------------------------------------------------------ predicting
    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.scaler is None:
            raise RuntimeError("model is not fitted")
        if not texts:
            return np.zeros((0, len(self.spec.labels)))
        Xs = self.scaler.transform(self.features(texts, targets))
        return self._head_proba(Xs, self.estimators, self.constant)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        enc = self._load_encoder()
        path.mkdir(parents=True, exist_ok=True)
        enc.save(path / "encoder")
        with (path / "head.pkl").open("wb") as fh:
            pickle.dump(
                {
                    "scaler": self.scaler,
                    "estimators": self.estimators,
                    "constant": self.constant,
                    "raw_thresholds": self.raw_thresholds,
                    "best_C": self.best_C,
                    "cv_scores": self.cv_scores,
                },
                fh,
            )
        cfg = self.cfg.model_dump()
        cfg.update(model_name_or_path="(bundled)", embedding_cache=None, static_cache=None)
        meta = {"cfg": cfg, "encoder_info": self.encoder_info}
        (path / "embedding.json").write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> EmbeddingModel:
        meta = json.loads((path / "embedding.json").read_text())
        cfg = cls.config_class(**meta["cfg"])
        m = cls(spec, cfg)
        enc_dir = str(path / "encoder")
        if cfg.encoder == "static":
            m.encoder = StaticChunkEncoder(enc_dir)
        else:
            set_threads(cfg.threads)
            m.encoder = TransformerChunkEncoder(
                enc_dir, cfg.max_tokens, cfg.batch_size, cfg.pad_multiple, cfg.device
            )
        m.encoder_info = meta.get("encoder_info", {})
        with (path / "head.pkl").open("rb") as fh:
            state = pickle.load(fh)
        m.scaler, m.estimators, m.constant = state["scaler"], state["estimators"], state["constant"]
        m.raw_thresholds, m.best_C = state["raw_thresholds"], state["best_C"]
        m.cv_scores = state.get("cv_scores", {})
        return m


class StaticEmbeddingModel(EmbeddingModel):
    """``--family static``: the embedding family on a model2vec distillation of the
    configured encoder (its own family name, so bundles and runs say which tier ran)."""

    family = "static"
    config_class = StaticConfig
