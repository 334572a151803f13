"""The ``report`` stage: what the outlets did, from scored Parquet.

Frame shares and stance toward each target, per source and per week or month, with
Wilson intervals, as CSV tables, plots and one self-contained HTML page, logged to
MLflow. Input is read in row batches and only counts are kept, so millions of scored
articles fit in the memory of a few thousand counters; Wilson intervals need nothing
but those counts, which is why they are used rather than a bootstrap, and they stay
sensible (wide, inside [0, 1]) for an outlet with three articles.

Rows are never dropped silently: rows whose ``error`` is set carry no labels and are
left out of every share; rows without a usable date, or dated after the run, count in
the per-source tables but not in the per-period ones. All are counted per source in
``coverage.csv`` and shown at the top of the report. A row whose id was read before is
left out and counted, and rows of several model versions are counted per version; both
are warnings on the page, in ``report.json`` and on the console. Dates fall in the week
or month of their own UTC offset. The all-sources total is a row flagged ``total`` in
every table, so no outlet name can be mistaken for it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.codebook import load_stance
from labeling.gold import STANCE_CLASSES
from pipelines import tracking
from pipelines.atomic import atomic_path, write_text
from pipelines.config import ReportConfig
from pipelines.evaluate import html_report
from pipelines.inputs import list_inputs
from pipelines.progress import bar
from pipelines.readers import iter_parquet
from pipelines.report_html import report_sections
from pipelines.report_plots import report_figures
from pipelines.shards import MANIFEST

ALL = "(all sources)"
NO_SOURCE = "(no source)"
UNDATED = "(undated)"
BAD_DATE = "(unparseable date)"
FUTURE = "(future date)"
# Period markers of rows that count per outlet but have no place on a time axis.
OFF_TIMELINE = (UNDATED, BAD_DATE, FUTURE)
REPORT_HTML = "outlet_report.html"


class ReportError(ValueError):
    """Input the report cannot be built from; the message names the file and column."""


@dataclass
class ReportResult:
    output: Path
    html: Path
    rows: int
    scored: int
    errors: int
    undated: int
    sources: int
    periods: int
    incomplete: list[str]
    model_versions: list[str]
    duplicates: int = 0  # rows left out: their id was read before
    future: int = 0  # rows dated after the run
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    run_id: str | None = None


# ============================================================================ input
def list_parquet(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Parquet files under ``inputs``; also the folders whose scoring is not finished.
    Each input is listed on its own, so a folder with no Parquet in it is an error."""
    what = "Parquet file (score output or labels.parquet)"
    files = [
        f
        for x in inputs
        for f in list_inputs([x], [".parquet"], what, skip_private=True, error=ReportError)
    ]
    incomplete = []
    for x in map(Path, inputs):
        manifest = x / MANIFEST
        if manifest.is_file() and not json.loads(manifest.read_text()).get("complete"):
            incomplete.append(str(x))
    return files, incomplete


def _layout(path: Path, schema: pa.Schema) -> tuple[list[str], list[str]]:
    """Frames (from the ``frame_probs`` struct, so absent frames still get a zero share)
    and stance targets (from the ``stance_<t>`` columns) of one file."""
    names = schema.names
    for col in ("frames", "primary_frame"):
        if col not in names:
            raise ReportError(
                f"{path}: column {col!r} missing; expected the output of `mediaframe score` "
                "or `mediaframe label`"
            )
    frames: list[str] = []
    if "frame_probs" in names and pa.types.is_struct(schema.field("frame_probs").type):
        frames = [f.name for f in schema.field("frame_probs").type]
    targets = [
        c[len("stance_") :] for c in names if c.startswith("stance_") and not c.endswith("_probs")
    ]
    return frames, targets


def parse_date(value: Any) -> datetime | None:
    """A date as written, in its own UTC offset (never converted), or None if unusable.

    ISO 8601 first, then RFC 2822 (``Tue, 30 Jan 2024 23:30:00 -0500``, as feeds write
    them), then what pandas reads as ISO (``2024-01``). Python's datetime spans years
    1-9999, so archive and far-future dates outside pandas' 1677-2262 range still parse.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    try:
        ts = pd.to_datetime(text, format="ISO8601")
    except (ValueError, OverflowError):
        return None
    return None if pd.isna(ts) else ts.to_pydatetime()


def _is_future(when: datetime, now: datetime) -> bool:
    """After the run: an instant when the date has an offset, else a later calendar day
    (a naive timestamp's offset is unknown, so only a whole day ahead is sure to be)."""
    if when.tzinfo is not None:
        return when > now
    return when.date() > now.date()


def _period_label(value: Any, period: str, now: datetime) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return UNDATED
    if isinstance(value, str) and not value.strip():
        return UNDATED
    when = parse_date(value)
    if when is None:
        return BAD_DATE
    if _is_future(when, now):
        return FUTURE
    day = when.date()  # the wall-clock day where it was written: no shift to UTC
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return (day - timedelta(days=day.weekday())).isoformat()  # the Monday


def _periods(dates: pd.Series, period: str, now: datetime) -> pd.Series:
    """Month ``2024-01`` or the Monday a week starts on ``2024-01-15``; else a marker.
    Each distinct date string is parsed once: a corpus repeats its dates many times."""
    raw = dates.astype(object)
    labels = {v: _period_label(v, period, now) for v in pd.unique(raw)}
    return raw.map(labels).astype(object)


class _SeenIds:
    """The ids read so far, as 64-bit hashes in a few sorted arrays: 8 bytes an article,
    so a corpus of millions still fits, at a collision risk of about n^2 / 2^65."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []

    def first(self, ids: pd.Series) -> np.ndarray:
        """True for each row whose id is not seen before (in this batch or an earlier
        one); rows without an id cannot repeat one and are always kept."""
        keep = np.ones(len(ids), dtype=bool)
        valid = ids.notna().to_numpy()
        if not valid.any():
            return keep
        h = pd.util.hash_pandas_object(ids[valid].astype(str), index=False).to_numpy()
        new = np.zeros(len(h), dtype=bool)
        new[np.unique(h, return_index=True)[1]] = True  # first row of each id in the batch
        for chunk in self.chunks:
            pos = np.minimum(np.searchsorted(chunk, h), len(chunk) - 1)
            new &= chunk[pos] != h
        keep[np.flatnonzero(valid)] = new
        if new.any():
            self.chunks.append(np.sort(h[new]))
        if len(self.chunks) > 8:  # merged now and then: lookups stay a few searches a row
            self.chunks = [np.sort(np.concatenate(self.chunks))]
        return keep


@dataclass
class _Counts:
    """Everything the report needs, as counters keyed by (source, period, ...)."""

    now: datetime  # the run's time: dates after it are flagged, not plotted
    rows: Counter = field(default_factory=Counter)  # source -> rows
    errors: Counter = field(default_factory=Counter)  # source -> rows with error
    articles: Counter = field(default_factory=Counter)  # (source, period) -> scored rows
    primary: Counter = field(default_factory=Counter)  # (source, period, frame)
    present: Counter = field(default_factory=Counter)  # (source, period, frame)
    stance: Counter = field(default_factory=Counter)  # (source, period, target, value)
    versions: Counter = field(default_factory=Counter)  # model version -> rows
    duplicates: int = 0  # rows left out because their id was read before
    seen: _SeenIds = field(default_factory=_SeenIds)

    def add(self, df: pd.DataFrame, targets: list[str], period: str) -> None:
        if "id" in df.columns:
            keep = self.seen.first(df["id"])
            self.duplicates += int((~keep).sum())
            df = df[keep]
        src = df["source"].astype(object).where(df["source"].notna(), NO_SOURCE).astype(str)
        src = src.where(src.str.strip() != "", NO_SOURCE)
        err = (
            df["error"].notna() & (df["error"].astype(str) != "")
            if "error" in df.columns
            else pd.Series(False, index=df.index)
        )
        self.rows.update(src.value_counts().to_dict())
        self.errors.update(src[err].value_counts().to_dict())
        if "model_version" in df.columns:
            self.versions.update(df["model_version"].dropna().astype(str).value_counts().to_dict())
        ok = ~err
        per = _periods(df["date"], period, self.now) if "date" in df.columns else UNDATED
        base = pd.DataFrame({"source": src, "period": per})[ok]
        self.articles.update(base.value_counts().to_dict())
        prim = base.assign(v=df.loc[ok, "primary_frame"].astype(object)).dropna()
        self.primary.update(prim.value_counts().to_dict())
        frames = [list(dict.fromkeys(x)) if x is not None else [] for x in df.loc[ok, "frames"]]
        pres = base.assign(v=frames).explode("v").dropna()
        self.present.update(pres.value_counts().to_dict())
        for t in targets:
            st = base.assign(t=t, v=df.loc[ok, f"stance_{t}"].astype(object).fillna("missing"))
            self.stance.update(st.value_counts().to_dict())


def read_counts(
    files: list[Path], period: str, batch_rows: int, now: datetime | None = None
) -> tuple[_Counts, Any]:
    """One pass over the files in row batches; returns the counts, frames and targets."""
    now = now or datetime.now(UTC)
    counts = _Counts(now=now if now.tzinfo else now.replace(tzinfo=UTC))  # naive: UTC
    layout: tuple[list[str], list[str]] | None = None
    first = files[0]
    digest = hashlib.sha256()
    total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    progress = bar("report", total=total, unit="row")
    for f in files:
        pf = pq.ParquetFile(f)
        this = _layout(f, pf.schema_arrow)
        if layout is None:
            layout = this
        elif set(this[1]) != set(layout[1]) or (this[0] and set(this[0]) != set(layout[0])):
            raise ReportError(
                f"{f}: frames or stance targets differ from {first} (another codebook or "
                "model?); report on one scoring output at a time"
            )
        frames, targets = layout
        wanted = ["id", "source", "date", "error", "model_version", "frames", "primary_frame"]
        wanted += [f"stance_{t}" for t in targets]
        cols = [c for c in wanted if c in pf.schema_arrow.names]
        for batch in iter_parquet(f, batch_rows, cols):
            df = batch.to_pandas()
            for c in ("source", "date"):
                if c not in df.columns:
                    df[c] = None
            if "id" in df.columns:
                digest.update(pd.util.hash_pandas_object(df[["id"]], index=False).values.tobytes())
            counts.add(df, targets, period)
            progress.update(len(df))
    progress.close()
    assert layout is not None
    frames, targets = layout
    seen = sorted({k[2] for k in counts.primary} | {k[2] for k in counts.present})
    frames = frames + [x for x in seen if x not in frames]
    return counts, (frames, targets, digest.hexdigest()[:16])


# ============================================================================ intervals
def wilson(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, ...]:
    """Share k/n with its Wilson score interval; n = 0 gives NaN, never an error."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return p, lo, hi


def _with_interval(df: pd.DataFrame, confidence: float) -> pd.DataFrame:
    df["share"], df["ci_low"], df["ci_high"] = wilson(df["k"], df["n"], confidence)
    return df


# ============================================================================ tables
# Rows of every table carry ``total``: the all-sources row is marked by that flag, never
# by its name, so an outlet that happens to be called "(all sources)" stays an outlet.
def _aggregate(counter: Counter, by: str) -> Counter:
    """Counts keyed (source, period, ...) regrouped per outlet over all dates (``period``
    becomes "all", undated rows included) or per dated period, plus the all-sources total;
    keys become (total, source, period, ...)."""
    out: Counter = Counter()
    for key, v in counter.items():
        src, per, rest = key[0], key[1], key[2:]
        if by == "source":
            per = "all"
        elif per in OFF_TIMELINE:
            continue
        out[(False, src, per, *rest)] += v
        out[(True, ALL, per, *rest)] += v
    return out


def _total_first(item: tuple[tuple, Any]) -> tuple:
    return (not item[0][0], *item[0][1:])


def frame_table(c: _Counts, frames: list[str], by: str, confidence: float) -> pd.DataFrame:
    """Per (source, period, frame): primary-frame share and presence share of articles."""
    arts = _aggregate(c.articles, by)
    prim, pres = _aggregate(c.primary, by), _aggregate(c.present, by)
    rows = []
    for (tot, src, per), n in sorted(arts.items(), key=_total_first):
        for fr in frames:
            for measure, counter in (("primary", prim), ("present", pres)):
                rows.append(
                    {
                        "total": tot,
                        "source": src,
                        "period": per,
                        "frame": fr,
                        "measure": measure,
                        "k": counter.get((tot, src, per, fr), 0),
                        "n": n,
                    }
                )
    cols = ["total", "source", "period", "frame", "measure", "k", "n"]
    return _with_interval(pd.DataFrame(rows, columns=cols), confidence)


def stance_table(
    c: _Counts, targets: list[str], names: dict[str, str], by: str, confidence: float
) -> pd.DataFrame:
    """Per (source, period, target): favor/against/neutral shares of the articles that
    mention the target (n), beside how many articles there were at all; ``target_name``
    is the target's name from the stance spec (its key where the spec has none)."""
    counts = _aggregate(c.stance, by)
    groups: dict[tuple[bool, str, str, str], Counter] = {}
    for (tot, src, per, t, v), k in counts.items():
        groups.setdefault((tot, src, per, t), Counter())[v] += k
    rows = []
    for (tot, src, per, t), vc in sorted(groups.items(), key=_total_first):
        n = sum(vc[s] for s in STANCE_CLASSES)
        for s in STANCE_CLASSES:
            rows.append(
                {
                    "total": tot,
                    "source": src,
                    "period": per,
                    "target": t,
                    "target_name": names.get(t, t),
                    "stance": s,
                    "k": vc[s],
                    "n": n,
                    "articles": sum(vc.values()),
                }
            )
    cols = ["total", "source", "period", "target", "target_name", "stance", "k", "n", "articles"]
    return _with_interval(pd.DataFrame(rows, columns=cols), confidence)


def coverage_table(c: _Counts) -> pd.DataFrame:
    rows = []
    for src in sorted(c.rows):
        scored = sum(v for (s, _), v in c.articles.items() if s == src)
        undated = c.articles.get((src, UNDATED), 0)
        bad = c.articles.get((src, BAD_DATE), 0)
        future = c.articles.get((src, FUTURE), 0)
        rows.append(
            {
                "total": False,
                "source": src,
                "rows": c.rows[src],
                "errors": c.errors.get(src, 0),
                "scored": scored,
                "undated": undated,
                "unparseable_date": bad,
                "future_date": future,
                "in_period_tables": scored - undated - bad - future,
            }
        )
    df = pd.DataFrame(rows)
    total = df.drop(columns=["total", "source"]).sum().to_dict()
    row = pd.DataFrame([{"total": True, "source": ALL, **total}])
    return pd.concat([row, df], ignore_index=True)


# ============================================================================ plots
def _panels(cov: pd.DataFrame, limit: int) -> list[tuple[bool, str]]:
    """(total, source) of each plot panel: the total, then the largest outlets."""
    srcs = cov[~cov["total"]].sort_values("scored", ascending=False, kind="stable")
    return [(True, ALL), *((False, s) for s in srcs["source"].head(limit))]


def _target_names(cfg: ReportConfig) -> dict[str, str]:
    """Target key -> the name the stance spec gives it (``eu`` -> "the European Union").

    The spec is a file or a built-in name (``default``, as every other stage reads it);
    null keeps the keys. Read before the data, so a bad file fails before a pass over
    millions of rows.
    """
    if cfg.stance is None:
        return {}
    try:
        spec = load_stance(cfg.stance)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{cfg.stance}: stance spec for the target names: {exc}") from exc
    return {k: t.name for k, t in spec.targets.items()}


def _warnings(c: _Counts, cov_total: pd.Series) -> list[str]:
    """What was merged or left out that a reader must know before reading a share."""
    out = []
    if len(c.versions) > 1:
        each = ", ".join(f"{v}: {n} rows" for v, n in sorted(c.versions.items()))
        out.append(
            f"rows scored by {len(c.versions)} model versions are merged here ({each}); "
            "report on one version's output to compare like with like"
        )
    if c.duplicates:
        out.append(
            f"{c.duplicates} rows repeat an id already read and are left out "
            "(the first row of each id is kept)"
        )
    if cov_total["future_date"]:
        out.append(
            f"{int(cov_total['future_date'])} rows are dated after the run "
            f"({c.now:%Y-%m-%d}); they count per outlet but not over time"
        )
    return out


# ============================================================================ the stage
def build_report(
    inputs: list[str], output: str | Path, cfg: ReportConfig, now: datetime | None = None
) -> ReportResult:
    """Count, tabulate, plot and write the report files (no MLflow). ``now`` is the run
    date that dates must not pass (the clock's, unless a test pins it)."""
    out = Path(output)
    files, incomplete = list_parquet(inputs)
    spec_names = _target_names(cfg)
    counts, (frames, targets, digest) = read_counts(files, cfg.period, cfg.batch_rows, now)
    if not counts.rows:
        raise ReportError(f"{', '.join(inputs)}: no rows to report on")
    names = {t: spec_names[t] for t in targets if t in spec_names}
    tables = {
        "coverage": coverage_table(counts),
        "frame_shares_by_source": frame_table(counts, frames, "source", cfg.confidence),
        "frame_shares_by_period": frame_table(counts, frames, "period", cfg.confidence),
        "stance_by_source": stance_table(counts, targets, names, "source", cfg.confidence),
        "stance_by_period": stance_table(counts, targets, names, "period", cfg.confidence),
    }
    cov = tables["coverage"]
    panels = _panels(cov, cfg.max_outlets_in_plots)
    figures = report_figures(tables, frames, targets, panels)
    for name, table in tables.items():
        with atomic_path(out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
    for name, png in figures.items():
        with atomic_path(out / name) as tmp:
            tmp.write_bytes(png)
    total = cov[cov["total"]].iloc[0]
    periods = sorted(tables["frame_shares_by_period"]["period"].unique())
    warnings = _warnings(counts, total)
    summary = {
        "inputs": [str(x) for x in inputs],
        "files": len(files),
        "model_versions": sorted(counts.versions),
        "rows_per_model_version": dict(sorted(counts.versions.items())),
        "rows": int(total["rows"]),
        "duplicate_ids": counts.duplicates,
        "scored": int(total["scored"]),
        "errors": int(total["errors"]),
        "undated": int(total["undated"] + total["unparseable_date"]),
        "future_dates": int(total["future_date"]),
        "run_date": counts.now.date().isoformat(),
        "sources": int((~cov["total"]).sum()),
        "period": cfg.period,
        "periods": len(periods),
        "interval": f"Wilson score, {cfg.confidence:.0%}",
        "data_digest": digest,
        "incomplete_inputs": incomplete,
        "target_names": names,  # from cfg.stance; targets not in it are shown by key
        "warnings": warnings,
    }
    sections = report_sections(tables, figures, summary, frames, targets, incomplete)
    title = f"mediaframe: what the outlets did ({cfg.period}ly)"
    page = html_report(title + (" [INCOMPLETE INPUT]" if incomplete else ""), sections)
    write_text(json.dumps(summary, indent=1), out / "report.json")
    write_text(page, out / REPORT_HTML)  # last: its presence means the report is whole
    return ReportResult(
        output=out,
        html=out / REPORT_HTML,
        rows=summary["rows"],
        scored=summary["scored"],
        errors=summary["errors"],
        undated=summary["undated"],
        sources=summary["sources"],
        periods=len(periods),
        incomplete=incomplete,
        model_versions=summary["model_versions"],
        duplicates=counts.duplicates,
        future=summary["future_dates"],
        warnings=warnings,
        tables=tables,
    )


def run_report(inputs: list[str], output: str | Path, cfg: ReportConfig) -> ReportResult:
    """Build the report inside an MLflow run of the report experiment, files as artifacts."""
    t0 = time.perf_counter()
    tags = tracking.base_tags("report", "frames+stance", "", "", "")
    with tracking.stage_run("report", "report", tags) as run:
        mlflow.log_params(
            {
                "inputs": ",".join(map(str, inputs))[:500],
                "output": str(output),
                "period": cfg.period,
                "confidence": cfg.confidence,
            }
        )
        res = build_report(inputs, output, cfg)
        mlflow.set_tags(
            {
                "mediaframe.model_version": ",".join(res.model_versions),
                "mediaframe.data_digest": json.loads((res.output / "report.json").read_text())[
                    "data_digest"
                ],
                "mediaframe.incomplete_input": str(bool(res.incomplete)).lower(),
            }
        )
        mlflow.log_metrics(
            {
                "rows": res.rows,
                "rows_scored": res.scored,
                "rows_error": res.errors,
                "rows_undated": res.undated,
                "rows_duplicate_id": res.duplicates,
                "rows_future_date": res.future,
                "sources": res.sources,
                "periods": res.periods,
                "seconds": time.perf_counter() - t0,
            }
        )
        for name in res.tables:
            mlflow.log_artifact(str(res.output / f"{name}.csv"), "tables")
        for png in sorted(res.output.glob("*.png")):
            mlflow.log_artifact(str(png), "plots")
        mlflow.log_artifact(str(res.output / "report.json"))
        mlflow.log_artifact(str(res.html))
        res.run_id = run.info.run_id
    return res
