"""Both model families on small real data; the transformer is a tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.base import FitOptions, ModelBundle
from models.baseline import BaselineModel
from models.data import Examples, TaskSpec
from models.transformer import TrainingInterrupted, TransformerModel, seed_everything
from models.transformer.trainer import dev_metrics
from pipelines.config import BaselineConfig, TransformerConfig

POS = [
    "troops and missiles deployed at the border",
    "military drills and air defence",
    "the army held exercises near the frontier",
    "warships and fighter jets patrolled",
]
NEG = [
    "grain prices rose at the market",
    "the budget and trade deficit widened",
    "tariffs hurt exporters and farmers",
    "inflation squeezed household incomes",
]
FAV = "{t} was praised as a reliable partner that helps keep the peace."
AGN = "{t} was accused of provocations and blamed for the escalation."


def frames_data(n: int = 40) -> Examples:
    texts, y = [], []
    for i in range(n):
        a, b = POS[i % 4], NEG[(i // 2) % 4]
        texts.append(f"{a}. {b}." if i % 3 == 0 else (a if i % 3 == 1 else b))
        y.append([int(i % 3 != 2), int(i % 3 != 1), 0])
    return Examples([f"d{i}" for i in range(n)], texts, np.array(y))


def stance_data(n: int = 48) -> Examples:
    texts, targets, y = [], [], []
    for i in range(n):
        t, other = ("NATO", "Russia") if i % 2 else ("Russia", "NATO")
        fav = i % 4 < 2
        texts.append(
            (FAV if fav else AGN).format(t=t) + " " + (AGN if fav else FAV).format(t=other)
        )
        targets.append("nato" if t == "NATO" else "russia")
        y.append(0 if fav else 1)
    return Examples([f"s{i}" for i in range(n)], texts, np.array(y), targets)


FRAMES = TaskSpec("frames", "multilabel", ["security", "economic", "other"])
STANCE = TaskSpec(
    "stance",
    "multiclass",
    ["favor", "against", "neutral"],
    pair=True,
    target_names={"nato": "NATO", "russia": "Russia"},
    target_aliases={"nato": ["NATO"], "russia": ["Russia"]},
    cue_lexicon={
        "favor": ["prais*", "reliable"],
        "against": ["accus*", "blam*"],
        "negations": ["not"],
    },
)


def test_baseline_multilabel_learns_and_handles_label_without_positives() -> None:
    m = BaselineModel(FRAMES, BaselineConfig(C=10))
    m.fit(frames_data())
    p = m.predict_proba(["missiles and troops at the border", "grain prices and tariffs"])
    assert p[0, 0] > 0.5 > p[0, 1] and p[1, 1] > 0.5 > p[1, 0]
    assert (p[:, 2] == 0).all()


def test_baseline_pairs_condition_on_the_target() -> None:
    m = BaselineModel(STANCE, BaselineConfig(C=10, pair_full_text=False, target_window=0))
    m.fit(stance_data())
    text = FAV.format(t="NATO") + " " + AGN.format(t="Russia")
    p = m.predict_proba([text, text], ["nato", "russia"])
    assert p[0].argmax() == 0 and p[1].argmax() == 1


def test_linear_svm_probabilities_follow_its_margins_and_take_a_temperature() -> None:
    texts = POS + NEG + ["the tariffs and the troops"] * 2
    three = Examples([f"t{i}" for i in range(10)], texts, np.array([0] * 4 + [1] * 4 + [2] * 2))
    spec = TaskSpec("t", "multiclass", ["security", "economic", "mixed"])
    m = BaselineModel(spec, BaselineConfig(classifier="linear_svm", C=1.0))
    m.fit(three)
    probe = ["missiles at the frontier", "trade deficit and prices", "the tariffs and the troops"]
    p = m.predict_proba(probe)
    svm = m.estimators[0]
    assert np.allclose(p.sum(axis=1), 1.0)
    assert (p.argmax(axis=1) == svm.predict(m.features.transform(m._frame(probe, None)))).all()
    assert list(p.argmax(axis=1)) == [0, 1, 2]
    # the bundle sharpens or flattens the margins' softmax without changing the decision
    sharp = ModelBundle(m, temperature=0.5).predict_proba(probe)
    assert (sharp.max(axis=1) > p.max(axis=1)).all()
    assert (sharp.argmax(axis=1) == p.argmax(axis=1)).all()
    # two classes: one margin, read as a sigmoid against zero
    two = Examples([f"b{i}" for i in range(8)], POS + NEG, np.array([0] * 4 + [1] * 4))
    m2 = BaselineModel(
        TaskSpec("b", "multiclass", ["security", "economic"]),
        BaselineConfig(classifier="linear_svm"),
    )
    m2.fit(two)
    margin = m2.estimators[0].decision_function(m2.features.transform(m2._frame(probe[:2], None)))
    assert np.allclose(m2.predict_proba(probe[:2])[:, 1], 1 / (1 + np.exp(-margin)))


def test_bundle_save_load_gives_same_probabilities(tmp_path: Path) -> None:
    m = BaselineModel(FRAMES)
    m.fit(frames_data())
    b = ModelBundle(m, temperature=1.5, thresholds=[0.4, 0.6, 0.5])
    b.save(tmp_path / "b")
    b2 = ModelBundle.load(tmp_path / "b")
    texts = ["troops at the border", "prices rose"]
    assert np.allclose(b.predict_proba(texts), b2.predict_proba(texts))
    assert b2.decide(b2.predict_proba(texts))[0] == b.decide(b.predict_proba(texts))[0]


def tiny(**kw) -> TransformerConfig:
    base = {
        "init": "random",
        "max_length": 48,
        "epochs": 3,
        "batch_size": 8,
        "lr": 1e-3,
        "head_lr": 5e-3,
        "patience": 5,
        "checkpoint_every": 2,
        "threads": 2,
    }
    return TransformerConfig(**{**base, **kw})


@pytest.mark.slow
def test_pair_bundle_with_cue_features_round_trips(tmp_path: Path) -> None:
    m = BaselineModel(STANCE, BaselineConfig(pair_full_text=False, target_features=False))
    data = stance_data()
    m.fit(data)
    ModelBundle(m).save(tmp_path / "s")
    back = ModelBundle.load(tmp_path / "s")
    assert back.spec == STANCE
    p = back.predict_proba(data.texts[:6], data.targets[:6])
    assert np.allclose(p, m.predict_proba(data.texts[:6], data.targets[:6]))


def test_tiny_transformer_trains_saves_and_loads(tmp_path: Path) -> None:
    m = TransformerModel(STANCE, tiny(epochs=8))
    data = stance_data()
    m.fit(data, data.subset(range(8)))
    p = m.predict_proba(data.texts[:8], data.targets[:8])
    assert p.shape == (8, 3) and np.allclose(p.sum(axis=1), 1)
    assert len(m.history) >= 1 and "dev_macro_f1" in m.history[0]
    m.save(tmp_path / "t")
    m2 = TransformerModel.load(tmp_path / "t", STANCE)
    assert np.allclose(p, m2.predict_proba(data.texts[:8], data.targets[:8]), atol=1e-5)


@pytest.mark.slow
def test_resumed_training_reaches_the_same_weights(tmp_path: Path) -> None:
    data = frames_data(32)
    full = TransformerModel(FRAMES, tiny())
    full.fit(data, data.subset(range(8)), options=FitOptions(checkpoint_dir=tmp_path / "a"))
    cut = TransformerModel(FRAMES, tiny())
    with pytest.raises(TrainingInterrupted):
        cut.fit(
            data,
            data.subset(range(8)),
            options=FitOptions(checkpoint_dir=tmp_path / "b", stop_after_steps=5),
        )
    resumed = TransformerModel(FRAMES, tiny())
    resumed.fit(
        data,
        data.subset(range(8)),
        options=FitOptions(checkpoint_dir=tmp_path / "b", resume_from=tmp_path / "b"),
    )
    texts = data.texts[:10]
    assert np.allclose(full.predict_proba(texts), resumed.predict_proba(texts), atol=1e-4)


@pytest.mark.slow
def test_long_text_keeps_head_and_tail() -> None:
    m = TransformerModel(FRAMES, tiny(max_length=32))
    m._build()
    text = "alpha " * 5 + "filler " * 200 + "omega " * 5
    short = m._shorten(text, None)
    assert short.startswith("alpha") and short.rstrip().endswith("omega")
    enc = m.encode([text], None)
    assert len(enc.input_ids[0]) <= 32


@pytest.mark.slow
def test_frozen_encoder_trains_only_the_head() -> None:
    m = TransformerModel(STANCE, tiny(freeze_encoder=True, epochs=4))
    data = stance_data()
    seed_everything(m.seed)
    m._build()
    before = {k: v.clone() for k, v in m.net.encoder.state_dict().items()}
    m.fit(data, data.subset(range(8)))
    after = m.net.encoder.state_dict()
    # fit() rebuilds from the same seed, so the frozen encoder equals a fresh build's.
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert m.predict_proba(data.texts[:4], data.targets[:4]).shape == (4, 3)
    # Early stopping read the dev set through cached embeddings and the head alone; the
    # kept epoch's dev score must be what the full network gives on those texts.
    dev = data.subset(range(8))
    best = max(h["dev_score"] for h in m.history)
    full = dev_metrics(m.spec.kind, dev.y, m.predict_proba(dev.texts, dev.targets))["dev_score"]
    assert full == pytest.approx(best, abs=1e-6)
