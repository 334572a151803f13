"""``mediaframe compare``: training runs of one task side by side, on one HTML page.

MLflow's own compare view lines runs up by params and metrics; this page answers the
question a user has: is one model better than another, and where. For each run it shows
the headline gold-test metrics with the bootstrap intervals training logged; for each run
after the first, the paired bootstrap against the first on the gold test items both were
scored on (the same test the promotion gate applies, with its rounds, seed, margin and
confidence), and the per-label F1 deltas. Everything comes from the runs themselves:
metrics, params and ``evaluation/test_predictions.parquet``, which holds each test item's
decision and gold answer. The page and its tables are logged as artifacts of a new run in
the ``mediaframe-compare`` experiment.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models.metrics import (
    multiclass_metrics,
    multilabel_metrics,
    paired_bootstrap,
    selection_metric,
    task_kind,
)
from pipelines import tracking
from pipelines.atomic import write_text
from pipelines.config import PublishConfig
from pipelines.evaluate import html_report
from pipelines.plots import pyplot, to_png

PREDICTIONS = "evaluation/test_predictions.parquet"


class CompareError(ValueError):
    """Runs that cannot be compared (unknown, unfinished, other tasks or labels)."""


@dataclass
class ComparedRun:
    """One training run as the page needs it: who it is, its figures, its test items."""

    run_id: str
    name: str
    task: str
    family: str
    kind: str
    labels: list[str]
    metrics: dict[str, float]
    params: dict[str, str]
    items: pd.DataFrame  # indexed by the item key (id, or id + target), one row per item

    @property
    def short(self) -> str:
        return f"{self.name} ({self.run_id[:8]})"


@dataclass
class CompareResult:
    """What ``compare`` made: the page, the logged run and the tables on the page."""

    run_id: str
    html: Path
    task: str
    metric: str
    runs: list[ComparedRun]
    n_items: int
    headline: pd.DataFrame
    paired: pd.DataFrame
    per_label: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The console lines: the page, then each pair's verdict."""
        ref = self.runs[0]
        lines = [
            f"compared {len(self.runs)} {self.task} runs on {self.n_items} shared gold test "
            f"items: {self.html} (MLflow run {self.run_id})"
        ]
        for row in self.paired.itertuples(index=False):
            lines.append(
                f"  {row.run} - {ref.short}: {self.metric} {row.diff:+.4f} "
                f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}], P(better) {row.p_better:.2f}; "
                f"gate: {row.gate}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading runs
def resolve_run(client: MlflowClient, ref: str) -> str:
    """The id of run ``ref``: an id as given, else the newest finished training run
    named ``ref`` (``--run-name``), so a user compares the names they chose."""
    try:
        return client.get_run(ref).info.run_id
    except MlflowException:
        pass
    exps = [e.experiment_id for e in client.search_experiments()]
    named = (
        client.search_runs(
            exps,
            filter_string=(
                f"attributes.run_name = '{ref.replace(chr(39), '')}' "
                "and tags.`mediaframe.stage` = 'train' and attributes.status = 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )
        if exps
        else []
    )
    if not named:
        raise CompareError(
            f"run {ref}: not found in {mlflow.get_tracking_uri()} "
            "(neither a run id nor the name of a finished training run)"
        )
    if len(named) > 1:
        print(f"compare: {len(named)} finished runs are named {ref!r}; the newest is compared")
    return named[0].info.run_id


def load_run(client: MlflowClient, run_id: str, dest: Path) -> ComparedRun:
    """A finished training run and its test items; a clear error for anything else."""
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise CompareError(f"run {run_id}: not found in {mlflow.get_tracking_uri()}") from None
    tags = run.data.tags
    if tags.get("mediaframe.stage") != "train":
        raise CompareError(
            f"run {run_id} ({run.info.run_name}): not a training run "
            f"(stage {tags.get('mediaframe.stage')!r}); compare takes `mediaframe train` runs"
        )
    if run.info.status != "FINISHED":
        raise CompareError(f"run {run_id} ({run.info.run_name}): {run.info.status}, not FINISHED")
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=PREDICTIONS, dst_path=str(dest / run_id)
        )
    except (MlflowException, OSError) as exc:
        raise CompareError(f"run {run_id}: no {PREDICTIONS} artifact ({exc})") from None
    items = pd.read_parquet(path)
    labels = [c[2:] for c in items.columns if c.startswith("p_")]
    kind = task_kind(tags.get("mediaframe.task", ""))
    needed = (
        [f"gold_{lab}" for lab in labels] + [f"pred_{lab}" for lab in labels]
        if kind == "multilabel"
        else ["gold", "pred"]
    )
    missing = [c for c in needed if c not in items.columns]
    if missing:
        raise CompareError(
            f"run {run_id}: {PREDICTIONS} has no column {missing[0]!r} (the run predates "
            "gold answers in its predictions); train it again to compare it"
        )
    key = ["id", "target"] if "target" in items.columns else ["id"]
    items = items.drop_duplicates(subset=key).set_index(key)
    return ComparedRun(
        run_id=run_id,
        name=run.info.run_name or run_id[:8],
        task=tags.get("mediaframe.task", ""),
        family=tags.get("mediaframe.model", ""),
        kind=kind,
        labels=labels,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
        items=items,
    )


def _check_comparable(runs: list[ComparedRun]) -> None:
    ref = runs[0]
    for r in runs[1:]:
        if r.task != ref.task:
            raise CompareError(
                f"run {r.run_id} is a {r.task} run and {ref.run_id} a {ref.task} run: "
                "compare runs of one task"
            )
        if r.labels != ref.labels:
            raise CompareError(
                f"run {r.run_id} predicts labels {r.labels} and {ref.run_id} {ref.labels}: "
                "runs of different codebooks or targets cannot be paired"
            )


def shared_items(runs: list[ComparedRun]) -> tuple[pd.Index, list[str]]:
    """The test items every run was scored on, and notes on what was left out.

    Runs trained on other splits share only part of their test set; the pairing is only
    fair on the common part, so that part is used and the page says how much was dropped.
    Items whose gold answer differs between runs (gold edited between trainings) are
    refused: the two runs were not graded against the same answers.
    """
    common = runs[0].items.index
    for r in runs[1:]:
        common = common.intersection(r.items.index)
    if len(common) == 0:
        raise CompareError("the runs share no gold test item: they were tested on other splits")
    notes = []
    for r in runs:
        extra = len(r.items) - len(common)
        if extra:
            notes.append(f"{r.short}: {extra} of its {len(r.items)} test items left out")
    gold = _gold_cols(runs[0])
    ref = runs[0].items.loc[common, gold]
    for r in runs[1:]:
        differs = (r.items.loc[common, gold] != ref).any(axis=1)
        if differs.any():
            first = differs[differs].index[0]
            raise CompareError(
                f"runs {runs[0].run_id} and {r.run_id} hold different gold answers for "
                f"{int(differs.sum())} shared test items (first: {first}); they were graded "
                "against different gold"
            )
    return common, notes


def _gold_cols(run: ComparedRun) -> list[str]:
    return [f"gold_{lab}" for lab in run.labels] if run.kind == "multilabel" else ["gold"]


# --------------------------------------------------------------------------- figures
def _scorer(run: ComparedRun, common: pd.Index, key: str):
    """``metric(indices)`` of ``run`` over a resample of the shared items."""
    items = run.items.loc[common]
    if run.kind == "multilabel":
        yt = items[[f"gold_{lab}" for lab in run.labels]].to_numpy(dtype=int)
        yp = items[[f"pred_{lab}" for lab in run.labels]].to_numpy(dtype=int)
        return lambda idx: multilabel_metrics(yt[idx], yp[idx], run.labels, warn=False)[key]
    yt2 = items["gold"].to_numpy(dtype=object)
    yp2 = items["pred"].to_numpy(dtype=object)
    return lambda idx: multiclass_metrics(yt2[idx], yp2[idx], run.labels, warn=False)[key]


def _per_label(run: ComparedRun, common: pd.Index) -> dict[str, dict[str, float]]:
    items = run.items.loc[common]
    if run.kind == "multilabel":
        yt = items[[f"gold_{lab}" for lab in run.labels]].to_numpy(dtype=int)
        yp = items[[f"pred_{lab}" for lab in run.labels]].to_numpy(dtype=int)
        return multilabel_metrics(yt, yp, run.labels, warn=False)["per_label"]
    return multiclass_metrics(items["gold"], items["pred"], run.labels, warn=False)["per_label"]


def headline_metrics(kind: str) -> list[str]:
    """The selection metric first, then the figure worth a second look."""
    key = selection_metric(kind)
    return [key, "macro_f1", "subset_accuracy"] if kind == "multilabel" else [key, "f_avg"]


def _with_ci(metrics: dict[str, float], name: str) -> str:
    v = metrics.get(name)
    if v is None or math.isnan(v):
        return "n/a"
    lo, hi = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else f"{v:.3f}"


def headline_table(runs: list[ComparedRun]) -> pd.DataFrame:
    """One row per run: its test figures with intervals, as training logged them."""
    kind = runs[0].kind
    key = selection_metric(kind)
    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "run": r.short,
            "family": r.family,
            f"dev {key} (selects)": r.metrics.get(f"dev_{key}", math.nan),
        }
        for name in headline_metrics(kind):
            row[f"test {name} [95% CI]"] = _with_ci(
                {k[5:]: v for k, v in r.metrics.items() if k.startswith("test_")}, name
            )
        row[f"trivial {key}"] = r.metrics.get(f"test_trivial_{key}", math.nan)
        row["n test"] = r.params.get("n_test", "")
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(
    runs: list[ComparedRun], common: pd.Index, cfg: PublishConfig, key: str
) -> pd.DataFrame:
    """Each run against the first: the paired bootstrap on the shared items, judged by the
    promotion gate's rule (difference at least ``margin``, P(better) at least
    ``confidence``), so the page says what ``publish`` would decide."""
    ref = _scorer(runs[0], common, key)
    rows = []
    for r in runs[1:]:
        res = paired_bootstrap(ref, _scorer(r, common, key), len(common), cfg.bootstrap, cfg.seed)
        wins = res["diff"] >= cfg.margin and res["p_b_better"] >= cfg.confidence
        rows.append(
            {
                "run": r.short,
                "vs": runs[0].short,
                "metric": key,
                "diff": res["diff"],
                "ci_low": res["ci_low"],
                "ci_high": res["ci_high"],
                "p_better": res["p_b_better"],
                "gate": (
                    "would replace the reference"
                    if wins
                    else f"would not (needs diff >= {cfg.margin}, P >= {cfg.confidence})"
                ),
            }
        )
    return pd.DataFrame(rows)


def per_label_table(runs: list[ComparedRun], common: pd.Index) -> pd.DataFrame:
    """Per label: gold support, each run's F1 on the shared items, and each run's delta
    from the first, so a gain in the headline can be traced to the labels it came from."""
    per = [_per_label(r, common) for r in runs]
    rows = []
    for lab in runs[0].labels:
        row: dict[str, Any] = {"label": lab, "support": per[0][lab]["support"]}
        for r, p in zip(runs, per, strict=True):
            row[f"F1 {r.short}"] = p[lab]["f1"]
        for r, p in zip(runs[1:], per[1:], strict=True):
            row[f"delta {r.short}"] = p[lab]["f1"] - per[0][lab]["f1"]
        rows.append(row)
    return pd.DataFrame(rows)


def plot_intervals(runs: list[ComparedRun], key: str) -> bytes:
    """Each run's test ``key`` with its 95% interval, and the trivial reference, on one
    axis: overlapping intervals at a glance (the paired test is the sharper judge)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(runs) + 1.4))
    for i, r in enumerate(runs):
        v = r.metrics.get(f"test_{key}", math.nan)
        lo = r.metrics.get(f"test_{key}_ci_low", v)
        hi = r.metrics.get(f"test_{key}_ci_high", v)
        ax.errorbar([v], [i], xerr=[[v - lo], [hi - v]], fmt="o", capsize=4, color="#4C72B0")
    trivial = runs[0].metrics.get(f"test_trivial_{key}")
    if trivial is not None:
        ax.axvline(trivial, ls="--", color="grey", label=f"trivial {trivial:.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(range(len(runs)), [r.short for r in runs])
    ax.invert_yaxis()
    ax.set_xlabel(f"gold test {key} (95% bootstrap interval)")
    return to_png(fig)


# --------------------------------------------------------------------------- the stage
def compare(run_ids: list[str], output: str | Path, cfg: PublishConfig) -> CompareResult:
    """Compare ``run_ids`` (the first is the reference), write DIR/compare.html and log it
    with its tables to a new run of the ``mediaframe-compare`` experiment."""
    if len(run_ids) < 2:
        raise CompareError("compare needs at least two run ids")
    client = MlflowClient()
    run_ids = [resolve_run(client, ref) for ref in run_ids]
    if len(set(run_ids)) != len(run_ids):
        raise CompareError(f"a run is named twice: {run_ids}")
    out = Path(output)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [load_run(client, rid, Path(tmp)) for rid in run_ids]
    _check_comparable(runs)
    common, notes = shared_items(runs)
    key = selection_metric(runs[0].kind)
    headline = headline_table(runs)
    paired = paired_table(runs, common, cfg, key)
    per_label = per_label_table(runs, common)
    title = f"mediaframe compare: {runs[0].task}, {len(runs)} runs"
    intro = (
        f"Reference: {runs[0].short}. Paired bootstrap ({cfg.bootstrap} rounds, seed "
        f"{cfg.seed}) of {key} on the {len(common)} gold test items every run was scored on; "
        "intervals in the first table are each run's own, logged at training."
    )
    sections: list[tuple[str, Any]] = [
        ("What is compared", intro),
        ("Headline metrics (gold test)", headline),
        (f"Test {key} with intervals", plot_intervals(runs, key)),
        (f"Paired bootstrap against the reference ({key})", paired),
        ("Per-label F1 on the shared items", per_label),
    ]
    if notes:
        sections.append(("Items left out", "; ".join(notes)))
    page = html_report(title, sections)
    tags = tracking.base_tags("compare", runs[0].task, "+".join(r.family for r in runs))
    with tracking.stage_run("compare", "compare", tags) as run:
        mlflow.log_params(
            {
                "runs": ",".join(run_ids)[:500],
                "reference": run_ids[0],
                "task": runs[0].task,
                "metric": key,
                "n_items": len(common),
                "bootstrap": cfg.bootstrap,
                "seed": cfg.seed,
            }
        )
        for i, row in enumerate(paired.itertuples(index=False), start=1):
            mlflow.log_metrics(
                {
                    f"run{i}_minus_reference_diff": row.diff,
                    f"run{i}_minus_reference_ci_low": row.ci_low,
                    f"run{i}_minus_reference_ci_high": row.ci_high,
                    f"run{i}_p_better": row.p_better,
                }
            )
        out.mkdir(parents=True, exist_ok=True)
        write_text(page, out / "compare.html")
        mlflow.log_artifact(str(out / "compare.html"))
        for name, table in (("headline", headline), ("paired", paired), ("per_label", per_label)):
            table.to_csv(out / f"{name}.csv", index=False)
            mlflow.log_artifact(str(out / f"{name}.csv"), "tables")
        mlflow.set_tag(
            "mlflow.note.content",
            "Compares " + ", ".join(f"`{r.short}`" for r in runs) + f" on {key}.",
        )
    return CompareResult(
        run_id=run.info.run_id,
        html=out / "compare.html",
        task=runs[0].task,
        metric=key,
        runs=runs,
        n_items=len(common),
        headline=headline,
        paired=paired,
        per_label=per_label,
        notes=notes,
    )
