"""Learners for a few hundred gold labels and an unlabelled corpus beside them.

The training set holds the gold rows and extra rows marked weak (``models.data.WEAK_PREFIX``:
the label model's output over the unlabelled texts, or texts whose labels are not read).
A learner is a list of candidate ways to use the extra rows; the candidate is chosen by an
inner cross-validation **over the gold rows only** (``cv_folds`` folds, grouped by source
when there are sources, one repeat): every candidate is fitted on each training fold's gold
plus the extra rows and scored on the fold's held-out gold, so extra rows that do not help
are left out (the first candidate is always "gold only", and a tie goes to it).

- ``weakgold``: the weak rows' weights (their label-model confidence) times each of
  ``weight_grid`` (0: gold only). The weak labels can then not drown the gold: their
  weight is what the gold's own folds say it should be.
- ``selftrain``: the gold model pseudo-labels the extra rows (their weak labels are never
  read), the rows at least ``t`` confident join the gold (weighted by confidence) and the
  model is refitted, for 1..``rounds`` rounds; ``t`` and the rounds come from the CV.

The member (``baseline`` or ``embedding``) is first fitted on all the gold with its own
search (C); the fold and candidate fits reuse that C, and embedding members share one
encoder and chunk cache, so each text is embedded once. Multi-label thresholds are the
chosen candidate's out-of-fold ones (gold alone keeps the member's own). A training set
without weak rows (``mediaframe train`` on labels.parquet) gives the member fitted on the
gold. Bundles hold ``member/``
(the member family's own format) and ``smallgold.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from models.base import FitOptions, MetricLogger, ModelBundle, TextModel
from models.data import Examples, TaskSpec, weak_mask
from models.metrics import oof_score, through_temperature
from models.registry import get_family
from models.selection import CVPlan, SelectionError, join_examples, make_folds, primary_strata
from models.smallgold.config import SelfTrainConfig, SmallGoldConfig, WeakGoldConfig

Candidate = tuple[str, TextModel, int]  # (name, fitted member, extra rows it trained on)


class SmallGoldModel(TextModel):
    """The shared machinery; subclasses name their candidates."""

    config_class: type[SmallGoldConfig] = SmallGoldConfig

    def __init__(self, spec: TaskSpec, cfg: SmallGoldConfig | None = None, seed: int = 13) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or self.config_class()
        self.member: TextModel | None = None
        self.choice = ""
        self.cv_scores: dict[str, float] = {}  # candidate -> gold-only out-of-fold score
        self.raw_thresholds: list[float] = []
        self.n_extra = 0
        self.n_added = 0  # extra rows the chosen candidate trained on
        self.best_C: float | None = None
        self._template: TextModel | None = None

    @property
    def mode(self) -> str:
        return f"{self.family} over {self.cfg.member}"

    def check(self) -> None:
        self._new().check()

    # ------------------------------------------------------------------ members
    def _new(self, fixed: bool = False) -> TextModel:
        """An unfitted member; ``fixed`` takes the C the gold-only fit chose."""
        name = self.cfg.member
        mcfg = getattr(self.cfg, name)
        if fixed and self.best_C is not None:
            if name == "embedding":  # one C, no inner folds: thresholds come from ours
                mcfg = mcfg.model_copy(update={"C_grid": [self.best_C], "thresholds": "dev"})
            else:
                mcfg = mcfg.model_copy(update={"cv_search": False, "C": self.best_C})
        m = get_family(name).model()(self.spec, mcfg, seed=self.seed)  # type: ignore[call-arg]
        if hasattr(m, "share_encoder"):
            if self._template is None:
                self._template = m
            else:
                m.share_encoder(self._template)  # type: ignore[attr-defined]
        return m

    def _fit_new(self, train: Examples) -> TextModel:
        m = self._new(fixed=True)
        m.fit(train)
        return m

    def candidates(
        self, gold: Examples, extra: Examples, base: TextModel | None = None
    ) -> Iterator[Candidate]:
        """The candidates fitted on ``gold`` (+ ``extra``), gold only first; ``base`` is
        the gold-only member when already fitted."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        weak = weak_mask(train.ids)
        gold, extra = train.subset(np.nonzero(~weak)[0]), train.subset(np.nonzero(weak)[0])
        if self.spec.kind == "multiclass" and len(np.unique(gold.y)) < 2:
            raise ValueError("the gold has a single class; nothing to learn")
        self._template = None
        first = self._new()
        first.fit(gold, dev, options=options)
        self.best_C = getattr(first, "best_C", None)
        self.n_extra, self.member, self.n_added = len(extra), first, 0
        self.choice, self.cv_scores, self.raw_thresholds = "gold", {}, []
        if not len(extra):
            return
        plan = CVPlan(self.cfg.cv_folds, 1, self.seed)
        groups = gold.groups if gold.groups and len(set(gold.groups)) >= 3 else None
        try:
            folds = make_folds(primary_strata(gold.y, self.spec.kind), groups, plan)
        except SelectionError:
            return
        width = len(self.spec.labels)
        oof: dict[str, np.ndarray] = {}
        covered = np.zeros(len(gold), dtype=bool)
        for f in folds:
            te = gold.subset(f.test)
            covered[f.test] = True
            for name, m, _ in self.candidates(gold.subset(f.train), extra):
                p = oof.setdefault(name, np.zeros((len(gold), width)))
                p[f.test] = m.predict_proba(te.texts, te.targets)
        best: tuple[float, str, np.ndarray | None] | None = None
        for name, p in oof.items():  # in candidate order: gold only first, wins ties
            score, th = oof_score(self.spec.kind, gold.y[covered], p[covered])
            self.cv_scores[name] = score
            if best is None or score > best[0] + 1e-12:
                best = (score, name, th)
        assert best is not None
        self.choice = best[1]
        # Gold alone chosen: the member exactly as it would be without extra rows (its own
        # thresholds), so declining the weak rows costs nothing.
        gold_only = best[1] == next(iter(oof))
        self.raw_thresholds = [] if best[2] is None or gold_only else [float(t) for t in best[2]]
        for name, m, added in self.candidates(gold, extra, base=first):
            if name == self.choice:
                self.member, self.n_added = m, added
                break
        if log is not None:
            log({"smallgold_cv_best": best[0], "smallgold_added": float(self.n_added)}, 0)

    def finalize(self, bundle: ModelBundle, data: Any) -> ModelBundle:
        """The member's own finalize, then (multi-label) the chosen candidate's
        out-of-fold thresholds through the bundle's temperature."""
        assert self.member is not None, "fit first"
        own = ModelBundle(self.member, bundle.temperature, list(bundle.thresholds))
        own = self.member.finalize(own, data)
        bundle.thresholds = own.thresholds
        if self.spec.kind == "multilabel" and self.raw_thresholds:
            bundle.thresholds = through_temperature(self.raw_thresholds, bundle.temperature)
        bundle.info["smallgold"] = {
            "learner": self.family,
            "member": self.cfg.member,
            "choice": self.choice,
            "cv_scores": dict(self.cv_scores),
            "extra_rows": self.n_extra,
            "extra_rows_used": self.n_added,
            "C": self.best_C,
            "member_info": own.info,
        }
        return bundle

    # ------------------------------------------------------------------ predicting
    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.member is None:
            raise RuntimeError("model is not fitted")
        return self.member.predict_proba(texts, targets)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        if self.member is None:
            raise RuntimeError("model is not fitted")
        path.mkdir(parents=True, exist_ok=True)
        self.member.save(path / "member")
        meta = {
            "member": self.cfg.member,
            "choice": self.choice,
            "cv_scores": self.cv_scores,
            "raw_thresholds": self.raw_thresholds,
            "n_extra": self.n_extra,
            "n_added": self.n_added,
            "best_C": self.best_C,
            "cfg": self.cfg.model_dump(exclude={"baseline", "embedding"}),
        }
        (path / "smallgold.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> SmallGoldModel:
        meta = json.loads((path / "smallgold.json").read_text())
        m = cls(spec, cls.config_class(**meta["cfg"]))
        m.member = get_family(meta["member"]).model().load(path / "member", spec)
        m.choice, m.cv_scores = meta["choice"], meta["cv_scores"]
        m.raw_thresholds = [float(t) for t in meta["raw_thresholds"]]
        m.n_extra, m.n_added, m.best_C = meta["n_extra"], meta["n_added"], meta["best_C"]
        return m


class WeakGoldModel(SmallGoldModel):
    """``--family weakgold``: the weak rows at a weight chosen on the gold's own folds."""

    family = "weakgold"
    config_class = WeakGoldConfig
    cfg: WeakGoldConfig

    def candidates(
        self, gold: Examples, extra: Examples, base: TextModel | None = None
    ) -> Iterator[Candidate]:
        yield "w=0", base if base is not None else self._fit_new(gold), 0
        w0 = extra.weights if extra.weights is not None else np.ones(len(extra))
        for w in self.cfg.weight_grid:
            if w <= 0:
                continue
            scaled = replace(extra, weights=w0 * w)
            yield f"w={w:g}", self._fit_new(join_examples(gold, scaled)), len(extra)


class SelfTrainModel(SmallGoldModel):
    """``--family selftrain``: confident pseudo-labels on the extra rows, refitted."""

    family = "selftrain"
    config_class = SelfTrainConfig
    cfg: SelfTrainConfig

    def pseudo_labels(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidence) of predicted probabilities: 0/1 at 0.5 and the mean
        ``max(p, 1 - p)`` over labels, or the arg-max class and its probability."""
        if self.spec.kind == "multilabel":
            return (p >= 0.5).astype(int), np.maximum(p, 1 - p).mean(axis=1)
        return p.argmax(axis=1), p.max(axis=1)

    def candidates(
        self, gold: Examples, extra: Examples, base: TextModel | None = None
    ) -> Iterator[Candidate]:
        base = base if base is not None else self._fit_new(gold)
        yield "none", base, 0
        for t in self.cfg.thresholds:
            m = base
            for r in range(1, self.cfg.rounds + 1):
                y, conf = self.pseudo_labels(m.predict_proba(extra.texts, extra.targets))
                keep = np.nonzero(conf >= t)[0]
                if len(keep):
                    w = conf[keep] * self.cfg.pseudo_weight
                    rows = replace(extra.subset(keep), y=y[keep], weights=w, groups=None)
                    m = self._fit_new(join_examples(gold, rows))
                yield f"t={t:g},r={r}", m, len(keep)
