"""The ``run`` stage: the whole flow on one corpus under one parent MLflow run.

ingest -> label -> train (each task x each family) -> evaluate on gold -> publish ->
batch-score -> outlet report, then a summary table, each task's comparison page (every
family against TF-IDF) and the command that opens the MLflow UI.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from models.metrics import (
    selection_metric,
    task_kind,
)
from pipelines import tracking
from pipelines.config import RunConfig


def _headline(task: str) -> str:
    """The task's selection metric (micro-F1 for frames, macro-F1 for stance)."""
    return selection_metric(task_kind(task))


class _Timer:
    """Seconds per step, printed as a ``==> step`` header when the step starts."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str, key: str | None = None) -> Iterator[None]:
        print(f"\n==> {name}", flush=True)
        t = time.perf_counter()
        yield
        self.seconds[key or name] = time.perf_counter() - t


def _ingest_and_label(cfg: RunConfig, work: Path, timer: _Timer) -> None:
    from pipelines.ingest import ingest, log_ingest_run
    from pipelines.label import run_label

    with timer.step("ingest"):
        rep = ingest(cfg.input, work, cfg.ingest)
    print(
        f"    {rep.rows_read} rows/files read, {rep.articles_found} articles found, "
        f"{rep.documents_out} documents out; dropped {dict(rep.dropped)}"
    )
    log_ingest_run(rep, work)
    with timer.step("label"):
        lab = run_label(work / "documents.parquet", work, cfg.label)
    r = lab.report
    print(
        f"    {r['documents']} documents labelled ({r['gold_documents']} from gold); "
        f"label model: frames={r['label_model_frames']}, stance={r['label_model_stance']}"
    )


def _train_task(cfg: RunConfig, task: str, work: Path, timer: _Timer) -> list[dict[str, Any]]:
    """Every family on one task, then the paired comparison of the families."""
    from pipelines.train import run_train

    tcfg = cfg.train_config(task).model_copy(
        update={
            "labels": str(work / "labels.parquet"),
            "documents": str(work / "documents.parquet"),
            "output": str(work / "models"),
        }
    )
    summaries = []
    key = "test_" + _headline(task)
    for family in cfg.families:
        with timer.step(f"train {task} / {family}", f"train_{task}_{family}"):
            s = run_train(tcfg.model_copy(update={"family": family}))
        summaries.append(s)
        m = s["metrics"]
        print(
            f"    {key} = {m.get(key, math.nan):.3f} "
            f"[{m.get(key + '_ci_low', math.nan):.3f}, "
            f"{m.get(key + '_ci_high', math.nan):.3f}]; trivial reference "
            f"{m.get(key.replace('test_', 'test_trivial_'), math.nan):.3f}"
        )
    _compare_task(cfg, task, summaries, work, timer)
    return summaries


def _compare_task(
    cfg: RunConfig, task: str, summaries: list[dict[str, Any]], work: Path, timer: _Timer
) -> None:
    """The comparison page of one task's runs, TF-IDF as the reference every other family
    has to beat (``mediaframe compare``, logged under the parent run); each family's
    paired difference is also logged on the parent, where the runs table shows it."""
    from pipelines.compare import compare

    runs = {s["model"]: s["run_id"] for s in summaries if s["task"] == task}
    if "baseline" not in runs or len(runs) < 2:
        return
    ids = [runs["baseline"], *(rid for fam, rid in runs.items() if fam != "baseline")]
    with timer.step(f"compare {task}", f"compare_{task}"):
        res = compare(ids, work / "compare" / task, cfg.publish)
    for r, row in zip(res.runs[1:], res.paired.itertuples(index=False), strict=True):
        mlflow.log_metrics(
            {
                f"{task}_{r.family}_minus_baseline_diff": row.diff,
                f"{task}_{r.family}_minus_baseline_ci_low": row.ci_low,
                f"{task}_{r.family}_minus_baseline_ci_high": row.ci_high,
                f"{task}_{r.family}_minus_baseline_p_better": row.p_better,
            }
        )
        print(
            f"    {r.family} - baseline: {row.diff:+.3f} [{row.ci_low:+.3f}, "
            f"{row.ci_high:+.3f}], P({r.family} better) = {row.p_better:.2f}"
        )
    print(f"    comparison page: {res.html}")


def _publish_score_report(cfg: RunConfig, work: Path, timer: _Timer) -> dict[str, Any]:
    from pipelines.publish import publish
    from pipelines.report import run_report
    from pipelines.score import log_score_run, score

    docs = str(work / "documents.parquet")
    with timer.step("publish"):
        pcfg = cfg.publish.model_copy(update={"documents": docs})
        pub = publish(pcfg)
    print(f"    registered {pub.name} version {pub.version} as @{pub.alias}: {pub.reason}")
    with timer.step("score"):
        scfg = cfg.score.model_copy(update={"model": f"models:/{pcfg.model_name}@champion"})
        res = score([docs], work / "scored", scfg, restart=True)
        log_score_run(res, [docs])
    print(f"    scored {res.rows} documents with {res.model_version} into {res.output}")
    with timer.step("report"):
        rep = run_report([str(work / "scored")], work / "report", cfg.report)
    print(
        f"    what the outlets did: {rep.html} ({rep.sources} sources, {rep.periods} "
        f"{cfg.report.period}s; {rep.errors} error rows, {rep.undated} undated rows counted)"
    )
    return {"publish": pub, "score": res, "report": rep}


def run_all(cfg: RunConfig) -> dict[str, Any]:
    """ingest -> label -> train -> publish -> score -> report under one parent run."""
    work = Path(cfg.workdir)
    work.mkdir(parents=True, exist_ok=True)
    timer = _Timer()
    tags = tracking.base_tags(
        "run", "frames+stance", "+".join(cfg.families), Path(cfg.label.codebook).stem, ""
    )
    with tracking.stage_run("run", "run", tags) as parent:
        mlflow.log_dict(cfg.model_dump(mode="json"), "run_config.json")
        _ingest_and_label(cfg, work, timer)
        summaries = [s for task in cfg.tasks for s in _train_task(cfg, task, work, timer)]
        outputs = _publish_score_report(cfg, work, timer)
        timings = timer.seconds
        timings["total"] = time.perf_counter() - timer.start
        mlflow.log_metrics({f"seconds_{k}": v for k, v in timings.items()})
        table = summary_table(summaries)
        print("\n" + table.to_string(index=False))
        print(
            f"\nDone in {timings['total']:.0f} s. Open the MLflow UI with:\n"
            f"    make ui      (or: mlflow server --backend-store-uri "
            f"{tracking.redact(mlflow.get_tracking_uri())} --host 127.0.0.1 --port 5000)"
        )
        return {
            "run_id": parent.info.run_id,
            "summaries": summaries,
            **outputs,
            "timings": timings,
            "table": table,
        }


def summary_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (task, model): the headline gold-test metric with its interval."""
    rows = []
    for s in summaries:
        m = s["metrics"]
        key = _headline(s["task"])
        # The other figure worth a glance: macro-F1 beside frames' micro, F_avg for stance.
        second = "macro_f1" if task_kind(s["task"]) == "multilabel" else "f_avg"

        def g(k: str, m: dict[str, float] = m) -> float:
            return float(m.get(k, math.nan))

        rows.append(
            {
                "task": s["task"],
                "model": s["model"],
                "metric": key,
                "test": f"{g('test_' + key):.3f}",
                "95% CI": f"[{g(f'test_{key}_ci_low'):.3f}, {g(f'test_{key}_ci_high'):.3f}]",
                "trivial": f"{g('test_trivial_' + key):.3f}",
                "also": f"{second} {g('test_' + second):.3f}",
                "ece": f"{g('test_ece'):.3f}",
                "train s": f"{g('train_seconds'):.0f}",
            }
        )
    return pd.DataFrame(rows)
