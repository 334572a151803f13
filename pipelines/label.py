"""The ``label`` stage: documents in, ``labels.parquet`` out, with its evidence logged.

Runs the labeling functions, aggregates them with the label model that scores best on
gold dev (majority vote or Dawid-Skene, with bootstrap intervals), lets gold labels win,
and logs the function analysis, label distribution and annotator agreement to MLflow
(experiment ``mediaframe-label``) with the corpus and the output as datasets.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.agreement import agreement
from labeling.analysis import label_coverage, lf_summary, plot_summary
from labeling.codebook import Codebook, StanceSpec, load_codebook, load_stance
from labeling.functions import Doc
from labeling.gold import (
    Annotation,
    label_studio_config,
    read_jsonl,
    read_splits,
    to_label_studio,
    validate,
)
from labeling.schema import arrow_schema
from labeling.weak import WeakLabeler, WeakLabels, to_rows
from pipelines import tracking
from pipelines.atomic import atomic_path
from pipelines.config import LabelConfig
from pipelines.evaluate import bootstrap_ci, multiclass_metrics, multilabel_metrics
from pipelines.ingest import read_documents


@dataclass
class LabelResult:
    path: Path
    report: dict[str, Any]
    lf_table: pd.DataFrame
    agreement: pd.DataFrame | None


def make_similarity(cfg: LabelConfig, codebook: Codebook):
    """Embedding similarity of documents to frame definitions (cached by document id)."""
    from models.encoder import EmbeddingCache, SentenceEncoder

    encoder = SentenceEncoder(cfg.encoder, max_length=256, batch_size=32)
    cache = EmbeddingCache(cfg.embedding_cache, cfg.encoder)
    defs = encoder.encode([f"{f.label}. {f.definition}" for f in codebook.frames.values()])

    def similarity(docs: list[Doc]) -> np.ndarray:
        emb = cache.encode(encoder, [d.id for d in docs], [f"{d.title}\n\n{d.text}" for d in docs])
        return emb @ defs.T

    return similarity


def load_gold(
    path: str | None,
    codebook: Codebook,
    stance: StanceSpec,
    doc_ids: set[str],
    problems_out: list[str],
) -> dict[str, Annotation]:
    if not path or not Path(path).exists():
        return {}
    rows = read_jsonl(path)
    probs = validate(rows, codebook.keys, list(stance.targets), doc_ids, where=str(path))
    problems_out.extend(probs.lines())
    bad = {line.split("id=")[1].split(",")[0] for line in probs.lines() if "id=" in line}
    return {r.id: r for r in rows if r.id in doc_ids and r.id not in bad}


def _with_ci(name: str, metric, n: int, n_boot: int, seed: int) -> dict[str, float]:
    """The metric on all items, with its bootstrap interval, under one name."""
    lo, hi = bootstrap_ci(metric, n, n_boot, seed)
    return {name: metric(np.arange(n)), f"{name}_ci_low": lo, f"{name}_ci_high": hi}


def _score_method(
    weak: WeakLabels,
    labeler: WeakLabeler,
    gold: dict[str, Annotation],
    ids: list[str],
    eval_ids: set[str],
    threshold: float,
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    """Frame macro-F1 and stance macro-F1 of one aggregation against gold."""
    keys = labeler.codebook.keys
    rows = [i for i, d in enumerate(ids) if d in eval_ids and d in gold]
    out: dict[str, float] = {}
    if rows:
        yt = np.array([[int(k in gold[ids[i]].frames) for k in keys] for i in rows])
        yp = (weak.frame_probs[rows] >= threshold).astype(int)
        m = multilabel_metrics(yt, yp, keys, warn=False)
        out["frames_micro_f1"] = m["micro_f1"]
        for k, v in m["per_label"].items():
            out[f"frame_f1:{k}"] = v["f1"]
        out.update(
            _with_ci(
                "frames_macro_f1",
                lambda idx: multilabel_metrics(yt[idx], yp[idx], keys, warn=False)["macro_f1"],
                len(rows),
                n_boot,
                seed,
            )
        )
    labels = labeler.stance.labels
    pair_index = {p: r for r, p in enumerate(weak.stance_pairs)}
    yt_s, yp_s, tg_s = [], [], []
    for i in rows:
        for t in labeler.stance.targets:
            g = gold[ids[i]].stance.get(t)
            r = pair_index.get((i, t))
            if g in labels and r is not None:
                yt_s.append(g)
                yp_s.append(labels[int(np.argmax(weak.stance_probs[r]))])
                tg_s.append(t)
    for t in labeler.stance.targets:
        sel = [j for j, x in enumerate(tg_s) if x == t]
        if sel:
            out[f"stance_macro_f1:{t}"] = multiclass_metrics(
                [yt_s[j] for j in sel], [yp_s[j] for j in sel], labels, warn=False
            )["macro_f1"]
    if yt_s:
        yt_a, yp_a = np.array(yt_s, dtype=object), np.array(yp_s, dtype=object)
        out.update(
            _with_ci(
                "stance_macro_f1",
                lambda idx: multiclass_metrics(yt_a[idx], yp_a[idx], labels, warn=False)[
                    "macro_f1"
                ],
                len(yt_s),
                n_boot,
                seed,
            )
        )
    return out


def mention_quality(
    weak: WeakLabels, gold: dict[str, Annotation], ids: list[str], targets: list[str]
) -> dict[str, float]:
    """Precision/recall of the mention rule against gold not_mentioned decisions."""
    tp = fp = fn = 0
    for i, d in enumerate(ids):
        if d not in gold:
            continue
        for t in targets:
            g = gold[d].stance.get(t, "not_mentioned") != "not_mentioned"
            p = bool(weak.mentions[i].get(t))
            tp += g and p
            fp += p and not g
            fn += g and not p
    prec = tp / (tp + fp) if tp + fp else math.nan
    rec = tp / (tp + fn) if tp + fn else math.nan
    return {"mention_precision": prec, "mention_recall": rec}


def apply_gold(
    rows: list[dict],
    gold: dict[str, Annotation],
    keys: list[str],
    targets: list[str],
    labels: list[str],
) -> int:
    n = 0
    for row in rows:
        g = gold.get(row["id"])
        if g is None:
            continue
        n += 1
        row["frames"] = [k for k in keys if k in g.frames]
        row["primary_frame"] = g.primary_frame or (
            row["frames"][0] if row["frames"] else row["primary_frame"]
        )
        row["frame_probs"] = {k: float(k in g.frames) for k in keys}
        for t in targets:
            lab = g.stance.get(t, "not_mentioned")
            row[f"stance_{t}"] = lab
            row[f"stance_{t}_probs"] = {x: float(x == lab) for x in labels}
        row["label_source"] = "gold"
        row["evidence"] = ["gold", *row["evidence"]]
    return n


MAX_ROW_ERRORS = 1000  # listed in the report; all of them are counted


def usable_documents(
    docs_df: pd.DataFrame, where: str
) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """The rows that can be labelled, and a count and a line for each that cannot.

    ``ingest`` never writes a row without text or a repeated id, but a documents file can
    come from elsewhere: such a row is skipped and counted rather than labelled as the
    string "None" or given two contradicting label rows.
    """
    skipped: dict[str, int] = {}
    errors: list[str] = []
    keep: list[int] = []
    seen: set[str] = set()

    def skip(reason: str, i: int, rid: Any, message: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1
        if len(errors) < MAX_ROW_ERRORS:
            errors.append(f"{where}: row {i} (id={rid!r}): {message}")

    for i, (rid, text) in enumerate(zip(docs_df["id"], docs_df["text"], strict=True)):
        if rid is None or (isinstance(rid, float) and rid != rid):
            skip("missing_id", i, rid, "field 'id' is missing")
        elif not isinstance(text, str):
            kind = "missing" if text is None or text != text else type(text).__name__
            skip("non_string_text", i, rid, f"field 'text' is {kind}, not text")
        elif not text.strip():
            skip("empty_text", i, rid, "field 'text' is empty")
        elif str(rid) in seen:
            skip("duplicate_id", i, rid, "id repeats an earlier row; the first one is labelled")
        else:
            seen.add(str(rid))
            keep.append(i)
    out = docs_df.iloc[keep].reset_index(drop=True)
    out["id"] = out["id"].map(str)
    return out, skipped, errors


def run_label(documents: str | Path, output: str | Path, cfg: LabelConfig) -> LabelResult:
    all_docs = read_documents(documents)
    docs_df, skipped, row_errors = usable_documents(all_docs, str(documents))
    if docs_df.empty:
        raise ValueError(
            f"{documents}: no document can be labelled ({len(all_docs)} rows, skipped: "
            f"{skipped or 'none'})"
        )
    codebook = load_codebook(cfg.codebook)
    stance = load_stance(cfg.stance)
    docs = [Doc(str(r.id), str(r.title or ""), str(r.text)) for r in docs_df.itertuples()]
    ids = [d.id for d in docs]
    similarity = make_similarity(cfg, codebook) if cfg.embedding_lf else None
    labeler = WeakLabeler(codebook, stance, similarity)
    mats, _ = labeler.apply(docs)

    problems: list[str] = []
    gold = load_gold(cfg.gold, codebook, stance, set(ids), problems)
    eval_ids = set(gold)
    if cfg.splits and Path(cfg.splits).exists() and gold:
        eval_ids = set(read_splits(cfg.splits)["dev"]) & set(gold) or set(gold)

    candidates = (
        ["majority_vote", "dawid_skene"] if cfg.label_model == "auto" else [cfg.label_model]
    )
    scores: dict[str, dict[str, float]] = {}
    weak_by: dict[str, WeakLabels] = {}
    for method in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weak_by[method] = labeler.aggregate(docs, mats, method, method)
        scores[method] = _score_method(
            weak_by[method],
            labeler,
            gold,
            ids,
            eval_ids,
            cfg.frame_threshold,
            cfg.bootstrap,
            cfg.seed,
        )

    def pick(metric: str) -> str:
        best = max(candidates, key=lambda m: (scores[m].get(metric, -1.0), m == "dawid_skene"))
        return best

    frame_method, stance_method = pick("frames_macro_f1"), pick("stance_macro_f1")
    weak = weak_by[frame_method]
    if stance_method != frame_method:  # one aggregation per task, each the better one
        other = weak_by[stance_method]
        weak.stance_probs, weak.stance_evidence = other.stance_probs, other.stance_evidence
    source = frame_method
    rows = to_rows(docs_df, docs, labeler, weak, cfg.frame_threshold, source)
    n_gold = apply_gold(rows, gold, codebook.keys, list(stance.targets), stance.labels)

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    schema = arrow_schema(
        codebook.keys, list(stance.targets), stance.labels, {"label_source": pa.string()}
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    export_label_studio(rows, docs, codebook, stance, out)
    with atomic_path(out / "labels.parquet") as tmp:
        pq.write_table(table, tmp)

    # ------------------------------------------------------------------ analysis
    gold_frames = {d: set(g.frames) for d, g in gold.items()}
    lf_tables = []
    for mat in mats:
        if mat.group == "stance":
            g = np.array(
                [
                    stance.labels.index(gold[ids[i]].stance[t])
                    if ids[i] in gold and gold[ids[i]].stance.get(t) in stance.labels
                    else -1
                    for i, t in mat.items
                ]
            )
        else:
            g = np.array(
                [int(mat.group in gold_frames[d]) if d in gold_frames else -1 for d in ids]
            )
        lf_tables.append(lf_summary(mat.votes, mat.names, mat.classes, mat.group, g))
    lf_table = pd.concat(lf_tables, ignore_index=True)
    coverage = pd.DataFrame([label_coverage(m.votes, m.group) for m in mats])
    distribution = _distribution(rows, codebook.keys, list(stance.targets))

    agree = None
    if cfg.annotations and Path(cfg.annotations).exists():
        ann = read_jsonl(cfg.annotations)
        ap = validate(ann, codebook.keys, list(stance.targets), set(ids), str(cfg.annotations))
        problems.extend(ap.lines())
        rep = agreement(ann, codebook.keys, list(stance.targets))
        agree = rep.table
        (out / "disagreements.csv").write_text(rep.disagreements.to_csv(index=False))

    report = {
        "documents_in": len(all_docs),
        "documents": len(rows),
        "skipped": skipped,
        "skipped_total": sum(skipped.values()),
        "row_errors": row_errors,
        "gold_documents": n_gold,
        "label_model_frames": frame_method,
        "label_model_stance": stance_method,
        "label_model_scores_dev": scores,
        "mention_quality": mention_quality(weak, gold, ids, list(stance.targets)),
        "lf_errors": labeler.errors,
        "lf_failed": sorted(labeler.failed),
        "gold_problems": problems,
        "distribution": distribution,
    }
    (out / "label_report.json").write_text(json.dumps(report, indent=2, default=str))
    lf_table.to_csv(out / "lf_analysis.csv", index=False)
    if agree is not None:
        agree.to_csv(out / "agreement.csv", index=False)
    _log_mlflow(
        docs_df, out, cfg, codebook, report, lf_table, coverage, agree, scores, Path(documents)
    )
    return LabelResult(out / "labels.parquet", report, lf_table, agree)


def export_label_studio(
    rows: list[dict], docs: list[Doc], codebook: Codebook, stance: StanceSpec, out: Path
) -> None:
    """Tasks for the documents without gold, pre-annotated and most uncertain first.

    Uncertainty is the mean over frames of how close the label model's probability is to
    0.5 (1 = a coin toss everywhere), so the annotator's next hour goes where it helps most.
    """
    todo = []
    for row, doc in zip(rows, docs, strict=True):
        if row["label_source"] == "gold":
            continue
        probs = np.array(list(row["frame_probs"].values()))
        uncertainty = float(1 - np.mean(np.abs(probs - 0.5)) * 2)
        todo.append(
            {
                **{k: row[k] for k in row if k.startswith("stance_") and not k.endswith("_probs")},
                "id": row["id"],
                "title": doc.title,
                "text": doc.text,
                "frames": row["frames"],
                "primary_frame": row["primary_frame"],
                "uncertainty": uncertainty,
            }
        )
    tasks = to_label_studio(
        todo,
        list(stance.targets),
        f"label-model:{rows[0]['label_source']}" if rows else "label-model",
    )
    (out / "label_studio_tasks.json").write_text(json.dumps(tasks, ensure_ascii=False, indent=1))
    (out / "label_studio_config.xml").write_text(
        label_studio_config(codebook.keys, {k: t.name for k, t in stance.targets.items()})
    )


def _distribution(rows: list[dict], keys: list[str], targets: list[str]) -> dict[str, Any]:
    frames = {k: sum(k in r["frames"] for r in rows) for k in keys}
    primary = {k: sum(r["primary_frame"] == k for r in rows) for k in keys}
    stance = {
        t: pd.Series([r[f"stance_{t}"] for r in rows]).value_counts().to_dict() for t in targets
    }
    sources = pd.Series([r["label_source"] for r in rows]).value_counts().to_dict()
    return {"frames": frames, "primary_frame": primary, "stance": stance, "label_source": sources}


def _log_mlflow(
    docs_df, out, cfg, codebook, report, lf_table, coverage, agree, scores, documents_path
) -> None:
    if not mlflow.get_tracking_uri():
        return
    tags = tracking.base_tags(
        "label",
        task="frames+stance",
        model="weak",
        codebook=codebook.name,
        data_digest=tracking.frame_digest(docs_df),
    )
    with tracking.stage_run("label", "label", tags):
        mlflow.log_params(
            {
                "codebook": cfg.codebook,
                "stance": cfg.stance,
                "label_model": cfg.label_model,
                "label_model_frames": report["label_model_frames"],
                "label_model_stance": report["label_model_stance"],
                "frame_threshold": cfg.frame_threshold,
                "embedding_lf": cfg.embedding_lf,
                "encoder": cfg.encoder,
                "n_documents": report["documents"],
                "n_gold": report["gold_documents"],
            }
        )
        for method, vals in scores.items():
            mlflow.log_metrics(
                {
                    f"dev_{method}_{k.replace(':', '.')}": v
                    for k, v in vals.items()
                    if isinstance(v, float) and not math.isnan(v)
                }
            )
        mq = {k: v for k, v in report["mention_quality"].items() if not math.isnan(v)}
        mlflow.log_metrics(mq)
        mlflow.log_metric("lf_errors", len(report["lf_errors"]))
        mlflow.log_metrics(
            {"documents_in": report["documents_in"], "skipped_total": report["skipped_total"]}
        )
        meta_cols = [
            c
            for c in ("id", "source_id", "title", "source", "date", "lang")
            if c in docs_df.columns
        ]
        tracking.log_dataset(docs_df[meta_cols], str(documents_path), "documents", "input")
        labels = pd.read_parquet(
            out / "labels.parquet", columns=["id", "primary_frame", "label_source"]
        )
        tracking.log_dataset(labels, str(out / "labels.parquet"), "labels", "output")
        mlflow.log_artifact(str(out / "lf_analysis.csv"), "analysis")
        mlflow.log_artifact(str(out / "label_report.json"))
        coverage_path = out / "label_coverage.csv"
        coverage.to_csv(coverage_path, index=False)
        mlflow.log_artifact(str(coverage_path), "analysis")
        plot = out / "lf_summary.png"
        plot_summary(lf_table, str(plot))
        mlflow.log_artifact(str(plot), "analysis")
        if agree is not None:
            mlflow.log_artifact(str(out / "agreement.csv"), "agreement")
            mlflow.log_artifact(str(out / "disagreements.csv"), "agreement")
            for _, r in agree.iterrows():
                if r["label"] in ("frames (mean)", "stance (mean)"):
                    key = r["label"].split()[0]
                    for m in ("cohen_kappa", "fleiss_kappa", "krippendorff_alpha"):
                        v = r.get(m)
                        if v is not None and not (isinstance(v, float) and math.isnan(v)):
                            mlflow.log_metric(f"agreement_{key}_{m}", float(v))
        mlflow.log_dict(report["distribution"], "label_distribution.json")
