"""NewsMTSC: sentiment of a news sentence toward one marked person mention."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from bench.adapters.base import (
    Adapter,
    AdapterOptions,
    DatasetError,
    DevCut,
    group_cut,
)
from models.data import Examples, TaskSpec, mark_spans

NEWSMTSC_LABELS = ["negative", "neutral", "positive"]
NEWSMTSC_POLARITY = {2.0: "negative", 4.0: "neutral", 6.0: "positive"}
NEWSMTSC_TRAIN = "official/train.jsonl"
NEWSMTSC_SETS = ("rw", "mt")  # the authors' dev/test splits: real-world, multi-target


def document_of(primary_gid: str) -> str:
    """The article a sentence is from: the first three ``_`` fields of its ``primary_gid``
    (``allsides_1000_401_25_<mention>_0_6`` -> ``allsides_1000_401``, ``polusa_v1_113704059_
    -1_35_...`` -> ``polusa_v1_113704059``); the rest are sentence, mention and offsets."""
    parts = primary_gid.split("_")
    return "_".join(parts[:3]) if len(parts) > 3 else primary_gid


def story_of(primary_gid: str) -> str:
    """The news story a sentence is from: AllSides groups two or three outlets' articles
    on one event under one story id, the third ``_`` field (``allsides_1018_408_...`` and
    ``allsides_1019_408_...`` are two articles of story 408: ``allsides:408``); POLUSA
    has no story (its third field is the article, the fourth ``-1``), so its article."""
    parts = primary_gid.split("_")
    if parts[0] == "allsides" and len(parts) > 3:
        return f"allsides:{parts[2]}"
    return document_of(primary_gid)


def sentence_of(item_id: str) -> str:
    """A target's sentence: its id without the target number (``...:<line>:<k>``)."""
    return item_id.rsplit(":", 1)[0]


def shaped_like(
    fold: Examples, strata: list[tuple[int, bool]], want: dict[tuple[int, bool], float], seed: int
) -> Examples:
    """The largest seeded subset of ``fold`` whose strata (``strata`` per item) have the
    shares ``want``: each stratum keeps ``want[s] / share[s]`` of its items, scaled so the
    most under-represented stratum keeps all of its own (a stratum ``want`` lacks: none)."""
    n = Counter(strata)
    ratio = {s: want.get(s, 0.0) * len(fold) / c for s, c in n.items()}
    top = max(ratio.values(), default=0.0)
    if top <= 0:
        return fold
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for s in sorted(n):
        idx = np.asarray([i for i, t in enumerate(strata) if t == s])
        take = round(n[s] * ratio[s] / top)
        keep.extend(rng.choice(idx, size=take, replace=False).tolist())
    return fold.subset(sorted(keep))


class NewsmtscOptions(AdapterOptions):
    further_mentions: bool = Field(
        False, description="also mark the target's other mentions (coreferences) in the sentence"
    )
    group_by: Literal["story", "article"] = Field(
        "story",
        description="the unit the tune cut and the CV folds keep whole: the AllSides story "
        "(several outlets' articles on one event; POLUSA: the article) or the article",
    )
    cv_mix: Literal["pool", "rw"] = Field(
        "pool",
        description="CV scoring folds as drawn ('pool') or subsampled to the rw dev split's "
        "mix of class x single/multi-target sentence ('rw': shaped like the rw test)",
    )


class NewsmtscAdapter(Adapter):
    """NewsMTSC: sentiment of a news sentence toward one marked person mention.

    One example per target: the sentence with the mention wrapped in span markers
    (``models.data.mark_spans``) is the text, the mention the target, the story the group
    (``story_of``: the AllSides story, else the article; a story's sentences stay on one
    side of the tune cut and of the CV folds; ``group_by: article`` keeps only articles
    whole, ``document_of``: 5,446 articles for 7,758 training sentences). ``cv_mix: rw``
    scores each CV fold shaped like the rw dev split (``shaped_like``). Train is the official
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
    group_key = "story (AllSides story id, primary_gid's third field; POLUSA: the article)"

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
                    gid = str(d.get("primary_gid", line_no))
                    groups.append(story_of(gid) if opts.group_by == "story" else document_of(gid))
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

    def cv_scoring_set(
        self, pool: Examples, opts: AdapterOptions
    ) -> Callable[[Examples, int], Examples] | None:
        """``cv_mix: rw``: each scoring fold subsampled to the mix of (class, sentence with
        one target or several) of the pool's rw dev items (``shaped_like``)."""
        assert isinstance(opts, NewsmtscOptions)
        if opts.cv_mix == "pool":
            return None
        per_sentence = Counter(sentence_of(i) for i in pool.ids)

        def strata(ex: Examples) -> list[tuple[int, bool]]:
            return [
                (int(y), per_sentence[sentence_of(i)] > 1)
                for i, y in zip(ex.ids, ex.y, strict=True)
            ]

        rw = [k for k, i in enumerate(pool.ids) if i.startswith("newsmtsc:dev_test_split_rw/")]
        if not rw:
            return None
        counts = Counter(strata(pool.subset(rw)))
        want = {s: c / len(rw) for s, c in counts.items()}
        return lambda fold, seed: shaped_like(fold, strata(fold), want, seed)

    def split_dev(
        self, pool: Examples, spec: TaskSpec, cut: DevCut
    ) -> tuple[Examples, dict[str, Examples]]:
        """The release's own dev splits rather than a cut of train, which is all fit on (a
        dev run tunes on a cut of it, a test run on both dev splits)."""
        return pool, self.read_dev(cut.data_dir, cut.opts)

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """Whole articles: an article's sentences never straddle train and the tuning cut."""
        return group_cut(list(pool.groups or []), fraction, seed)
