"""The bundled sample corpus (``data/``) as a benchmark: its 160 gold articles, grouped by
outlet, for frames (multi-label) or stance (favor / against / neutral per mentioned target).

    mediaframe benchmark sample --data-dir data          # frames, micro-F1
    mediaframe benchmark sample-stance --data-dir data   # stance, macro-F1

The corpus is small and its outlets have one voice each, so a fixed split says little; the
figure to read is the JSON's ``cv`` (5 folds x 3 repeats, whole outlets held out). The dev
split is two of the ten outlets (``group_cut``), so no outlet is on both sides either. A
``--test-dir`` has the same layout (``articles/*.jsonl`` and ``gold/gold.jsonl``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from bench.adapters.base import Adapter, AdapterOptions, DatasetError, group_cut
from labeling.codebook import load_codebook, load_stance
from labeling.text import join_title_text
from models.data import Examples, TaskSpec

ARTICLES = "articles"
GOLD = "gold/gold.jsonl"


class SampleOptions(AdapterOptions):
    # Built-ins by default, so the adapter reads the same labels from any folder.
    codebook: str = "mfc"
    stance: str = "default"


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}: row {n}: not JSON ({exc.msg})") from None
    return rows


class SampleAdapter(Adapter):
    """The sample corpus's frames gold (multi-label, micro-F1), grouped by outlet."""

    name = "sample"
    task: ClassVar[Literal["frames", "stance"]] = "frames"
    primary_metric = "micro_f1"
    metrics = ("micro_f1", "macro_f1")
    anchor = "make run (main f6025b0), gold test 29: baseline frames micro-F1 0.618"
    test_files = (GOLD,)
    Options = SampleOptions

    def spec(self, opts: AdapterOptions) -> TaskSpec:
        assert isinstance(opts, SampleOptions)
        if self.task == "frames":
            return TaskSpec("frames", "multilabel", load_codebook(opts.codebook).keys)
        st = load_stance(opts.stance)
        return TaskSpec(
            "stance",
            "multiclass",
            st.labels,
            pair=True,
            target_names={k: t.name for k, t in st.targets.items()},
            target_aliases={k: t.aliases for k, t in st.targets.items()},
            cue_lexicon={
                "favor": st.favor_cues,
                "against": st.against_cues,
                "negations": st.negations,
            },
        )

    def _read(self, root: Path, opts: AdapterOptions) -> Examples:
        assert isinstance(opts, SampleOptions)
        files = sorted((root / ARTICLES).glob("*.jsonl"))
        if not files:
            raise DatasetError(f"{root / ARTICLES}: no *.jsonl article files")
        articles = {r["source_id"]: r for f in files for _, r in _jsonl(f) if r.get("source_id")}
        spec = self.spec(opts)
        ids, texts, targets, ys, groups = [], [], [], [], []
        gold_path = root / GOLD
        for n, g in _jsonl(gold_path):
            art = articles.get(g.get("source_id", ""))
            if art is None:
                raise DatasetError(
                    f"{gold_path}: row {n}: field 'source_id': {g.get('source_id')!r} "
                    f"is in no {ARTICLES}/*.jsonl file"
                )
            text = join_title_text(art.get("title"), art.get("text"))
            source = str(art.get("source") or "unknown")
            if self.task == "frames":
                frames = g.get("frames") or []
                unknown = [f for f in frames if f not in spec.labels]
                if unknown:
                    raise DatasetError(f"{gold_path}: row {n}: field 'frames': unknown {unknown}")
                ids.append(str(g["id"]))
                texts.append(text)
                ys.append([int(k in frames) for k in spec.labels])
                groups.append(source)
                continue
            for t, lab in sorted((g.get("stance") or {}).items()):
                if lab not in spec.labels or t not in spec.target_aliases:
                    continue  # not_mentioned is decided by rule, never trained on
                ids.append(f"{g['id']}:{t}")
                texts.append(text)
                targets.append(t)
                ys.append(spec.labels.index(lab))
                groups.append(source)
        if self.task == "frames":
            y = np.asarray(ys, dtype=int).reshape(len(ys), len(spec.labels))
            return Examples(ids, texts, y, groups=groups)
        return Examples(ids, texts, np.asarray(ys, dtype=int), targets, groups=groups)

    def read_pool(self, data_dir: Path, opts: AdapterOptions) -> Examples:
        return self._read(data_dir, opts)

    def read_tests(self, test_dir: Path, opts: AdapterOptions) -> dict[str, Examples]:
        return {"": self._read(test_dir, opts)}

    def dev_indices(self, pool: Examples, spec: TaskSpec, fraction: float, seed: int):
        """Whole outlets: each has one editorial voice, which a model would otherwise learn."""
        return group_cut(list(pool.groups or []), fraction, seed)


class SampleStanceAdapter(SampleAdapter):
    """The sample corpus's stance gold: one (target, article) pair per mentioned target,
    favor / against / neutral, macro-F1; an article's pairs stay with its outlet."""

    name = "sample-stance"
    task = "stance"
    primary_metric = "macro_f1"
    metrics = ("macro_f1", "accuracy")
    anchor = "make run (main f6025b0), gold test 29: baseline stance macro-F1 0.421"
