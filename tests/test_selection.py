"""models/selection.py: repeated grouped folds, gold-only scoring folds with weak extras kept
out of the scoring fold's outlets, the choice among candidates and the trivial gate, on a
tiny synthetic corpus with the real baseline family."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import ModelBundle
from models.baseline import BaselineConfig, BaselineModel
from models.data import Examples, TaskSpec
from models.selection import (
    CVPlan,
    SelectionError,
    choose,
    cross_validate,
    gate,
    gate_cv,
    make_folds,
    primary_strata,
    publishable,
)
from models.training import TaskData, calibrated

SPEC = TaskSpec("frames", "multilabel", ["security", "economic", "health"])
STANCE = TaskSpec("stance", "multiclass", ["favor", "against", "neutral"])
WORDS = {
    0: "troops missiles border alliance drills",
    1: "grain prices tariffs budget inflation",
    2: "hospital doctors vaccine clinic patients",
}


def corpus(n: int = 80, outlets: int = 10, seed: int = 0, prefix: str = "d") -> Examples:
    """Articles whose frames are said by their words; outlet ``i % outlets``."""
    rng = np.random.default_rng(seed)
    ids, texts, ys, groups = [], [], [], []
    for i in range(n):
        on = [i % 3] + ([int(rng.integers(3))] if rng.random() < 0.3 else [])
        y = [int(j in on) for j in range(3)]
        words = " ".join(WORDS[j] for j in on).split()
        rng.shuffle(words)
        ids.append(f"{prefix}{i}")
        texts.append(" ".join(words) + f" story {i}")
        ys.append(y)
        groups.append(f"outlet{i % outlets}")
    return Examples(ids, texts, np.array(ys), groups=groups)


def fit_baseline(train: Examples, tune: Examples, C: float = 4.0) -> ModelBundle:
    """The real fit path of the training stage (fit, then thresholds on the tuning cut)."""
    model = BaselineModel(SPEC, BaselineConfig(C=C, n_jobs=1))
    model.fit(train)
    return calibrated(model, TaskData(SPEC, train, tune, tune.subset([])))


# ============================================================================ folds
def test_folds_hold_out_whole_outlets_and_cover_every_item_once_per_repeat() -> None:
    ex = corpus()
    folds = make_folds(primary_strata(ex.y, "multilabel"), ex.groups, CVPlan(5, 3, seed=1))
    assert len(folds) == 15
    for r in range(3):
        rep = [f for f in folds if f.repeat == r]
        scored = np.concatenate([f.test for f in rep])
        assert sorted(scored.tolist()) == list(range(len(ex)))  # each item scored once
        for f in rep:
            tr, te = {ex.groups[i] for i in f.train}, {ex.groups[i] for i in f.test}
            assert not tr & te  # no outlet on both sides
            assert len(te) == 2  # 10 outlets in 5 folds
    partitions = {
        r: sorted(tuple(sorted({ex.groups[i] for i in f.test})) for f in folds if f.repeat == r)
        for r in range(3)
    }
    assert len({tuple(p) for p in partitions.values()}) > 1  # the repeats reshuffle


def test_folds_without_groups_are_stratified_by_class() -> None:
    y = np.array([0] * 30 + [1] * 10)
    folds = make_folds(y, None, CVPlan(5, 1))
    assert [int((y[f.test] == 1).sum()) for f in folds] == [2] * 5


def test_primary_strata_is_the_most_frequent_label_of_each_item() -> None:
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1], [0, 0, 0]])
    assert primary_strata(y, "multilabel").tolist() == [0, 0, 1, 2, -1]


def test_too_few_groups_is_an_error_naming_the_count() -> None:
    with pytest.raises(SelectionError, match="at least 2 groups"):
        make_folds(np.array([0, 1, 0]), ["a", "a", "a"], CVPlan(5, 1))


# ============================================================================ CV
def test_weak_extras_train_but_never_score_nor_share_the_scoring_folds_outlets() -> None:
    gold = corpus()
    weak = corpus(40, outlets=10, seed=3, prefix="w")
    weak = Examples(weak.ids, weak.texts, weak.y, None, np.full(len(weak), 0.7), weak.groups)
    seen: list[tuple[set[str], set[str]]] = []

    def fit(train: Examples, tune: Examples) -> ModelBundle:
        seen.append((set(train.ids), set(tune.ids)))
        return fit_baseline(train, tune)

    def score(bundle: ModelBundle, test: Examples, train: Examples) -> dict[str, float]:
        assert all(i.startswith("d") for i in test.ids)  # scoring folds: gold only
        held = set(test.groups or [])
        fit_ids, tune_ids = seen[-1]
        weak_in = {i for i in fit_ids if i.startswith("w")}
        assert weak_in, "the weak items should train"
        assert not {weak.groups[weak.ids.index(i)] for i in weak_in} & held
        assert all(i.startswith("d") for i in tune_ids)  # thresholds tuned on gold
        assert not (fit_ids | tune_ids) & set(test.ids)
        from models.selection import bundle_scores

        return bundle_scores(bundle, SPEC, test)

    res = cross_validate(gold, SPEC, fit, score, plan=CVPlan(5, 1), extra=weak)
    assert len(res.folds) == 5
    assert all(0 < f["n_extra"] < len(weak) for f in res.folds)


def test_cv_of_the_real_baseline_beats_the_trivial_reference_on_the_same_folds() -> None:
    res = cross_validate(corpus(), SPEC, fit_baseline, plan=CVPlan(5, 2))
    out = res.to_json()
    assert (out["k"], out["repeats"]) == (5, 2)
    assert set(out["mean"]) == set(out["sd"]) == {"micro_f1", "macro_f1"}
    assert out["mean"]["micro_f1"] > out["trivial"]["mean"]["micro_f1"] + 0.2
    assert out["sd"]["micro_f1"] == pytest.approx(np.std(res.values("micro_f1"), ddof=1))
    decision = gate_cv(res)
    assert decision.passed and decision.n_folds == 10
    assert "above the trivial reference" in decision.reason


def test_choose_picks_the_real_model_over_a_prior_and_says_how_sure() -> None:
    gold = corpus()
    folds = make_folds(primary_strata(gold.y, "multilabel"), gold.groups, CVPlan(5, 2))

    class Prior:
        """Predicts each label's training prevalence for every item: knows no words."""

        def __init__(self, y: np.ndarray) -> None:
            self.p = y.mean(axis=0)
            self.thresholds = [0.5, 0.5, 0.5]

        def predict_proba(self, texts, targets=None) -> np.ndarray:
            return np.tile(self.p, (len(texts), 1))

    cands = {
        "prior": cross_validate(gold, SPEC, lambda tr, tu: Prior(tr.y), folds=folds),
        "baseline": cross_validate(gold, SPEC, fit_baseline, folds=folds),
    }
    c = choose(cands)
    assert c.winner == "baseline" and c.runner_up == "prior"
    assert c.repeat_share == 1.0 and c.diff_mean > 0.2 and c.fold_share == 1.0
    assert "beats prior" in c.summary()
    best, decisions = publishable(cands)
    assert best is not None and best.winner == "baseline"
    assert not decisions["prior"].passed  # the prior is the trivial reference's equal


def test_choose_refuses_candidates_scored_on_other_folds() -> None:
    gold = corpus()
    a = cross_validate(gold, SPEC, fit_baseline, plan=CVPlan(5, 1, seed=1))
    b = cross_validate(gold, SPEC, fit_baseline, plan=CVPlan(5, 1, seed=2))
    with pytest.raises(SelectionError, match="other folds"):
        choose({"a": a, "b": b})


# ============================================================================ gate
def test_gate_refuses_a_model_at_or_below_the_trivial_reference() -> None:
    below = gate([0.35, 0.33, 0.36], [0.39, 0.38, 0.40], "accuracy")
    assert not below.passed and below.diff_mean < 0
    assert "not above the trivial reference 0.390" in below.reason
    assert not gate([0.4, 0.4], 0.4).passed  # equal is not better
    assert gate([0.42, 0.41], 0.4).passed
    assert not gate([0.42, 0.41], 0.4, margin=0.05).passed
    with pytest.raises(SelectionError, match="2 fold scores but 3"):
        gate([0.5, 0.5], [0.1, 0.1, 0.1])


def test_publishable_takes_the_next_best_above_the_reference_or_none() -> None:
    gold = corpus()
    folds = make_folds(primary_strata(gold.y, "multilabel"), gold.groups, CVPlan(5, 1))
    res = cross_validate(gold, SPEC, fit_baseline, folds=folds)
    # a candidate whose folds score far below the reference cannot be published
    bad = cross_validate(gold, SPEC, fit_baseline, folds=folds)
    for f in bad.folds:
        f["scores"] = {m: 0.0 for m in f["scores"]}
    best, _ = publishable({"bad": bad, "good": res})
    assert best is not None and best.winner == "good"
    assert publishable({"bad": bad})[0] is None


# ============================================================================ training
def test_baseline_cv_search_runs_repeated_grouped_folds_and_records_the_choice() -> None:
    gold = corpus()
    cfg = BaselineConfig(cv_search=True, cv_grid_C=[0.01, 4.0], cv_k=5, cv_repeats=2, n_jobs=1)
    model = BaselineModel(SPEC, cfg)
    model.fit(gold)
    assert len(model.cv_results) == 2 * 5 * 2
    assert sorted({r["fold"] for r in model.cv_results}) == list(range(10))
    assert all(len(r["held_out"]) == 2 for r in model.cv_results)
    assert model.cv_choice["winner"] == f"C={model.best_C:g}"
    assert set(model.cv_choice["means"]) == {"C=0.01", "C=4"}


def test_training_cv_scores_gold_only_and_feeds_the_stored_gate() -> None:
    from models.selection import CVResult, gate_json
    from models.training import cross_validated, fit_bundle

    gold = corpus(60)
    weak = corpus(30, seed=5, prefix="w")
    weak = Examples(weak.ids, weak.texts, weak.y, None, np.full(len(weak), 0.8), weak.groups)
    train = Examples(
        gold.ids[:45] + weak.ids,
        gold.texts[:45] + weak.texts,
        np.concatenate([gold.y[:45], weak.y]),
        None,
        np.concatenate([np.ones(45), weak.weights]),
        gold.groups[:45] + weak.groups,
    )
    data = TaskData(SPEC, train, gold.subset(range(45, 60)), gold.subset([]))
    off = BaselineConfig(n_jobs=1)
    assert cross_validated(data, "baseline", off, 13) is None  # not asked for
    cfg = BaselineConfig(
        n_jobs=1, cv_report=True, cv_search=True, cv_grid_C=[0.01, 4.0], cv_k=3, cv_repeats=2
    )
    bundle = fit_bundle(data, "baseline", cfg, 13)
    res = cross_validated(data, "baseline", cfg, 13, fitted=bundle)
    assert res is not None and len(res.folds) == 6
    for r in range(2):  # the 60 gold (train + dev) each scored once per repeat; weak never
        assert sum(f["n_test"] for f in res.folds if f["repeat"] == r) == 60
    assert all(f["n_extra"] > 0 for f in res.folds)
    stored = res.to_json()
    back = CVResult.from_json(stored)
    assert back.mean() == res.mean() and back.primary == "micro_f1"
    decision = gate_json(stored)
    assert decision is not None and decision.passed
    assert decision.model_mean == pytest.approx(res.mean()["micro_f1"])
    assert set(res.flat_metrics()) >= {"cv_mean_micro_f1", "cv_sd_micro_f1", "cv_trivial_micro_f1"}
    assert gate_json(None) is None


def test_gate_metrics_reads_a_training_runs_logged_cv() -> None:
    from models.selection import gate_metrics

    res = cross_validate(corpus(), SPEC, fit_baseline, plan=CVPlan(5, 1))
    logged = {"dev_micro_f1": 0.9, **res.flat_metrics()}
    d = gate_metrics(logged, "dev_micro_f1")
    assert d is not None and d.passed and d.metric == "micro_f1"
    refused = gate_metrics({"cv_mean_macro_f1": 0.30, "cv_trivial_macro_f1": 0.35}, "macro_f1")
    assert refused is not None and not refused.passed
    assert "cv macro_f1 0.300" in refused.reason and "trivial reference 0.350" in refused.reason
    assert gate_metrics({"dev_micro_f1": 0.9}, "dev_micro_f1") is None  # never cross-validated


def test_training_cv_takes_gold_from_the_split_not_from_weights() -> None:
    """A weak pair can be as confident as gold (weight 1): the split says which is gold."""
    from models.training import cross_validated

    gold = corpus(40)
    weak = corpus(20, seed=5, prefix="w")  # no weights: they would pass for gold
    train = Examples(
        gold.ids[:30] + weak.ids,
        gold.texts[:30] + weak.texts,
        np.concatenate([gold.y[:30], weak.y]),
        groups=gold.groups[:30] + weak.groups,
    )
    data = TaskData(SPEC, train, gold.subset(range(30, 40)), gold.subset([]))
    cfg = BaselineConfig(n_jobs=1, cv_report=True, cv_k=3, cv_repeats=1)
    res = cross_validated(data, "baseline", cfg, 13, gold_docs=set(gold.ids))
    assert res is not None and sum(f["n_test"] for f in res.folds) == 40
    assert all(f["n_extra"] > 0 for f in res.folds)
    leaky = cross_validated(data, "baseline", cfg, 13)  # weights alone: weak pairs score
    assert leaky is not None and sum(f["n_test"] for f in leaky.folds) == 60
