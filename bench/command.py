"""The ``mediaframe benchmark`` subcommand, found by the CLI as a ``mediaframe.commands``
entry point: pipelines may not import bench, so bench plugs itself in."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from bench.adapters import ADAPTERS
from bench.adapters.base import DatasetError
from bench.benchmark import (
    FAMILIES,
    LABELS,
    default_config_path,
    format_table,
    load_bench_config,
    run_benchmark,
)
from pipelines.cli import add_common_options
from pipelines.config import ConfigError

NAME = "benchmark"
HELP = "train and score a model on a public dataset (gvfc, semeval2023, ...)"
DESCRIPTION = (
    "Map a public dataset's files onto our task contract, train a model family on the "
    "release's gold, on weak labels or on both with the training stage's code "
    "(configs/bench/DATASET.yaml), and score it on the fixed dev split, or on the release's "
    "test files in --test-dir, beside the trivial reference with bootstrap intervals. Prints "
    "a table, writes JSON and logs an MLflow run to the experiment benchmark-DATASET."
)
WEBCLEAN = "webclean"  # scores ingest, not a model: bench/webclean.py
# The spelling before --family/--labels, still accepted with a warning.
LEGACY_MODELS = {
    "baseline": ("baseline", "gold"),
    "transformer": ("transformer", "gold"),
    "weak": ("baseline", "weak"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's arguments, on the parser the CLI made for it."""
    parser.description = parser.description or DESCRIPTION
    names = sorted([*ADAPTERS, WEBCLEAN])
    parser.add_argument(
        "dataset",
        choices=names,
        metavar="DATASET",
        help=", ".join(names) + f" ({WEBCLEAN}: ingestion of real web pages, not a model)",
    )
    parser.add_argument("--data-dir", required=True, metavar="DIR", help="the training release")
    parser.add_argument(
        "--test-dir",
        metavar="DIR",
        help="a directory with the held-out release's files; without it, score dev",
    )
    parser.add_argument("--family", choices=FAMILIES, help="model family (default: baseline)")
    parser.add_argument(
        "--labels",
        choices=LABELS,
        help="what it trains on (default: gold); weak = the label model's output over the "
        "training texts, no gold; weak+gold = gold plus the weakly labelled weak.unlabeled texts",
    )
    # Deprecated, hidden from --help: the old spelling of --family/--labels.
    parser.add_argument("--model", choices=sorted(LEGACY_MODELS), help=argparse.SUPPRESS)
    add_common_options(parser, inputs=False, output=False)  # --config, --set, --tracking-uri
    parser.add_argument(
        "--output",
        metavar="FILE.json",
        help="result JSON (default bench/results/quality-DATASET-MODEL-SPLIT.json; with "
        "--curve bench/results/curve-DATASET-MODEL-SPLIT.json, the plot beside it as .png)",
    )
    parser.add_argument(
        "--curve",
        metavar="N,N,...,all",
        help="a learning curve instead of one run: train on N gold documents (3 seeded "
        "draws each, the tuning cut included in N) for each budget, e.g. 25,50,100,200,all; "
        "scored on the same split as a plain run",
    )
    parser.add_argument(
        "--active",
        action="store_true",
        help="a simulated annotation loop instead of one run: the gold plays the annotator, "
        "the scored split is the evaluation fold; from a seed set, batches chosen by each "
        "--strategy, 3 seeds; writes bench/results/active-DATASET-FAMILY-SPLIT.json and .png",
    )
    parser.add_argument(
        "--strategy",
        default="uncertainty,random",
        metavar="S,S",
        help="(--active) strategies to compare: uncertainty (smallest margin to a threshold), "
        "entropy (mean binary entropy), random (default: uncertainty,random)",
    )
    parser.add_argument(
        "--batch", type=int, default=25, metavar="N", help="(--active) labels per round (25)"
    )
    parser.add_argument(
        "--budget", type=int, default=200, metavar="N", help="(--active) labels in all (200)"
    )
    parser.add_argument(
        "--seed-size",
        type=int,
        default=25,
        metavar="N",
        help="(--active) the stratified random seed set every strategy starts from (25)",
    )


def family_and_labels(args: argparse.Namespace) -> tuple[str, str]:
    """``--family``/``--labels``, or the deprecated ``--model`` mapped onto them."""
    if args.model is None:
        return args.family or "baseline", args.labels or "gold"
    if args.family or args.labels:
        raise ValueError("--model is the old spelling of --family/--labels: give one or the other")
    family, labels = LEGACY_MODELS[args.model]
    new = f"--family {family}" + (f" --labels {labels}" if labels != "gold" else "")
    message = f"--model {args.model} is deprecated; use {new}"
    warnings.warn(message, DeprecationWarning, stacklevel=2)
    print(f"mediaframe benchmark: warning: {message}", file=sys.stderr)
    return family, labels


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; a bad dataset, config or argument is one line on stderr, exit 2."""
    from pipelines import tracking

    if args.dataset == WEBCLEAN:
        return _webclean(args)
    try:
        family, labels = family_and_labels(args)
        path = args.config or default_config_path(args.dataset)
        bcfg, opts = load_bench_config(args.dataset, path, args.set)
        if not Path(args.data_dir).is_dir():
            raise FileNotFoundError(f"--data-dir {args.data_dir}: not a directory")
        tracking.configure(args.tracking_uri)
        if args.curve and args.active:
            raise ValueError("--curve and --active are two runs: give one")
        if args.curve:
            return _curve(args, family, labels, bcfg, opts)
        if args.active:
            if labels != "gold":
                raise ValueError("--active simulates annotation of gold: drop --labels")
            return _active(args, family, bcfg, opts)
        res = run_benchmark(
            args.dataset,
            args.data_dir,
            args.test_dir,
            family,
            labels,
            bcfg,
            opts,
            args.output,
            path if Path(path).exists() else None,
        )
    except ConfigError as exc:
        print(f"mediaframe {NAME}: config error:\n{exc}", file=sys.stderr)
        return 2
    except (DatasetError, ValueError, FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("MEDIAFRAME_DEBUG"):
            raise
        print(f"mediaframe {NAME}: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(res))
    print(f"written: {res['output']}  (MLflow run {res['run_id']})")
    return 0


def _curve(args: argparse.Namespace, family: str, labels: str, bcfg, opts) -> int:
    """``--curve``: every budget and draw, then the table; errors reach ``run``'s handler."""
    from bench.curve import format_curve, parse_points, run_curve

    points = parse_points(args.curve)
    res = run_curve(
        args.dataset, args.data_dir, points, args.test_dir, family, labels, bcfg, opts, args.output
    )
    print(format_curve(res["summary"], res, res["trivial"]))
    print(f"written: {res['output']} and {res['plot']}  (MLflow run {res['run_id']})")
    return 0


def _active(args: argparse.Namespace, family: str, bcfg, opts) -> int:
    """``--active``: every strategy and seed, then the table; errors reach ``run``'s handler."""
    from bench.active import format_active, run_active
    from models.active import parse_strategies

    res = run_active(
        args.dataset,
        args.data_dir,
        parse_strategies(args.strategy),
        args.batch,
        args.budget,
        args.seed_size,
        args.test_dir,
        family,
        bcfg,
        opts,
        args.output,
    )
    print(format_active(res))
    print(f"written: {res['output']} and {res['plot']}  (MLflow run {res['run_id']})")
    return 0


def _webclean(args: argparse.Namespace) -> int:
    """Ingest webclean's text dumps and HTML and score them against its snippets."""
    from bench.webclean import run_webclean

    for d in filter(None, [args.data_dir, args.test_dir]):
        if not (Path(d) / "snippets.json").is_file():
            print(
                f"mediaframe {NAME}: error: {d}: no snippets.json (not a webclean folder)",
                file=sys.stderr,
            )
            return 2
    split = "test" if args.test_dir else "data"
    output = Path(args.output or f"bench/results/quality-webclean-ingest-{split}.json")
    run_webclean(Path(args.data_dir), Path(args.test_dir) if args.test_dir else None, output)
    print(f"written: {output}")
    return 0
