"""Inter-annotator agreement, from maintained implementations.

Cohen's kappa (scikit-learn) for two annotators, Fleiss' kappa (statsmodels) for many
annotators rating every item, and Krippendorff's alpha (``krippendorff``) for many
annotators with missing ratings. Frames are scored per frame as binary decisions and
as the primary frame; stance per target over the four values including not_mentioned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labeling.gold import Annotation


def cohen_kappa(a: list[str], b: list[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(a) != len(b) or not a:
        raise ValueError("Cohen's kappa needs two equally long, non-empty label lists")
    if len(set(a) | set(b)) == 1:
        return 1.0  # perfect agreement on a single category; sklearn returns NaN
    return float(cohen_kappa_score(a, b))


def fleiss_kappa(table: list[list[str]]) -> float:
    """``table``: one row per item, one column per annotator (every item fully rated)."""
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as _fk

    counts, _ = aggregate_raters(np.asarray(table, dtype=object))
    return float(_fk(counts, method="fleiss"))


def krippendorff_alpha(table: list[list[str | None]]) -> float:
    """``table``: one row per item, one column per annotator; None where not rated."""
    import krippendorff

    cats = sorted({v for row in table for v in row if v is not None})
    if len(cats) < 2:
        return 1.0
    code = {c: i for i, c in enumerate(cats)}
    data = np.array(
        [[np.nan if v is None else code[v] for v in row] for row in table], dtype=float
    ).T  # krippendorff wants annotators x items
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


@dataclass
class AgreementReport:
    table: pd.DataFrame  # one row per label: n_items, percent, cohen, fleiss, alpha
    disagreements: pd.DataFrame  # id, field, annotator -> value
    n_items: int
    annotators: list[str]


def _units(rows: list[Annotation], frames: list[str], targets: list[str]) -> dict[str, dict]:
    """Per label ("frame:economic", "primary_frame", "stance:nato"): id -> annotator -> value."""
    units: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        for f in frames:
            units.setdefault(f"frame:{f}", {}).setdefault(r.id, {})[r.annotator] = (
                "1" if f in r.frames else "0"
            )
        if r.primary_frame:
            units.setdefault("primary_frame", {}).setdefault(r.id, {})[r.annotator] = (
                r.primary_frame
            )
        for t in targets:
            units.setdefault(f"stance:{t}", {}).setdefault(r.id, {})[r.annotator] = r.stance.get(
                t, "not_mentioned"
            )
    return units


def agreement(rows: list[Annotation], frames: list[str], targets: list[str]) -> AgreementReport:
    """Agreement on the items that two or more annotators labelled."""
    by_id: dict[str, set[str]] = {}
    for r in rows:
        by_id.setdefault(r.id, set()).add(r.annotator)
    shared = {i for i, a in by_id.items() if len(a) >= 2}
    annotators = sorted({r.annotator for r in rows if r.id in shared})
    units = _units([r for r in rows if r.id in shared], frames, targets)
    records = []
    dis = []
    for name, items in units.items():
        ids = sorted(items)
        table = [[items[i].get(a) for a in annotators] for i in ids]
        full = [row for row in table if all(v is not None for v in row)]
        pct = np.mean([len(set(v for v in row if v is not None)) == 1 for row in table])
        rec = {"label": name, "n_items": len(ids), "percent_agreement": float(pct)}
        if len(annotators) == 2 and full:
            rec["cohen_kappa"] = cohen_kappa([r[0] for r in full], [r[1] for r in full])
        if full and len({v for row in full for v in row}) > 1:
            rec["fleiss_kappa"] = fleiss_kappa(full)
        else:
            rec["fleiss_kappa"] = 1.0 if full else float("nan")
        rec["krippendorff_alpha"] = krippendorff_alpha(table)
        records.append(rec)
        for i, row in zip(ids, table, strict=True):
            if len({v for v in row if v is not None}) > 1:
                dis.append({"id": i, "field": name, **dict(zip(annotators, row, strict=True))})
    df = pd.DataFrame(records)
    if not df.empty:
        frame_rows = df[df["label"].str.startswith("frame:")]
        stance_rows = df[df["label"].str.startswith("stance:")]
        summary = []
        for name, part in (("frames (mean)", frame_rows), ("stance (mean)", stance_rows)):
            if len(part):
                summary.append(
                    {
                        "label": name,
                        "n_items": int(part["n_items"].max()),
                        **part.drop(columns=["label", "n_items"]).mean().to_dict(),
                    }
                )
        df = pd.concat([df, pd.DataFrame(summary)], ignore_index=True)
    return AgreementReport(df, pd.DataFrame(dis), len(shared), annotators)
