"""The ``run`` stage: the whole flow on one corpus under one parent MLflow run.

ingest -> label -> train (each task x each family) -> evaluate on gold -> publish ->
batch-score -> outlet report, then a summary table, the paired comparison of the two
families and the command that opens the MLflow UI.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from models.metrics import multiclass_metrics, multilabel_metrics, paired_bootstrap
from pipelines import tracking
from pipelines.config import RunConfig


def _step(name: str) -> None:
    print(f"\n==> {name}", flush=True)


def compare_families(
    summaries: list[dict[str, Any]], task: str, cfg_train, n_boot: int, seed: int
) -> dict[str, float] | None:
    """Paired bootstrap of baseline vs transformer on the same gold test items."""
    runs = {s["model"]: s for s in summaries if s["task"] == task}
    if not {"baseline", "transformer"} <= set(runs):
        return None
    from pipelines.train import build_task

    data = build_task(cfg_train)
    preds = {}
    for fam, s in runs.items():
        path = mlflow.artifacts.download_artifacts(
            run_id=s["run_id"], artifact_path="evaluation/test_predictions.parquet"
        )
        preds[fam] = pd.read_parquet(path).set_index("id").loc[data.test.ids]
    y = data.test.y
    kind = data.spec.kind

    def metric(fam: str):
        p = preds[fam][[f"p_{lab}" for lab in data.spec.labels]].to_numpy()
        if kind == "multilabel":
            from models.base import ModelBundle

            th = np.asarray(ModelBundle.load(runs[fam]["bundle"]).thresholds)
            yp = (p >= th).astype(int)
            return lambda idx: multilabel_metrics(y[idx], yp[idx], data.spec.labels, warn=False)[
                "micro_f1"
            ]
        yt = np.asarray([data.spec.labels[i] for i in y], dtype=object)
        yp2 = np.asarray([data.spec.labels[i] for i in p.argmax(axis=1)], dtype=object)
        return lambda idx: multiclass_metrics(yt[idx], yp2[idx], data.spec.labels, warn=False)[
            "macro_f1"
        ]

    return paired_bootstrap(metric("baseline"), metric("transformer"), len(y), n_boot, seed)


def run_all(cfg: RunConfig) -> dict[str, Any]:
    from pipelines.ingest import ingest, log_ingest_run
    from pipelines.label import run_label
    from pipelines.publish import publish
    from pipelines.report import run_report
    from pipelines.score import log_score_run, score
    from pipelines.train import run_train

    work = Path(cfg.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    tags = tracking.base_tags(
        "run", "frames+stance", "+".join(cfg.models), Path(cfg.label.codebook).stem, ""
    )
    summaries: list[dict[str, Any]] = []
    with tracking.stage_run("run", "run", tags) as parent:
        mlflow.log_dict(cfg.model_dump(mode="json"), "run_config.json")

        _step("ingest")
        t = time.perf_counter()
        rep = ingest(cfg.input, work, cfg.ingest)
        timings["ingest"] = time.perf_counter() - t
        print(
            f"    {rep.rows_read} rows/files read, {rep.articles_found} articles found, "
            f"{rep.documents_out} documents out; dropped {dict(rep.dropped)}"
        )
        log_ingest_run(rep, work)

        _step("label")
        t = time.perf_counter()
        lab = run_label(work / "documents.parquet", work, cfg.label)
        timings["label"] = time.perf_counter() - t
        r = lab.report
        print(
            f"    {r['documents']} documents labelled ({r['gold_documents']} from gold); "
            f"label model: frames={r['label_model_frames']}, stance={r['label_model_stance']}"
        )

        for task in cfg.tasks:
            tcfg = cfg.train_frames if task == "frames" else cfg.train_stance
            tcfg = tcfg.model_copy(
                update={
                    "labels": str(work / "labels.parquet"),
                    "documents": str(work / "documents.parquet"),
                    "output": str(work / "models"),
                }
            )
            for family in cfg.models:
                _step(f"train {task} / {family}")
                t = time.perf_counter()
                s = run_train(tcfg, family)
                timings[f"train_{task}_{family}"] = time.perf_counter() - t
                summaries.append(s)
                m = s["metrics"]
                key = "test_micro_f1" if task == "frames" else "test_macro_f1"
                print(
                    f"    {key} = {m.get(key, math.nan):.3f} "
                    f"[{m.get(key + '_ci_low', math.nan):.3f}, "
                    f"{m.get(key + '_ci_high', math.nan):.3f}]; trivial reference "
                    f"{m.get(key.replace('test_', 'test_trivial_'), math.nan):.3f}"
                )
            cmp = compare_families(summaries, task, tcfg, tcfg.bootstrap, tcfg.seed)
            if cmp:
                mlflow.log_metrics(
                    {f"{task}_transformer_minus_baseline_{k}": v for k, v in cmp.items()}
                )
                print(
                    f"    transformer - baseline: {cmp['diff']:+.3f} "
                    f"[{cmp['ci_low']:+.3f}, {cmp['ci_high']:+.3f}], "
                    f"P(transformer better) = {cmp['p_b_better']:.2f}"
                )

        _step("publish")
        t = time.perf_counter()
        pcfg = cfg.publish.model_copy(update={"documents": str(work / "documents.parquet")})
        pub = publish(pcfg)
        timings["publish"] = time.perf_counter() - t
        print(f"    registered {pub.name} version {pub.version} as @{pub.alias}: {pub.reason}")

        _step("score")
        t = time.perf_counter()
        scfg = cfg.score.model_copy(update={"model": f"models:/{pcfg.model_name}@champion"})
        res = score([str(work / "documents.parquet")], work / "scored", scfg, restart=True)
        log_score_run(res, [str(work / "documents.parquet")])
        timings["score"] = time.perf_counter() - t
        print(f"    scored {res.rows} documents with {res.model_version} into {res.output}")

        _step("report")
        t = time.perf_counter()
        rep = run_report([str(work / "scored")], work / "report", cfg.report)
        timings["report"] = time.perf_counter() - t
        print(
            f"    what the outlets did: {rep.html} ({rep.sources} sources, {rep.periods} "
            f"{cfg.report.period}s; {rep.errors} error rows, {rep.undated} undated rows counted)"
        )
        timings["total"] = time.perf_counter() - t_start
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
            "publish": pub,
            "score": res,
            "report": rep,
            "timings": timings,
            "table": table,
        }


def summary_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (task, model): the headline gold-test metric with its interval."""
    rows = []
    for s in summaries:
        m = s["metrics"]
        key = "micro_f1" if s["task"] == "frames" else "macro_f1"
        second = "macro_f1" if s["task"] == "frames" else "f_avg"

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
