"""``mediaframe benchmark``: our models on a public dataset, judged by its own metric.

    mediaframe benchmark DATASET --data-dir DIR [--test-dir DIR]
                         [--family baseline|transformer] [--labels gold|weak|weak+gold]

The dataset's adapter (``bench.adapters``) turns its files into examples; the model is
trained by the training stage's own ``fit_bundle`` from the ``baseline`` / ``transformer``
sections of ``configs/bench/<dataset>.yaml`` (the same config models as
``configs/train_*.yaml``), then scored beside the trivial reference with bootstrap
intervals. ``--labels`` says what it trains on: the release's gold, the label model's
output over the training texts (``weak``, no gold), or the gold plus the weakly labelled
unlabelled texts of the release (``weak+gold``). One JSON result, one printed table, one
MLflow run in the experiment ``benchmark-<dataset>``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from pydantic import Field

from bench.adapters import get_adapter
from bench.adapters.base import (
    Adapter,
    AdapterOptions,
    BenchData,
    complement,
    concat_examples,
    strata_of,
    stratified_cut,
)
from bench.weak import WeakConfig, check_weak_task, unlabeled_examples, weak_examples
from models.base import ModelBundle
from models.data import Examples, TaskSpec, mark_weak
from models.embedding.config import EmbeddingConfig, StaticConfig
from models.ensemble.config import EnsembleConfig
from models.fewshot.config import SetFitConfig
from models.registry import family_names
from models.selection import CVPlan, CVResult, cross_validate
from models.smallgold.config import SelfTrainConfig, SmallGoldConfig, WeakGoldConfig
from models.twostage.config import TwoStageConfig
from pipelines import tracking
from pipelines.atomic import write_text
from pipelines.config import (
    BaselineConfig,
    ConfigError,
    Strict,
    TrainConfig,
    TransformerConfig,
    config_hash,
    load_config,
)
from pipelines.evaluate import Evaluation
from pipelines.system import machine, peak_rss_mb

FAMILIES = tuple(family_names())
LABELS = ("gold", "weak", "weak+gold")
RESULTS_DIR = Path("bench/results")


def model_name(family: str, labels: str) -> str:
    """The result's ``model`` key and file name; the runs that existed before ``--labels``
    keep their names (baseline, transformer, weak) so their JSON stays comparable."""
    if labels == "gold":
        return family
    if (family, labels) == ("baseline", "weak"):
        return "weak"
    return f"{family}-{labels}"


class CVConfig(Strict):
    """The repeated grouped cross-validation over the training release (``models.selection``)
    whose mean and spread the JSON's ``cv`` carries beside the fixed split's figure."""

    enabled: bool = True
    families: list[str] = Field(
        default_factory=lambda: ["baseline"],
        description="the families cross-validated; add transformer for its (costly) 3-fold pass",
    )
    k: int = Field(5, ge=2, description="folds per repeat")
    repeats: int = Field(3, ge=1, description="repeats, each its own shuffle")
    transformer_k: int = Field(3, ge=2, description="a fine-tuned family's budget: folds")
    transformer_repeats: int = Field(1, ge=1, description="... and repeats (one pass)")
    tune_fraction: float = Field(0.2, ge=0, lt=1, description="of each training fold, to tune")

    def plan(self, family: str, seed: int) -> CVPlan:
        if family == "transformer":
            return CVPlan(self.transformer_k, self.transformer_repeats, seed)
        return CVPlan(self.k, self.repeats, seed)


class BenchConfig(Strict):
    """``configs/bench/<dataset>.yaml``: the training sections plus the split and adapter."""

    seed: int = 13
    bootstrap: int = Field(1000, ge=0)
    dev_fraction: float = Field(0.2, gt=0, lt=1, description="fixed dev split of the pool")
    subsample: int | None = Field(
        None, ge=10, description="train on at most N (stratified) items: quick runs and tests"
    )
    adapter: dict[str, Any] = Field(default_factory=dict, description="the dataset's options")
    baseline: BaselineConfig = BaselineConfig()
    transformer: TransformerConfig = TransformerConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    static: StaticConfig = StaticConfig()
    twostage: TwoStageConfig = TwoStageConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    weakgold: WeakGoldConfig = WeakGoldConfig()
    selftrain: SelfTrainConfig = SelfTrainConfig()
    setfit: SetFitConfig = SetFitConfig()
    weak: WeakConfig = WeakConfig()
    cv: CVConfig = CVConfig()

    def train_config(self, spec: TaskSpec) -> TrainConfig:
        """The training stage's config for this run: same sections, same seed."""
        return TrainConfig(
            task="frames" if spec.kind == "multilabel" else "stance",
            seed=self.seed,
            bootstrap=self.bootstrap,
            # Every registered family's section, by its name: one more family, no edit here.
            **{family: getattr(self, family) for family in FAMILIES},
        )


def default_config_path(dataset: str) -> str:
    return f"configs/bench/{dataset}.yaml"


def load_bench_config(
    dataset: str, path: str | None = None, overrides: list[str] | None = None
) -> tuple[BenchConfig, AdapterOptions]:
    """The run's config (the dataset's YAML when it exists) and its validated adapter options."""
    adapter = get_adapter(dataset)
    path = path or default_config_path(dataset)
    cfg = load_config(BenchConfig, path if Path(path).exists() else None, overrides)
    try:
        opts = adapter.options(cfg.adapter)
    except Exception as exc:  # pydantic's message names the key
        raise ConfigError(f"{path}: key 'adapter': {exc}") from None
    # Every option, defaults included, so the logged config says what ran.
    cfg.adapter = opts.model_dump(mode="json")
    return cfg, opts


# ============================================================================ pieces
def subsample(ex: Examples, spec: TaskSpec, n: int | None, seed: int) -> Examples:
    """At most ``n`` training items, stratified like the dev split (dev never shrinks)."""
    if n is None or len(ex) <= n:
        return ex
    picked = stratified_cut(strata_of(ex, spec.kind), n / len(ex), seed)
    rng = np.random.default_rng(seed)
    if len(picked) > n:  # per-stratum rounding overshot: drop at random
        picked = rng.choice(picked, n, replace=False)
    elif len(picked) < n:  # or fell short: top up at random from the rest
        rest = complement(len(ex), picked)
        picked = np.concatenate([picked, rng.choice(rest, n - len(picked), replace=False)])
    return ex.subset(np.sort(picked))


def describe_model(family: str, labels: str, cfg: BenchConfig) -> str:
    """One line saying what was trained (the JSON's ``model_detail``)."""
    if family == "transformer":
        t = cfg.transformer
        how = "frozen encoder + linear head" if t.freeze_encoder else "fine-tuned"
        if t.pair_input == "siamese":
            how = (
                "frozen encoder, target and text encoded apart (cached by content hash) + "
                f"MLP head ({t.siamese_hidden} units) on [u, v, |u-v|, u*v] + similarity features"
            )
        elif t.span_tokens:
            how += " (span markers as new tokens)"
        detail = (
            f"{how}: {t.model_name_or_path}, {t.max_length} tokens ({t.long_text}), "
            f"up to {t.epochs} epochs"
        )
    elif family == "ensemble":
        ens = cfg.ensemble.with_members(cfg)
        detail = (
            f"TF-IDF baseline + {ens.member} ({describe_member(ens)}), calibrated "
            f"probabilities averaged, weight chosen by {ens.cv_folds}-fold out-of-fold CV "
            "on the training set"
        )
    elif family in ("weakgold", "selftrain"):
        sg = getattr(cfg, family).with_members(cfg)
        what = (
            f"weak rows' weight from {sg.weight_grid}"
            if family == "weakgold"
            else f"pseudo-labels at confidence {sg.thresholds}, 1-{sg.rounds} rounds"
        )
        detail = (
            f"{family} over {sg.member} ({describe_member(sg)}): {what}, chosen by "
            f"{sg.cv_folds}-fold CV on the gold rows only (gold alone allowed)"
        )
    elif family == "setfit":
        f = cfg.setfit
        detail = (
            f"SetFit: {f.model_name_or_path} fine-tuned contrastively ({f.num_iterations} pairs "
            f"per text, {f.num_epochs} epoch, {f.max_length} tokens) + logreg head"
        )
    elif family in ("embedding", "static"):
        e = getattr(cfg, family)
        detail = (
            f"frozen {e.encoder} encoder ({e.model_name_or_path}) over {e.max_tokens}-token "
            f"sentence chunks, {e.pooling}-pooled -> logreg (C by inner CV)"
        )
    elif family == "twostage":
        s = cfg.twostage
        detail = (
            f"stage 1 {s.stage1} on target-text similarity features (related at "
            f"P >= {s.relatedness_threshold}); stage 2 logreg (C={s.C}) on TF-IDF of "
            f"{'the target and ' if s.target_features else ''}the {s.top_k} body sentences "
            "nearest the target + the similarity features"
        )
    else:
        b = cfg.baseline
        feats = f"TF-IDF word 1-{b.ngram_max} grams" + (" + char 2-5" if b.char_ngrams else "")
        if b.similarity_features:
            feats += " + target-text similarity and refuting/hedging cues"
        detail = f"{feats} -> {b.classifier} (C={b.C})"
    w = cfg.weak
    lfs = "cue" + (" + embedding" if w.embedding_lf else "")
    if labels == "weak":
        detail += f" on {w.label_model} labels from {lfs} labeling functions (no gold)"
        if w.unlabeled:
            detail += f", training texts + {', '.join(w.unlabeled)}"
    elif labels == "weak+gold":
        detail += f" on gold + {w.label_model} labels ({lfs}) of {', '.join(w.unlabeled)}"
    return detail


def describe_member(ens: EnsembleConfig | SmallGoldConfig) -> str:
    m = getattr(ens, ens.member)
    if ens.member == "baseline":
        return f"TF-IDF word 1-{m.ngram_max} grams -> {m.classifier}"
    if ens.member == "transformer":
        return f"{m.model_name_or_path}, {m.max_length} tokens"
    return f"{m.encoder} {m.model_name_or_path}, {m.max_tokens}-token chunks, {m.pooling}"


def _flat(prefix: str, d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(f"{key}.", v))
        else:
            out[key] = v
    return out


# ============================================================================ the steps
def load_data(
    adapter: Adapter,
    data_dir: Path,
    test_dir: Path | None,
    cfg: BenchConfig,
    opts: AdapterOptions,
    family: str,
    labels: str,
) -> BenchData:
    """The dataset's training, tuning and scored sets, after ``subsample`` and the adapter's
    extra training examples; a run that cannot use weak labels fails here, before work."""
    data = adapter.load(data_dir, test_dir, opts, cfg.dev_fraction, cfg.seed)
    data.train = subsample(data.train, data.spec, cfg.subsample, cfg.seed)
    dev_sets = list(data.scored.values()) if data.split == "dev" else []
    left = [data.left_out] if data.left_out is not None else []
    data.cv_pool = concat_examples([data.train, data.tuning, *dev_sets, *left])
    n_items = len(data.train)
    data.train = adapter.extra_train(data.train, data_dir, opts, family)
    if len(data.train) > n_items:  # n_train counts examples; say how many were extra
        data.notes["extra_train_examples"] = len(data.train) - n_items
    if labels != "gold":
        check_weak_task(data.spec)
    if labels == "weak+gold" and not cfg.weak.unlabeled:
        raise ValueError("--labels weak+gold needs unlabelled texts: set weak.unlabeled")
    return data


def weak_training_set(data: BenchData, data_dir: Path, labels: str, wcfg: WeakConfig) -> None:
    """Swap in the weakly labelled training (and, for ``weak``, tuning) examples.

    ``weak`` reads no gold from the training release: train and tuning both carry weak
    labels, only the scored sets keep their gold. ``weak+gold`` keeps the gold training
    and tuning sets and adds the weakly labelled unlabelled texts to training.
    """
    extra = unlabeled_examples(data_dir, wcfg.unlabeled, data.spec)
    if labels == "weak":
        pool = concat_examples([data.train, extra]) if len(extra) else data.train
        data.train = weak_examples(pool, data.spec, wcfg)
        data.tuning = weak_examples(data.tuning, data.spec, wcfg)
        return
    weak = mark_weak(weak_examples(extra, data.spec, wcfg))  # weakgold/selftrain tell them
    gold = data.train
    if weak.weights is not None and gold.weights is None:  # gold counts fully
        gold = Examples(gold.ids, gold.texts, gold.y, gold.targets, np.ones(len(gold)), gold.groups)
    data.train = concat_examples([gold, weak])


@dataclass
class Trained:
    bundle: ModelBundle
    n_train: int
    train_seconds: float
    label_seconds: float


def train(
    adapter: Adapter,
    data: BenchData,
    data_dir: Path,
    family: str,
    labels: str,
    cfg: BenchConfig,
) -> Trained:
    """Label (weak runs) and fit; the training time includes the labelling."""
    t0 = time.perf_counter()
    gold_train = data.train
    label_seconds = 0.0
    if labels != "gold":
        weak_training_set(data, data_dir, labels, cfg.weak)
        label_seconds = time.perf_counter() - t0

    def log(metrics: dict[str, float], step: int) -> None:
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)}, step=step)

    bundle = adapter.fit(data, family, cfg.train_config(data.spec), log=log)
    train_seconds = time.perf_counter() - t0
    # The trivial reference reads the release's own train labels, so every model of a
    # dataset is compared with the same one (weak included; it never trained on them).
    data.train, n_train = gold_train, len(data.train)
    return Trained(bundle, n_train, train_seconds, label_seconds)


def score(
    adapter: Adapter, bundle: ModelBundle, data: BenchData, cfg: BenchConfig
) -> tuple[dict[str, Evaluation], float]:
    """Each scored set's evaluation, and the seconds spent predicting them."""
    predict_seconds = 0.0
    evals = {}
    for name, ex in data.scored.items():
        t1 = time.perf_counter()
        probs = bundle.predict_proba(ex.texts, ex.targets)
        predict_seconds += time.perf_counter() - t1
        evals[name] = adapter.evaluate(bundle, data, name, probs, cfg.bootstrap, cfg.seed)
    return evals, predict_seconds


def cross_validation(
    adapter: Adapter,
    data: BenchData,
    data_dir: Path,
    family: str,
    labels: str,
    cfg: BenchConfig,
) -> CVResult | None:
    """Repeated grouped CV of this (family, labels) over the training release's gold
    (``data.cv_pool``), scored with the dataset's own metrics, the trivial reference on
    the same folds. Weak labels only ever train: ``weak`` swaps each training fold's and
    tuning cut's labels for the label model's, ``weak+gold`` adds the weakly labelled
    unlabelled texts; the scoring folds keep their gold."""
    if not cfg.cv.enabled or family not in cfg.cv.families or data.cv_pool is None:
        return None
    pool, spec = data.cv_pool, data.spec
    weak_of: dict[str, int] = {}
    weak_pool: Examples | None = None
    extra: Examples | None = None
    if labels != "gold":
        unl = unlabeled_examples(data_dir, cfg.weak.unlabeled, spec)
        if labels == "weak":
            weak_pool = weak_examples(pool, spec, cfg.weak)
            weak_of = {i: j for j, i in enumerate(weak_pool.ids)}
        if len(unl):
            extra = mark_weak(weak_examples(unl, spec, cfg.weak))
    tcfg = cfg.train_config(spec)
    opts = adapter.options(cfg.adapter)

    def relabel(ex: Examples) -> Examples:
        if weak_pool is None or not len(ex):
            return ex
        return weak_pool.subset([weak_of[i] for i in ex.ids])

    def fit(train: Examples, tune: Examples) -> ModelBundle:
        gold_ids = {i for i in train.ids if i in weak_of} if weak_pool is not None else set()
        if weak_pool is not None:  # the pool's items, relabelled; the extras already are
            own = [k for k, i in enumerate(train.ids) if i in gold_ids]
            rest = [k for k, i in enumerate(train.ids) if i not in gold_ids]
            parts = [relabel(train.subset(own))] + ([train.subset(rest)] if rest else [])
            train = _same_fields(parts)
            tune = relabel(tune)
        train = adapter.extra_train(train, data_dir, opts, family)
        bd = BenchData(spec, train, tune, {}, data.split)
        return adapter.fit(bd, family, tcfg)

    refs: dict[str, float] = {}

    def score(bundle: ModelBundle, test: Examples, train: Examples) -> dict[str, float]:
        bd = BenchData(spec, train, test, {"": test}, data.split)
        probs = bundle.predict_proba(test.texts, test.targets)
        with warnings.catch_warnings():  # a fold lacks some labels: NaN, counted as 0
            warnings.simplefilter("ignore")
            ev = adapter.evaluate(bundle, bd, "", probs, 0, cfg.seed)
        refs.clear()
        refs.update({m: float(ev.reference.get(m, math.nan)) for m in adapter.metrics})
        return {m: float(ev.metrics.get(m, math.nan)) for m in adapter.metrics}

    return cross_validate(
        pool,
        spec,
        fit,
        score,
        trivial=lambda _train, _test: dict(refs),  # the evaluation's own, same fold
        plan=cfg.cv.plan(family, cfg.seed),
        extra=extra,
        tune_fraction=cfg.cv.tune_fraction,
        metrics=cv_metrics(adapter),
        second_groups=adapter.second_groups(pool),
        scoring_set=adapter.cv_scoring_set(pool, opts),
    )


def _cv_extent(adapter: Adapter, data: BenchData) -> dict[str, Any]:
    """How many items the CV ran over and what its folds keep apart (``group_key``)."""
    return {"n": len(data.cv_pool or []), "group_key": adapter.group_key}


def cv_metrics(adapter: Adapter) -> tuple[str, ...]:
    """The dataset's metrics, the primary one's base name first (newsmtsc's
    ``macro_f1_rw`` is ``macro_f1`` on one set)."""
    base = next((m for m in adapter.metrics if adapter.primary_metric.startswith(m)), None)
    first = base or adapter.metrics[0]
    return (first, *[m for m in adapter.metrics if m != first])


def _same_fields(parts: list[Examples]) -> Examples:
    """Concatenate examples whose optional fields may differ (weights, groups)."""
    parts = [p for p in parts if len(p)]
    if len(parts) == 1:
        return parts[0]
    if any(p.weights is not None for p in parts):
        parts = [
            p
            if p.weights is not None
            else Examples(p.ids, p.texts, p.y, p.targets, np.ones(len(p)), p.groups)
            for p in parts
        ]
    return concat_examples(parts)


@dataclass
class Run:
    """What one benchmark run is: the names its result, run and file are keyed by."""

    dataset: str
    family: str
    labels: str
    split: str

    @property
    def model(self) -> str:
        return model_name(self.family, self.labels)


def summarize(
    run: Run,
    adapter: Adapter,
    data: BenchData,
    cfg: BenchConfig,
    fit: Trained,
    evals: dict[str, Evaluation],
    predict_seconds: float,
    load_start: float,
    cv: CVResult | None = None,
) -> dict[str, Any]:
    """The JSON result; its keys are those of every earlier result in bench/results, and
    ``cv`` (k, repeats, mean, sd per metric, the trivial's and the folds) when run."""
    metrics, ci, trivial = adapter.summarize(evals)
    return {
        "dataset": run.dataset,
        "model": run.model,
        "family": run.family,
        "labels": run.labels,
        "split": run.split,
        "metrics": metrics,
        "primary_metric": adapter.primary_metric,
        "ci95": ci,
        "trivial": trivial,
        "n_train": fit.n_train,
        "n_tune": len(data.tuning),
        "n_test": sum(len(e) for e in data.scored.values()),
        "subsample": cfg.subsample,
        "train_seconds": round(fit.train_seconds, 2),
        "label_seconds": round(fit.label_seconds, 2),
        "predict_seconds": round(predict_seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "model_detail": describe_model(run.family, run.labels, cfg),
        # what ran: "fine-tuned", "frozen-encoder head" or "frozen-encoder siamese head"
        **({"transformer_mode": fit.bundle.model.mode} if run.family == "transformer" else {}),
        "anchor": adapter.anchor,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            **machine(),
            "load_avg_1m_start": load_start,
            "load_avg_1m_end": round(os.getloadavg()[0], 2),
        },
        "config": cfg.model_dump(mode="json"),
        **({"notes": data.notes} if data.notes else {}),
        **({"cv": {**cv.to_json(), **_cv_extent(adapter, data)}} if cv is not None else {}),
    }


def log_params(run: Run, cfg: BenchConfig, data_dir: Path, test_dir: Path | None) -> None:
    """The run's parameters: the config sections this family and these labels read."""
    used = {run.family} | ({"weak"} if run.labels != "gold" else set())
    unused = {"baseline", "transformer", "weak"} - used
    flat = _flat("", cfg.model_dump(mode="json"))
    mlflow.log_params(
        {
            "dataset": run.dataset,
            "model": run.model,
            "family": run.family,
            "labels": run.labels,
            "split": run.split,
            "data_dir": str(data_dir),
            "test_dir": str(test_dir) if test_dir else "",
            **{k: v for k, v in flat.items() if k.split(".")[0] not in unused},
        }
    )
    mlflow.log_dict(cfg.model_dump(mode="json"), "config.yaml")
    mlflow.set_tag("mediaframe.config_hash", config_hash(cfg))


def log_result(result: dict[str, Any], evals: dict[str, Evaluation]) -> None:
    """Metrics, intervals and references as MLflow metrics; tables and JSON as artifacts."""
    metrics, ci, trivial = result["metrics"], result["ci95"], result["trivial"]
    mlflow.log_metrics(
        {
            **{k: v for k, v in metrics.items() if not math.isnan(v)},
            **{f"{k}_ci_low": v[0] for k, v in ci.items()},
            **{f"{k}_ci_high": v[1] for k, v in ci.items()},
            **{f"trivial_{k}": v for k, v in trivial.items() if not math.isnan(v)},
            "n_train": result["n_train"],
            "n_test": result["n_test"],
            "train_seconds": result["train_seconds"],
            "predict_seconds": result["predict_seconds"],
            "peak_rss_mb": result["peak_rss_mb"],
            **{f"cv_mean_{k}": v for k, v in result.get("cv", {}).get("mean", {}).items()},
            **{f"cv_sd_{k}": v for k, v in result.get("cv", {}).get("sd", {}).items()},
        }
    )
    for name, ev in evals.items():
        for table, df in ev.tables.items():
            mlflow.log_text(df.to_csv(index=False), f"evaluation/{name or 'eval'}_{table}.csv")
    mlflow.log_dict(result, "benchmark.json")


# ============================================================================ the run
def run_benchmark(
    dataset: str,
    data_dir: str | Path,
    test_dir: str | Path | None = None,
    family: str = "baseline",
    labels: str = "gold",
    cfg: BenchConfig | None = None,
    opts: AdapterOptions | None = None,
    output: str | Path | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Load, train, score, summarize and log one (dataset, family, labels, split); returns
    the JSON result, also written to ``output``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {list(FAMILIES)}")
    if labels not in LABELS:
        raise ValueError(f"unknown labels {labels!r}; use one of {list(LABELS)}")
    adapter = get_adapter(dataset)
    if cfg is None:
        cfg, opts = load_bench_config(dataset, config_path)
    opts = opts or adapter.options(cfg.adapter)
    data_path, test_path = Path(data_dir), Path(test_dir) if test_dir else None
    data = load_data(adapter, data_path, test_path, cfg, opts, family, labels)
    load_start = round(os.getloadavg()[0], 2)  # the cores are often shared: say how busy
    run = Run(dataset, family, labels, data.split)
    tags = tracking.base_tags("benchmark", dataset, run.model)
    tags["mediaframe.split"] = run.split
    name = f"{dataset}-{run.model}-{run.split}"
    with tracking.stage_run(f"benchmark-{dataset}", name, tags) as mlrun:
        log_params(run, cfg, data_path, test_path)
        if config_path:
            mlflow.set_tag("mediaframe.config_path", config_path)
        fit = train(adapter, data, data_path, family, labels, cfg)
        evals, predict_seconds = score(adapter, fit.bundle, data, cfg)
        cv = cross_validation(adapter, data, data_path, family, labels, cfg)
        result = summarize(run, adapter, data, cfg, fit, evals, predict_seconds, load_start, cv)
        result["run_id"] = mlrun.info.run_id
        log_result(result, evals)
    out = Path(output) if output else RESULTS_DIR / f"quality-{name}.json"
    write_text(json.dumps(result, indent=1, default=str), out)
    result["output"] = str(out)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The printed summary: one row per metric, ours beside the trivial reference."""
    import pandas as pd

    rows = []
    cv = result.get("cv")
    for k, v in result["metrics"].items():
        lo_hi = result["ci95"].get(k)
        row = {
            "metric": k + (" (primary)" if k == result["primary_metric"] else ""),
            result["model"]: round(v, 4),
            "ci95": f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else "",
            "trivial": round(result["trivial"][k], 4) if k in result["trivial"] else "",
        }
        if cv:
            base = next((m for m in cv["mean"] if k == m or k.startswith(f"{m}_")), None)
            row[f"cv {cv['k']}x{cv['repeats']} mean ± sd"] = (
                f"{cv['mean'][base]:.4f} ± {cv['sd'][base]:.4f}" if base else ""
            )
            row["cv trivial"] = round(cv["trivial"]["mean"][base], 4) if base else ""
        rows.append(row)
    extra = result.get("notes", {}).get("extra_train_examples", 0)
    n_train = f"{result['n_train']}" + (
        f" ({result['n_train'] - extra} + {extra} extra)" if extra else ""
    )
    head = (
        f"{result['dataset']} / {result['model']} on {result['split']} "
        f"(n_train={n_train}, n_test={result['n_test']}, "
        f"train {result['train_seconds']:.1f}s, predict {result['predict_seconds']:.1f}s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB)"
    )
    anchor = f"published: {result['anchor']}" if result.get("anchor") else ""
    return "\n".join(x for x in (head, pd.DataFrame(rows).to_string(index=False), anchor) if x)
