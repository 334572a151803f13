"""The outlet report as people read it: the sections of its one HTML page (tables,
figures, coverage notes), rendered by ``pipelines.evaluate.html_report``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from labeling.gold import STANCE_CLASSES


def _lead(r: pd.Series, names: list[str]) -> str:
    """The stance whose interval lies above every other's; "no clear lead" where the
    intervals overlap (few articles, or a split outlet), "-" without a mention."""
    if r.name[-1] == 0:  # n, the last level of the row's index: no article mentions it
        return "-"
    best = max(names, key=lambda s: r[("share", s)])
    if all(r[("lo", best)] > r[("hi", s)] for s in names if s != best):
        return best
    return "no clear lead"


def _stance_wide(by_source: pd.DataFrame) -> pd.DataFrame:
    """The stance table as people read it: one row per target (by its name) and outlet,
    the leading stance, and each stance's share with its interval."""
    names = list(STANCE_CLASSES)

    def cell(r: pd.Series) -> str:
        if r["n"] == 0:
            return "-"
        return f"{r['share']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"

    d = by_source.assign(cell=by_source.apply(cell, axis=1), lo=by_source["ci_low"])
    d = d.rename(columns={"ci_high": "hi"})
    index = ["target", "target_name", "total", "source", "n"]
    wide = d.pivot_table(
        index=index, columns="stance", values=["cell", "share", "lo", "hi"], aggfunc="first"
    )
    lead = wide.apply(_lead, axis=1, names=names)
    cells = wide["cell"].reindex(columns=names)
    cells.columns.name = None  # else to_html shows it as an extra, empty column
    cells.insert(0, "stance", lead)
    out = cells.reset_index().sort_values(
        ["target", "total", "source"], ascending=[True, False, True], kind="stable"
    )  # the total first under each target, as in the other tables
    out = out.drop(columns="target")
    return out.rename(columns={"target_name": "target", "n": "mentioning"})


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
        index=["total", "source", "n"], columns="frame", values="share", aggfunc="first"
    )
    prim = prim.reindex(columns=frames)
    prim.columns.name = None
    prim = prim.reset_index()
    warning = (
        f"INCOMPLETE INPUT: scoring in {', '.join(incomplete)} has not finished; "
        "these shares cover only the shards written so far."
        if incomplete
        else ""
    )
    sections: list[tuple[str, Any]] = []
    if warning:
        sections.append(("Warning", warning))
    sections += [("Warning", w) for w in summary.get("warnings", [])]
    sections += [
        ("About this report", summary),
        (
            "Coverage",
            "Rows with an error carry no labels and are left out of every share. Rows with "
            "no date, an unparseable one or one after the run date count in the per-outlet "
            "figures but not over time; dates fall in the week or month of their own UTC "
            "offset. A row whose id was read before is left out. The row marked total is "
            "all outlets together. Intervals are Wilson score intervals: an outlet with few "
            "articles gets a wide one.",
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
                "Stance per outlet: share of mentioning articles [interval]; stance: the "
                "one whose interval lies above the others'",
                _stance_wide(tables["stance_by_source"]),
            ),
            (f"Stance over time, per outlet and {period}", figures["stance_over_time.png"]),
        ]
    sections.append(
        (
            "Tables",
            "Full tables with counts (k of n) and intervals, per outlet and per "
            f"{period}: " + ", ".join(f"{n}.csv" for n in tables),
        )
    )
    return sections
