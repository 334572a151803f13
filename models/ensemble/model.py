"""The ensemble family: TF-IDF and a second family, calibrated and averaged.

Fitting first fits both members on the whole training set (each runs its own C search
there), then runs ``models.selection.cross_validate`` over the training set alone
(``cv_folds`` folds, grouped by source when there are sources, one repeat; the fold fits
reuse the chosen C) to get each member's out-of-fold probabilities. On them, each member
gets a temperature (``fit_temperature``: an over-confident member would otherwise outvote
a better-calibrated one), then every baseline weight ``w`` of ``weight_grid`` is scored on
the mix ``w * p_baseline + (1 - w) * p_member`` by the task's selection metric
(multi-label: at per-label thresholds tuned on the same out-of-fold mix, which become the
bundle's; a tie goes to the lower log-loss). The split the bundle is tuned or scored on
never enters these choices.

A weight of 0 or 1 leaves one member out at scoring, so a mix that does not help costs
nothing. Bundles hold ``baseline/`` and ``member/`` (each its family's own format) and
``ensemble.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from models.base import FitOptions, MetricLogger, ModelBundle, TextModel, fit_temperature, softmax
from models.baseline import BaselineModel
from models.data import Examples, TaskSpec
from models.ensemble.config import EnsembleConfig
from models.metrics import fixed_rule_score, oof_score, through_temperature
from models.registry import get_family
from models.selection import CVPlan, SelectionError, cross_validate, make_folds, primary_strata

MEMBERS = ("baseline", "member")


def _logits(p: np.ndarray, kind: str) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p)) if kind == "multilabel" else np.log(p)


def _log_loss(y: np.ndarray, p: np.ndarray, kind: str) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    if kind == "multilabel":
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def scaled(p: np.ndarray, temperature: float, kind: str) -> np.ndarray:
    """Probabilities ``p`` through a temperature (unchanged at 1)."""
    if temperature == 1.0 or not len(p):
        return p
    z = _logits(p, kind) / temperature
    return 1.0 / (1.0 + np.exp(-z)) if kind == "multilabel" else softmax(z)


class EnsembleModel(TextModel):
    family = "ensemble"

    def __init__(self, spec: TaskSpec, cfg: EnsembleConfig | None = None, seed: int = 13) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or EnsembleConfig()
        self.baseline: TextModel | None = None
        self.member: TextModel | None = None
        self.weight: float | None = None  # of the baseline; the member gets 1 - weight
        self.temperatures: dict[str, float] = {m: 1.0 for m in MEMBERS}
        self.raw_thresholds: list[float] = []  # out-of-fold thresholds, before the bundle's T
        self.cv_scores: dict[str, float] = {}  # weight -> out-of-fold selection metric
        self.member_scores: dict[str, float] = {}  # each member alone, out of fold
        self._template: TextModel | None = None  # the first member built: shares its cache

    # ------------------------------------------------------------------ members
    def _new(self, which: str, fold: bool = False) -> TextModel:
        """A fresh, unfitted member. Embedding members share one encoder and chunk cache,
        so the folds and the final fit embed each training text once, not six times.

        ``fold``: a member of an out-of-fold fit takes the C its whole-training-set twin
        chose by its own search instead of searching again in every fold (as
        ``models.training.cross_validated`` does): the same choice, a fifth of the fits.
        """
        if which == "baseline":
            bcfg = self.cfg.baseline
            best = getattr(self.baseline, "best_C", None)
            if fold and bcfg.cv_search and best is not None:
                bcfg = bcfg.model_copy(update={"cv_search": False, "C": float(best)})
            return BaselineModel(self.spec, bcfg, seed=self.seed)
        name = self.cfg.member
        cls = get_family(name).model()
        mcfg = getattr(self.cfg, name)
        best = getattr(self.member, "best_C", None)
        if fold and best is not None and hasattr(mcfg, "C_grid"):
            mcfg = mcfg.model_copy(update={"C_grid": [float(best)]})
        m = cls(self.spec, mcfg, seed=self.seed)  # type: ignore[call-arg]
        if name in ("embedding", "static"):
            if self._template is None:
                self._template = m
            else:
                m.share_encoder(self._template)  # type: ignore[attr-defined]
        return m

    def check(self) -> None:
        self._new("baseline").check()
        self._new("member").check()

    @property
    def mode(self) -> str:
        return f"TF-IDF + {self.cfg.member}, calibrated probabilities averaged"

    # ------------------------------------------------------------------ the choice
    def _score(self, y: np.ndarray, p: np.ndarray) -> tuple[float, np.ndarray | None]:
        """The selection metric of out-of-fold probabilities (multi-label: at per-label
        thresholds tuned on them, which are returned)."""
        return oof_score(self.spec.kind, y, p)

    def out_of_fold(self, train: Examples) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
        """Each member's out-of-fold probabilities on ``train`` and the rows they cover
        (all, with plain folds), or None when the set is too small to fold."""
        plan = CVPlan(self.cfg.cv_folds, 1, self.seed)
        groups = train.groups if train.groups and len(set(train.groups)) >= 3 else None
        try:
            folds = make_folds(primary_strata(train.y, self.spec.kind), groups, plan)
        except SelectionError:
            return None
        n, width = len(train), len(self.spec.labels)
        oof = {m: np.zeros((n, width)) for m in MEMBERS}
        covered = np.zeros(n, dtype=bool)
        order = iter(folds)  # cross_validate scores the folds in this order

        def fit(tr: Examples, _tune: Examples) -> tuple[TextModel, TextModel]:
            models = self._new("baseline", fold=True), self._new("member", fold=True)
            for m in models:
                m.fit(tr)
            return models

        def score(models: tuple[TextModel, TextModel], te: Examples, _tr: Examples):
            f = next(order)
            covered[f.test] = True
            out = {}
            for name, m in zip(MEMBERS, models, strict=True):
                oof[name][f.test] = m.predict_proba(te.texts, te.targets)
                out[name] = fixed_rule_score(self.spec.kind, te.y, oof[name][f.test])
            return out

        cross_validate(
            train,
            self.spec,
            fit,
            score,
            trivial=lambda _tr, _te: {},
            plan=plan,
            tune_fraction=0.0,
            metrics=MEMBERS,
            folds=folds,
        )
        return oof, covered

    def choose_weight(self, y: np.ndarray, oof: dict[str, np.ndarray]) -> None:
        """Member temperatures, the baseline's weight and (multi-label) thresholds, all on
        the out-of-fold probabilities ``oof`` with labels ``y``."""
        kind = self.spec.kind
        if self.cfg.calibrate_members:
            self.temperatures = {
                m: fit_temperature(_logits(oof[m], kind), y, kind) for m in MEMBERS
            }
        p = {m: scaled(oof[m], self.temperatures[m], kind) for m in MEMBERS}
        self.member_scores = {m: self._score(y, p[m])[0] for m in MEMBERS}
        best: tuple[tuple[float, float, float], float, np.ndarray | None] | None = None
        self.cv_scores = {}
        for w in self.cfg.weight_grid:
            mix = w * p["baseline"] + (1 - w) * p["member"]
            s, th = self._score(y, mix)
            self.cv_scores[f"{w:g}"] = s
            # A metric tie (F1 moves in steps on a few hundred items) goes to the lower
            # log-loss of the mix, then to the weight nearer an even average.
            key = (round(s, 12), -_log_loss(y, mix, kind), -abs(w - 0.5))
            if best is None or key > best[0]:
                best = (key, float(w), th)
        assert best is not None  # weight_grid has at least one entry
        self.weight = best[1]
        self.raw_thresholds = [] if best[2] is None else [float(t) for t in best[2]]

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        if self.spec.kind == "multiclass" and len(np.unique(train.y)) < 2:
            raise ValueError("training data has a single class; nothing to learn")
        # The members as they ship first: their own searches (C) then fix the fold fits'.
        self.baseline, self.member = self._new("baseline"), self._new("member")
        self.baseline.fit(train, dev)
        self.member.fit(train, dev, options=options)
        folded = self.out_of_fold(train)
        if folded is None:  # too few items or groups to fold: an even average
            grid = self.cfg.weight_grid
            self.weight = float(min(grid, key=lambda w: abs(w - 0.5)))
            self.cv_scores, self.raw_thresholds = {}, []
        else:
            oof, covered = folded
            self.choose_weight(train.y[covered], {m: oof[m][covered] for m in MEMBERS})
        if log is not None and self.cv_scores:
            log({"ensemble_weight": self.weight, "oof_best": max(self.cv_scores.values())}, 0)

    def finalize(self, bundle: ModelBundle, data: Any) -> ModelBundle:
        """The member's own finalize (a transformer picks int8 or fp32 here), then the
        out-of-fold thresholds moved through the bundle's dev temperature: a raw mix over
        ``t`` is a calibrated one over ``sigmoid(logit(t) / T)``."""
        assert self.member is not None, "fit first"
        member_info = self.member.finalize(ModelBundle(self.member), data).info
        use_oof = self.spec.kind == "multilabel" and self.cfg.thresholds == "oof"
        if use_oof and self.raw_thresholds:
            bundle.thresholds = through_temperature(self.raw_thresholds, bundle.temperature)
        bundle.info["ensemble"] = {
            "member": self.cfg.member,
            "weight": self.weight,
            "temperatures": dict(self.temperatures),
            "oof_scores": dict(self.cv_scores),
            "oof_member_scores": dict(self.member_scores),
            "thresholds": "oof" if use_oof and self.raw_thresholds else "dev",
            "member_info": member_info,
        }
        return bundle

    # ------------------------------------------------------------------ predicting
    def member_probas(
        self, texts: list[str], targets: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Each member's probabilities through its out-of-fold temperature (a member with
        weight 0 is not run)."""
        if self.baseline is None or self.member is None or self.weight is None:
            raise RuntimeError("model is not fitted")
        zero = np.zeros((len(texts), len(self.spec.labels)))
        out = {}
        for name, m, w in zip(
            MEMBERS, (self.baseline, self.member), (self.weight, 1 - self.weight), strict=True
        ):
            active = w > 0 and bool(texts)
            p = m.predict_proba(texts, targets) if active else zero
            out[name] = scaled(p, self.temperatures[name], self.spec.kind) if active else p
        return out

    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        p = self.member_probas(texts, targets)
        w = float(self.weight or 0.0)
        return w * p["baseline"] + (1 - w) * p["member"]

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        if self.baseline is None or self.member is None:
            raise RuntimeError("model is not fitted")
        path.mkdir(parents=True, exist_ok=True)
        self.baseline.save(path / "baseline")
        self.member.save(path / "member")
        meta = {
            "member": self.cfg.member,
            "weight": self.weight,
            "temperatures": self.temperatures,
            "raw_thresholds": self.raw_thresholds,
            "cv_scores": self.cv_scores,
            "member_scores": self.member_scores,
            # the members' sections travel in their own folders; these say how it mixed
            "cfg": self.cfg.model_dump(
                include={"member", "weight_grid", "cv_folds", "calibrate_members", "thresholds"}
            ),
        }
        (path / "ensemble.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> EnsembleModel:
        meta = json.loads((path / "ensemble.json").read_text())
        m = cls(spec, EnsembleConfig(**meta["cfg"]))
        m.baseline = BaselineModel.load(path / "baseline", spec)
        m.member = get_family(meta["member"]).model().load(path / "member", spec)
        m.weight = float(meta["weight"])
        m.temperatures = {k: float(v) for k, v in meta["temperatures"].items()}
        m.raw_thresholds = [float(t) for t in meta["raw_thresholds"]]
        m.cv_scores = meta.get("cv_scores", {})
        m.member_scores = meta.get("member_scores", {})
        return m
