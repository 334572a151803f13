"""The adapter base: each public benchmark's files mapped onto the models' data contract.

An adapter knows one release's file names, columns and label coding, and nothing else:
it yields ``Examples`` (ids, texts, optional targets, labels) under a ``TaskSpec``, so the
same model classes and training code as ``mediaframe train`` run on it, with nothing about
the dataset inside ``models/``. It also says which metrics the dataset is judged by and
how its labelled pool is cut into a fixed dev split. A dataset's adapter is a module
of this package and one entry in its ``ADAPTERS``.

The split policy lives here once, for every dataset (``Adapter.load``):

- dev run (no test directory): the pool is cut into fit + dev; fit is cut again into
  train + tune. Early stopping, calibration and thresholds use tune; dev is scored only.
- test run: train on fit, tune on dev (the same fixed dev split), score the test files.

So a dev figure is never tuned on the items it is scored on, and the test run uses the
same dev split the dev figures were reported beside.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from models.base import MetricLogger, ModelBundle
from models.data import Examples, TaskSpec
from models.training import TaskData
from pipelines.config import Strict, TrainConfig
from pipelines.evaluate import Evaluation
from pipelines.train import evaluate_bundle, fit_with_progress


class DatasetError(ValueError):
    """A dataset file that cannot be read as its release defines it; names file, row, field."""


# ============================================================================ containers
@dataclass
class BenchData:
    """What one benchmark run trains, tunes and scores on."""

    spec: TaskSpec
    train: Examples
    tuning: Examples  # a cut kept out of training: early stopping, temperature, thresholds
    scored: dict[str, Examples]  # what the figures are on; "" when one set, else e.g. rw/mt
    split: Literal["dev", "test"]
    notes: dict[str, Any] = field(default_factory=dict)
    # The gold items of the training release the cross-validation runs over (set by
    # ``bench.benchmark.load_data``): train + tuning, and the dev sets of a dev run.
    cv_pool: Examples | None = None
    # Items of the release neither fitted on nor scored because the dev split keeps two
    # keys apart (FNC-1: a train body paired with a dev headline); the CV still reads them.
    left_out: Examples | None = None

    def task_data(self, name: str | None = None) -> TaskData:
        """The training stage's container: its ``dev`` is the tuning cut and its ``test`` one
        scored set (none when fitting: NewsMTSC's scored sets rw and mt have no "")."""
        test = self.scored[name] if name is not None else self.train.subset([])
        return TaskData(self.spec, self.train, self.tuning, test)


class AdapterOptions(Strict):
    """Options every adapter takes; a dataset's own options subclass this."""


@dataclass(frozen=True)
class DevCut:
    """Where a dataset's fixed dev split comes from: its release, options, size and seed."""

    data_dir: Path
    opts: AdapterOptions
    fraction: float
    seed: int


# ============================================================================ helpers
def read_csv_rows(path: Path, required: list[str]) -> list[dict[str, str]]:
    """All rows of a CSV as dicts, after checking the header names every required column."""
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {missing}; found {reader.fieldnames}")
        return list(reader)


def strata_of(ex: Examples, kind: str) -> list[str]:
    """One stratum per item: the class, or (multi-label) the item's rarest label.

    Stratifying multi-label items by their rarest label keeps every rare frame in both
    parts, which a random cut of a few hundred articles often does not.
    """
    if kind == "multiclass":
        return [str(int(v)) for v in ex.y]
    freq = ex.y.sum(axis=0)
    out = []
    for row in ex.y:
        on = np.nonzero(row)[0]
        out.append(str(int(on[np.argmin(freq[on])])) if len(on) else "none")
    return out


def stratified_cut(strata: list[str], fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded, stratified ``fraction`` of the items (at least one per stratum
    that has two or more items), sorted; the same inputs always give the same cut."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        by.setdefault(s, []).append(i)
    picked: list[int] = []
    for s in sorted(by):
        idx = np.asarray(by[s])
        rng.shuffle(idx)
        k = round(len(idx) * fraction)
        if k == 0 and len(idx) >= 2:
            k = 1
        picked.extend(int(i) for i in idx[:k])
    return np.asarray(sorted(picked), dtype=int)


def group_cut(groups: list[str], fraction: float, seed: int) -> np.ndarray:
    """Indices of all items of a seeded ``fraction`` of the groups (e.g. FNC-1 Body IDs),
    so no group is on both sides of the cut."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    chosen = set(names[: max(1, round(len(names) * fraction))])
    return np.asarray([i for i, g in enumerate(groups) if g in chosen], dtype=int)


def complement(n: int, idx: np.ndarray) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[idx] = False
    return np.nonzero(mask)[0]


# ============================================================================ base class
class Adapter:
    """One dataset. Subclasses set the class attributes and implement the readers.

    ``metrics`` are the base metric names taken from the evaluation; a dataset with
    several scored sets (``scored`` keys other than "") reports ``<metric>_<set>``.
    """

    name: ClassVar[str]
    primary_metric: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    anchor: ClassVar[str] = ""  # the published figure to put beside ours
    test_files: ClassVar[tuple[str, ...]] = ()  # release file names in --test-dir
    # What ``Examples.groups`` holds: the unit the dev split and the CV folds never
    # straddle ("item" when each item is its own group and ``groups`` is None).
    group_key: ClassVar[str] = "item"
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions
    # The dataset's own metrics of (gold, predicted) labels beyond the standard ones.
    extra_metrics: ClassVar[dict[str, Callable[[list[str], list[str]], float]]] = {}

    def options(self, raw: dict[str, Any] | None) -> AdapterOptions:
        return self.Options.model_validate(raw or {})

    # ------------------------------------------------------------------ to implement
    def spec(self, opts: AdapterOptions) -> TaskSpec:
        raise NotImplementedError

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        """Every labelled item of the training release in ``data_dir``."""
        raise NotImplementedError

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        """The held-out release in ``test_dir`` by scored-set name ("" for a single set)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ overridable
    def extra_train(
        self, train: Examples, data_dir: Path, opts: AdapterOptions, family: str
    ) -> Examples:
        """More training examples drawn from the training items' other fields; none by
        default. Only the training part grows: the tuning cut and the scored sets keep the
        configured input, so thresholds and figures are about what is scored."""
        return train

    def second_groups(self, pool: Examples) -> list[str] | None:
        """A second group key per item, from the same names as ``pool.groups``, that must
        not straddle either (``models.selection.make_folds``' ``second``); none by default."""
        return None

    def cv_scoring_set(
        self, pool: Examples, opts: AdapterOptions
    ) -> Callable[[Examples, int], Examples] | None:
        """What each CV scoring fold of ``pool`` becomes before it is scored
        (``models.selection.cross_validate``' ``scoring_set``); the fold as it is by default."""
        return None

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """The fixed dev split of the pool: stratified and seeded (override for groups)."""
        return stratified_cut(strata_of(pool, spec.kind), fraction, seed)

    def split_dev(
        self, pool: Examples, spec: TaskSpec, cut: DevCut
    ) -> tuple[Examples, dict[str, Examples]]:
        """(what is left to fit on, the fixed dev sets): by default a cut of the pool."""
        dev = self.dev_indices(pool, spec, cut.fraction, cut.seed)
        return pool.subset(complement(len(pool), dev)), {"": pool.subset(dev)}

    def load(
        self,
        data_dir: Path,
        test_dir: Path | None,
        opts: AdapterOptions,
        dev_fraction: float,
        seed: int,
    ) -> BenchData:
        spec = self.spec(opts)
        pool = self.read_pool(Path(data_dir), opts)
        if len(pool) == 0:
            raise DatasetError(f"{data_dir}: no labelled items for {self.name}")
        fit, dev = self.split_dev(pool, spec, DevCut(Path(data_dir), opts, dev_fraction, seed))
        used = set(fit.ids) | {i for d in dev.values() for i in d.ids}
        rest = [k for k, i in enumerate(pool.ids) if i not in used]
        left_out = pool.subset(rest) if rest else None
        notes = {"left_out_by_split": len(rest)} if rest else {}
        if test_dir is not None:
            tuning = dev[""] if list(dev) == [""] else concat_examples(list(dev.values()))
            tests = self.read_tests(Path(test_dir), opts)
            return BenchData(spec, fit, tuning, tests, "test", notes, left_out=left_out)
        tune = self.dev_indices(fit, spec, dev_fraction, seed + 1)
        train, tuning = fit.subset(complement(len(fit), tune)), fit.subset(tune)
        return BenchData(spec, train, tuning, dev, "dev", notes, left_out=left_out)

    def fit(
        self, data: BenchData, family: str, cfg: TrainConfig, log: MetricLogger | None = None
    ) -> ModelBundle:
        """Train exactly as ``mediaframe train`` does (override only for a custom model)."""
        return fit_with_progress(data.task_data(), family, cfg, log=log)

    def evaluate(
        self,
        bundle: ModelBundle,
        data: BenchData,
        name: str,
        probs: np.ndarray,
        n_boot: int,
        seed: int,
    ) -> Evaluation:
        ev, _ = evaluate_bundle(
            bundle,
            data.task_data(name),
            "test",
            n_boot,
            seed,
            probs=probs,
            extra_metrics=self.extra_metrics,
        )
        return ev

    def summarize(
        self, evals: dict[str, Evaluation]
    ) -> tuple[dict[str, float], dict[str, list[float]], dict[str, float]]:
        """(metrics, ci95, trivial reference) under this dataset's metric keys."""
        metrics: dict[str, float] = {}
        ci: dict[str, list[float]] = {}
        ref: dict[str, float] = {}
        for set_name, ev in evals.items():
            for m in self.metrics:
                key = f"{m}_{set_name}" if set_name else m
                metrics[key] = float(ev.metrics.get(m, math.nan))
                lo, hi = ev.ci.get(m, (math.nan, math.nan))
                if not math.isnan(lo):
                    ci[key] = [float(lo), float(hi)]
                if m in ev.reference:
                    ref[key] = float(ev.reference[m])
        if self.primary_metric not in metrics:
            raise DatasetError(
                f"{self.name}: primary metric {self.primary_metric!r} not produced "
                f"(got {sorted(metrics)})"
            )
        return metrics, ci, ref


def concat_examples(parts: list[Examples]) -> Examples:
    """One Examples from several with the same fields (e.g. two dev splits as one tune set)."""

    def cat(name: str):
        vals = [getattr(p, name) for p in parts]
        return None if any(v is None for v in vals) else [x for v in vals for x in v]

    w = [p.weights for p in parts]
    return Examples(
        [i for p in parts for i in p.ids],
        [t for p in parts for t in p.texts],
        np.concatenate([p.y for p in parts]),
        cat("targets"),
        None if any(x is None for x in w) else np.concatenate(w),
        cat("groups"),
    )
