"""NewsMTSC: sentiment of a news sentence toward one marked person mention."""

from __future__ import annotations

import json
from pathlib import Path

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


class NewsmtscOptions(AdapterOptions):
    further_mentions: bool = Field(
        False, description="also mark the target's other mentions (coreferences) in the sentence"
    )


class NewsmtscAdapter(Adapter):
    """NewsMTSC: sentiment of a news sentence toward one marked person mention.

    One example per target: the sentence with the mention wrapped in span markers
    (``models.data.mark_spans``) is the text, the mention the target, the article the
    group (``document_of``: an article's sentences stay on one side of the tune cut and
    of the CV folds; 5,446 articles for 7,758 training sentences). Train is the official
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
    group_key = "article (primary_gid's first three fields)"

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
                    groups.append(document_of(str(d.get("primary_gid", line_no))))
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

    def split_dev(
        self, pool: Examples, spec: TaskSpec, cut: DevCut
    ) -> tuple[Examples, dict[str, Examples]]:
        """The release's own dev splits rather than a cut of train, which is all fit on (a
        dev run tunes on a cut of it, a test run on both dev splits)."""
        return pool, self.read_dev(cut.data_dir, cut.opts)

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """Whole articles: an article's sentences never straddle train and the tuning cut."""
        return group_cut(list(pool.groups or []), fraction, seed)
