"""Dataset adapters: each public benchmark's files mapped onto the models' data contract.

An adapter knows one release's file names, columns and label coding, and nothing else:
it yields ``Examples`` (ids, texts, optional targets, labels) under a ``TaskSpec``, so the
same model classes and training code as ``mediaframe train`` run on it, with nothing about
the dataset inside ``models/``. It also says which metrics the dataset is judged by and
how its labelled pool is cut into a fixed dev split. ``ADAPTERS`` maps a dataset name to
its adapter; a new dataset is one subclass and one entry there.

The split policy lives here once, for every dataset (``Adapter.load``):

- dev run (no test directory): the pool is cut into fit + dev; fit is cut again into
  train + tune. Early stopping, calibration and thresholds use tune; dev is scored only.
- test run: train on fit, tune on dev (the same fixed dev split), score the test files.

So a dev figure is never tuned on the items it is scored on, and the test run uses the
same dev split the dev figures were reported beside.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from labeling.codebook import load_codebook
from models.base import MetricLogger, ModelBundle
from models.data import Examples, TaskSpec, mark_spans
from models.training import TaskData, fit_bundle
from pipelines.config import Strict, TrainConfig
from pipelines.evaluate import Evaluation
from pipelines.train import evaluate_bundle


class DatasetError(ValueError):
    """A dataset file that cannot be read as its release defines it; names file, row, field."""


# ============================================================================ containers
@dataclass
class BenchData:
    """What one benchmark run trains, tunes and scores on."""

    spec: TaskSpec
    train: Examples
    tune: Examples  # early stopping, temperature, thresholds
    evals: dict[str, Examples]  # scored sets; "" when a dataset has one, else e.g. rw/mt
    split: Literal["dev", "test"]
    notes: dict[str, Any] = field(default_factory=dict)

    def task_data(self, name: str | None = None) -> TaskData:
        """The training stage's container, with one scored set as its test part (none when
        fitting: a dataset with several scored sets, NewsMTSC's rw and mt, has no "")."""
        test = self.evals[name] if name is not None else self.train.subset([])
        return TaskData(self.spec, self.train, self.tune, test)


class AdapterOptions(Strict):
    """Options every adapter takes; a dataset's own options subclass this."""


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
    several scored sets (``evals`` keys other than "") reports ``<metric>_<set>``.
    """

    name: ClassVar[str]
    primary_metric: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    anchor: ClassVar[str] = ""  # the published figure to put beside ours
    test_files: ClassVar[tuple[str, ...]] = ()  # release file names in --test-dir
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions
    fnc_score: ClassVar[bool] = False  # score with FNC-1's weighted metric as well

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

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """The fixed dev split of the pool: stratified and seeded (override for groups)."""
        return stratified_cut(strata_of(pool, spec.kind), fraction, seed)

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
        dev = self.dev_indices(pool, spec, dev_fraction, seed)
        fit = pool.subset(complement(len(pool), dev))
        if test_dir is not None:
            tests = self.read_tests(Path(test_dir), opts)
            return BenchData(spec, fit, pool.subset(dev), tests, "test")
        tune = self.dev_indices(fit, spec, dev_fraction, seed + 1)
        return BenchData(
            spec,
            fit.subset(complement(len(fit), tune)),
            fit.subset(tune),
            {"": pool.subset(dev)},
            "dev",
        )

    def fit(
        self, data: BenchData, family: str, cfg: TrainConfig, log: MetricLogger | None = None
    ) -> ModelBundle:
        """Train exactly as ``mediaframe train`` does (override only for a custom model)."""
        return fit_bundle(data.task_data(), family, getattr(cfg, family), cfg.seed, log=log)

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
            bundle, data.task_data(name), "test", n_boot, seed, probs=probs, fnc=self.fnc_score
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


# ============================================================================ GVFC
GVFC_FRAMES = [  # Q3 Theme1 codes 1..9, in code order (SOURCE.md)
    "gun_rights",
    "gun_control",
    "politics",
    "mental_health",
    "school_public_safety",
    "race_ethnicity",
    "public_opinion",
    "society_culture",
    "economic_consequences",
]
GVFC_FILE = "GVFC_extension_multimodal.csv"
GVFC_NONE = "99"


class GvfcOptions(AdapterOptions):
    input: Literal["headline", "headline_lead"] = Field(
        "headline", description="the headline alone, or headline + the first 3 sentences"
    )
    lead_examples: list[Literal["baseline", "transformer"]] = Field(
        default_factory=list,
        description="model families that also train on each training article's headline + "
        "lead as an example of its own, with the article's frame; scoring still reads `input`",
    )


class GvfcAdapter(Adapter):
    """Gun Violence Frame Corpus: one primary frame of nine per news headline.

    Reads the multimodal extension file: it holds exactly the relevant, frame-labelled
    articles (``Q3 Theme1`` 1-9) with their headline and lead, which the headline file
    repeats among its irrelevant and unframed rows.
    """

    name = "gvfc"
    primary_metric = "accuracy"
    metrics = ("accuracy", "macro_f1")
    anchor = "BERT ≈ 0.84 accuracy (Liu et al. 2019); multimodal 0.824 (Tourni et al.)"
    test_files = (GVFC_FILE,)  # the headline file beside it is not needed
    Options = GvfcOptions

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("gvfc", "multiclass", list(GVFC_FRAMES))

    def _read(self, path: Path, opts: AdapterOptions) -> Examples:
        assert isinstance(opts, GvfcOptions)
        cols = ["id", "headline", "Q3 Theme1"]
        if opts.input == "headline_lead":
            cols.append("lead_3_sentences_summary_of_full_article_text")
        ids, texts, y = [], [], []
        for row_no, r in enumerate(read_csv_rows(path, cols), start=2):
            code = (r["Q3 Theme1"] or "").strip()
            if code == GVFC_NONE:  # no frame: not part of the frame-classification set
                continue
            if code not in {str(i) for i in range(1, 10)}:
                raise DatasetError(
                    f"{path}: row {row_no}: field 'Q3 Theme1': expected a frame code 1-9 "
                    f"or 99, got {code!r}"
                )
            head = (r["headline"] or "").strip()
            if not head:
                raise DatasetError(f"{path}: row {row_no}: field 'headline' is empty")
            text = head
            if opts.input == "headline_lead":
                lead = (r["lead_3_sentences_summary_of_full_article_text"] or "").strip()
                text = f"{head}\n\n{lead}" if lead else head
            ids.append(f"gvfc:{r['id']}")
            texts.append(text)
            y.append(int(code) - 1)
        return Examples(ids, texts, np.asarray(y, dtype=int))

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / GVFC_FILE, opts)

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir / GVFC_FILE, opts)}

    def extra_train(
        self, train: Examples, data_dir: Path, opts: AdapterOptions, family: str
    ) -> Examples:
        """Headline + lead of each training article beside its headline.

        A headline has eight words; its lead has sixty-odd about the same frame. As extra
        examples they give a bag-of-n-grams model the vocabulary a new headline may use
        (on three dev splits, +4.5 points of accuracy for the linear SVM), while reading
        them as the input itself dilutes the headline (RESULTS.md).
        """
        assert isinstance(opts, GvfcOptions)
        if family not in opts.lead_examples or opts.input == "headline_lead":
            return train
        full = self._read(data_dir / GVFC_FILE, opts.model_copy(update={"input": "headline_lead"}))
        lead_of = dict(zip(full.ids, full.texts, strict=True))
        keep = [
            i
            for i, (d, t) in enumerate(zip(train.ids, train.texts, strict=True))
            if lead_of.get(d, t) != t
        ]
        extra = train.subset(keep)
        extra = replace(
            extra, ids=[f"{d}#lead" for d in extra.ids], texts=[lead_of[d] for d in extra.ids]
        )
        return concat_examples([train, extra])


# ============================================================================ SemEval-2023
SEMEVAL_TRAIN = "en_train.csv"
SEMEVAL_TEST = "en_test.csv"


class SemevalOptions(AdapterOptions):
    codebook: str = Field(
        "configs/codebooks/mfc.yaml", description="the codebook whose keys name the frames"
    )


class Semeval2023Adapter(Adapter):
    """SemEval-2023 Task 3 subtask 2 (English): the 14 MFC frames, multi-label, on ``text``.

    Frame names (``Crime_and_punishment``) become our MFC codebook keys by lower-casing,
    checked against the codebook, so the labeling module's functions vote on the same
    labels (the codebook's ``other`` frame has no SemEval counterpart and is left out).
    """

    name = "semeval2023"
    primary_metric = "micro_f1"
    metrics = ("micro_f1", "macro_f1")
    anchor = "best English system ≈ 0.57 micro-F1 on the official test (not comparable)"
    test_files = (SEMEVAL_TEST,)
    Options = SemevalOptions

    def _keys(self, opts: AdapterOptions) -> list[str]:
        assert isinstance(opts, SemevalOptions)
        return [k for k in load_codebook(opts.codebook).keys if k != "other"]

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("semeval2023", "multilabel", self._keys(opts))

    def _read(self, path: Path, opts: AdapterOptions) -> Examples:
        keys = self._keys(opts)
        ids, texts, rows = [], [], []
        for row_no, r in enumerate(read_csv_rows(path, ["id", "text", "frames"]), start=2):
            text = (r["text"] or "").strip()
            if not text:
                raise DatasetError(f"{path}: row {row_no}: field 'text' is empty")
            frames = [f.strip() for f in (r["frames"] or "").split(",") if f.strip()]
            if not frames:
                raise DatasetError(f"{path}: row {row_no}: field 'frames' is empty")
            vec = np.zeros(len(keys), dtype=int)
            for f in frames:
                key = f.lower()
                if key not in keys:
                    raise DatasetError(
                        f"{path}: row {row_no}: field 'frames': unknown frame {f!r} "
                        f"(expected one of the 14 SemEval/MFC frames)"
                    )
                vec[keys.index(key)] = 1
            ids.append(f"semeval2023:{r['id']}")
            texts.append(text)
            rows.append(vec)
        y = np.asarray(rows, dtype=int).reshape(len(rows), len(keys))
        return Examples(ids, texts, y)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / SEMEVAL_TRAIN, opts)

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir / SEMEVAL_TEST, opts)}


# ============================================================================ FNC-1
FNC_LABELS = ["agree", "disagree", "discuss", "unrelated"]
FNC_TRAIN = ("train_stances.csv", "train_bodies.csv")
FNC_TEST = ("competition_test_stances.csv", "competition_test_bodies.csv")


class Fnc1Adapter(Adapter):
    """FNC-1: the stance of an article body toward a headline, the headline as the target.

    One example per (headline, body) row: the body is the text, the headline the target,
    the Body ID the group, so the dev cut (and the tune cut inside a dev run) keeps every
    body on one side, as the official baseline's hold-out split does. Scored by the
    official weighted FNC score and by macro-F1.
    """

    name = "fnc1"
    primary_metric = "fnc_score"
    metrics = ("fnc_score", "macro_f1", "accuracy")
    anchor = (
        "FNC score 82.02 (winner, SOLAT), 81.72 (UCL TF + MLP), official baseline 75.20 "
        "(79.53 on its own dev hold-out); test macro-F1 of the top systems ≈ 0.58-0.60"
    )
    test_files = FNC_TEST
    fnc_score = True

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("fnc1", "multiclass", list(FNC_LABELS), pair=True)

    def _read(self, stances: Path, bodies_path: Path) -> Examples:
        bodies: dict[str, str] = {}
        for row_no, r in enumerate(read_csv_rows(bodies_path, ["Body ID", "articleBody"]), 2):
            bid = (r["Body ID"] or "").strip()
            if not bid or not (r["articleBody"] or "").strip():
                raise DatasetError(f"{bodies_path}: row {row_no}: empty 'Body ID' or 'articleBody'")
            bodies[bid] = r["articleBody"]
        ids, texts, targets, y, groups = [], [], [], [], []
        for row_no, r in enumerate(read_csv_rows(stances, ["Headline", "Body ID", "Stance"]), 2):
            bid, stance = (r["Body ID"] or "").strip(), (r["Stance"] or "").strip()
            head = (r["Headline"] or "").strip()
            if bid not in bodies:
                raise DatasetError(
                    f"{stances}: row {row_no}: field 'Body ID': {bid!r} is not in "
                    f"{bodies_path.name}"
                )
            if stance not in FNC_LABELS:
                raise DatasetError(
                    f"{stances}: row {row_no}: field 'Stance': expected one of {FNC_LABELS}, "
                    f"got {stance!r}"
                )
            if not head:
                raise DatasetError(f"{stances}: row {row_no}: field 'Headline' is empty")
            ids.append(f"fnc1:{stances.stem}:{row_no}")
            texts.append(bodies[bid])
            targets.append(head)
            y.append(FNC_LABELS.index(stance))
            groups.append(bid)
        return Examples(ids, texts, np.asarray(y, dtype=int), targets, groups=groups)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / FNC_TRAIN[0], data_dir / FNC_TRAIN[1])

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir / FNC_TEST[0], test_dir / FNC_TEST[1])}

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """Whole bodies, seeded: a body's headlines never straddle train and dev."""
        return group_cut(list(pool.groups or []), fraction, seed)


# ============================================================================ NewsMTSC
NEWSMTSC_LABELS = ["negative", "neutral", "positive"]
NEWSMTSC_POLARITY = {2.0: "negative", 4.0: "neutral", 6.0: "positive"}
NEWSMTSC_TRAIN = "official/train.jsonl"
NEWSMTSC_SETS = ("rw", "mt")  # the authors' dev/test splits: real-world, multi-target


class NewsmtscOptions(AdapterOptions):
    further_mentions: bool = Field(
        False, description="also mark the target's other mentions (coreferences) in the sentence"
    )


class NewsmtscAdapter(Adapter):
    """NewsMTSC: sentiment of a news sentence toward one marked person mention.

    One example per target: the sentence with the mention wrapped in span markers
    (``models.data.mark_spans``) is the text, the mention the target, the sentence the
    group (a sentence's targets stay on one side of the tune cut). Train is the official
    train file; the scored sets are the authors' own dev splits (``rw``: real-world
    distribution, ``mt``: sentences with several targets), tuned on a cut of train; a
    test run tunes on both dev splits and scores ``dev_test_split_{rw,mt}/test.jsonl``.
    """

    name = "newsmtsc"
    primary_metric = "macro_f1_rw"
    metrics = ("macro_f1", "accuracy")
    anchor = (
        "macro-F1 test-rw / test-mt: RoBERTa GRU-TSC 0.831 / 0.825, "
        "BERT SPC 0.801 / 0.737 (Hamborg & Donnay 2021)"
    )
    test_files = tuple(f"dev_test_split_{s}/test.jsonl" for s in NEWSMTSC_SETS)
    Options = NewsmtscOptions

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        return TaskSpec("newsmtsc", "multiclass", list(NEWSMTSC_LABELS), pair=True)

    def _read(self, path: Path, opts: AdapterOptions) -> Examples:
        assert isinstance(opts, NewsmtscOptions)
        if not path.exists():
            raise DatasetError(f"{path}: file not found")
        ids, texts, targets, y, groups = [], [], [], [], []
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    sent = d["sentence_normalized"]
                    items = d["targets"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise DatasetError(f"{path}: line {line_no}: {exc!r}") from None
                for k, t in enumerate(items):
                    where = f"{path}: line {line_no}: target {k}"
                    try:
                        start, end, mention = int(t["from"]), int(t["to"]), t["mention"]
                        label = NEWSMTSC_POLARITY[float(t["polarity"])]
                    except KeyError as exc:
                        raise DatasetError(f"{where}: field {exc} missing or not 2/4/6") from None
                    if sent[start:end] != mention:
                        raise DatasetError(
                            f"{where}: field 'from'/'to': {sent[start:end]!r} != mention "
                            f"{mention!r}"
                        )
                    spans = [(start, end)]
                    if opts.further_mentions:
                        for m in t.get("further_mentions") or []:
                            s, e = int(m["from"]), int(m["to"])
                            if all(e <= a or s >= b for a, b in spans):  # skip overlaps
                                spans.append((s, e))
                    ids.append(f"newsmtsc:{path.parent.name}/{path.stem}:{line_no}:{k}")
                    texts.append(mark_spans(sent, spans))
                    targets.append(mention)
                    y.append(NEWSMTSC_LABELS.index(label))
                    groups.append(str(d.get("primary_gid", line_no)))
        return Examples(ids, texts, np.asarray(y, dtype=int), targets, groups=groups)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir / NEWSMTSC_TRAIN, opts)

    def read_dev(self, data_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {
            s: self._read(data_dir / f"dev_test_split_{s}/dev.jsonl", opts) for s in NEWSMTSC_SETS
        }

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {
            s: self._read(test_dir / f"dev_test_split_{s}/test.jsonl", opts) for s in NEWSMTSC_SETS
        }

    def load(
        self,
        data_dir: Path,
        test_dir: Path | None,
        opts: AdapterOptions,
        dev_fraction: float,
        seed: int,
    ) -> BenchData:
        """The release's own dev splits instead of a cut of train (same policy otherwise:
        a dev run tunes on a cut of train, a test run on the dev splits)."""
        spec = self.spec(opts)
        pool = self.read_pool(Path(data_dir), opts)
        dev = self.read_dev(Path(data_dir), opts)
        if test_dir is not None:
            tune = concat_examples(list(dev.values()))
            return BenchData(spec, pool, tune, self.read_tests(Path(test_dir), opts), "test")
        cut = group_cut(list(pool.groups or []), dev_fraction, seed + 1)
        return BenchData(
            spec, pool.subset(complement(len(pool), cut)), pool.subset(cut), dev, "dev"
        )


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


# ============================================================================ registry
ADAPTERS: dict[str, Adapter] = {
    "gvfc": GvfcAdapter(),
    "semeval2023": Semeval2023Adapter(),
    "fnc1": Fnc1Adapter(),
    "newsmtsc": NewsmtscAdapter(),
}


def get_adapter(name: str) -> Adapter:
    if name not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[name]
