"""The outlet report's figures: primary-frame shares over time, frame presence, stance per
outlet and stance over time, each with its Wilson intervals, as PNG bytes
(``pipelines.plots``).

A panel is ``(total, source)``: the all-sources total is picked by its flag in the
tables, never by its name, so an outlet named like the total keeps its own panel."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from labeling.gold import STANCE_CLASSES
from pipelines.plots import pyplot, to_png

STANCE_COLOURS = dict(zip(STANCE_CLASSES, ("#2a9d4b", "#c0392b", "#7f7f7f"), strict=True))
TOTAL_LABEL = "all sources (total)"

Panel = tuple[bool, str]


def panel_label(panel: Panel) -> str:
    return TOTAL_LABEL if panel[0] else panel[1]


def _rows(df: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    return df[(df["total"] == panel[0]) & (df["source"] == panel[1])]


def _by_panel(panels: list[Panel]) -> pd.MultiIndex:
    return pd.MultiIndex.from_tuples(panels, names=["total", "source"])


def _target_name(table: pd.DataFrame, target: str) -> str:
    names = table.loc[table["target"] == target, "target_name"]
    return str(names.iloc[0]) if len(names) else target


def _frame_colours(frames: list[str]) -> dict[str, Any]:
    plt = pyplot()
    cmap = plt.get_cmap("tab20")
    return {f: cmap(i % 20) for i, f in enumerate(frames)}


def plot_frames_over_time(by_period: pd.DataFrame, frames: list[str], panels: list[Panel]) -> bytes:
    """Stacked primary-frame shares per period, one small panel per outlet.

    Each panel's bars are one PolyCollection of the non-empty segments: one matplotlib
    patch per (period, frame) took most of a report's time at weekly resolution.
    """
    from matplotlib.collections import PolyCollection

    plt = pyplot()
    prim = by_period[by_period["measure"] == "primary"]
    periods = sorted(prim["period"].unique())
    colours = _frame_colours(frames)
    ncols = 2 if len(panels) > 1 else 1
    nrows = max(1, math.ceil(len(panels) / ncols))
    legend_rows = math.ceil(len(frames) / 5)
    fig = plt.figure(figsize=(11, 1.9 * nrows + 0.25 * legend_rows + 1.0))
    grid = fig.add_gridspec(nrows + 1, ncols, height_ratios=[1.9] * nrows + [0.25 * legend_rows])
    x = np.arange(len(periods))
    step = max(1, math.ceil(len(periods) / 10))
    width = 0.85
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        mine = _rows(prim, panel)
        sub = mine.pivot_table(index="period", columns="frame", values="share", aggfunc="first")
        sub = sub.reindex(index=periods, columns=frames).fillna(0).to_numpy()
        top = np.cumsum(sub, axis=1)
        verts, faces = [], []
        for pi, fi in zip(*np.nonzero(sub > 0), strict=True):
            x0, y0, y1 = x[pi] - width / 2, top[pi, fi] - sub[pi, fi], top[pi, fi]
            verts.append([(x0, y0), (x0 + width, y0), (x0 + width, y1), (x0, y1)])
            faces.append(colours[frames[fi]])
        ax.add_collection(PolyCollection(verts, facecolors=faces, edgecolors="none"))
        ax.set_xlim(-0.6, len(periods) - 0.4)
        ax.set_ylim(0, 1)
        n = int(mine.groupby("period")["n"].first().sum())
        ax.set_title(f"{panel_label(panel)} (n={n})", fontsize=9)
        last_row = i + ncols >= len(panels)
        ax.set_xticks(
            x[::step], [periods[j] for j in range(0, len(periods), step)] if last_row else []
        )
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.tick_params(axis="y", labelsize=7)
    leg = fig.add_subplot(grid[nrows, :])
    leg.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[f]) for f in frames]
    leg.legend(handles, frames, loc="center", ncol=5, fontsize=7, frameon=False)
    fig.suptitle("Primary frame shares over time (empty bar: no dated article)", fontsize=11)
    return to_png(fig)


def plot_frame_presence(by_source: pd.DataFrame, frames: list[str], panels: list[Panel]) -> bytes:
    """Heat map: the share of each outlet's articles in which each frame is present."""
    plt = pyplot()
    pres = by_source[by_source["measure"] == "present"]
    m = pres.pivot_table(
        index=["total", "source"], columns="frame", values="share", aggfunc="first"
    )
    m = m.reindex(index=_by_panel(panels), columns=frames)
    fig, ax = plt.subplots(figsize=(0.55 * len(frames) + 3, 0.35 * len(panels) + 2))
    ax.imshow(m.to_numpy(dtype=float), cmap="YlOrRd", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(frames)), frames, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(panels)), [panel_label(p) for p in panels], fontsize=8)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m.iat[i, j]
            if not math.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_title("Share of articles in which each frame is present")
    return to_png(fig)


def plot_stance(by_source: pd.DataFrame, targets: list[str], panels: list[Panel]) -> bytes:
    """Per target, per outlet: favor / against / neutral shares with their intervals."""
    plt = pyplot()
    fig, axes = plt.subplots(
        1, len(targets), figsize=(3.2 * len(targets) + 1.5, 0.42 * len(panels) + 1.8), sharey=True
    )
    axes = np.atleast_1d(axes)
    y = np.arange(len(panels))
    for ax, t in zip(axes, targets, strict=True):
        sub = by_source[by_source["target"] == t]
        for off, s in zip((-0.22, 0.0, 0.22), STANCE_CLASSES, strict=True):
            d = sub[sub["stance"] == s].set_index(["total", "source"]).reindex(_by_panel(panels))
            share = d["share"].to_numpy(dtype=float)
            err = np.vstack(
                [share - d["ci_low"].to_numpy(dtype=float), d["ci_high"].to_numpy(dtype=float)]
            )
            err[1] -= share
            err = np.clip(err, 0, None)  # rounding may leave -1e-17
            ax.errorbar(
                share, y + off, xerr=err, fmt="o", ms=3.5, lw=1, capsize=2,
                color=STANCE_COLOURS[s], label=s,
            )  # fmt: skip
        n = sub.groupby(["total", "source"])["n"].first().reindex(_by_panel(panels))
        n = n.fillna(0).astype(int)
        for yi, nv in zip(y, n, strict=True):
            ax.text(
                1.02, yi, f"n={nv}", fontsize=6, va="center", transform=ax.get_yaxis_transform()
            )
        ax.set_xlim(0, 1)
        ax.set_title(f"stance toward {_target_name(sub, t)}", fontsize=10)
        ax.set_xlabel("share of articles mentioning it", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [panel_label(p) for p in panels], fontsize=8)
    axes[0].invert_yaxis()
    axes[-1].legend(loc="lower right", fontsize=7)
    return to_png(fig)


def plot_stance_over_time(
    by_period: pd.DataFrame, targets: list[str], panels: list[Panel]
) -> bytes:
    """Per target, one row per outlet: the favor and against shares of mentioning articles
    per period, each with its Wilson interval; a period without a mention is a gap.

    The rows of a target share one axes (each row its own 0 to 1 scale, between two grey
    lines): a grid of one axes per outlet and target spent seconds laying out ticks.
    """
    plt = pyplot()
    periods = sorted(by_period["period"].unique())
    x = np.arange(len(periods), dtype=float)
    step = max(1, math.ceil(len(periods) / 10))
    height = 0.8  # of each row's unit of height: the rest is the gap between outlets
    base = np.arange(len(panels))[::-1].astype(float)  # the first panel at the top
    fig, axes = plt.subplots(
        1,
        len(targets),
        figsize=(4.2 * len(targets) + 1.5, 0.62 * len(panels) + 1.6),
        sharey=True,
        squeeze=False,
    )
    for ax, t in zip(axes[0], targets, strict=True):
        sub = by_period[by_period["target"] == t]
        for off, s in ((-0.08, "favor"), (0.08, "against")):
            xs, ys, lo, hi = [], [], [], []
            for b0, panel in zip(base, panels, strict=True):
                d = _rows(sub[sub["stance"] == s], panel).set_index("period").reindex(periods)
                for col, acc in (("share", ys), ("ci_low", lo), ("ci_high", hi)):
                    acc += [*(b0 + height * d[col].to_numpy(dtype=float)), np.nan]
                xs += [*(x + off), np.nan]  # NaN: the line breaks between outlets
            ys_a = np.asarray(ys)
            err = np.clip(np.vstack([ys_a - np.asarray(lo), np.asarray(hi) - ys_a]), 0, None)
            ax.errorbar(
                xs,
                ys_a,
                yerr=err,
                fmt="o-",
                ms=2.5,
                lw=1,
                elinewidth=0.7,
                capsize=1.5,
                color=STANCE_COLOURS[s],
                label=s,
            )  # fmt: skip  (bars, not a band: a lone period still shows its interval)
        ax.hlines([*base, *(base + height)], -0.5, len(periods) - 0.5, color="#bbbbbb", lw=0.5)
        per = sub.groupby(["total", "source", "period"])["n"].first()  # n: per period
        n = per.groupby(level=["total", "source"]).sum().reindex(_by_panel(panels))
        for b0, nv in zip(base, n.fillna(0).astype(int), strict=True):
            ax.text(
                1.01, b0 + height / 2, f"n={nv}", fontsize=6, va="center",
                transform=ax.get_yaxis_transform(),
            )  # fmt: skip
        ax.set_xlim(-0.5, len(periods) - 0.5)
        ax.set_ylim(-0.3, len(panels))
        ax.set_xticks(x[::step], [periods[j] for j in range(0, len(periods), step)])
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.set_title(f"stance toward {_target_name(sub, t)}", fontsize=10)
    axes[0, 0].set_yticks(base + height / 2, [panel_label(p) for p in panels], fontsize=8)
    fig.suptitle(
        "Stance over time: share of mentioning articles, favor (green) and against (red),\n"
        "with intervals; each row runs from 0 to 1 between its grey lines",
        fontsize=10,
    )
    return to_png(fig)


def report_figures(
    tables: dict[str, pd.DataFrame], frames: list[str], targets: list[str], panels: list[Panel]
) -> dict[str, bytes]:
    """File name -> PNG of every figure of the report (stance only if there are targets)."""
    figures = {
        "frames_over_time.png": plot_frames_over_time(
            tables["frame_shares_by_period"], frames, panels
        ),
        "frame_presence.png": plot_frame_presence(tables["frame_shares_by_source"], frames, panels),
    }
    if targets:
        figures["stance_by_outlet.png"] = plot_stance(tables["stance_by_source"], targets, panels)
        figures["stance_over_time.png"] = plot_stance_over_time(
            tables["stance_by_period"], targets, panels
        )
    return figures
