"""Metrics on cases computed by hand, FNC-1 score included."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.adapters.fnc1 import fnc_score
from models.metrics import (
    EvaluationError,
    ece,
    multiclass_metrics,
    multilabel_metrics,
    paired_bootstrap,
    trivial_multilabel,
    tune_thresholds,
)
from pipelines.evaluate import evaluate_multiclass


def test_multilabel_metrics_by_hand() -> None:
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    p = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0]])
    with pytest.warns(UserWarning, match="absent"):
        m = multilabel_metrics(y, p, ["a", "b", "c"])
    # tp=3 fp=1 fn=1 -> micro P=R=F=0.75; a: F=1, b: P=R=0.5; c absent -> NaN
    assert m["micro_f1"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx(0.75)
    assert math.isnan(m["per_label"]["c"]["f1"])
    assert m["subset_accuracy"] == pytest.approx(1 / 3)
    assert m["hamming_loss"] == pytest.approx(2 / 9)


def test_multiclass_metrics_and_f_avg_by_hand() -> None:
    y = ["favor", "favor", "against", "neutral"]
    p = ["favor", "against", "against", "favor"]
    m = multiclass_metrics(y, p, ["favor", "against", "neutral"])
    # favor P=1/2 R=1/2 F=.5; against P=1/2 R=1 F=2/3; neutral F=0
    assert m["f_avg"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert m["accuracy"] == pytest.approx(0.5)


def test_fnc_score_by_hand() -> None:
    y = ["agree", "unrelated", "discuss", "disagree"]
    p = ["agree", "unrelated", "agree", "unrelated"]
    # best = 1 + .25 + 1 + 1 = 3.25; got: 1 + .25 + .25 (related, wrong class) + 0 = 1.5
    assert fnc_score(y, p) == pytest.approx(100 * 1.5 / 3.25)
    assert fnc_score(y, y) == pytest.approx(100.0)


def test_single_class_task_is_an_error_absent_class_is_nan() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2]])
    with pytest.raises(EvaluationError, match="single class"):
        evaluate_multiclass(["a", "a"], probs, ["a", "b"], ["a", "a"], n_boot=0)
    ev = evaluate_multiclass(["a", "a"], probs, ["a", "b"], ["a", "b"], n_boot=0)
    assert ev.metrics["macro_f1"] == pytest.approx(1.0)


def test_thresholds_and_trivial_reference() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    p = np.array([[0.3, 0.1], [0.35, 0.2], [0.1, 0.9], [0.05, 0.3]])
    th = tune_thresholds(y, p)
    assert 0.1 < th[0] <= 0.3 and 0.3 < th[1] <= 0.9
    triv = trivial_multilabel(np.array([[1, 0], [1, 0], [0, 1], [1, 0], [0, 0]]), 2)
    assert triv.tolist() == [[1, 0], [1, 0]]


def test_ece_and_paired_bootstrap() -> None:
    assert ece(np.array([0.9, 0.9]), np.array([1, 1])) == pytest.approx(0.1)
    y = np.array([1, 0, 1, 1, 0, 1, 0, 1] * 10)
    good = y.copy()
    bad = 1 - y
    res = paired_bootstrap(
        lambda i: float((bad[i] == y[i]).mean()),
        lambda i: float((good[i] == y[i]).mean()),
        len(y),
        200,
    )
    assert res["diff"] == pytest.approx(1.0) and res["p_b_better"] == 1.0


def test_html_report_css_is_well_formed_rules() -> None:
    """Every style rule reaches the browser: doubled braces once voided all but the first."""
    import re

    from pipelines.evaluate import html_report

    page = html_report("t {x}", [("a table", pd.DataFrame({"a": [1]}))])
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    assert "".join(f"{s}{{{b}}}" for s, b in rules) == css  # nothing left outside a rule
    assert dict(rules)["table"].startswith("border-collapse:collapse")
    assert "<title>t {x}</title>" in page
