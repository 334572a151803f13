"""``mediaframe``: one command, one pattern for every stage.

    mediaframe <stage> [--config FILE] [--input PATH...] [--output DIR] [--set key=value ...]

Errors a user can fix (a bad config key, a missing column, an unknown model) are printed
as one clear message with exit code 2, not as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

EPILOG = (
    "MLflow: runs go to ./mlruns.db (artifacts in ./mlartifacts) unless --tracking-uri or "
    "MLFLOW_TRACKING_URI names another store."
)


def _common(
    p: argparse.ArgumentParser, config: str | None, inputs: bool = True, output: bool = True
) -> None:
    p.add_argument(
        "--config",
        default=config,
        metavar="FILE",
        help=f"YAML config for this stage (default: {config or 'built-in defaults'})",
    )
    if inputs:
        p.add_argument("--input", nargs="+", metavar="PATH", help="input files or folders")
    if output:
        p.add_argument("--output", metavar="DIR", help="output directory")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set transformer.epochs=2 "
        "(repeatable; values are parsed as YAML)",
    )
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///./mlruns.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mediaframe",
        description="Turn raw news articles into trained, published media-framing and "
        "stance classifiers: ingest -> label -> train -> evaluate -> publish "
        "-> score.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version="mediaframe 0.1.0")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

    p = sub.add_parser(
        "ingest",
        help="read, clean, split and de-duplicate raw articles",
        description="Read JSONL/CSV/Parquet files and folders of .txt/.html "
        "dumps; remove site chrome, split pasted articles, give each document "
        "a content-hash id, drop exact and near duplicates. Writes "
        "DIR/documents.parquet and DIR/ingest_report.json.",
        epilog=EPILOG,
    )
    _common(p, "configs/ingest.yaml")

    p = sub.add_parser(
        "label",
        help="weakly label frames and stance; merge gold labels",
        description="Run the labeling functions over DIR/documents.parquet, "
        "aggregate them with the label model, let gold labels win, and write "
        "OUT/labels.parquet with an LF analysis and annotator agreement.",
        epilog=EPILOG,
    )
    _common(p, "configs/label.yaml")

    p = sub.add_parser(
        "train",
        help="train and evaluate one model for one task",
        description="Train a baseline or transformer model for frames or "
        "stance from labels.parquet; evaluate on gold test and log the run.",
        epilog=EPILOG,
    )
    _common(p, None)
    p.add_argument(
        "--task",
        choices=["frames", "stance"],
        required=True,
        help="frames (multi-label) or stance (per target)",
    )
    p.add_argument(
        "--model",
        choices=["baseline", "transformer"],
        default="baseline",
        help="model family (default: baseline)",
    )

    p = sub.add_parser(
        "publish",
        help="register the scoring function through the gate",
        description="Package the best (or named) frames and stance runs as one "
        "MLflow pyfunc, register a version of `mediaframe`, and move "
        "@champion only if it beats the current champion on gold test.",
        epilog=EPILOG,
    )
    _common(p, "configs/publish.yaml", inputs=False, output=False)
    p.add_argument("--frames-run", metavar="RUN_ID", help="frames run to publish")
    p.add_argument("--stance-run", metavar="RUN_ID", help="stance run to publish")

    p = sub.add_parser(
        "score",
        help="batch-score documents with a registered model",
        description="Score JSONL/CSV/Parquet inputs in chunks into Parquet "
        "shards with a manifest; resumes after an interruption.",
        epilog=EPILOG,
    )
    _common(p, "configs/score.yaml")
    p.add_argument(
        "--model", metavar="URI", help="registry URI (default models:/mediaframe@champion)"
    )
    p.add_argument("--engine", choices=["local", "spark"], help="local (default) or spark")
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard output made by another model version or other inputs",
    )

    p = sub.add_parser(
        "report",
        help="what the outlets did: frame shares and stance per source and period",
        description="From scored Parquet (the output of `mediaframe score`, or "
        "labels.parquet): frame shares and stance toward each target per source and "
        "per week or month, with Wilson intervals, as CSV tables, plots and one "
        "self-contained HTML page (DIR/outlet_report.html), logged to MLflow. Rows "
        "with an error or no date are counted and reported, never dropped silently.",
        epilog=EPILOG,
    )
    _common(p, "configs/report.yaml")
    p.add_argument(
        "--period", choices=["week", "month"], help="time bucket (default: from the config)"
    )

    p = sub.add_parser(
        "run",
        help="the whole flow on the bundled sample (or your corpus)",
        description="ingest -> label -> train baseline and transformer for "
        "frames and stance -> evaluate -> publish -> score, under one parent "
        "MLflow run, then print a summary.",
        epilog=EPILOG,
    )
    _common(p, "configs/run.yaml")

    p = sub.add_parser(
        "benchmark",
        help="train and score a model on a public dataset (gvfc, semeval2023, ...)",
        description="Map a public dataset's files onto our task contract, train the "
        "baseline, the transformer or the weakly supervised baseline with the training "
        "stage's code (configs/bench/DATASET.yaml), and score it on the fixed dev split, "
        "or on the release's test files in --test-dir, beside the trivial reference with "
        "bootstrap intervals. Prints a table, writes JSON and logs an MLflow run to the "
        "experiment benchmark-DATASET.",
        epilog=EPILOG,
    )
    from pipelines.adapters import ADAPTERS

    p.add_argument(
        "dataset", choices=sorted(ADAPTERS), metavar="DATASET", help=", ".join(sorted(ADAPTERS))
    )
    _common(p, None, inputs=False, output=False)
    p.add_argument("--data-dir", required=True, metavar="DIR", help="the training release")
    p.add_argument(
        "--test-dir",
        metavar="DIR",
        help="a directory with the held-out release's files; without it, score dev",
    )
    p.add_argument(
        "--model",
        choices=["baseline", "transformer", "weak"],
        default="baseline",
        help="model (default: baseline); weak = baseline trained on label-model output only",
    )
    p.add_argument(
        "--output",
        metavar="FILE.json",
        help="result JSON (default bench/results/quality-DATASET-MODEL-SPLIT.json)",
    )

    p = sub.add_parser(
        "ui",
        help="open the MLflow UI over the project's store",
        description="Start `mlflow server` on 127.0.0.1 over ./mlruns.db.",
        epilog=EPILOG,
    )
    p.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1; any other address needs --expose)",
    )
    p.add_argument(
        "--expose",
        action="store_true",
        help="allow a non-loopback --host: anyone who can reach it reads and writes the "
        "store; run MLflow's basic-auth app in front (README, Security)",
    )
    p.add_argument("--tracking-uri", metavar="URI", help="store to serve")
    return parser


def _cfg_path(path: str | None) -> str | None:
    return path if path and Path(path).exists() else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", message=".*dataset source can be interpreted.*")
    warnings.filterwarnings("ignore", message=".*Found extra inputs in the model input.*")
    from pipelines.config import ConfigError

    _quiet_libraries()

    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"mediaframe {args.stage}: config error:\n{exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("MEDIAFRAME_DEBUG"):
            raise
        print(f"mediaframe {args.stage}: error: {exc}", file=sys.stderr)
        return 2


def _quiet_libraries() -> None:
    """Keep the terminal for our progress bars and summaries, not library chatter."""
    import logging

    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    # System metrics are on for every stage run; their start/stop lines are not news.
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)


def _dispatch(args: argparse.Namespace) -> int:
    from pipelines import config as C
    from pipelines import tracking

    if args.stage == "ui":
        return _ui(args)
    uri = tracking.configure(args.tracking_uri)
    if args.stage == "ingest":
        from pipelines.ingest import ingest, log_ingest_run

        cfg = C.load_config(C.IngestConfig, _cfg_path(args.config), args.set)
        if not args.input or not args.output:
            raise ValueError("ingest needs --input PATH... and --output DIR")
        rep = ingest(args.input, args.output, cfg)
        log_ingest_run(rep, args.output)
        print(json.dumps({k: v for k, v in rep.to_json().items() if k != "errors"}, indent=1))
        if rep.errors:
            print(f"{len(rep.errors)} row/file problems (first 10):", file=sys.stderr)
            for e in rep.errors[:10]:
                print("  " + e, file=sys.stderr)
        return 0
    if args.stage == "label":
        from pipelines.label import run_label

        cfg = C.load_config(C.LabelConfig, _cfg_path(args.config), args.set)
        if not args.input or not args.output:
            raise ValueError("label needs --input DIR/documents.parquet and --output DIR")
        res = run_label(args.input[0], args.output, cfg)
        r = res.report
        print(
            f"labels: {res.path} ({r['documents']} documents, {r['gold_documents']} gold; "
            f"label model frames={r['label_model_frames']} stance={r['label_model_stance']})"
        )
        print(res.lf_table.to_string(index=False, max_rows=40))
        if res.agreement is not None:
            print(res.agreement.to_string(index=False))
        if r["skipped_total"]:
            print(f"{r['skipped_total']} rows skipped: {r['skipped']}", file=sys.stderr)
        for e in r["row_errors"][:10] + r["lf_errors"] + r["gold_problems"]:
            print("  " + e, file=sys.stderr)
        return 0
    if args.stage == "train":
        from pipelines.train import run_train

        path = args.config or f"configs/train_{args.task}.yaml"
        cfg = C.load_config(C.TrainConfig, _cfg_path(path), args.set, task=args.task)
        if cfg.task != args.task:
            raise C.ConfigError(f"{path}: task is {cfg.task!r} but --task {args.task}")
        if args.input:
            cfg.labels = args.input[0]
        if args.output:
            cfg.output = args.output
        s = run_train(cfg, args.model, path)
        print(
            json.dumps(
                {
                    "run_id": s["run_id"],
                    "bundle": s["bundle"],
                    **{k: round(v, 4) for k, v in s["metrics"].items() if k.startswith("test_")},
                },
                indent=1,
            )
        )
        return 0
    if args.stage == "publish":
        from pipelines.publish import publish

        cfg = C.load_config(C.PublishConfig, _cfg_path(args.config), args.set)
        if args.frames_run:
            cfg.frames_run = args.frames_run
        if args.stance_run:
            cfg.stance_run = args.stance_run
        res = publish(cfg)
        print(f"{res.name} version {res.version} -> @{res.alias}: {res.reason}")
        return 0
    if args.stage == "score":
        from pipelines.score import log_score_run, score

        cfg = C.load_config(C.ScoreConfig, _cfg_path(args.config), args.set)
        if args.model:
            cfg.model = args.model
        if args.engine:
            cfg.engine = args.engine
        if not args.input or not args.output:
            raise ValueError("score needs --input PATH... and --output DIR")
        res = score(args.input, args.output, cfg, restart=args.restart)
        log_score_run(res, args.input)
        print(
            f"scored {res.rows} rows ({res.errors} with errors) with {res.model_version} "
            f"into {res.output}: {res.shards} shards, {res.skipped_shards} already done"
        )
        return 0
    if args.stage == "report":
        from pipelines.report import run_report

        cfg = C.load_config(C.ReportConfig, _cfg_path(args.config), args.set)
        if args.period:
            cfg.period = args.period
        if not args.input or not args.output:
            raise ValueError("report needs --input SCORED_DIR_OR_FILES... and --output DIR")
        rep = run_report(args.input, args.output, cfg)
        print(
            f"report: {rep.html} ({rep.rows} rows from {rep.sources} sources over "
            f"{rep.periods} {cfg.period}s; {rep.errors} rows with errors and {rep.undated} "
            "without a usable date counted, not in the shares over time)"
        )
        if rep.incomplete:
            print(f"warning: scoring not finished in {rep.incomplete}", file=sys.stderr)
        return 0
    if args.stage == "benchmark":
        from pipelines.benchmark import (
            default_config_path,
            format_table,
            load_bench_config,
            run_benchmark,
        )

        path = args.config or default_config_path(args.dataset)
        bcfg, opts = load_bench_config(args.dataset, path, args.set)
        if not Path(args.data_dir).is_dir():
            raise FileNotFoundError(f"--data-dir {args.data_dir}: not a directory")
        res = run_benchmark(
            args.dataset,
            args.data_dir,
            args.test_dir,
            args.model,
            bcfg,
            opts,
            args.output,
            path if Path(path).exists() else None,
        )
        print(format_table(res))
        print(f"written: {res['output']}  (MLflow run {res['run_id']})")
        return 0
    if args.stage == "run":
        from pipelines.run import run_all

        cfg = C.load_config(C.RunConfig, _cfg_path(args.config), args.set)
        if args.input:
            cfg.input = args.input
        if args.output:
            cfg.workdir = args.output
        print(f"tracking: {tracking.redact(uri)}")
        run_all(cfg)
        return 0
    raise ValueError(f"unknown stage {args.stage}")


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def ui_command(args: argparse.Namespace) -> list[str]:
    """The `mlflow server` command line; refuses a non-loopback bind without --expose."""
    from pipelines import tracking

    if args.host not in LOOPBACK and not args.expose:
        raise ValueError(
            f"--host {args.host} would expose the tracking store (runs, models, pickled "
            "artifacts) to the network; add --expose to confirm, and put MLflow's "
            "basic-auth app in front (mlflow server --app-name basic-auth, see README)"
        )
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or tracking.default_uri()
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        (Path.cwd() / "mlartifacts").as_uri(),
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]


def _ui(args: argparse.Namespace) -> int:
    import subprocess

    cmd = ui_command(args)
    print(f"MLflow UI on http://{args.host}:{args.port}  (Ctrl-C to stop)")
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
