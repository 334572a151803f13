"""The training set of a grouped split: held-out outlets stay out, weakly labelled or not."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from models.data import doc_id, weak_mask
from pipelines.config import TrainConfig
from pipelines.train_data import build_frames, build_stance

FRAMES = ["conflict", "economic_consequences", "human_interest", "morality", "responsibility"]
TEXT = "Officials in {src} said the dispute over {n} budgets and NATO drills would go on."


def _row(i: int, src: str, source_kind: str, frame: str, stance: str) -> dict:
    return {
        "id": f"{src}-{source_kind}-{i}",
        "frames": [frame],
        "primary_frame": frame,
        "frame_probs": {k: 0.9 if k == frame else 0.1 for k in FRAMES},
        "label_source": source_kind,
        "stance_nato": stance,
        "stance_nato_probs": {"favor": 0.8, "against": 0.1, "neutral": 0.1},
        "source": src,
    }


def corpus(tmp_path: Path, split: dict[str, list[str]] | None = None) -> TrainConfig:
    """Outlets A and B train, C dev, D test: two gold and two weak documents each."""
    rows = []
    for src in "ABCD":
        for i in range(2):
            rows.append(_row(i, src, "gold", FRAMES[i], ["favor", "against"][i]))
            rows.append(_row(i, src, "dawid_skene", FRAMES[i + 2], ["neutral", "favor"][i]))
    labels = pd.DataFrame(rows)
    docs = labels[["id", "source"]].assign(
        title="Talks", text=[TEXT.format(src=s, n=i) for i, s in enumerate(labels["source"])]
    )
    labels.drop(columns=["source"]).to_parquet(tmp_path / "labels.parquet")
    docs.to_parquet(tmp_path / "documents.parquet")
    gold = labels[labels["label_source"] == "gold"]
    by_src = {s: list(gold[gold["source"] == s]["id"]) for s in "ABCD"}
    split = split or {"train": by_src["A"] + by_src["B"], "dev": by_src["C"], "test": by_src["D"]}
    (tmp_path / "splits.json").write_text(json.dumps(split))
    return TrainConfig(
        task="frames",
        labels=str(tmp_path / "labels.parquet"),
        documents=str(tmp_path / "documents.parquet"),
        splits=str(tmp_path / "splits.json"),
        codebook="generic",
    )


@pytest.mark.parametrize("build", [build_frames, build_stance], ids=["frames", "stance"])
def test_weak_documents_of_held_out_outlets_never_reach_training(
    tmp_path: Path, build, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = corpus(tmp_path)
    data = build(cfg.model_copy(update={"task": "frames" if build is build_frames else "stance"}))
    train_docs = {doc_id(i) for i in data.train.ids}
    # the gold train documents and the weak documents of the train outlets...
    assert {d for d in train_docs if "-dawid_skene-" in d} == {
        f"{s}-dawid_skene-{i}" for s in "AB" for i in range(2)
    }
    assert {d.split("-")[0] for d in train_docs} == {"A", "B"}
    # ...and not one document (weak or gold) of the dev outlet C or the test outlet D
    assert not set(data.train.groups) & {"C", "D"}
    assert set(data.dev.groups) == {"C"} and set(data.test.groups) == {"D"}
    assert "4 weakly labelled documents of the 2 dev/test-only sources (C, D)" in (
        capsys.readouterr().err
    )


def test_a_random_split_keeps_the_weak_documents_of_every_outlet(tmp_path: Path) -> None:
    # Every outlet has gold in train: nothing is held out beyond the split's own ids.
    ids = {s: [f"{s}-gold-0", f"{s}-gold-1"] for s in "ABCD"}
    split = {
        "train": [ids[s][0] for s in "ABCD"],
        "dev": [ids["A"][1], ids["C"][1]],
        "test": [ids["B"][1], ids["D"][1]],
    }
    data = build_frames(corpus(tmp_path, split))
    weak = {i for i in data.train.ids if "-dawid_skene-" in i}
    assert len(weak) == 8 and set(data.train.groups) == set("ABCD")
    assert not set(data.train.ids) & set(split["dev"] + split["test"])


@pytest.mark.parametrize("task", ["frames", "stance"])
def test_weakly_labelled_rows_are_marked_weak_and_gold_rows_are_not(
    tmp_path: Path, task: str
) -> None:
    # weakgold, selftrain and the cross-validation tell weak rows from gold by this mark:
    # unmarked, `mediaframe train` would fit them as gold and score folds on them.
    build = build_frames if task == "frames" else build_stance
    data = build(corpus(tmp_path).model_copy(update={"task": task}))
    weak = weak_mask(data.train.ids)
    assert weak.any() and not weak.all()
    assert [("-dawid_skene-" in i) for i in data.train.ids] == weak.tolist()
    assert not weak_mask(data.dev.ids).any() and not weak_mask(data.test.ids).any()
