"""``mediaframe benchmark DATASET --curve 25,50,100,200,all``: a learning curve.

How good is a family with N gold documents? For each budget N, three seeded draws of N
documents from the training release (stratified; the tuning cut is taken out of the N,
so "N gold" means N labels used in all), one fit per draw, each scored on the benchmark's
scored split (dev, or the test files with ``--test-dir``, exactly as a plain run). With
``--labels weak+gold`` the release's undrawn training texts (and ``weak.unlabeled``) are
weakly labelled and added, as the unlabelled corpus a user has beside N labels; ``weak``
trains on weak labels alone (the N drawn documents only give the tuning cut's texts).
The weakly labelled rows are marked (``models.data.mark_weak``): ``--family weakgold``
weighs them and ``--family selftrain`` pseudo-labels them, each by a CV on the drawn gold.

The JSON is issue #21's shape, one entry per point and draw::

    {"dataset", "split", "primary_metric",
     "curve": [{"gold": N | "all", "family", "labels", "seed", "metrics": {...}}, ...]}

The plot (mean and spread of the draws, the trivial reference) goes to ``bench/results``
and, with the JSON, to an MLflow run ``DATASET-MODEL-SPLIT-curve``.
"""

from __future__ import annotations

import io
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from bench.adapters import get_adapter
from bench.adapters.base import AdapterOptions, BenchData, concat_examples
from bench.benchmark import (
    FAMILIES,
    LABELS,
    RESULTS_DIR,
    BenchConfig,
    _same_fields,
    load_bench_config,
    model_name,
    subsample,
)
from bench.weak import check_weak_task, unlabeled_examples, weak_examples
from models.data import Examples, TaskSpec, mark_weak
from models.selection import tuning_cut
from pipelines import tracking
from pipelines.atomic import write_text

DRAWS = 3


def parse_points(text: str) -> list[int | str]:
    """``25,50,100,200,all`` -> [25, 50, 100, 200, "all"]; one clear error otherwise."""
    points: list[int | str] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "all":
            points.append("all")
        elif part.isdigit() and int(part) >= 4:
            points.append(int(part))
        else:
            raise ValueError(
                f"--curve {text}: {part!r} is not a gold budget (an integer >= 4, or 'all')"
            )
    if not points:
        raise ValueError("--curve needs at least one budget, e.g. 25,50,100,all")
    return points


def _weak_lookup(
    pool: Examples, spec: TaskSpec, data_dir: Path, labels: str, cfg: BenchConfig
) -> tuple[Examples | None, Examples | None]:
    """(weak labels of the pool's texts, weakly labelled ``weak.unlabeled``), once: the
    label model reads no gold, so one labelling serves every draw."""
    if labels == "gold":
        return None, None
    check_weak_task(spec)
    unl = unlabeled_examples(data_dir, cfg.weak.unlabeled, spec)
    extra = weak_examples(unl, spec, cfg.weak) if len(unl) else None
    return weak_examples(pool, spec, cfg.weak), extra


def draw_training_set(
    pool: Examples,
    weak_pool: Examples | None,
    weak_extra: Examples | None,
    drawn: np.ndarray,
    labels: str,
    kind: str,
    fraction: float,
    seed: int,
) -> tuple[Examples, Examples]:
    """(training set, tuning cut) of one draw: the tuning cut comes out of the drawn gold."""
    gold = pool.subset(drawn)
    tune_idx = tuning_cut(gold, kind, fraction, seed)
    keep = np.setdiff1d(np.arange(len(gold)), tune_idx)
    train, tune = gold.subset(keep), gold.subset(tune_idx)
    if labels == "gold":
        return train, tune
    assert weak_pool is not None
    tune_ids = set(tune.ids)
    if labels == "weak":  # no gold trains; the tuning cut is weakly labelled too
        rest = [i for i, x in enumerate(weak_pool.ids) if x not in tune_ids]
        parts = [weak_pool.subset(rest)] + ([weak_extra] if weak_extra is not None else [])
        tune = weak_pool.subset([weak_pool.ids.index(x) for x in tune.ids])
        return _same_fields(parts), tune
    undrawn = np.setdiff1d(np.arange(len(pool)), drawn)  # the user's unlabelled corpus
    # Marked weak, so the small-gold learners (weakgold, selftrain) can tell them apart.
    parts = [train, mark_weak(weak_pool.subset(undrawn))]
    parts += [mark_weak(weak_extra)] if weak_extra is not None else []
    return _same_fields(parts), tune


def run_curve(
    dataset: str,
    data_dir: str | Path,
    points: list[int | str],
    test_dir: str | Path | None = None,
    family: str = "baseline",
    labels: str = "gold",
    cfg: BenchConfig | None = None,
    opts: AdapterOptions | None = None,
    output: str | Path | None = None,
    draws: int = DRAWS,
) -> dict[str, Any]:
    """Every (budget, draw) fitted and scored; the JSON written, the plot drawn, both
    logged. Returns the JSON with ``output`` and ``plot`` paths added."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {list(FAMILIES)}")
    if labels not in LABELS:
        raise ValueError(f"unknown labels {labels!r}; use one of {list(LABELS)}")
    adapter = get_adapter(dataset)
    if cfg is None:
        cfg, opts = load_bench_config(dataset)
    opts = opts or adapter.options(cfg.adapter)
    data_path = Path(data_dir)
    test_path = Path(test_dir) if test_dir else None
    data = adapter.load(data_path, test_path, opts, cfg.dev_fraction, cfg.seed)
    pool = concat_examples([data.train, data.tuning])  # the release's gold, scored set apart
    spec = data.spec
    weak_pool, weak_extra = _weak_lookup(pool, spec, data_path, labels, cfg)
    tcfg = cfg.train_config(spec)
    model = model_name(family, labels)
    name = f"{dataset}-{model}-{data.split}-curve"
    entries: list[dict[str, Any]] = []
    trivial: list[dict[str, float]] = []
    tags = {**tracking.base_tags("benchmark", dataset, model), "mediaframe.split": data.split}
    with tracking.stage_run(f"benchmark-{dataset}", name, tags) as mlrun:
        mlflow.log_params(
            {
                "dataset": dataset,
                "family": family,
                "labels": labels,
                "split": data.split,
                "curve": ",".join(map(str, points)),
                "draws": draws,
                "n_pool": len(pool),
            }
        )
        for point in points:
            n = _n(point, pool)
            for d in range(draws):
                seed = cfg.seed + d
                t0 = time.perf_counter()
                drawn = np.asarray(
                    [pool.ids.index(i) for i in subsample(pool, spec, n, seed).ids], dtype=int
                )
                train, tune = draw_training_set(
                    pool, weak_pool, weak_extra, drawn, labels, spec.kind, cfg.dev_fraction, seed
                )
                train = adapter.extra_train(train, data_path, opts, family)
                fit_cfg = tcfg.model_copy(update={"seed": seed})
                bundle = adapter.fit(BenchData(spec, train, tune, {}, data.split), family, fit_cfg)
                gold_train = pool.subset(drawn)  # the trivial reference reads the drawn gold
                evals = {}
                for set_name, ex in data.scored.items():
                    probs = bundle.predict_proba(ex.texts, ex.targets)
                    bd = BenchData(spec, gold_train, tune, data.scored, data.split)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        evals[set_name] = adapter.evaluate(bundle, bd, set_name, probs, 0, seed)
                metrics, _, ref = adapter.summarize(evals)
                entry = {
                    "gold": point,
                    "family": family,
                    "labels": labels,
                    "seed": seed,
                    "metrics": metrics,
                }
                chosen = bundle.info.get("smallgold")  # what a small-gold learner chose
                if chosen:
                    entry["choice"] = {k: chosen[k] for k in ("choice", "extra_rows_used")}
                entries.append(entry)
                trivial.append(ref)
                print(
                    f"curve {dataset} {model}: gold={point} (n={n}) seed={seed} "
                    f"{adapter.primary_metric}={metrics[adapter.primary_metric]:.4f} "
                    + (f"[{chosen['choice']}] " if chosen else "")
                    + f"({time.perf_counter() - t0:.1f}s)",
                    flush=True,
                )
        result = {
            "dataset": dataset,
            "split": data.split,
            "primary_metric": adapter.primary_metric,
            "curve": entries,
        }
        summary = summarize_curve(result, pool_size=len(pool))
        for row in summary:
            step = row["n"]
            mlflow.log_metrics(
                {
                    f"curve_{adapter.primary_metric}_mean": row["mean"],
                    f"curve_{adapter.primary_metric}_sd": row["sd"],
                },
                step=step,
            )
        triv = float(np.mean([t.get(adapter.primary_metric, math.nan) for t in trivial]))
        png = plot_curve(summary, result, model, triv)
        out = Path(output) if output else RESULTS_DIR / f"curve-{dataset}-{model}-{data.split}.json"
        plot_path = out.with_suffix(".png")
        write_text(json.dumps(result, indent=1, default=str), out)
        plot_path.write_bytes(png)
        mlflow.log_dict(result, "curve.json")
        mlflow.log_artifact(str(plot_path), "plots")
        mlflow.log_text(format_curve(summary, result, triv), "curve.txt")
    return {
        **result,
        "output": str(out),
        "plot": str(plot_path),
        "run_id": mlrun.info.run_id,
        "summary": summary,
        "trivial": triv,
    }


def _n(point: int | str, pool: Examples) -> int:
    return len(pool) if point == "all" else min(int(point), len(pool))


def summarize_curve(result: dict[str, Any], pool_size: int) -> list[dict[str, Any]]:
    """Per budget: documents used, mean, sd, min and max of the primary metric over draws."""
    metric = result["primary_metric"]
    rows = []
    for point in dict.fromkeys(e["gold"] for e in result["curve"]):
        vals = np.asarray(
            [e["metrics"][metric] for e in result["curve"] if e["gold"] == point], dtype=float
        )
        n = pool_size if point == "all" else min(int(point), pool_size)
        rows.append(
            {
                "gold": point,
                "n": n,
                "mean": float(vals.mean()),
                "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                "min": float(vals.min()),
                "max": float(vals.max()),
                "draws": len(vals),
            }
        )
    return rows


def plot_curve(
    summary: list[dict[str, Any]], result: dict[str, Any], model: str, trivial: float
) -> bytes:
    """The curve as PNG bytes: mean with a min-max band and sd bars, the trivial dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["n"] for r in summary]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.fill_between(xs, [r["min"] for r in summary], [r["max"] for r in summary], alpha=0.2)
    ax.errorbar(
        xs,
        [r["mean"] for r in summary],
        yerr=[r["sd"] for r in summary],
        marker="o",
        capsize=3,
        label=f"{model} (mean of {summary[0]['draws']} draws, ± sd)",
    )
    if not math.isnan(trivial):
        ax.axhline(trivial, ls="--", color="grey", label=f"trivial reference {trivial:.3f}")
    low = min([r["min"] for r in summary] + ([trivial] if not math.isnan(trivial) else []))
    ax.set_ylim(bottom=max(0.0, low - 0.03))
    ax.set_xscale("log")
    ax.set_xticks(
        xs, [f"{r['gold']}" if r["gold"] != "all" else f"all ({r['n']})" for r in summary]
    )
    ax.minorticks_off()
    ax.set_xlabel("gold documents used (training + tuning)")
    ax.set_ylabel(result["primary_metric"])
    ax.set_title(f"{result['dataset']}: learning curve on {result['split']}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def format_curve(summary: list[dict[str, Any]], result: dict[str, Any], trivial: float) -> str:
    """The printed table: one row per budget."""
    head = f"{result['dataset']} learning curve on {result['split']} ({result['primary_metric']})"
    lines = [head, f"{'gold':>6} {'n':>5} {'mean':>7} {'sd':>7} {'min':>7} {'max':>7}"]
    for r in summary:
        lines.append(
            f"{r['gold']!s:>6} {r['n']:>5} {r['mean']:7.4f} {r['sd']:7.4f} "
            f"{r['min']:7.4f} {r['max']:7.4f}"
        )
    lines.append(f"trivial reference (mean over draws): {trivial:.4f}")
    return "\n".join(lines)
