"""The ``label`` stage: documents in, ``labels.parquet`` out, with its evidence logged.

Reads as its steps: read the documents (``pipelines.label_input``), apply the labeling
functions a chunk at a time (``labeling.stream``), fit the label model that scores best
on gold dev (``pipelines.label_scores``), let gold labels win, write the labels and the
Label Studio tasks, and log the function analysis, label distribution and annotator
agreement to MLflow (experiment ``mediaframe-label``) with the corpus and the output as
datasets.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.agreement import agreement
from labeling.analysis import label_coverage, lf_summary, plot_summary
from labeling.codebook import Codebook, StanceSpec, load_codebook, load_stance
from labeling.functions import Doc
from labeling.gold import Annotation, Vocabulary, apply_gold
from labeling.schema import arrow_schema
from labeling.stream import CorpusVotes, LabelDistribution, Pairs, collect_votes, label_rows
from labeling.studio import TaskFile, label_studio_config
from labeling.weak import VoteMatrix, WeakLabeler
from pipelines import tracking
from pipelines.atomic import atomic_path
from pipelines.columns import LABEL_COLUMNS, note_unmapped
from pipelines.config import LabelConfig
from pipelines.gold_io import GoldInputs, load_gold_inputs
from pipelines.label_input import LabelInput
from pipelines.label_scores import LabelModelChoice, choose_label_models, mention_quality
from pipelines.progress import progress

CHUNK = 5000  # documents held at a time; the corpus is read twice, a chunk at a time


@dataclass
class LabelResult:
    path: Path
    report: dict[str, Any]
    lf_table: pd.DataFrame
    agreement: pd.DataFrame | None


def make_similarity(cfg: LabelConfig, codebook: Codebook):
    """Embedding similarity of documents to frame definitions (cached by encoder and text)."""
    from models.encoder import EmbeddingCache, SentenceEncoder

    encoder = SentenceEncoder(cfg.encoder, max_length=256, batch_size=32)
    cache = EmbeddingCache(cfg.embedding_cache, cfg.encoder)
    defs = encoder.encode([f"{f.label}. {f.definition}" for f in codebook.frames.values()])

    def similarity(docs: list[Doc]) -> np.ndarray:
        # Keyed by the text the encoder reads, never by id: ids are data and may repeat
        # across corpora.
        emb = cache.encode(encoder, [f"{d.title}\n\n{d.text}" for d in docs])
        return emb @ defs.T

    return similarity


def load_gold(
    cfg: LabelConfig, codebook: Codebook, stance: StanceSpec, allow_bad_gold: bool = False
) -> GoldInputs:
    """The gold, annotation and splits files of ``cfg``, checked before any work (loud:
    see ``pipelines.gold_io``); label values are matched to the codebook's frames and
    the stance targets' names and aliases before any is rejected. Without gold the split
    has nothing to keep apart, so it is not read (the project config's default may name
    a file a new corpus does not have yet)."""
    splits = cfg.splits if cfg.gold or cfg.annotations else None
    return load_gold_inputs(
        Vocabulary.of(codebook, stance), cfg.gold, cfg.annotations, splits, allow_bad_gold
    )


def _lf_progress(docs: Iterable[Doc]) -> Iterable[Doc]:
    """The progress bar ``WeakLabeler`` shows while its functions run over a chunk."""
    return progress(docs, desc="labeling functions", unit="doc")


def _eval_ids(inputs: GoldInputs, gold: dict[str, Annotation]) -> set[str]:
    """The gold documents the label models are scored on: the dev split's, if any."""
    if inputs.splits and gold:
        return set(inputs.splits["dev"]) & set(gold) or set(gold)
    return set(gold)


def _present(inp: LabelInput, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` are ids in the documents file: one read of the id column."""
    found: set[str] = set()
    for chunk in inp.file.chunks(inp.size, ["id"]):
        found.update(x for x in chunk["id"].map(str) if x in wanted)
    return found


def _write_labels(
    inp: LabelInput,
    votes: CorpusVotes,
    spill: IO[bytes],
    labeler: WeakLabeler,
    choice: LabelModelChoice,
    cfg: LabelConfig,
    gold: dict[str, Annotation],
    out: Path,
) -> tuple[int, int, dict[str, Any]]:
    """Label rows a chunk at a time, streamed to ``labels.parquet``, and the Label Studio
    tasks; returns the rows written, how many of them are gold, and their distribution."""
    codebook, stance = labeler.codebook, labeler.stance
    targets = list(stance.targets)
    schema = arrow_schema(codebook.keys, targets, stance.labels, {"label_source": pa.string()})
    distribution = LabelDistribution(codebook.keys, targets)
    chunks = label_rows(
        inp.again(),
        votes,
        spill,
        labeler,
        choice.frame_probs,
        choice.stance_probs,
        cfg.frame_threshold,
        choice.frame_method,
    )
    n_rows = n_gold = 0
    with atomic_path(out / "labels.parquet") as tmp, tempfile.TemporaryFile() as spool:
        tasks = TaskFile(targets, spool)
        with pq.ParquetWriter(tmp, schema) as writer:
            for rows, docs in chunks:
                n_gold += apply_gold(rows, gold, codebook.keys, targets, stance.labels)
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                tasks.add(rows, docs)
                distribution.add(rows)
                n_rows += len(rows)
        with atomic_path(out / "label_studio_tasks.json") as path, path.open("wb") as fh:
            tasks.write(fh)
        (out / "label_studio_config.xml").write_text(
            label_studio_config(codebook.keys, {k: t.name for k, t in stance.targets.items()})
        )
    return n_rows, n_gold, distribution.result()


def _annotator_agreement(
    inputs: GoldInputs, codebook: Codebook, targets: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Agreement between annotators and their disagreements: over the annotations file,
    or, without one, over the gold file's own rows when some document has two."""
    rows = inputs.annotations or inputs.gold_rows
    if not rows or len({(r.id, r.annotator) for r in rows}) == len({r.id for r in rows}):
        return None
    rep = agreement(rows, codebook.keys, targets)
    return rep.table, rep.disagreements


def run_label(
    documents: str | Path,
    output: str | Path,
    cfg: LabelConfig,
    chunk_size: int = CHUNK,
    allow_bad_gold: bool = False,
) -> LabelResult:
    """Label a documents file in memory that grows only by the votes, not the texts.

    Two passes of ``chunk_size`` documents. The first runs the labeling functions and
    keeps their votes (a few bytes a document), spilling to a temporary file what the
    evidence needs from each text; the label model is then fitted on all the votes; the
    second pass streams the label rows to ``labels.parquet`` and the Label Studio tasks
    to a temporary file. Same output as labelling all at once.

    Gold, annotation and splits files are checked first and stop the stage on a
    rejected row unless ``allow_bad_gold`` (``pipelines.gold_io``).
    """
    codebook = load_codebook(cfg.codebook)
    stance = load_stance(cfg.stance)
    inputs = load_gold(cfg, codebook, stance, allow_bad_gold)
    inp = LabelInput(documents, chunk_size)
    note_unmapped(str(inp.file.path), inp.file.names, LABEL_COLUMNS, stage="label")
    targets = list(stance.targets)
    similarity = make_similarity(cfg, codebook) if cfg.embedding_lf else None
    labeler = WeakLabeler(codebook, stance, similarity, progress=_lf_progress)
    gold_ids = {r.id for r in inputs.gold_rows}
    wanted = gold_ids | {r.id for r in inputs.annotations}
    out = Path(output)
    with tempfile.TemporaryFile() as spill:
        inputs.check_documents(_present(inp, wanted))  # before the long pass, by id
        votes = collect_votes(inp.documents(), labeler, gold_ids, wanted, spill)
        inputs.check_documents(set(votes.found), "document not labelled (see row_errors)")
        gold = inputs.gold
        choice = choose_label_models(labeler, votes, gold, _eval_ids(inputs, gold), cfg)
        out.mkdir(parents=True, exist_ok=True)
        spill.seek(0)
        n_rows, n_gold, distribution = _write_labels(
            inp, votes, spill, labeler, choice, cfg, gold, out
        )
    lf_table, coverage = _analysis(votes.mats, votes.pairs, gold, votes.found, stance)
    agree = _annotator_agreement(inputs, codebook, targets)
    report = {
        "documents_in": inp.file.n_rows,
        "documents": n_rows,
        "skipped": inp.rows.skipped,
        "skipped_total": sum(inp.rows.skipped.values()),
        "row_errors": inp.rows.errors,
        "gold_documents": n_gold,
        "gold_adjudicated": inputs.adjudicated,
        "label_model_frames": choice.frame_method,
        "label_model_stance": choice.stance_method,
        "label_model_scores_dev": choice.scores,
        "mention_quality": mention_quality(votes.mentions, gold, targets),
        "lf_errors": labeler.errors,
        "lf_failed": sorted(labeler.failed),
        "gold_problems": inputs.problems,
        "distribution": distribution,
    }
    table = None
    if agree is not None:
        table = agree[0]
        (out / "disagreements.csv").write_text(agree[1].to_csv(index=False))
    (out / "label_report.json").write_text(json.dumps(report, indent=2, default=str))
    lf_table.to_csv(out / "lf_analysis.csv", index=False)
    if table is not None:
        table.to_csv(out / "agreement.csv", index=False)
    _log_mlflow(inp, Path(documents), out, cfg, codebook, report, lf_table, coverage, table)
    return LabelResult(out / "labels.parquet", report, lf_table, table)


def _log_mlflow(
    inp: LabelInput,
    documents: Path,
    out: Path,
    cfg: LabelConfig,
    codebook: Codebook,
    report: dict[str, Any],
    lf_table: pd.DataFrame,
    coverage: pd.DataFrame,
    agree: pd.DataFrame | None,
) -> None:
    """One ``label`` run: parameters and dev scores, the input and output datasets, and
    the analysis; the documents' metadata is read back (``inp.metadata``) only here."""
    if not mlflow.get_tracking_uri():
        return
    tags = tracking.base_tags(
        "label",
        task="frames+stance",
        model="weak",
        codebook=codebook.name,
        data_digest=inp.digest,
    )
    with tracking.stage_run("label", "label", tags):
        _log_values(cfg, report)
        meta_cols = [
            c for c in ("id", "source_id", "title", "source", "date", "lang") if c in inp.file.names
        ]
        tracking.log_dataset(inp.metadata(meta_cols), str(documents), "documents", "input")
        labels = pd.read_parquet(
            out / "labels.parquet", columns=["id", "primary_frame", "label_source"]
        )
        tracking.log_dataset(labels, str(out / "labels.parquet"), "labels", "output")
        _log_artifacts(out, lf_table, coverage, agree)
        mlflow.log_dict(report["distribution"], "label_distribution.json")


def _log_values(cfg: LabelConfig, report: dict[str, Any]) -> None:
    """The run's parameters, and the label models' dev scores and the counts as metrics."""
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
    for method, vals in report["label_model_scores_dev"].items():
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


def _log_artifacts(
    out: Path, lf_table: pd.DataFrame, coverage: pd.DataFrame, agree: pd.DataFrame | None
) -> None:
    """The analysis files, the function summary plot and the agreement figures."""
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


def _analysis(
    mats: list[VoteMatrix],
    pairs: Pairs,
    gold: dict[str, Annotation],
    where: dict[str, int],
    stance: StanceSpec,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each function's coverage, overlaps, conflicts and accuracy on gold; coverage."""
    gold_rows = {where[d]: g for d, g in gold.items() if d in where}
    pair_index = pairs.index_of(sorted(gold_rows))
    lf_tables = []
    for mat in mats:
        if mat.group == "stance":
            g = np.full(len(mat.votes), -1, dtype=np.int64)
            for (i, t), r in pair_index.items():
                lab = gold_rows[i].stance.get(t)
                if lab in stance.labels:
                    g[r] = stance.labels.index(lab)
        else:
            g = np.full(len(mat.votes), -1, dtype=np.int64)
            for i, ann in gold_rows.items():
                g[i] = int(mat.group in set(ann.frames))
        lf_tables.append(lf_summary(mat.votes, mat.names, mat.classes, mat.group, g))
    lf_table = pd.concat(lf_tables, ignore_index=True)
    coverage = pd.DataFrame([label_coverage(m.votes, m.group) for m in mats])
    return lf_table, coverage
