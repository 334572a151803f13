"""The ``train`` stage: one task, one model family, from one config, into one MLflow run.

Builds the task's examples from ``labels.parquet`` (gold where it exists, the label
model elsewhere) and the gold split: train on the train split plus weakly labelled
documents outside the split, tune thresholds and calibration on gold dev, report on
gold test beside the trivial reference, with bootstrap intervals. Both families go
through exactly this code; only the model class differs.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml

from labeling.codebook import load_codebook, load_stance
from labeling.gold import read_splits
from models.base import FitOptions, ModelBundle
from models.metrics import selection_metric
from models.training import TaskData, cross_validated, fit_bundle, trained_params
from pipelines import tracking
from pipelines.config import TrainConfig, config_hash
from pipelines.evaluate import Evaluation, evaluate_multiclass, evaluate_multilabel, html_report
from pipelines.publish_contract import log_contract
from pipelines.train_data import build_task


def evaluate_bundle(
    bundle: ModelBundle,
    data: TaskData,
    split: str,
    n_boot: int,
    seed: int,
    probs: np.ndarray | None = None,
    extra_metrics: dict[str, Callable[[list[str], list[str]], float]] | None = None,
) -> tuple[Evaluation, np.ndarray]:
    """Score ``split``; ``probs`` already predicted (a timed benchmark) skips predicting."""
    ex = data.test if split == "test" else data.dev
    if probs is None:
        probs = bundle.predict_proba(ex.texts, ex.targets)
    spec = data.spec
    if spec.kind == "multilabel":
        ev = evaluate_multilabel(
            ex.y,
            probs,
            np.asarray(bundle.thresholds),
            spec.labels,
            data.train.y,
            ex.texts,
            ex.ids,
            data.primary_test if split == "test" else None,
            n_boot,
            seed,
        )
    else:
        ev = evaluate_multiclass(
            [spec.labels[i] for i in ex.y],
            probs,
            spec.labels,
            [spec.labels[i] for i in data.train.y],
            ex.texts,
            ex.ids,
            ex.targets,
            n_boot,
            seed,
            extra_metrics=extra_metrics,
        )
    return ev, probs


def _flat_params(cfg: TrainConfig, kind: str) -> dict[str, Any]:
    """The run's params before fitting. The family's hyper-parameters wait for the fit
    (``_log_trained``): MLflow params cannot change, and a search picks some of them."""
    return {
        "task": cfg.task,
        "model": cfg.family,
        "seed": cfg.seed,
        "use_weak_labels": cfg.use_weak_labels,
        "codebook": cfg.codebook,
        # The one figure that ranks this run against others (publish, compare).
        "selection_metric": f"dev_{selection_metric(kind)}",
    }


def _log_trained(bundle: ModelBundle, cfg: TrainConfig) -> dict[str, Any]:
    """The family's hyper-parameters as trained (``models.training.trained_params``),
    under ``<family>.``; returns them for the run description."""
    params = trained_params(bundle, cfg.family_config())
    if "epoch_criterion" in params:  # named as logged: per-epoch figures are epoch_*
        params["epoch_criterion"] = _epoch_key(params["epoch_criterion"])
    mlflow.log_params({f"{cfg.family}.{k}": v for k, v in params.items()})
    return params


def _checkpoints(cfg: TrainConfig) -> Path | None:
    """Where the family checkpoints, if it does: only families whose config has a
    ``checkpoint_dir`` (the transformer) can resume an interrupted run."""
    d = getattr(cfg.family_config(), "checkpoint_dir", None)
    return Path(d) if d else None


def _resume_point(cfg: TrainConfig, digest: str) -> tuple[str | None, str | None]:
    """A run of a checkpointing family resumes the last one that died; others start."""
    if _checkpoints(cfg) is None:
        return None, None
    tracking.mark_stale_runs(cfg.task)
    return find_resumable(cfg, cfg.family, digest)


def _log_inputs(cfg: TrainConfig, data: TaskData, config_path: str | None) -> None:
    """Params, the config as given and hashed, and the three splits as MLflow datasets."""
    mlflow.log_params(_flat_params(cfg, data.spec.kind))
    mlflow.log_params(
        {"n_train": len(data.train), "n_dev": len(data.dev), "n_test": len(data.test)}
    )
    mlflow.log_dict(yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json"))), "config.yaml")
    if config_path:
        mlflow.set_tag("mediaframe.config_path", config_path)
    mlflow.set_tag("mediaframe.config_hash", config_hash(cfg))
    for name, ex in (("train", data.train), ("dev", data.dev), ("test", data.test)):
        tracking.log_dataset(
            pd.DataFrame({"id": ex.ids}),
            cfg.labels,
            f"{cfg.task}-{name}",
            name if name != "test" else "evaluation",
        )


def _epoch_key(key: str) -> str:
    """Per-epoch dev figures are logged as ``epoch_dev_*``: under the final figures' names
    (``dev_micro_f1``) they would win MLflow's latest-value slot, which goes to the
    highest step, and the run would show the last epoch's fixed-0.5 score, not the
    tuned model's dev figure that publish and compare rank runs by."""
    return f"epoch_{key}" if key.startswith("dev_") else key


def _log_step(metrics: dict[str, float], step: int) -> None:
    mlflow.log_metrics(
        {_epoch_key(k): v for k, v in metrics.items() if not math.isnan(v)}, step=step
    )


def _inference_metrics(bundle: ModelBundle) -> dict[str, float]:
    """Both dev scores behind the int8/fp32 choice, and the choice, when one was made."""
    inference = bundle.info.get("inference")
    if not inference:
        return {}
    out = {f"{inference['metric']}_fp32": inference["fp32"]}
    if "int8" in inference:
        out[f"{inference['metric']}_int8"] = inference["int8"]
    out["inference_int8"] = float(inference["mode"] == "int8")
    mlflow.set_tag("mediaframe.inference", inference["mode"])
    return out


def run_train(
    cfg: TrainConfig, config_path: str | None = None, run_name: str | None = None
) -> dict[str, Any]:
    """Train, evaluate and log one (task, ``cfg.family``) run; returns its summary.

    ``run_name`` names the MLflow run (default ``<task>-<family>``, or the name set by an
    enclosing ``tracking.run_names``)."""
    named = tracking.run_names(run_name) if run_name else contextlib.nullcontext()
    with named:
        return _run_train(cfg, config_path)


def _run_train(cfg: TrainConfig, config_path: str | None) -> dict[str, Any]:
    family = cfg.family
    data = build_task(cfg)
    book = load_codebook(cfg.codebook)
    codebook = book.name
    # The stance spec as trained, read now: publish reads this copy back from the run.
    stance = load_stance(cfg.stance) if cfg.task == "stance" else None
    tags = tracking.base_tags("train", cfg.task, family, codebook, data.digest)
    out_dir = Path(cfg.output) / f"{cfg.task}-{family}"
    resume_run, resume_dir = _resume_point(cfg, data.digest)
    if resume_run:
        tags["mediaframe.resumed_from"] = resume_run
        print(f"resuming from the last checkpoint of run {resume_run}: {resume_dir}")
    with tracking.stage_run(cfg.task, f"{cfg.task}-{family}", tags) as run:
        _log_inputs(cfg, data, config_path)
        contract = log_contract(cfg.task, book, data.spec.labels, stance)
        t0 = time.perf_counter()
        ckpt = str(Path(cfg.transformer.checkpoint_dir) / run.info.run_id)
        options = FitOptions(checkpoint_dir=ckpt, resume_from=resume_dir)
        bundle = fit_with_progress(data, family, cfg, log=_log_step, options=options)
        train_seconds = time.perf_counter() - t0
        log_cv_folds(getattr(bundle.model, "cv_results", []), cfg.task, family, tags)
        gold = {i for k in ("train", "dev") for i in read_splits(cfg.splits).get(k, [])}
        cv = cross_validated(data, family, cfg.family_config(), cfg.seed, bundle, gold)
        if cv is not None:  # publish's gate reads it back: models.selection.gate_json
            mlflow.log_metrics(cv.flat_metrics())
            bundle.info["cv"] = cv.to_json()
        trained = _log_trained(bundle, cfg)
        bundle.info.update(run_id=run.info.run_id, task=cfg.task, family=family)
        bundle.info.update(codebook=codebook, data_digest=data.digest, contract=contract)
        dev_ev, _ = evaluate_bundle(bundle, data, "dev", 0, cfg.seed)
        t1 = time.perf_counter()
        test_ev, test_probs = evaluate_bundle(bundle, data, "test", cfg.bootstrap, cfg.seed)
        predict_seconds = time.perf_counter() - t1
        metrics = {
            **dev_ev.flat("dev_"),
            **test_ev.flat("test_"),
            "train_seconds": train_seconds,
            "predict_docs_per_second": len(data.test) / max(predict_seconds, 1e-9),
            "temperature": bundle.temperature,
            **_inference_metrics(bundle),
        }
        mlflow.log_metrics(metrics)
        mlflow.set_tag("mlflow.note.content", describe_run(cfg, data, metrics, trained))
        bundle.save(out_dir)
        mlflow.log_artifacts(str(out_dir), "bundle")
        _log_evaluation(test_ev, data, test_probs, bundle, cfg, family)
    return {
        "run_id": run.info.run_id,
        "task": cfg.task,
        "model": family,
        "metrics": metrics,
        "bundle": str(out_dir),
    }


def fit_with_progress(
    data: TaskData,
    family: str,
    cfg: TrainConfig,
    log=None,
    options: FitOptions | None = None,
) -> ModelBundle:
    """``fit_bundle`` with the run's family config and seed (the benchmark calls it too).
    A family that trains for minutes draws its own epoch and batch bars (the transformer's
    trainer, through ``models.progress``), so the console is never silent."""
    options = options or FitOptions()
    return fit_bundle(data, family, cfg.section(family), cfg.seed, log=log, options=options)


def log_cv_folds(results: list[dict[str, Any]], task: str, family: str, tags: dict) -> None:
    """The baseline's grouped CV search as one nested run per fold under the training run
    (its score at each C, the outlets it held out), and the mean per C on the parent, so
    the UI shows how stable the chosen C is across outlets."""
    if not results:
        return
    folds = pd.DataFrame(results)
    means = folds.groupby("C")["f1"].mean()
    mlflow.log_metrics({f"cv_mean_f1_C{c:g}": float(v) for c, v in means.items()})
    mlflow.log_metric("cv_best_C", float(means.idxmax()))
    for fold, d in folds.groupby("fold"):
        child_tags = {**tags, "mediaframe.stage": "train-cv", "mediaframe.cv_fold": str(fold)}
        with tracking.stage_run(
            task, f"{task}-{family}-cv-fold{fold}", child_tags, system_metrics=False
        ):
            first = d.iloc[0]
            mlflow.log_params(
                {
                    "fold": int(fold),
                    "n_train": int(first["n_train"]),
                    "n_val": int(first["n_val"]),
                    "held_out_sources": ", ".join(first["held_out"])[:500],
                    "cv_grid_C": ", ".join(f"{c:g}" for c in d["C"]),
                }
            )
            mlflow.log_metrics(
                {f"cv_f1_C{c:g}": float(v) for c, v in zip(d["C"], d["f1"], strict=True)}
            )
            mlflow.log_metric("seconds", float(d["seconds"].sum()))


def find_resumable(cfg: TrainConfig, family: str, digest: str) -> tuple[str | None, str | None]:
    """The newest FAILED or KILLED run of this config and data that left a checkpoint."""
    exp = mlflow.get_experiment_by_name(tracking.EXPERIMENTS[cfg.task])
    root = _checkpoints(cfg)
    if exp is None or root is None:
        return None, None
    runs = mlflow.search_runs(
        [exp.experiment_id],
        filter_string=(
            f"tags.`mediaframe.config_hash` = '{config_hash(cfg)}' and "
            f"tags.`mediaframe.data_digest` = '{digest}' and "
            f"tags.`mediaframe.model` = '{family}'"
        ),
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    for r in runs:
        if r.info.status not in ("FAILED", "KILLED"):
            continue
        d = root / r.info.run_id
        if (d / "checkpoint.pt").exists():
            return r.info.run_id, str(d)
    return None, None


def _log_evaluation(
    ev: Evaluation,
    data: TaskData,
    probs: np.ndarray,
    bundle: ModelBundle,
    cfg: TrainConfig,
    family: str,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, png in ev.figures.items():
            (d / name).write_bytes(png)
            mlflow.log_artifact(str(d / name), "plots")
        for name, table in ev.tables.items():
            table.to_csv(d / f"{name}.csv", index=False)
            mlflow.log_artifact(str(d / f"{name}.csv"), "evaluation")
        per = ev.tables["per_label"]
        (d / "per_class_report.json").write_text(per.to_json(orient="records", indent=1))
        mlflow.log_artifact(str(d / "per_class_report.json"), "evaluation")
        if ev.errors is not None:
            ev.errors.to_csv(d / "most_confident_mistakes.csv", index=False)
            mlflow.log_artifact(str(d / "most_confident_mistakes.csv"), "evaluation")
        pred = prediction_table(data, probs, bundle)
        pred.to_parquet(d / "test_predictions.parquet", index=False)
        mlflow.log_artifact(str(d / "test_predictions.parquet"), "evaluation")
        sections = _report_sections(ev, bundle, cfg)
        page = html_report(f"mediaframe {cfg.task} / {family}: evaluation", sections)
        (d / "evaluation_report.html").write_text(page, encoding="utf-8")
        mlflow.log_artifact(str(d / "evaluation_report.html"))


def _report_sections(ev: Evaluation, bundle: ModelBundle, cfg: TrainConfig) -> list:
    """The evaluation page: summary beside the trivial reference, tables, plots, config."""
    summary = pd.DataFrame(
        [
            {"metric": k, "model": v, "ci95": _ci(ev, k), "trivial": ev.reference.get(k)}
            for k, v in ev.metrics.items()
            if isinstance(v, int | float)
        ]
    )
    sections: list[tuple[str, Any]] = [("Summary (gold test)", summary)]
    sections.append(("Per class", ev.tables["per_label"]))
    for key, title in (("per_target", "Per target"), ("confusion", "Confusion matrix")):
        if key in ev.tables:
            sections.append((title, ev.tables[key]))
    sections += [(n.replace(".png", "").replace("_", " "), png) for n, png in ev.figures.items()]
    history = pd.DataFrame(getattr(bundle.model, "history", []) or [])
    if not history.empty:
        sections.append(("Training history", history))
    if ev.errors is not None:
        sections.append(("Most confident mistakes", ev.errors))
    sections.append(("Config", json.loads(json.dumps(cfg.model_dump(mode="json")))))
    return sections


def _ci(ev: Evaluation, key: str) -> str:
    lo, hi = ev.ci.get(key, (math.nan, math.nan))
    return "" if math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"


def prediction_table(data: TaskData, probs: np.ndarray, bundle: ModelBundle) -> pd.DataFrame:
    """Per gold test item: its id (and target, for stance), the probabilities, the
    decision the bundle makes and the gold answer, so ``mediaframe compare`` can pair two
    runs item by item from their artifacts alone (a paired bootstrap needs both)."""
    ex, labels = data.test, data.spec.labels
    pred = pd.DataFrame({"id": ex.ids})
    if ex.targets is not None:
        pred["target"] = ex.targets
    for j, lab in enumerate(labels):
        pred[f"p_{lab}"] = probs[:, j]
    if data.spec.kind == "multilabel":
        decided = probs >= np.asarray(bundle.thresholds or [0.5] * len(labels))
        for j, lab in enumerate(labels):
            pred[f"pred_{lab}"] = decided[:, j].astype(int)
            pred[f"gold_{lab}"] = np.asarray(ex.y)[:, j].astype(int)
    else:
        pred["pred"] = [labels[i] for i in probs.argmax(axis=1)]
        pred["gold"] = [labels[i] for i in ex.y]
    return pred


def describe_run(
    cfg: TrainConfig, data: TaskData, metrics: dict[str, float], trained: dict[str, Any]
) -> str:
    """The run's description (MLflow's ``mlflow.note.content``, shown on the run page):
    the headline gold-test figures beside the trivial reference, the dev figure that
    ranks the run, and what training chose, so a run reads without opening its metrics."""
    key = selection_metric(data.spec.kind)
    other = "macro_f1" if data.spec.kind == "multilabel" else "f_avg"

    def fig(name: str) -> str:
        v = metrics.get(f"test_{name}")
        if v is None:
            return f"{name} n/a"
        lo, hi = metrics.get(f"test_{name}_ci_low"), metrics.get(f"test_{name}_ci_high")
        ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
        triv = metrics.get(f"test_trivial_{name}")
        ref = f" (trivial {triv:.3f})" if triv is not None else ""
        return f"{name} **{v:.3f}**{ci}{ref}"

    lines = [
        f"**{cfg.task} / {cfg.family}** on gold test (n={len(data.test)}, 95% bootstrap "
        f"intervals): {fig(key)}; {fig(other)}.",
        f"Selected by `dev_{key}` = {metrics.get(f'dev_{key}', math.nan):.3f} "
        f"(gold dev, n={len(data.dev)}); trained on {len(data.train)} examples in "
        f"{metrics.get('train_seconds', math.nan):.0f} s.",
    ]
    chosen = []
    if getattr(cfg.family_config(), "cv_search", False):
        grid = ", ".join(f"{c:g}" for c in cfg.family_config().cv_grid_C)
        chosen.append(f"C={trained.get('C'):g} by grouped CV over [{grid}]")
    if "best_epoch" in trained:
        chosen.append(
            f"epoch {trained['best_epoch']} of {trained['epochs_run']} run "
            f"(by {trained['epoch_criterion']})"
        )
    if "inference" in trained:
        fp32, int8 = metrics.get(f"dev_{key}_fp32"), metrics.get(f"dev_{key}_int8")
        how = (
            f"by dev_{key}: fp32 {fp32:.3f}, int8 {int8:.3f}"
            if fp32 is not None and int8 is not None
            else "int8 not measured"
        )
        chosen.append(f"{trained['inference']} inference ({how})")
    if chosen:
        lines.append("Chosen: " + "; ".join(chosen) + ".")
    return "\n\n".join(lines)
