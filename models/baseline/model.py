"""The strong linear baseline: TF-IDF n-grams into logistic regression or a linear SVM.

For (target, text) pairs the features add the target itself and the sentences around
its mentions (where stance toward it is said), so one model can favor Russia and oppose
NATO in the same article. When the target is a marked span (``[[mention]]``), the words
either side of it are a feature block of their own: two people in one sentence get
different features. When the target is text (a headline), ``similarity_features`` adds
how much the two overlap (``models/pairs.py``), since body n-grams alone cannot tell a
related headline from an unrelated one for the same body. Multi-label is one-vs-rest,
written out so that labels with no positive example and per-example weights (the label
model's confidence) both work.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from models.base import FitOptions, MetricLogger, TextModel, softmax
from models.baseline.config import BaselineConfig
from models.data import SPAN_OPEN, Examples, PolarityCues, TargetWindows, TaskSpec, span_context
from models.metrics import fixed_rule_score
from models.pairs import HEDGING, REFUTING, SimilarityFeatures


def _tfidf(cfg: BaselineConfig, max_features: int | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, cfg.ngram_max),
        min_df=cfg.min_df,
        max_features=max_features or cfg.max_features,
        sublinear_tf=True,
        strip_accents="unicode",
        dtype=np.float32,
    )


def _text_features(cfg: BaselineConfig):
    if not cfg.char_ngrams:
        return _tfidf(cfg)
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 5),
        min_df=cfg.min_df,
        max_features=cfg.max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )
    return FeatureUnion([("words", _tfidf(cfg)), ("chars", chars)])


class BaselineModel(TextModel):
    family = "baseline"

    def __init__(self, spec: TaskSpec, cfg: BaselineConfig | None = None, seed: int = 13) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or BaselineConfig()
        self.features: ColumnTransformer | None = None
        self.estimators: list = []  # multiclass: one; multi-label: one per label (or None)
        self.constant: dict[int, float] = {}
        self.windows = TargetWindows(spec, self.cfg.target_window)
        self.cues = PolarityCues(spec.cue_lexicon) if spec.cue_lexicon else None
        # One row per (fold, C) of the grouped CV search, for the training run to log as
        # nested MLflow runs; empty when the search is off.
        self.cv_results: list[dict] = []
        self.cv_choice: dict = {}  # the chosen C and how sure (``models.selection.Choice``)
        self.spans = False  # set by fit: do the texts carry marked target spans?

    # ------------------------------------------------------------------ features
    def _frame(self, texts: list[str], targets: list[str] | None) -> pd.DataFrame:
        df = pd.DataFrame({"text": texts})
        if self.spec.pair:
            tg = targets or [""] * len(texts)
            df["target"] = [self.spec.target_text(t) for t in tg]
            df["window"] = [self.windows(x, t) for x, t in zip(texts, tg, strict=True)]
            if self.spans:
                df["span"] = [span_context(x, self.cfg.span_window) for x in texts]
            if self.spec.cue_lexicon:
                counts = np.array([self.cues(w) for w in df["window"]], dtype=float)
                counts = counts.reshape(len(df), 2)
                df["cue_favor"] = np.log1p(counts[:, 0])
                df["cue_against"] = np.log1p(counts[:, 1])
                df["cue_net"] = np.sign(counts[:, 0] - counts[:, 1])
        return df

    def _make_features(self) -> ColumnTransformer:
        parts = []
        if not self.spec.pair or self.cfg.pair_full_text:
            parts.append(("text", _text_features(self.cfg), "text"))
        if self.spec.pair:
            parts.append(("window", _tfidf(self.cfg), "window"))
            if self.cfg.target_features:
                parts.append(("target", _tfidf(self.cfg, 5000), "target"))
            if self.spans:
                parts.append(("span", _tfidf(self.cfg), "span"))
            if self.cfg.similarity_features:
                sim = SimilarityFeatures(
                    self.cfg.refuting_cues or REFUTING, self.cfg.hedging_cues or HEDGING
                )
                parts.append(("similarity", sim, ["target", "text"]))
            if self.spec.cue_lexicon:
                parts.append(("cues", "passthrough", ["cue_favor", "cue_against", "cue_net"]))
        return ColumnTransformer(parts, sparse_threshold=1.0, n_jobs=1)

    def _classifier(self, C: float | None = None):
        c = C if C is not None else self.cfg.C
        if self.cfg.classifier == "linear_svm":
            # Margins, not probabilities: ``_proba`` squashes them and the bundle's
            # temperature, fitted on the tuning cut as for every family, calibrates them.
            # A cross-validated sigmoid would hold a third of a small training set out.
            return LinearSVC(C=c, class_weight=self.cfg.class_weight)
        return LogisticRegression(
            C=c,
            class_weight=self.cfg.class_weight,
            max_iter=3000,
            solver="liblinear" if self.spec.kind == "multilabel" else "lbfgs",
        )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        self.spans = bool(
            self.spec.pair and self.cfg.span_window and any(SPAN_OPEN in t for t in train.texts)
        )
        X = self._frame(train.texts, train.targets)
        self.features = self._make_features()
        F = self.features.fit_transform(X)
        C = self._search_C(F, train) if self.cfg.cv_search else self.cfg.C
        self.best_C = C
        w = train.weights
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.spec.kind == "multiclass":
                if len(np.unique(train.y)) < 2:
                    raise ValueError("training data has a single class; nothing to learn")
                clf = self._classifier(C)
                clf.fit(F, train.y, sample_weight=w)
                self.estimators = [clf]
            else:
                from joblib import Parallel, delayed

                def fit_one(j: int):
                    yj = train.y[:, j]
                    if yj.min() == yj.max():  # no positive (or no negative) example
                        return None
                    return self._classifier(C).fit(F, yj, sample_weight=w)

                # liblinear releases the GIL: threads share the feature matrix, no copies.
                # scikit-learn may canonicalise a sparse matrix in place (sum duplicates,
                # sort indices); done once here, no thread mutates what the others read.
                F = F.tocsr()
                F.sum_duplicates()
                F.sort_indices()
                self.estimators = Parallel(n_jobs=self.cfg.n_jobs, backend="threading")(
                    delayed(fit_one)(j) for j in range(len(self.spec.labels))
                )
                self.constant = {
                    j: float(train.y[:, j].max())
                    for j, e in enumerate(self.estimators)
                    if e is None
                }

    def _search_C(self, F, train: Examples) -> float:
        """C by repeated grouped CV (``models.selection``: folds hold out whole outlets,
        stratified, ``cv_k`` x ``cv_repeats``); every C is scored on the same folds under
        the fixed decision rule, and the choice records how sure it is."""
        from models.selection import CVPlan, choose, cross_validate, make_folds, primary_strata

        plan = CVPlan(self.cfg.cv_k, self.cfg.cv_repeats, self.seed)
        groups = train.groups if train.groups and len(set(train.groups)) >= 3 else None
        folds = make_folds(primary_strata(train.y, self.spec.kind), groups, plan)
        metric = ("fixed_rule",)
        self.cv_results = []
        results, values = {}, {}
        for C in self.cfg.cv_grid_C:
            values[f"C={C:g}"] = float(C)

            def fit(tr: Examples, _tune: Examples, C: float = C) -> BaselineModel:
                sub = BaselineModel(
                    self.spec, self.cfg.model_copy(update={"cv_search": False, "C": C})
                )
                sub.fit(tr)
                return sub

            def score(sub: BaselineModel, va: Examples, _tr: Examples) -> dict[str, float]:
                p = sub.predict_proba(va.texts, va.targets)
                return {"fixed_rule": fixed_rule_score(self.spec.kind, va.y, p)}

            def record(row: dict, C: float = C) -> None:
                self.cv_results.append(
                    {
                        "fold": row["repeat"] * plan.k + row["fold"],
                        "repeat": row["repeat"],
                        "C": float(C),
                        "f1": row["scores"]["fixed_rule"],
                        "n_train": row["n_train"],
                        "n_val": row["n_test"],
                        "held_out": row["held_out"],
                        "seconds": row["seconds"],
                    }
                )

            results[f"C={C:g}"] = cross_validate(
                train,
                self.spec,
                fit,
                score,
                trivial=lambda _tr, _te: {"fixed_rule": 0.0},
                plan=plan,
                tune_fraction=0.0,
                metrics=metric,
                folds=folds,
                on_fold=record,
            )
        choice = choose(results)
        self.cv_choice = choice.to_json()
        return values[choice.winner]

    # ------------------------------------------------------------------ predicting
    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.features is None:
            raise RuntimeError("model is not fitted")
        F = self.features.transform(self._frame(texts, targets))
        if self.spec.kind == "multiclass":
            clf = self.estimators[0]
            out = np.zeros((len(texts), len(self.spec.labels)))
            out[:, clf.classes_] = _proba(clf, F)
            return out
        out = np.zeros((len(texts), len(self.spec.labels)))
        for j, clf in enumerate(self.estimators):
            if clf is None:
                out[:, j] = self.constant[j]
            else:
                out[:, j] = _proba(clf, F)[:, list(clf.classes_).index(1)]
        return out

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        with (path / "baseline.pkl").open("wb") as fh:
            pickle.dump(
                {
                    "cfg": self.cfg.model_dump(),
                    "features": self.features,
                    "estimators": self.estimators,
                    "constant": self.constant,
                    "spans": self.spans,
                },
                fh,
            )

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> BaselineModel:
        with (path / "baseline.pkl").open("rb") as fh:
            state = pickle.load(fh)
        m = cls(spec, BaselineConfig(**state["cfg"]))
        m.features, m.estimators, m.constant = (
            state["features"],
            state["estimators"],
            state["constant"],
        )
        m.spans = state.get("spans", False)
        return m


def _proba(clf, F) -> np.ndarray:
    """Class probabilities in ``clf.classes_`` order; an SVM's margins through a softmax
    (a sigmoid against zero when there are two classes). Bundles saved with the earlier
    cross-validated sigmoid SVM still load: they have ``predict_proba``."""
    if hasattr(clf, "predict_proba"):
        return clf.predict_proba(F)
    d = np.asarray(clf.decision_function(F), dtype=float)
    if d.ndim == 1:
        d = np.stack([-d / 2, d / 2], axis=1)  # softmax of (-d/2, d/2) is sigmoid(d)
    return softmax(d)
