"""docs/own-corpus.md, followed word for word from a folder outside the repository.

The guide's ``bash`` blocks run in order, each line through ``pipelines.cli.main`` in this
process (a subprocess per command would spend most of the budget importing MLflow), from
an empty tmp folder with a real sqlite store. Its ``yaml`` blocks headed ``# FILE`` are the
files a user writes. What a user does by hand (write articles.csv, a few gold rows, annotate
in Label Studio) this test does between the blocks, on generated articles.
"""

from __future__ import annotations

import csv
import json
import random
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from test_gold_cli import as_label_studio_export

from pipelines.cli import main

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "own-corpus.md"
OUTLETS = ["Daily Planet", "Morning Star", "Evening Post", "Harbour Herald"]
# frame -> sentences holding its MFC cues, so the rule labeling functions vote for it
FRAME_TEXT = {
    "economic": "The economy suffers as prices rise and trade with partners slows down.",
    "security_and_defense": "Military planners discussed defence spending and army security.",
    "political": "The election campaign split the party and its political rivals.",
    "health_and_safety": "Hospitals and doctors warned about the disease and public health.",
}
STANCE_TEXT = {
    ("eu", "favor"): "Ministers praised the European Union and welcomed its reliable support.",
    ("eu", "against"): "Critics condemned the European Union and denounced its failed plan.",
    ("nato", "favor"): "Officials praised NATO and welcomed its reliable guarantees.",
    ("nato", "against"): "Protesters condemned NATO and denounced its dangerous expansion.",
}
WORDS = [
    "river",
    "town",
    "winter",
    "market",
    "bridge",
    "morning",
    "letter",
    "garden",
    "station",
    "harbour",
    "school",
    "road",
    "office",
    "village",
    "summer",
    "council",
    "street",
    "museum",
    "forest",
    "island",
    "coast",
    "bakery",
    "library",
    "farm",
    "factory",
    "square",
    "tower",
    "valley",
    "airport",
    "theatre",
    "stadium",
    "kitchen",
    "window",
]


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, in order."""
    return [(m[1], m[2]) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def articles(n: int) -> list[dict]:
    """``n`` articles over four outlets, each with two frames' cues and EU/NATO stance."""
    rng = random.Random(5)
    rows = []
    for i in range(n):
        frames = rng.sample(sorted(FRAME_TEXT), 2)
        stance = {"eu": rng.choice(["favor", "against"]), "nato": "not_mentioned"}
        if i % 3:
            stance["nato"] = rng.choice(["favor", "against"])
        parts = [FRAME_TEXT[f] for f in frames] + [
            STANCE_TEXT[(t, s)] for t, s in stance.items() if s != "not_mentioned"
        ]
        filler = " ".join(rng.choice(WORDS) for _ in range(30))  # no two alike (near-dups)
        body = " ".join([*parts, f"Reporters visited the {filler}.", f"Story {i}."])
        rows.append(
            {
                "article_id": f"a-{i:03d}",
                "headline": f"{frames[0].replace('_', ' ').title()} story {i}",
                "body": body,
                "outlet": OUTLETS[i % len(OUTLETS)],
                "published": f"2024-{1 + i % 6:02d}-{1 + i % 27:02d}",
                "_frames": frames,
                "_stance": stance,
            }
        )
    return rows


def run_line(line: str) -> None:
    args = shlex.split(line)
    assert args[0] == "mediaframe", line
    assert main(args[1:]) == 0, line


def test_the_guide_runs_word_for_word_outside_the_repository(
    tmp_path: Path, tracking_uri_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = tmp_path / "study"
    study.mkdir()
    assert not study.is_relative_to(ROOT)
    monkeypatch.chdir(study)
    rows = articles(72)
    with (study / "articles.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if not k.startswith("_")])
        w.writeheader()
        w.writerows({k: v for k, v in r.items() if not k.startswith("_")} for r in rows)

    ran: list[str] = []
    for lang, body in blocks(GUIDE.read_text()):
        first = body.splitlines()[0]
        if lang == "yaml" and first.startswith("# "):
            (study / first[2:].strip()).write_text(body)  # a file the guide has you write
            continue
        if lang != "bash":
            continue
        for line in body.strip().splitlines():
            run_line(line)
            ran.append(shlex.split(line)[1])
            if ran[-1] == "ingest":
                write_hand_gold(study, rows)
            if ran[-1] == "gold" and "export" in line:
                annotate_in_label_studio(study)

    assert ran.count("label") == 2 and {"split", "compare", "publish", "score"} <= set(ran)
    assert not (study / "configs").exists()
    gold = [json.loads(x) for x in (study / "gold.jsonl").read_text().splitlines()]
    assert {r.get("annotator") for r in gold} >= {"ann1", "1"}  # by hand and imported
    splits = json.loads((study / "splits.json").read_text())
    docs = pd.read_parquet(study / "work" / "documents.parquet").set_index("id")
    outlets = {k: set(docs.loc[splits[k], "source"]) for k in ("train", "dev", "test")}
    assert not (outlets["dev"] | outlets["train"]) & outlets["test"]
    labels = pd.read_parquet(study / "work" / "labels.parquet")
    assert {"stance_eu", "stance_nato"} <= set(labels.columns)
    assert "gold" in set(labels["label_source"])

    champion = MlflowClient().get_model_version_by_alias("mediaframe", "champion")
    assert str(champion.version) == "1"
    scored = pd.read_parquet(study / "scored")
    assert len(scored) == len(rows) and scored["error"].isna().all()
    assert set(scored["source"]) == set(OUTLETS) and "stance_eu" in scored.columns
    assert (study / "compare" / "compare.html").stat().st_size > 0
    page = (study / "report" / "outlet_report.html").read_text()
    assert "the European Union" in page and all(o in page for o in OUTLETS)


def write_hand_gold(study: Path, rows: list[dict]) -> None:
    """Eight articles of each outlet labelled by hand, keyed by the ids ingest gave them
    (looked up by ``source_id``, as the guide says), frames written as labels or keys."""
    docs = pd.read_parquet(study / "work" / "documents.parquet", columns=["id", "source_id"])
    ids = dict(zip(docs["source_id"], docs["id"], strict=True))
    with (study / "gold.jsonl").open("w") as f:
        for r in rows[:32]:
            frames = [r["_frames"][0].replace("_", " ").title(), r["_frames"][1]]
            row = {
                "id": ids[r["article_id"]],
                "annotator": "ann1",
                "frames": frames,
                "primary_frame": r["_frames"][0],
                "stance": {"EU": r["_stance"]["eu"], "nato": r["_stance"]["nato"]},
                "source_id": r["article_id"],
            }
            f.write(json.dumps(row) + "\n")


def annotate_in_label_studio(study: Path) -> None:
    """The annotator accepts the pre-annotations of the first six tasks, the JSON export
    Label Studio writes (the guide's ``gold import`` reads it)."""
    tasks = json.loads((study / "tasks.json").read_text())[:6]
    assert tasks, "gold export wrote no tasks"
    export = as_label_studio_export(
        tasks, {n: [(1, t["predictions"][0]["result"], {})] for n, t in enumerate(tasks)}
    )
    (study / "export.json").write_text(json.dumps(export))
