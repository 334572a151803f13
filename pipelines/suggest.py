"""``mediaframe suggest``: which documents to annotate next, as a Label Studio import.

The simulated annotation loop (``mediaframe benchmark semeval2023 --active``,
bench/RESULTS.md #21) measures the strategies of ``models.active`` against random; this
command applies one to a user's corpus. A frames model is trained on the current gold
(every gold document: the order is what matters, not a test score; a seeded tuning cut of
it sets the thresholds), or a saved bundle is read (``--model DIR``, e.g. the champion's
frames bundle). Every document of ``--documents`` that is not in the gold is scored, and
the tasks are written most useful first, pre-annotated with the model's frames (at most
``--max-frames`` by probability). ``gold import`` reads the annotated export back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labeling.studio import DEFAULT_MAX_FRAMES, label_studio_config, label_studio_task
from labeling.text import join_title_text
from models.active import STRATEGIES, informativeness
from models.base import ModelBundle
from models.data import Examples, TaskSpec
from models.registry import get_family
from models.selection import tuning_cut
from models.training import TaskData, fit_bundle
from pipelines.atomic import write_text

MIN_GOLD = 8  # fewer gold documents than this train no model worth ordering by


@dataclass
class Suggestion:
    output: Path
    interface: Path
    n_tasks: int
    n_gold: int
    model: str  # what ordered them: "trained on N gold (family)" or the bundle's path
    scores: list[float]  # informativeness of each written task, in file order


def read_documents(path: str | Path) -> list[tuple[str, str, str]]:
    """(id, title, text) of every document of a documents.parquet."""
    from pipelines.label_input import DocumentsFile

    docs = DocumentsFile.open(path)
    cols = ["id", "title", "text"] if "title" in docs.names else ["id", "text"]
    out = []
    for chunk in docs.chunks(5000, cols):
        for r in chunk.to_dict("records"):
            out.append((str(r["id"]), str(r.get("title") or ""), str(r.get("text") or "")))
    return out


def train_on_gold(
    gold: dict[str, Any],
    docs: dict[str, tuple[str, str]],
    spec: TaskSpec,
    family: str,
    seed: int,
    gold_path: str,
) -> ModelBundle:
    """A frames model of ``family`` (its default config) on every gold document with a
    text here; thresholds and temperature from a seeded fifth of them."""
    ids = [i for i in gold if i in docs]
    if len(ids) < MIN_GOLD:
        raise ValueError(
            f"{gold_path}: {len(ids)} gold documents have a text in --documents; "
            f"suggest needs at least {MIN_GOLD} to train on (or pass --model DIR)"
        )
    keys = spec.labels
    y = np.asarray([[int(k in gold[i].frames) for k in keys] for i in ids], dtype=int)
    texts = [join_title_text(*docs[i]) for i in ids]
    ex = Examples(ids, texts, y.reshape(len(ids), len(keys)))
    tune = tuning_cut(ex, spec.kind, 0.2, seed)
    train = ex.subset(np.setdiff1d(np.arange(len(ex)), tune))
    data = TaskData(spec, train, ex.subset(tune), ex.subset(np.zeros(0, dtype=int)))
    return fit_bundle(data, family, get_family(family).config()(), seed)


def suggest(
    documents: str | Path,
    output: str | Path,
    cfg: Any,
    strategy: str = "uncertainty",
    model_dir: str | Path | None = None,
    family: str = "baseline",
    limit: int | None = None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
) -> Suggestion:
    """Score the non-gold documents, order them by ``strategy``, write the tasks (and the
    labeling interface beside them); ``cfg`` is the label config (codebook, stance, gold)."""
    from labeling.codebook import load_codebook, load_stance
    from labeling.gold import Vocabulary
    from pipelines.gold_io import load_gold_inputs

    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")
    codebook, stance = load_codebook(cfg.codebook), load_stance(cfg.stance)
    gold = load_gold_inputs(Vocabulary.of(codebook, stance), cfg.gold).gold if cfg.gold else {}
    rows = read_documents(documents)
    docs = {i: (t, x) for i, t, x in rows}
    spec = TaskSpec("frames", "multilabel", codebook.keys)
    if model_dir:
        bundle = ModelBundle.load(model_dir)
        if bundle.spec.kind != "multilabel" or list(bundle.spec.labels) != list(codebook.keys):
            raise ValueError(
                f"--model {model_dir}: a {bundle.spec.kind} model of {bundle.spec.labels}, "
                f"not a frames model of the codebook {cfg.codebook}"
            )
        model = str(model_dir)
    else:
        if not cfg.gold:
            raise ValueError("suggest trains on the gold: the config's gold is null")
        bundle = train_on_gold(gold, docs, spec, family, cfg.seed, str(cfg.gold))
        model = f"{family} trained on {len([i for i in gold if i in docs])} gold documents"
    todo = [(i, t, x) for i, t, x in rows if i not in gold]  # gold is never asked again
    probs = bundle.predict_proba([join_title_text(t, x) for _, t, x in todo])
    if not len(todo):
        probs = np.zeros((0, len(spec.labels)))
    th = np.asarray(bundle.thresholds or [0.5] * len(spec.labels))
    score = informativeness(probs, "multilabel", strategy, th.tolist(), cfg.seed)
    order = np.argsort(-score, kind="stable")[: limit or None]
    tasks = []
    for k in order.tolist():
        doc_id, title, text = todo[k]
        p = probs[k]
        frames = [f for f, v, t in zip(spec.labels, p, th, strict=True) if v >= t]
        primary = spec.labels[int(np.argmax(p))] if len(p) else None
        margin = float(np.abs(p - th).min()) if len(p) else 1.0
        row = {
            "id": doc_id,
            "title": title,
            "text": text,
            "frames": frames,
            "frame_probs": dict(zip(spec.labels, p.tolist(), strict=True)),
            "primary_frame": primary,
            # the pre-annotation's score: how far its least sure frame is from its threshold
            "uncertainty": 1.0 - min(1.0, 2 * margin),
        }
        task = label_studio_task(row, list(stance.targets), f"suggest:{strategy}", max_frames)
        task["data"]["informativeness"] = float(score[k])
        tasks.append(task)
    out = Path(output)
    write_text(json.dumps(tasks, ensure_ascii=False, indent=1), out)
    xml = out.with_name("label_studio_config.xml")
    xml.write_text(
        label_studio_config(codebook.keys, {k: t.name for k, t in stance.targets.items()})
    )
    return Suggestion(
        out, xml, len(tasks), len(gold), model, [float(score[k]) for k in order.tolist()]
    )
