"""Two stages for (headline, body) pairs, after the FNC-1 systems (Hanselowski et al. 2018).

Stage 1 says whether the pair is about the same thing at all (``unrelated`` against the
rest) from the target-text similarity features of ``models/pairs.py``: 73% of FNC-1 pairs
are unrelated and similarity alone separates them. Stage 2 sees only the pairs stage 1
calls related and picks their stance from TF-IDF n-grams of the target and of the
body's ``top_k`` sentences nearest it, plus the same similarity features (refuting and
hedging cues among them), into logistic regression. Stage 2 is trained on the related
pairs only, so the unrelated majority cannot drown the rare ``disagree``.

``predict_proba`` is the cascade as a distribution: P(unrelated) = 1 - P(related), each
stance P(related) x P(stance | related). A pair under the threshold never reaches stage 2;
its stance mass follows the training prior, and it is decided ``unrelated``.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.base import FitOptions, MetricLogger, TextModel
from models.data import Examples, TaskSpec
from models.pairs import SimilarityFeatures, nearest_sentences
from models.twostage.config import TwoStageConfig


class TwoStageModel(TextModel):
    family = "twostage"

    def __init__(self, spec: TaskSpec, cfg: TwoStageConfig | None = None, seed: int = 13) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or TwoStageConfig()
        self.similarity: SimilarityFeatures | None = None
        self.stage1 = None
        self.text_features: ColumnTransformer | None = None
        self.stage2: LogisticRegression | None = None
        self.prior = np.zeros(0)  # stance distribution of the related training pairs
        self.routed: np.ndarray = np.zeros(0, dtype=bool)  # last predict: reached stage 2

    def check(self) -> None:
        if not self.spec.pair or self.spec.kind != "multiclass":
            raise ValueError(
                f"family 'twostage' needs a multiclass (target, text) pair task; "
                f"{self.spec.name!r} is {self.spec.kind}{' pairs' if self.spec.pair else ''}"
            )
        if self.cfg.unrelated_label not in self.spec.labels:
            raise ValueError(
                f"family 'twostage': unrelated_label {self.cfg.unrelated_label!r} is not a "
                f"label of {self.spec.name!r} (labels: {', '.join(self.spec.labels)})"
            )

    @property
    def _u(self) -> int:
        return self.spec.labels.index(self.cfg.unrelated_label)

    @property
    def _stances(self) -> list[int]:
        return [i for i in range(len(self.spec.labels)) if i != self._u]

    def _frame(self, texts: list[str], targets: list[str] | None) -> pd.DataFrame:
        tg = [self.spec.target_text(t) for t in (targets or [""] * len(texts))]
        return pd.DataFrame({"target": tg, "text": texts})

    def _stage2_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        assert self.similarity is not None
        near = nearest_sentences(self.similarity.tfidf_, df["target"], df["text"], self.cfg.top_k)
        return pd.DataFrame({"target": df["target"].to_list(), "near": near})

    def _tfidf(self, max_features: int | None) -> TfidfVectorizer:
        return TfidfVectorizer(
            ngram_range=(1, self.cfg.ngram_max),
            min_df=self.cfg.min_df,
            max_features=max_features,
            sublinear_tf=True,
            strip_accents="unicode",
            dtype=np.float32,
        )

    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        self.check()
        df = self._frame(train.texts, train.targets)
        y = np.asarray(train.y, dtype=int)
        related = y != self._u
        if related.all() or not related.any():
            raise ValueError("twostage: training data needs both related and unrelated pairs")
        self.similarity = SimilarityFeatures().fit(df)
        S = self.similarity.transform(df)
        if self.cfg.stage1 == "gbdt":
            self.stage1 = HistGradientBoostingClassifier(
                max_iter=self.cfg.stage1_iter, learning_rate=0.1, random_state=self.seed
            )
        else:
            self.stage1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        self.stage1.fit(S, related.astype(int))

        idx = np.flatnonzero(related)
        y2 = y[idx]
        self.prior = np.array([(y2 == j).mean() for j in self._stances])
        if len(np.unique(y2)) < 2:
            raise ValueError("twostage: the related training pairs hold a single stance")
        F = self._stage2_features(df.iloc[idx], S[idx], fit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.stage2 = LogisticRegression(
                C=self.cfg.C, class_weight=self.cfg.class_weight, max_iter=3000
            )
            self.stage2.fit(F, y2)

    def _stage2_features(self, df: pd.DataFrame, S: np.ndarray, fit: bool = False):
        frame = self._stage2_frame(df)
        if fit:
            parts = [("near", self._tfidf(self.cfg.max_features), "near")]
            if self.cfg.target_features:
                parts.append(("target", self._tfidf(20_000), "target"))
            self.text_features = ColumnTransformer(parts, sparse_threshold=1.0)
            T = self.text_features.fit_transform(frame)
        else:
            assert self.text_features is not None
            T = self.text_features.transform(frame)
        return sparse.hstack([sparse.csr_matrix(T), sparse.csr_matrix(S)]).tocsr()

    def relatedness(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        """Stage 1 alone: P(related) per pair."""
        if self.similarity is None or self.stage1 is None:
            raise RuntimeError("model is not fitted")
        S = self.similarity.transform(self._frame(texts, targets))
        return self.stage1.predict_proba(S)[:, 1]

    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.similarity is None or self.stage1 is None or self.stage2 is None:
            raise RuntimeError("model is not fitted")
        df = self._frame(texts, targets)
        S = self.similarity.transform(df)
        p_rel = self.stage1.predict_proba(S)[:, 1]
        routed = p_rel >= self.cfg.relatedness_threshold
        self.routed = routed
        q = np.tile(self.prior, (len(texts), 1))
        idx = np.flatnonzero(routed)
        if len(idx):
            F = self._stage2_features(df.iloc[idx], S[idx])
            q2 = np.zeros((len(idx), len(self._stances)))
            cols = [self._stances.index(c) for c in self.stage2.classes_]
            q2[:, cols] = self.stage2.predict_proba(F)
            q[idx] = q2
        out = np.zeros((len(texts), len(self.spec.labels)))
        out[:, self._u] = 1.0 - p_rel
        out[:, self._stances] = p_rel[:, None] * q
        return out

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        state = {
            "cfg": self.cfg.model_dump(),
            "similarity": self.similarity,
            "stage1": self.stage1,
            "text_features": self.text_features,
            "stage2": self.stage2,
            "prior": self.prior,
        }
        with (path / "twostage.pkl").open("wb") as fh:
            pickle.dump(state, fh)

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> TwoStageModel:
        with (path / "twostage.pkl").open("rb") as fh:
            state = pickle.load(fh)
        m = cls(spec, TwoStageConfig(**state["cfg"]))
        m.similarity, m.stage1 = state["similarity"], state["stage1"]
        m.text_features, m.stage2, m.prior = state["text_features"], state["stage2"], state["prior"]
        return m
