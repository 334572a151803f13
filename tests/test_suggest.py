"""`mediaframe suggest` on the sample corpus, and the strategies it orders by.

Real components throughout: the sample's articles as documents.parquet, part of its gold
as the current gold, a baseline trained on it for real; the order is checked against the
model's own probabilities, and the written tasks go back in through `gold import`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labeling.codebook import load_codebook
from labeling.gold import read_jsonl
from labeling.text import join_title_text
from models.active import informativeness, parse_strategies, rank
from models.data import TaskSpec
from pipelines.cli import main
from pipelines.suggest import train_on_gold
from tests.test_gold_cli import as_label_studio_export

ROOT = Path(__file__).resolve().parent.parent
N_GOLD = 60


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """All 160 sample articles under their gold ids; the first 60 gold rows are the gold."""
    tmp = tmp_path_factory.mktemp("suggest")
    gold_rows = [json.loads(x) for x in (ROOT / "data/gold/gold.jsonl").open() if x.strip()]
    by_source = {g["source_id"]: g["id"] for g in gold_rows}
    docs = []
    for f in sorted((ROOT / "data/articles").glob("*.jsonl")):
        for line in f.open(encoding="utf-8"):
            a = json.loads(line)
            docs.append({"id": by_source[a["source_id"]], "title": a["title"], "text": a["text"]})
    pd.DataFrame(docs).to_parquet(tmp / "documents.parquet")
    gold = tmp / "gold.jsonl"
    gold.write_text("".join(json.dumps(g) + "\n" for g in gold_rows[:N_GOLD]))
    return {
        "tmp": tmp,
        "docs": docs,
        "gold": gold,
        "gold_ids": {g["id"] for g in gold_rows[:N_GOLD]},
        "uri": f"sqlite:///{tmp / 'm.db'}",
    }


def cli(sample: dict, *args: str, gold: Path | None = None) -> int:
    sets = ["--set", f"gold={gold or sample['gold']}", "--set", "annotations=null"]
    return main([*args, *sets, "--tracking-uri", sample["uri"]])


def test_suggest_orders_by_the_models_own_uncertainty_and_leaves_gold_out(
    sample, tmp_path, capsys
) -> None:
    out = tmp_path / "tasks.json"
    docs = str(sample["tmp"] / "documents.parquet")
    rc = cli(sample, "suggest", "--documents", docs, "--output", str(out))
    assert rc == 0, capsys.readouterr().err
    assert "100 documents, uncertainty order" in capsys.readouterr().out
    tasks = json.loads(out.read_text())
    ids = [t["data"]["id"] for t in tasks]
    assert set(ids) == {d["id"] for d in sample["docs"]} - sample["gold_ids"]
    assert len(ids) == len(set(ids)) == 100
    assert (tmp_path / "label_studio_config.xml").exists()

    # The same model, trained again from the same gold (the fit is seeded): the file's
    # order is the order of its probabilities' smallest margin to the thresholds.
    keys = load_codebook("mfc").keys
    gold = {r.id: r for r in read_jsonl(sample["gold"])}
    texts = {d["id"]: (d["title"], d["text"]) for d in sample["docs"]}
    bundle = train_on_gold(gold, texts, TaskSpec("frames", "multilabel", keys), "baseline", 13, "")
    probs = bundle.predict_proba([join_title_text(*texts[i]) for i in ids])
    margin = np.abs(probs - np.asarray(bundle.thresholds)).min(axis=1)
    assert np.all(np.diff(margin) >= -1e-9), "least sure first"
    assert margin[0] < margin[-1]  # a real spread, not a tie kept in input order
    got = np.asarray([t["data"]["informativeness"] for t in tasks])
    np.testing.assert_allclose(got, -margin, atol=1e-9)
    for t, p in zip(tasks, probs, strict=True):  # pre-annotated with the model's frames
        pred = {r["from_name"]: r["value"]["choices"] for r in t["predictions"][0]["result"]}
        over = {k for k, v, th in zip(keys, p, bundle.thresholds, strict=True) if v >= th}
        assert set(pred["frames"]) <= over

    # The first two tasks annotated as pre-annotated go back into the gold.
    export = as_label_studio_export(
        tasks[:2], {n: [(1, tasks[n]["predictions"][0]["result"], {})] for n in range(2)}
    )
    (tmp_path / "export.json").write_text(json.dumps(export))
    into = tmp_path / "gold.jsonl"
    into.write_text(sample["gold"].read_text())
    rc = cli(sample, "gold", "import", str(tmp_path / "export.json"), "--into", str(into))
    assert rc == 0, capsys.readouterr().err
    rows = read_jsonl(into)
    assert len(rows) == N_GOLD + 2 and [r.id for r in rows[-2:]] == ids[:2]


def test_suggest_random_and_limit_and_a_saved_bundle(sample, tmp_path, capsys) -> None:
    docs = str(sample["tmp"] / "documents.parquet")
    keys = load_codebook("mfc").keys
    gold = {r.id: r for r in read_jsonl(sample["gold"])}
    texts = {d["id"]: (d["title"], d["text"]) for d in sample["docs"]}
    bundle = train_on_gold(gold, texts, TaskSpec("frames", "multilabel", keys), "baseline", 13, "")
    bundle.save(tmp_path / "bundle")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli(sample, "suggest", "--documents", docs, "--output", str(a), "--limit", "10") == 0
    args = ["--model", str(tmp_path / "bundle"), "--limit", "10"]
    assert cli(sample, "suggest", "--documents", docs, "--output", str(b), *args) == 0
    same = [t["data"]["id"] for t in json.loads(a.read_text())]
    assert [t["data"]["id"] for t in json.loads(b.read_text())] == same and len(same) == 10
    c = tmp_path / "c.json"
    assert (
        cli(sample, "suggest", "--documents", docs, "--output", str(c), "--strategy", "random") == 0
    )
    shuffled = [t["data"]["id"] for t in json.loads(c.read_text())]
    assert set(shuffled).isdisjoint(sample["gold_ids"]) and shuffled[:10] != same
    # too little gold to train on: one line naming the gold file, exit 2
    few = tmp_path / "few.jsonl"
    few.write_text("".join(sample["gold"].read_text().splitlines(True)[:3]))
    capsys.readouterr()
    rc = cli(sample, "suggest", "--documents", docs, "--output", str(c), gold=few)
    assert rc == 2 and f"{few}: 3 gold documents" in capsys.readouterr().err


def test_strategies_rank_what_they_say() -> None:
    probs = np.array([[0.9, 0.1], [0.52, 0.2], [0.3, 0.35], [0.5, 0.5]])
    th = [0.5, 0.3]
    # smallest margin to a threshold: row 3 (0.0), row 1 (0.02), row 2 (0.05), row 0 (0.2)
    assert rank(probs, "multilabel", "uncertainty", th).tolist() == [3, 1, 2, 0]
    ent = informativeness(probs, "multilabel", "entropy")
    assert ent.argmax() == 3 and ent.argmin() == 0
    mc = np.array([[0.8, 0.1, 0.1], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]])
    assert rank(mc, "multiclass", "uncertainty").tolist() == [2, 1, 0]
    r1 = rank(probs, "multilabel", "random", seed=1)
    assert sorted(r1.tolist()) == [0, 1, 2, 3]
    assert parse_strategies("uncertainty, random") == ["uncertainty", "random"]
    with pytest.raises(ValueError, match="margin is not a strategy"):
        parse_strategies("margin")
