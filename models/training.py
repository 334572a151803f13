"""The one fitting path every family takes: fit, calibrate, tune thresholds, finalize.

The training stage and the benchmarks both call ``fit_bundle``, so a model in a benchmark
is the model a user would train.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.base import FitOptions, ModelBundle, TextModel
from models.config import Strict
from models.data import Examples, TaskSpec, doc_id, weak_mask
from models.metrics import multiclass_metrics, multilabel_metrics, selection_metric, tune_thresholds
from models.registry import get_family
from models.selection import CVPlan, CVResult, cross_validate, join_examples


@dataclass
class TaskData:
    """A task's examples: train to fit, dev to calibrate and select, test to report."""

    spec: TaskSpec
    train: Examples
    dev: Examples
    test: Examples
    primary_test: list[str] | None = None
    digest: str = ""


def make_model(spec: TaskSpec, family: str, family_cfg: Strict, seed: int) -> TextModel:
    """A new, unfitted model of ``family`` with its config section and the run's seed,
    checked before any work so a missing model fails fast."""
    model = get_family(family).model()(spec, family_cfg, seed=seed)  # type: ignore[call-arg]
    model.check()
    return model


def fit_bundle(
    data: TaskData,
    family: str,
    family_cfg: Strict,
    seed: int,
    log=None,
    options: FitOptions | None = None,
) -> ModelBundle:
    """Fit, calibrate and tune thresholds on dev, then let the family finalize the bundle:
    the one training path for all families."""
    model = make_model(data.spec, family, family_cfg, seed)
    model.fit(data.train, data.dev, log=log, options=options)
    return model.finalize(calibrated(model, data), data)


def calibrated(model: TextModel, data: TaskData) -> ModelBundle:
    """Temperature and thresholds fitted on dev, for the model as it will predict."""
    bundle = ModelBundle(model)
    bundle.calibrate(data.dev)
    if data.spec.kind == "multilabel":
        dev_p = bundle.predict_proba(data.dev.texts, data.dev.targets)
        bundle.thresholds = tune_thresholds(data.dev.y, dev_p).tolist()
    return bundle


def selection_score(bundle: ModelBundle, data: TaskData, split: str = "dev") -> tuple[str, float]:
    """The selection metric (``models.metrics.selection_metric``) of ``split``, named."""
    ex, labels = (data.dev if split == "dev" else data.test), data.spec.labels
    probs = bundle.predict_proba(ex.texts, ex.targets)
    metric = selection_metric(data.spec.kind)
    if data.spec.kind == "multilabel":
        pred = (probs >= np.asarray(bundle.thresholds)).astype(int)
        value = multilabel_metrics(ex.y, pred, labels, warn=False)[metric]
    else:
        truth = [labels[i] for i in ex.y]
        pred_labels = [labels[i] for i in probs.argmax(axis=1)]
        value = multiclass_metrics(truth, pred_labels, labels, warn=False)[metric]
    return f"{split}_{metric}", float(value)


def trained_params(bundle: ModelBundle, family_cfg: Strict) -> dict[str, Any]:
    """The family's hyper-parameters as the model was trained, for the run's params.

    The config, with each value a search chose in place of the configured one: a family
    that searches ``key`` leaves its choice on the model as ``best_<key>`` (the baseline's
    CV search, ``best_C``), while the searched grid stays a param of its own. Early
    stopping adds the epoch it kept (``best_epoch`` of ``epochs_run``, picked by
    ``epoch_criterion``), and the int8/fp32 check the inference mode it chose, so what a
    run says it is matches the bundle it saved.
    """
    model = bundle.model
    params = family_cfg.model_dump()
    for key in list(params):
        chosen = getattr(model, f"best_{key}", None)
        if chosen is not None:
            params[key] = chosen
    best_epoch = getattr(model, "best_epoch", None)
    if best_epoch:
        params["best_epoch"] = int(best_epoch)
        params["epochs_run"] = len(getattr(model, "history", []) or [])
        params["epoch_criterion"] = getattr(model, "epoch_criterion", "")
    inference = bundle.info.get("inference")
    if inference:
        params["inference"] = inference["mode"]
    return params


def cross_validated(
    data: TaskData,
    family: str,
    family_cfg: Strict,
    seed: int,
    fitted: ModelBundle | None = None,
    gold_docs: set[str] | None = None,
) -> CVResult | None:
    """Repeated grouped CV (``models.selection``) of this family and config over gold
    train + dev, the gold test split untouched; None unless the family's config asks for
    it (``cv_report``, with ``cv_k`` x ``cv_repeats`` folds).

    ``gold_docs`` names the gold documents (the split's train and dev ids; a pair's id is
    ``doc:target``); the other items, and every item marked weak (``models.data.WEAK_PREFIX``),
    are weakly labelled extras that may join a training fold but never score. Without it,
    gold is what weighs 1 and is not marked weak (weak items carry the label
    model's confidence, which can also reach 1: pass ``gold_docs`` where it can). A search the
    fitted model already ran (the baseline's C) is not rerun per fold: its choice is used.
    """
    if not getattr(family_cfg, "cv_report", False):
        return None
    pool = join_examples(data.train, data.dev)
    if gold_docs is not None:
        in_gold = np.asarray([doc_id(i) in gold_docs for i in pool.ids], dtype=bool)
        is_gold = in_gold & ~weak_mask(pool.ids)
    else:
        w = pool.weights if pool.weights is not None else np.ones(len(pool))
        is_gold = (w >= 1.0) & ~weak_mask(pool.ids)
    gold_idx, weak_idx = np.nonzero(is_gold)[0], np.nonzero(~is_gold)[0]
    update = {"cv_search": False} if getattr(family_cfg, "cv_search", False) else {}
    best_c = getattr(fitted.model, "best_C", None) if fitted is not None else None
    if update and best_c is not None:
        update["C"] = float(best_c)
    fold_cfg = family_cfg.model_copy(update=update) if update else family_cfg

    def fit(train: Examples, tune: Examples) -> ModelBundle:
        return fit_bundle(TaskData(data.spec, train, tune, tune.subset([])), family, fold_cfg, seed)

    plan = CVPlan(getattr(family_cfg, "cv_k", 5), getattr(family_cfg, "cv_repeats", 3), seed)
    return cross_validate(
        pool.subset(gold_idx),
        data.spec,
        fit,
        plan=plan,
        extra=pool.subset(weak_idx) if len(weak_idx) else None,
    )
