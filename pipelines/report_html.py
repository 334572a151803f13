"""The outlet report as people read it: the sections of its one HTML page (tables,
figures, coverage notes), rendered by ``pipelines.evaluate.html_report``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from labeling.gold import STANCE_CLASSES


def _stance_wide(by_source: pd.DataFrame) -> pd.DataFrame:
    """The stance table as people read it: one row per outlet and target."""

    def cell(r: pd.Series) -> str:
        if r["n"] == 0:
            return "-"
        return f"{r['share']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"

    d = by_source.assign(cell=by_source.apply(cell, axis=1))
    wide = d.pivot_table(
        index=["target", "source", "n"], columns="stance", values="cell", aggfunc="first"
    )
    wide = wide.reindex(columns=list(STANCE_CLASSES)).reset_index()
    return wide.rename(columns={"n": "mentioning"})


def report_sections(
    tables: dict[str, pd.DataFrame],
    figures: dict[str, bytes],
    summary: dict[str, Any],
    frames: list[str],
    targets: list[str],
    incomplete: list[str],
) -> list[tuple[str, Any]]:
    """Warning (if scoring is unfinished), summary, coverage, figures and tables, in order."""
    cov = tables["coverage"]
    period = summary["period"]
    prim = tables["frame_shares_by_source"]
    prim = prim[prim["measure"] == "primary"].pivot_table(
        index=["source", "n"], columns="frame", values="share", aggfunc="first"
    )
    prim = prim.reindex(columns=frames).reset_index()
    warning = (
        f"INCOMPLETE INPUT: scoring in {', '.join(incomplete)} has not finished; "
        "these shares cover only the shards written so far."
        if incomplete
        else ""
    )
    sections: list[tuple[str, Any]] = []
    if warning:
        sections.append(("Warning", warning))
    sections += [
        ("About this report", summary),
        (
            "Coverage",
            "Rows with an error carry no labels and are left out of every share. Rows with "
            "no date or an unparseable one count in the per-outlet figures but not over "
            "time. Intervals are Wilson score intervals: an outlet with few articles gets "
            "a wide one.",
        ),
        ("Rows per outlet", cov),
        ("Primary frame shares over time, per outlet", figures["frames_over_time.png"]),
        ("Frame presence per outlet", figures["frame_presence.png"]),
        ("Primary frame shares per outlet (all dates)", prim),
    ]
    if targets:
        sections += [
            ("Stance toward each target, per outlet", figures["stance_by_outlet.png"]),
            (
                "Stance per outlet: share of mentioning articles [interval]",
                _stance_wide(tables["stance_by_source"]),
            ),
        ]
    sections.append(
        (
            "Tables",
            "Full tables with counts (k of n) and intervals, per outlet and per "
            f"{period}: " + ", ".join(f"{n}.csv" for n in tables),
        )
    )
    return sections
