"""The stages of ``mediaframe``: one ``Stage`` row each, read by ``pipelines.cli``.

A row holds what the CLI needs to know about a stage (help, default config, its own flags)
and a short ``run`` that applies the flags to the loaded config, calls the stage's library
function and prints its summary. Stage modules are imported inside ``run`` so that
``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Every stage's default config: the project config, which names the codebook, targets,
# gold and splits once for all of them (each stage reads its section of it).
PROJECT_CONFIG = "configs/run.yaml"


def _no_arguments(p: argparse.ArgumentParser) -> None:
    """A stage with only the common flags."""


@dataclass(frozen=True)
class Stage:
    """One subcommand: ``run(args, cfg)`` gets the loaded, validated config."""

    name: str
    help: str
    description: str
    run: Callable[[argparse.Namespace, Any], int]
    config_class: str  # its config model, a class in pipelines.config
    # Default config file, formatted with the parsed arguments (train's depends on --task).
    default_config: str
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    inputs: bool = True
    output: bool = True


def _needs_io(args: argparse.Namespace, usage: str) -> None:
    if not args.input or not args.output:
        raise ValueError(f"{args.stage} needs {usage}")


# --------------------------------------------------------------------------- stages
def run_ingest(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.ingest import ingest, log_ingest_run

    _needs_io(args, "--input PATH... and --output DIR")
    rep = ingest(args.input, args.output, cfg)
    log_ingest_run(rep, args.output)
    print(json.dumps({k: v for k, v in rep.to_json().items() if k != "errors"}, indent=1))
    if rep.errors:
        print(f"{len(rep.errors)} row/file problems (first 10):", file=sys.stderr)
        for e in rep.errors[:10]:
            print("  " + e, file=sys.stderr)
    return 0


def label_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-bad-gold",
        action="store_true",
        help="go on without rejected gold, annotation or split rows (listed on stderr) "
        "instead of stopping with exit 2",
    )


def run_label(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.label import run_label as label

    _needs_io(args, "--input DIR/documents.parquet and --output DIR")
    res = label(args.input[0], args.output, cfg, allow_bad_gold=args.allow_bad_gold)
    r = res.report
    print(
        f"labels: {res.path} ({r['documents']} documents, {r['gold_documents']} gold; "
        f"label model frames={r['label_model_frames']} stance={r['label_model_stance']})"
    )
    print(
        f"Label Studio: {res.path.parent / 'label_studio_tasks.json'} (least certain first) "
        f"and its interface {res.path.parent / 'label_studio_config.xml'}; "
        "`mediaframe gold import EXPORT.json` reads the annotations back"
    )
    print(res.lf_table.to_string(index=False, max_rows=40))
    if res.agreement is not None:
        print(res.agreement.to_string(index=False))
    if r["skipped_total"]:
        print(f"{r['skipped_total']} rows skipped: {r['skipped']}", file=sys.stderr)
    for e in r["row_errors"][:10] + r["lf_errors"]:
        print("  " + e, file=sys.stderr)
    if r["gold_problems"]:  # listed when found, before the work; all in label_report.json
        print(f"{len(r['gold_problems'])} gold rows left out (--allow-bad-gold)", file=sys.stderr)
    return 0


class _DeprecatedModel(argparse.Action):
    """``train --model`` is the old name of ``--family``: still accepted, with a warning."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"mediaframe train: --model is deprecated; use --family {values}", file=sys.stderr)
        namespace.family = values


def train_arguments(p: argparse.ArgumentParser) -> None:
    from models.registry import family_names

    p.add_argument(
        "--task",
        choices=["frames", "stance"],
        required=True,
        help="frames (multi-label) or stance (per target)",
    )
    p.add_argument(
        "--family",
        choices=family_names(),
        help="model family (default: the config's `family`, baseline)",
    )
    p.add_argument(
        "--model", choices=family_names(), action=_DeprecatedModel, help=argparse.SUPPRESS
    )
    run_name_argument(p)


def run_name_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run-name",
        metavar="NAME",
        help="MLflow run name (default: the stage's, e.g. frames-baseline); runs nested "
        "in it are named NAME/<stage's name>",
    )


def run_train(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.config import ConfigError
    from pipelines.train import run_train as train

    if cfg.task != args.task:
        raise ConfigError(f"{args.config_used}: task is {cfg.task!r} but --task {args.task}")
    if args.input:
        cfg.labels = args.input[0]
    if args.output:
        cfg.output = args.output
    if args.family:
        cfg.family = args.family
    s = train(cfg, args.config_used, run_name=args.run_name)
    test = {k: round(v, 4) for k, v in s["metrics"].items() if k.startswith("test_")}
    print(json.dumps({"run_id": s["run_id"], "bundle": s["bundle"], **test}, indent=1))
    return 0


def publish_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames-run", metavar="RUN_ID", help="frames run to publish")
    p.add_argument("--stance-run", metavar="RUN_ID", help="stance run to publish")


def run_publish(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.publish import publish

    if args.frames_run:
        cfg.frames_run = args.frames_run
    if args.stance_run:
        cfg.stance_run = args.stance_run
    res = publish(cfg)
    print(f"{res.name} version {res.version} -> @{res.alias}: {res.reason}")
    return 0


def score_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", metavar="URI", help="registry URI (default models:/mediaframe@champion)"
    )
    p.add_argument("--engine", choices=["local", "spark"], help="local (default) or spark")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local engine: N worker processes, one torch thread each (default 1)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard output made by another model version or other inputs",
    )


def run_score(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.score import log_score_run, score

    if args.model:
        cfg.model = args.model
    if args.engine:
        cfg.engine = args.engine
    if args.workers is not None:
        cfg.workers = args.workers
    _needs_io(args, "--input PATH... and --output DIR")
    res = score(args.input, args.output, cfg, restart=args.restart)
    log_score_run(res, args.input)
    print(
        f"scored {res.rows} rows ({res.errors} with errors) with {res.model_version} "
        f"into {res.output}: {res.shards} shards, {res.skipped_shards} already done"
    )
    return 0


def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--period", choices=["week", "month"], help="time bucket (default: from the config)"
    )


def run_report(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.report import run_report as report

    if args.period:
        cfg.period = args.period
    _needs_io(args, "--input SCORED_DIR_OR_FILES... and --output DIR")
    rep = report(args.input, args.output, cfg)
    print(
        f"report: {rep.html} ({rep.rows} rows from {rep.sources} sources over "
        f"{rep.periods} {cfg.period}s; {rep.errors} rows with errors and {rep.undated} "
        "without a usable date counted, not in the shares over time)"
    )
    if rep.incomplete:
        print(f"warning: scoring not finished in {rep.incomplete}", file=sys.stderr)
    for w in rep.warnings:  # mixed model versions, repeated ids, dates after the run
        print(f"warning: {w}", file=sys.stderr)
    return 0


def run_flow(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines import tracking
    from pipelines.run import run_all

    if args.input:
        cfg.input = args.input
    if args.output:
        cfg.workdir = args.output
    print(f"tracking: {tracking.redact(args.tracking)}")
    with tracking.run_names(args.run_name):
        run_all(cfg)
    return 0


def compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_ID",
        help=(
            "training runs of one task, by id or by --run-name (the newest finished run of"
            " that name); the first is the reference the others are paired with"
        ),
    )


def run_compare(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.compare import compare

    res = compare(args.runs, args.output or "compare", cfg)
    print(res.summary())
    return 0


def _gold_command(name: str) -> Callable[[argparse.Namespace, Any], int]:
    """``split`` and ``gold`` live in ``pipelines.gold_cmd``, imported when run."""

    def run(args: argparse.Namespace, cfg: Any) -> int:
        from pipelines import gold_cmd

        return getattr(gold_cmd, f"run_{name}")(args, cfg)

    return run


def _gold_arguments(name: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        from pipelines import gold_cmd

        getattr(gold_cmd, f"{name}_arguments")(p)

    return add


def suggest_arguments(p: argparse.ArgumentParser) -> None:
    from labeling.studio import DEFAULT_MAX_FRAMES
    from models.active import STRATEGIES

    p.add_argument(
        "--documents", required=True, metavar="FILE", help="documents.parquet (id, title, text)"
    )
    p.add_argument("--output", required=True, metavar="FILE", help="Label Studio tasks JSON")
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="uncertainty",
        help="uncertainty: smallest margin of any frame to its threshold first (default; "
        "ahead of random from 100 to 150 labels in the simulated loop, bench/RESULTS.md "
        "#21); entropy: mean binary entropy; random: a seeded shuffle",
    )
    p.add_argument(
        "--model",
        metavar="DIR",
        help="a saved frames bundle (bundle.json + model/) to order by, e.g. the champion's; "
        "default: train one on the config's gold",
    )
    p.add_argument(
        "--family", default="baseline", help="family trained on the gold without --model"
    )
    p.add_argument("--limit", type=int, metavar="N", help="write only the first N tasks")
    p.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_MAX_FRAMES,
        metavar="K",
        help=f"pre-annotate at most K frames by probability (default {DEFAULT_MAX_FRAMES}; "
        "0: every frame over its threshold)",
    )


def run_suggest(args: argparse.Namespace, cfg: Any) -> int:
    from pipelines.suggest import suggest

    res = suggest(
        args.documents,
        args.output,
        cfg,
        args.strategy,
        args.model,
        args.family,
        args.limit,
        args.max_frames or None,
    )
    print(
        f"tasks: {res.output} ({res.n_tasks} documents, {args.strategy} order, by {res.model}; "
        f"{res.n_gold} gold documents left out); interface: {res.interface}"
    )
    print("annotate them in Label Studio, then `mediaframe gold import EXPORT.json`")
    return 0


STAGES: list[Stage] = [
    Stage(
        "ingest",
        "read, clean, split and de-duplicate raw articles",
        "Read JSONL/CSV/Parquet files and folders of .txt/.html dumps; remove site chrome, "
        "split pasted articles, give each document a content-hash id, drop exact and near "
        "duplicates. Writes DIR/documents.parquet and DIR/ingest_report.json.",
        run_ingest,
        "IngestConfig",
        PROJECT_CONFIG,
    ),
    Stage(
        "label",
        "weakly label frames and stance; merge gold labels",
        "Run the labeling functions over DIR/documents.parquet, aggregate them with the "
        "label model, let gold labels win, and write OUT/labels.parquet with an LF analysis "
        "and annotator agreement.",
        run_label,
        "LabelConfig",
        PROJECT_CONFIG,
        label_arguments,
    ),
    Stage(
        "train",
        "train and evaluate one model for one task",
        "Train a model of one family (baseline or transformer) for frames or stance from "
        "labels.parquet; evaluate on gold test and log the run.",
        run_train,
        "TrainConfig",
        PROJECT_CONFIG,
        train_arguments,
    ),
    Stage(
        "publish",
        "register the scoring function through the gate",
        "Package the best (or named) frames and stance runs as one MLflow pyfunc, register "
        "a version of `mediaframe`, and move @champion only if it beats the current "
        "champion on gold test.",
        run_publish,
        "PublishConfig",
        PROJECT_CONFIG,
        publish_arguments,
        inputs=False,
        output=False,
    ),
    Stage(
        "score",
        "batch-score documents with a registered model",
        "Score JSONL/CSV/Parquet inputs in chunks into Parquet shards with a manifest; "
        "resumes after an interruption.",
        run_score,
        "ScoreConfig",
        PROJECT_CONFIG,
        score_arguments,
    ),
    Stage(
        "report",
        "what the outlets did: frame shares and stance per source and period",
        "From scored Parquet (the output of `mediaframe score`, or labels.parquet): frame "
        "shares and stance toward each target per source and per week or month, with "
        "Wilson intervals, as CSV tables, plots and one self-contained HTML page "
        "(DIR/outlet_report.html), logged to MLflow. Rows with an error or no date are "
        "counted and reported, never dropped silently.",
        run_report,
        "ReportConfig",
        PROJECT_CONFIG,
        report_arguments,
    ),
    Stage(
        "run",
        "the whole flow on the bundled sample (or your corpus)",
        "ingest -> label -> train each family for frames and stance -> evaluate -> publish "
        "-> score -> report, under one parent MLflow run, then print a summary.",
        run_flow,
        "RunConfig",
        "configs/run.yaml",
        run_name_argument,
    ),
    Stage(
        "compare",
        "compare training runs on one HTML page, logged to MLflow",
        "Headline gold-test metrics of each run with their bootstrap intervals, the paired "
        "bootstrap of each run against the first on the gold test items they share, and "
        "per-label F1 deltas, as DIR/compare.html (default ./compare), logged as an "
        "artifact of a new run in mediaframe-compare. Bootstrap rounds, seed, margin and "
        "confidence are the promotion gate's (the publish config).",
        run_compare,
        "PublishConfig",
        "configs/publish.yaml",
        compare_arguments,
        inputs=False,
    ),
    Stage(
        "split",
        "a grouped, stratified train/dev/test split of a gold file",
        "Split the documents of GOLD into train, dev and test (shares --dev, --test), "
        "keeping each --group-by group (e.g. source: the outlet) in one split and the "
        "--stratify label's mix alike in all; writes {train, dev, test: [ids]} to --output, "
        "the splits.json that label, train and publish read. Gold values are checked "
        "against the label config's codebook and targets.",
        _gold_command("split"),
        "LabelConfig",
        PROJECT_CONFIG,
        _gold_arguments("split"),
        inputs=False,
        output=False,
    ),
    Stage(
        "gold",
        "the Label Studio loop: import an export into gold, export tasks to annotate",
        "gold import EXPORT.json [--into gold.jsonl]: check a Label Studio JSON export "
        "against the codebook and targets, report what was dropped and why, and merge one "
        "row per document x annotator into the gold file. gold export --labels DIR "
        "--output tasks.json [--max-frames K]: the labelled, non-gold documents as Label "
        "Studio tasks, least certain first, pre-annotated with at most K frames by "
        "probability, and label_studio_config.xml beside them.",
        _gold_command("gold"),
        "LabelConfig",
        PROJECT_CONFIG,
        _gold_arguments("gold"),
        inputs=False,
        output=False,
    ),
    Stage(
        "suggest",
        "order the unlabelled documents for annotation (active learning)",
        "Train a frames model on the current gold (or read --model DIR), score every "
        "document of --documents that is not gold, and write them as Label Studio tasks, "
        "the most useful to annotate first by --strategy, pre-annotated with the model's "
        "frames, and label_studio_config.xml beside them. `gold import` reads the export back.",
        run_suggest,
        "LabelConfig",
        PROJECT_CONFIG,
        suggest_arguments,
        inputs=False,
        output=False,
    ),
]
