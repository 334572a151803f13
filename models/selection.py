"""Model selection that holds on a few hundred gold labels: repeated grouped CV, a choice
among candidates that says how sure it is, and the gate against the trivial reference.

One dev split of 30-70 documents picks hyper-parameters by noise (issue #21: a transformer
chosen on it lost to TF-IDF on test, and a champion fell below the majority class). So:

- ``make_folds``: k folds x r repeats (default 5 x 3), grouped by source so an outlet is
  never on both sides, stratified by class (multi-label: each item's most frequent label)
  with ``StratifiedGroupKFold``, a different shuffle seed per repeat.
- ``cross_validate``: scoring folds are gold only. Weakly labelled items may join each
  training fold, never a scoring fold, and never one from a group the scoring fold holds.
  Each fold also scores the trivial reference (frequent frames / majority class) fitted on
  the same training fold, so the model and the reference are compared item for item.
- ``choose``: the candidate (family, hyper-parameters) with the best CV mean, with the share
  of repeats it won and its paired fold-by-fold difference from the runner-up.
- ``gate``: refuse a model whose CV score is not above the trivial reference.

The module knows nothing of families or datasets: callers pass ``fit`` and ``score``.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.data import Examples, TaskSpec, doc_id
from models.metrics import (
    multiclass_metrics,
    multilabel_metrics,
    selection_metric,
    trivial_multiclass,
    trivial_multilabel,
)

# (training fold, tuning cut of it) -> a fitted model (anything ``score`` can read)
FitFn = Callable[[Examples, Examples], Any]
# (model, scoring fold, training fold) -> {metric: value}
ScoreFn = Callable[[Any, Examples, Examples], dict[str, float]]
# (training fold, scoring fold) -> {metric: value} of the trivial reference
TrivialFn = Callable[[Examples, Examples], dict[str, float]]


class SelectionError(ValueError):
    """Cross-validation that cannot be run as asked (too few items or groups)."""


@dataclass(frozen=True)
class CVPlan:
    """How many folds and repeats, and the seed of the first repeat's shuffle."""

    k: int = 5
    repeats: int = 3
    seed: int = 13


@dataclass(frozen=True)
class Fold:
    repeat: int
    fold: int
    train: np.ndarray  # indices into the gold examples
    test: np.ndarray

    @property
    def digest(self) -> str:
        """Which items the fold scores: two candidates compared fold by fold must match."""
        return hashlib.sha1(np.sort(self.test).astype(np.int64).tobytes()).hexdigest()[:12]


# ============================================================================ folds
def primary_strata(y: np.ndarray, kind: str) -> np.ndarray:
    """One stratum per item: its class, or (multi-label) the most frequent of its labels
    (an item with none gets its own stratum), so every fold sees the common frames."""
    y = np.asarray(y)
    if kind == "multiclass":
        return y.astype(int)
    freq = y.sum(axis=0)
    out = np.full(len(y), -1, dtype=int)
    for i, row in enumerate(y):
        on = np.nonzero(row)[0]
        if len(on):
            out[i] = int(on[np.argmax(freq[on])])
    return out


def make_folds(
    strata: np.ndarray,
    groups: Sequence[str] | None,
    plan: CVPlan = CVPlan(),
    second: Sequence[str] | None = None,
) -> list[Fold]:
    """``plan.k`` folds per repeat, ``plan.repeats`` repeats, each with its own seed.

    With groups, every group's items sit in one fold (``StratifiedGroupKFold``); with fewer
    groups than ``k``, one fold per group. Without groups, ``StratifiedKFold`` (plain
    ``KFold`` where no class has ``k`` items).

    ``second`` is a second group key per item, from the same set of names as ``groups``
    (FNC-1: a pair's body gives ``groups``, its headline ``second``). An item then scores
    only when both its keys are among the fold's held-out groups, and trains only when
    neither is; the items with one key on each side are left out of that fold, so no
    headline and no body is on both sides.
    """
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    n = len(strata)
    strata = np.asarray(strata)
    if plan.k < 2 or plan.repeats < 1:
        raise SelectionError(f"cv needs k >= 2 and repeats >= 1, got k={plan.k}")
    X = np.zeros((n, 1))
    folds: list[Fold] = []
    n_groups = len(set(groups)) if groups is not None else n
    k = min(plan.k, n_groups)
    if k < 2:
        raise SelectionError(f"cv needs at least 2 groups (or items), got {n_groups}")
    for r in range(plan.repeats):
        seed = plan.seed + r
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "least populated class has only m members"
            if groups is not None:
                g = np.asarray(list(groups))
                splits = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(
                    X, strata, g
                )
            elif np.bincount(strata - strata.min()).max() >= k:
                splits = StratifiedKFold(k, shuffle=True, random_state=seed).split(X, strata)
            else:
                splits = KFold(k, shuffle=True, random_state=seed).split(X)
            for f, (tr, te) in enumerate(splits):
                tr, te = np.asarray(tr), np.asarray(te)
                if second is not None and groups is not None:
                    held = {g[i] for i in te}
                    inside = np.asarray([x in held for x in second], dtype=bool)
                    tr, te = tr[~inside[tr]], te[inside[te]]
                folds.append(Fold(r, f, tr, te))
    return folds


def tuning_cut(ex: Examples, kind: str, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded ``fraction`` of a training fold held out to tune on (thresholds,
    temperature, early stopping): whole groups when the items have them."""
    n = len(ex)
    if fraction <= 0 or n < 4:
        return np.zeros(0, dtype=int)
    rng = np.random.default_rng(seed)
    if ex.groups is not None and len(set(ex.groups)) >= 3:
        names = sorted(set(ex.groups))
        rng.shuffle(names)
        chosen, total = set(), 0
        for g in names:  # whole groups until about ``fraction`` of the items
            if total >= fraction * n:
                break
            chosen.add(g)
            total += sum(1 for x in ex.groups if x == g)
        return np.asarray([i for i, g in enumerate(ex.groups) if g in chosen], dtype=int)
    strata = primary_strata(ex.y, kind)
    picked: list[int] = []
    for s in np.unique(strata):
        idx = np.nonzero(strata == s)[0]
        rng.shuffle(idx)
        take = round(len(idx) * fraction)
        picked.extend(idx[: take if take or len(idx) < 2 else 1].tolist())
    return np.asarray(sorted(picked), dtype=int)


# ============================================================================ scores
def default_metrics(kind: str) -> tuple[str, ...]:
    """The selection metric first, then the field's other headline number."""
    return ("micro_f1", "macro_f1") if kind == "multilabel" else ("macro_f1", "accuracy")


def bundle_scores(bundle: Any, spec: TaskSpec, ex: Examples) -> dict[str, float]:
    """A ``ModelBundle``'s metrics on ``ex`` with its own thresholds (or argmax)."""
    probs = bundle.predict_proba(ex.texts, ex.targets)
    if spec.kind == "multilabel":
        th = np.asarray(getattr(bundle, "thresholds", None) or [0.5] * len(spec.labels))
        m = multilabel_metrics(ex.y, (probs >= th).astype(int), spec.labels, warn=False)
    else:
        truth = [spec.labels[i] for i in ex.y]
        pred = [spec.labels[i] for i in probs.argmax(axis=1)]
        m = multiclass_metrics(truth, pred, spec.labels, warn=False)
    return {k: _num(m[k]) for k in default_metrics(spec.kind)}


def trivial_scores(spec: TaskSpec, train: Examples, test: Examples) -> dict[str, float]:
    """The trivial reference fitted on ``train`` and scored on ``test``: the frames with
    training prevalence >= 0.4, or the majority class (``models.metrics``)."""
    if spec.kind == "multilabel":
        pred = trivial_multilabel(np.asarray(train.y), len(test))
        m = multilabel_metrics(test.y, pred, spec.labels, warn=False)
    else:
        truth = [spec.labels[i] for i in test.y]
        pred = trivial_multiclass([spec.labels[i] for i in train.y], len(test))
        m = multiclass_metrics(truth, pred, spec.labels, warn=False)
    return {k: _num(m[k]) for k in default_metrics(spec.kind)}


def _num(v: Any) -> float:
    """NaN (a metric no label of the fold supports) counts as 0, as in ``fixed_rule_score``."""
    v = float(v)
    return 0.0 if math.isnan(v) else v


# ============================================================================ CV
@dataclass
class CVResult:
    """Per-fold scores of one candidate and of the trivial reference on the same folds."""

    metrics: tuple[str, ...]
    plan: CVPlan
    folds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def primary(self) -> str:
        return self.metrics[0]

    def values(self, metric: str | None = None, trivial: bool = False) -> np.ndarray:
        key = "trivial" if trivial else "scores"
        return np.asarray([f[key][metric or self.primary] for f in self.folds], dtype=float)

    def mean(self, trivial: bool = False) -> dict[str, float]:
        return {m: float(np.mean(self.values(m, trivial))) for m in self.metrics}

    def sd(self, trivial: bool = False) -> dict[str, float]:
        """Spread over the k x repeats fold scores (ddof 1): how much one held-out set of
        this size moves the figure, the yardstick a test score is judged against."""
        return {m: _sd(self.values(m, trivial)) for m in self.metrics}

    def repeat_means(self, metric: str | None = None) -> np.ndarray:
        v = self.values(metric)
        reps = np.asarray([f["repeat"] for f in self.folds])
        return np.asarray([v[reps == r].mean() for r in sorted(set(reps.tolist()))])

    def flat_metrics(self) -> dict[str, float]:
        """``cv_mean_<m>``, ``cv_sd_<m>``, ``cv_trivial_<m>`` for an MLflow run."""
        out = {f"cv_mean_{m}": v for m, v in self.mean().items()}
        out.update({f"cv_sd_{m}": v for m, v in self.sd().items()})
        out.update({f"cv_trivial_{m}": v for m, v in self.mean(trivial=True).items()})
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CVResult:
        """Back from ``to_json`` (a bundle's ``info["cv"]``, a benchmark's ``cv``)."""
        folds = [dict(f) for f in d.get("folds", [])]
        metrics = tuple(d.get("mean", {}))
        if not metrics and folds:
            metrics = tuple(folds[0]["scores"])
        return cls(metrics, CVPlan(int(d["k"]), int(d["repeats"])), folds)

    def to_json(self) -> dict[str, Any]:
        """The benchmark JSON's ``cv`` (issue #21's keys, plus the trivial and the folds)."""
        return {
            "k": self.plan.k,
            "repeats": self.plan.repeats,
            "mean": self.mean(),
            "sd": self.sd(),
            "trivial": {"mean": self.mean(True), "sd": self.sd(True)},
            "folds": [{k: v for k, v in f.items() if k not in ("seconds",)} for f in self.folds],
        }


def _sd(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def cross_validate(
    gold: Examples,
    spec: TaskSpec,
    fit: FitFn,
    score: ScoreFn | None = None,
    trivial: TrivialFn | None = None,
    plan: CVPlan = CVPlan(),
    extra: Examples | None = None,
    tune_fraction: float = 0.2,
    metrics: Sequence[str] | None = None,
    folds: list[Fold] | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    second_groups: Sequence[str] | None = None,
    scoring_set: Callable[[Examples, int], Examples] | None = None,
) -> CVResult:
    """Repeated grouped CV of ``fit`` over the gold examples.

    Each training fold loses a ``tune_fraction`` tuning cut (gold, whole groups) that
    ``fit`` gets as its second argument; ``extra`` (weakly labelled) items join the
    training fold unless they share a group or an id with the scoring fold. ``score``
    defaults to ``bundle_scores``; ``trivial`` to ``trivial_scores`` on the gold training
    fold. Pass ``folds`` to score several candidates on exactly the same folds, and
    ``second_groups`` for items with two group keys (``make_folds``' ``second``).
    ``scoring_set`` turns each scoring fold (and a per-fold seed) into the set the model
    and the reference are scored on, for a dataset whose held-out folds cannot keep the
    release's mix by themselves (FNC-1: ``bench.adapters.fnc1.rebuild_unrelated``); the
    fold row's ``n_added`` counts the items it added.
    """
    if score is None:
        score = lambda model, test, train: bundle_scores(model, spec, test)  # noqa: E731
    if trivial is None:
        trivial = lambda train, test: trivial_scores(spec, train, test)  # noqa: E731
    names = tuple(metrics or default_metrics(spec.kind))
    if folds is None:
        folds = make_folds(primary_strata(gold.y, spec.kind), gold.groups, plan, second_groups)
    result = CVResult(names, plan)
    for f in folds:
        t0 = time.perf_counter()
        train_gold, test = gold.subset(f.train), gold.subset(f.test)
        if scoring_set is not None:
            test = scoring_set(test, plan.seed + 100 * f.repeat + f.fold)
        tune_idx = tuning_cut(train_gold, spec.kind, tune_fraction, plan.seed + 100 * f.repeat)
        keep = np.setdiff1d(np.arange(len(train_gold)), tune_idx)
        fit_part, tune = train_gold.subset(keep), train_gold.subset(tune_idx)
        n_extra = 0
        if extra is not None and len(extra):
            add = _extra_for(extra, test)
            n_extra = len(add)
            if n_extra:
                fit_part = join_examples(fit_part, extra.subset(add))
        model = fit(fit_part, tune)
        scores = score(model, test, train_gold)
        row = {
            "repeat": f.repeat,
            "fold": f.fold,
            "n_train": len(fit_part),
            "n_tune": len(tune),
            "n_extra": n_extra,
            "n_test": len(test),
            "n_added": len(test) - len(f.test),
            "n_left_out": len(gold) - len(f.train) - len(f.test),
            "held_out": sorted(set(test.groups)) if test.groups is not None else [],
            "test_digest": f.digest,
            "scores": {m: _num(scores[m]) for m in names},
            "trivial": {m: _num(v) for m, v in trivial(train_gold, test).items() if m in names},
            "seconds": round(time.perf_counter() - t0, 3),
        }
        for m in names:  # a metric the reference does not produce compares as 0
            row["trivial"].setdefault(m, 0.0)
        result.folds.append(row)
        if on_fold is not None:
            on_fold(row)
    return result


def _extra_for(extra: Examples, test: Examples) -> np.ndarray:
    """The extra items that may train against ``test``: none of its groups or documents."""
    held = set(test.groups or [])
    docs = {doc_id(i) for i in test.ids}
    ok = [
        i
        for i in range(len(extra))
        if doc_id(extra.ids[i]) not in docs
        and not (extra.groups is not None and extra.groups[i] in held)
    ]
    return np.asarray(ok, dtype=int)


def join_examples(a: Examples, b: Examples) -> Examples:
    """``a`` then ``b`` (gold then extra): an unweighted part weighs 1 beside a weighted
    one; targets and groups are kept only when both parts have them."""
    if a.weights is None and b.weights is not None:
        a = Examples(a.ids, a.texts, a.y, a.targets, np.ones(len(a)), a.groups)
    wa, wb = a.weights, b.weights
    if wb is None and wa is not None:
        wb = np.ones(len(b))

    def cat(x, y):
        return None if x is None or y is None else [*x, *y]

    return Examples(
        [*a.ids, *b.ids],
        [*a.texts, *b.texts],
        np.concatenate([a.y, b.y]),
        cat(a.targets, b.targets),
        None if wa is None else np.concatenate([wa, wb]),
        cat(a.groups, b.groups),
    )


# ============================================================================ choice
@dataclass
class Choice:
    """The winner among candidates, and how sure: the share of repeats whose mean it
    topped, and its paired per-fold difference from the runner-up (mean, sd)."""

    winner: str
    metric: str
    means: dict[str, float]
    sds: dict[str, float]
    runner_up: str | None = None
    repeat_share: float = 1.0
    diff_mean: float = math.nan
    diff_sd: float = math.nan
    fold_share: float = 1.0  # folds where the winner scored at least the runner-up

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    def summary(self) -> str:
        if self.runner_up is None:
            return (
                f"{self.winner} (the only candidate): {self.metric} {self.means[self.winner]:.3f}"
            )
        return (
            f"{self.winner} {self.metric} {self.means[self.winner]:.3f} beats {self.runner_up} "
            f"{self.means[self.runner_up]:.3f} by {self.diff_mean:+.3f} (sd {self.diff_sd:.3f} "
            f"over folds), won {self.repeat_share:.0%} of repeats"
        )


def choose(candidates: Mapping[str, CVResult], metric: str | None = None) -> Choice:
    """The candidate with the best CV mean of ``metric`` (default: each result's primary).

    Ties go to the candidate listed first, so list the simpler or cheaper one first.
    Candidates must have been scored on the same folds (``cross_validate(folds=...)``).
    """
    if not candidates:
        raise SelectionError("no candidates to choose from")
    names = list(candidates)
    first = candidates[names[0]]
    metric = metric or first.primary
    digests = [f["test_digest"] for f in first.folds]
    for n in names[1:]:
        if [f["test_digest"] for f in candidates[n].folds] != digests:
            raise SelectionError(f"candidate {n!r} was scored on other folds than {names[0]!r}")
    means = {n: float(candidates[n].values(metric).mean()) for n in names}
    sds = {n: _sd(candidates[n].values(metric)) for n in names}
    order = sorted(names, key=lambda n: (-means[n], names.index(n)))
    winner = order[0]
    if len(order) == 1:
        return Choice(winner, metric, means, sds)
    runner = order[1]
    diff = candidates[winner].values(metric) - candidates[runner].values(metric)
    reps = np.stack([candidates[n].repeat_means(metric) for n in names])  # cand x repeat
    won = reps.argmax(axis=0) == names.index(winner)
    return Choice(
        winner,
        metric,
        means,
        sds,
        runner_up=runner,
        repeat_share=float(won.mean()),
        diff_mean=float(diff.mean()),
        diff_sd=_sd(diff),
        fold_share=float((diff >= 0).mean()),
    )


# ============================================================================ gate
@dataclass
class Decision:
    """Whether a model may be published: its CV score against the trivial reference."""

    passed: bool
    metric: str
    model_mean: float
    model_sd: float
    trivial_mean: float
    diff_mean: float
    diff_sd: float
    fold_share: float  # folds where the model beat the reference
    n_folds: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def gate(
    cv_scores: Sequence[float],
    trivial: Sequence[float] | float,
    metric: str = "score",
    margin: float = 0.0,
) -> Decision:
    """Refuse a model whose mean CV score is not above the trivial reference's by more than
    ``margin``. ``trivial`` is per fold (paired with ``cv_scores``) or one figure."""
    s = np.asarray(list(cv_scores), dtype=float)
    if len(s) == 0:
        raise SelectionError("gate needs at least one cross-validated score")
    t = np.full(len(s), float(trivial)) if np.isscalar(trivial) else np.asarray(trivial, float)
    if len(t) != len(s):
        raise SelectionError(f"{len(s)} fold scores but {len(t)} trivial scores")
    d = s - t
    passed = bool(d.mean() > margin)
    verdict = "above" if passed else "not above"
    reason = (
        f"cv {metric} {s.mean():.3f} ± {_sd(s):.3f} is {verdict} the trivial reference "
        f"{t.mean():.3f} (diff {d.mean():+.3f} ± {_sd(d):.3f}, ahead on "
        f"{int((d > 0).sum())} of {len(d)} folds)"
    )
    return Decision(
        passed,
        metric,
        float(s.mean()),
        _sd(s),
        float(t.mean()),
        float(d.mean()),
        _sd(d),
        float((d > 0).mean()),
        len(d),
        reason,
    )


def gate_cv(result: CVResult, metric: str | None = None, margin: float = 0.0) -> Decision:
    """``gate`` on a ``CVResult``: the model's and the reference's scores on the same folds."""
    m = metric or result.primary
    return gate(result.values(m), result.values(m, trivial=True), m, margin)


def gate_json(cv: Mapping[str, Any] | None, metric: str | None = None) -> Decision | None:
    """``gate_cv`` on a stored CV (``ModelBundle.info["cv"]``); None when none was run, so
    a caller can tell "not cross-validated" from "refused"."""
    if not cv or not cv.get("folds"):
        return None
    return gate_cv(CVResult.from_json(cv), metric)


def cv_metric(metric: str) -> str:
    """``dev_micro_f1`` (or ``micro_f1``) -> ``cv_mean_micro_f1``: the name a training run
    logs its cross-validated mean of that metric under (``CVResult.flat_metrics``)."""
    base = metric.split("_", 1)[1] if metric.startswith(("dev_", "test_")) else metric
    return f"cv_mean_{base}"


def gate_metrics(run_metrics: Mapping[str, float], metric: str) -> Decision | None:
    """``gate`` on a training run's logged ``cv_mean_<m>`` and ``cv_trivial_<m>`` (``metric``
    may carry a split prefix: ``dev_micro_f1``); None when the run was not cross-validated.

    This is the call publish makes on each candidate run: a refused run is skipped for
    the next best, and a task with none left is an error naming the figures.
    """
    mean_key = cv_metric(metric)
    base = mean_key.removeprefix("cv_mean_")
    mean, triv = run_metrics.get(mean_key), run_metrics.get(f"cv_trivial_{base}")
    if mean is None or triv is None:
        return None
    return gate([float(mean)], float(triv), base)


def publishable(
    candidates: Mapping[str, CVResult], metric: str | None = None, margin: float = 0.0
) -> tuple[Choice | None, dict[str, Decision]]:
    """The best candidate that passes the gate (the next best when the first does not),
    or None when none does; with every candidate's decision, for the report."""
    decisions = {n: gate_cv(r, metric, margin) for n, r in candidates.items()}
    passing = {n: r for n, r in candidates.items() if decisions[n].passed}
    return (choose(passing, metric) if passing else None), decisions


def selection_metric_of(spec: TaskSpec) -> str:
    """The task's selection metric (``models.metrics.selection_metric``)."""
    return selection_metric(spec.kind)
