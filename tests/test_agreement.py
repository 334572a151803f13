"""Agreement measures against values computed by hand on small tables."""

from __future__ import annotations

import math

import pytest

from labeling.agreement import agreement, cohen_kappa, fleiss_kappa, krippendorff_alpha
from labeling.gold import Annotation


def test_cohen_kappa_by_hand() -> None:
    # 10 items: both yes 4, both no 3, a yes/b no 2, a no/b yes 1.
    a = ["y"] * 4 + ["n"] * 3 + ["y"] * 2 + ["n"]
    b = ["y"] * 4 + ["n"] * 3 + ["n"] * 2 + ["y"]
    po = 0.7
    pe = (6 / 10) * (5 / 10) + (4 / 10) * (5 / 10)  # a: 6 y; b: 5 y
    assert cohen_kappa(a, b) == pytest.approx((po - pe) / (1 - pe))


def test_fleiss_kappa_by_hand() -> None:
    # 4 items x 3 raters, categories x/y.
    table = [["x", "x", "x"], ["x", "x", "y"], ["y", "y", "y"], ["x", "y", "y"]]
    # P_i: (3*2)/(3*2)=1, (2*1+0)/6=1/3, 1, 1/3 -> P_bar = 2/3
    # p_x = 6/12, p_y = 6/12 -> P_e = 0.5
    assert fleiss_kappa(table) == pytest.approx((2 / 3 - 0.5) / (1 - 0.5))


def test_krippendorff_alpha_by_hand_with_missing() -> None:
    # 3 items, 2 coders; item 3 rated once (not pairable).
    table = [["a", "a"], ["a", "b"], ["b", None]]
    # Pairable values: item1 (a,a), item2 (a,b): n = 4 values: a=3, b=1.
    # D_o = (2 * 1/(2-1)) / 4 * ... coincidence: o_ab = o_ba = 1 (item 2), o_aa = 2.
    # D_o = (o_ab + o_ba) / n = 2/4; D_e = 2 * n_a * n_b / (n (n-1)) = 6/12.
    # alpha = 1 - D_o / D_e = 1 - 0.5/0.5 = 0
    assert krippendorff_alpha(table) == pytest.approx(0.0)
    assert krippendorff_alpha([["a", "a"], ["b", "b"], ["a", None]]) == pytest.approx(1.0)


def test_report_lists_disagreements() -> None:
    rows = [
        Annotation("d1", "A", ["economic"], "economic", {"nato": "favor"}),
        Annotation("d1", "B", ["economic", "political"], "economic", {"nato": "against"}),
        Annotation("d2", "A", ["political"], "political", {"nato": "neutral"}),
        Annotation("d2", "B", ["political"], "political", {"nato": "neutral"}),
        Annotation("d3", "A", ["economic"], "economic", {}),
    ]
    rep = agreement(rows, ["economic", "political"], ["nato"])
    assert rep.n_items == 2 and rep.annotators == ["A", "B"]
    t = rep.table.set_index("label")
    assert t.loc["frame:economic", "percent_agreement"] == 1.0
    assert t.loc["frame:political", "percent_agreement"] == 0.5
    assert set(rep.disagreements["field"]) == {"frame:political", "stance:nato"}
    assert not math.isnan(t.loc["stance (mean)", "krippendorff_alpha"])
