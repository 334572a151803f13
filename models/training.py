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
from models.data import Examples, TaskSpec
from models.metrics import multiclass_metrics, multilabel_metrics, selection_metric, tune_thresholds
from models.registry import get_family


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
