"""The two-stage pair family on small real training runs: stage 1 separates pairs about
different things, stage 2 sees and decides only the pairs stage 1 calls related."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.base import ModelBundle
from models.data import Examples, TaskSpec
from models.registry import get_family
from models.training import TaskData, fit_bundle
from models.twostage import TwoStageConfig, TwoStageModel

LABELS = ["agree", "disagree", "discuss", "unrelated"]
SPEC = TaskSpec("pairs", "multiclass", LABELS, pair=True)
TOPICS = [
    ("volcano", "lava", "eruption", "island"),
    ("shark", "beach", "swimmer", "bite"),
    ("senator", "election", "ballot", "vote"),
    ("comet", "telescope", "orbit", "astronomers"),
    ("bank", "robbery", "vault", "police"),
    ("whale", "harbour", "fishermen", "rescue"),
    ("robot", "factory", "workers", "automation"),
    ("bridge", "river", "collapse", "engineers"),
]
# what a body says of its headline's claim, per stance: the cue sentence stage 2 must read
SAYS = {
    0: "Officials confirmed the {a} {b} story is true and verified it.",
    1: "Officials denied it: the {a} {b} story is a hoax and fake.",
    2: "The {a} {b} story reportedly spread and allegedly may be so, sources claim.",
}


def body(topic: tuple[str, ...], stance: int, i: int) -> str:
    a, b, c, d = topic
    filler = f"Weather was mild on day {i}. Markets were calm. Traffic was light in town {i}."
    return f"{filler} The {a} near the {b} drew {c} and {d}. {SAYS[stance].format(a=a, b=b)}"


def pairs(n_per: int, seed: int) -> Examples:
    """Per topic and stance, ``n_per`` related pairs and as many unrelated ones (the
    headline of one topic beside a body of another)."""
    rng = np.random.default_rng(seed)
    texts, targets, y = [], [], []
    for t, topic in enumerate(TOPICS):
        a, b, c, d = topic
        for stance in SAYS:
            for i in range(n_per):
                head = f"{a.title()} at the {b}: {c} and {d} {i}"
                texts.append(body(topic, stance, i))
                targets.append(head)
                y.append(stance)
                other = TOPICS[(t + 1 + int(rng.integers(len(TOPICS) - 1))) % len(TOPICS)]
                texts.append(body(other, int(rng.integers(3)), i))
                targets.append(head)
                y.append(3)
    ids = [f"p{seed}-{i}" for i in range(len(y))]
    return Examples(ids, texts, np.asarray(y), targets)


def test_relatedness_separates_and_unrelated_never_reaches_stage_2(tmp_path: Path) -> None:
    train, test = pairs(6, seed=1), pairs(2, seed=2)
    m = TwoStageModel(SPEC, TwoStageConfig(stage1_iter=50, min_df=1), seed=3)
    m.fit(train)
    # stage 2 is trained on related pairs only: it has no "unrelated" class at all
    assert m.stage2 is not None and 3 not in set(m.stage2.classes_)

    p_rel = m.relatedness(test.texts, test.targets)
    related = test.y != 3
    assert p_rel[related].min() > 0.5 > p_rel[~related].max()

    probs = m.predict_proba(test.texts, test.targets)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # routing: only pairs at or over the threshold were read by stage 2; the rest keep the
    # training prior as their stance mass and are decided unrelated
    np.testing.assert_array_equal(m.routed, p_rel >= m.cfg.relatedness_threshold)
    out = ~m.routed
    assert out.any()
    stance_mass = probs[out][:, :3] / probs[out][:, :3].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(stance_mass, np.tile(m.prior, (out.sum(), 1)), rtol=1e-5)
    assert (probs[out].argmax(axis=1) == 3).all()
    # and stage 2 reads the stance sentence: related pairs get their stance
    pred = probs.argmax(axis=1)
    assert (pred[related] == test.y[related]).mean() >= 0.9

    # through the one training path, saved and loaded: the same probabilities
    tune = pairs(1, seed=4)
    bundle = fit_bundle(
        TaskData(SPEC, train, tune, tune.subset([])),
        "twostage",
        TwoStageConfig(stage1_iter=50, min_df=1),
        3,
    )
    assert get_family("twostage").model() is TwoStageModel
    bundle.save(tmp_path / "b")
    again = ModelBundle.load(tmp_path / "b")
    np.testing.assert_allclose(
        again.predict_proba(test.texts, test.targets),
        bundle.predict_proba(test.texts, test.targets),
    )


def test_twostage_refuses_tasks_it_cannot_route() -> None:
    with pytest.raises(ValueError, match="pair task"):
        TwoStageModel(TaskSpec("frames", "multilabel", ["a", "b"])).check()
    with pytest.raises(ValueError, match="unrelated_label 'unrelated' is not a label"):
        TwoStageModel(TaskSpec("s", "multiclass", ["favor", "against"], pair=True)).check()
