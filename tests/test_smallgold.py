"""The small-gold learners (``models/smallgold``): weak rows weighted by a gold-only CV
(``weakgold``) and self-training on the unlabelled rows (``selftrain``), on tiny data.

What they promise whatever the data: the choice is the argmax of the gold-only CV (gold
alone is always a candidate), weak rows that contradict the gold are given no weight,
self-training never reads the extra rows' labels, and bundles round-trip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_embedding import FRAMES, frames_data, tiny_encoder  # noqa: F401

from models.base import ModelBundle
from models.data import Examples, mark_weak, weak_mask
from models.selection import join_examples
from models.smallgold import SelfTrainConfig, SelfTrainModel, WeakGoldConfig, WeakGoldModel
from models.training import TaskData, fit_bundle

pytestmark = pytest.mark.slow


def weak_rows(data: Examples, y: np.ndarray, tag: str) -> Examples:
    ids = [f"{tag}{i}" for i in data.ids]
    return mark_weak(Examples(ids, data.texts, y, weights=np.full(len(data), 0.9)))


def test_weak_rows_that_contradict_the_gold_get_no_weight(tmp_path: Path) -> None:
    gold = frames_data(36)
    gold = Examples(gold.ids, gold.texts, gold.y)  # no groups: plain stratified folds
    wrong = weak_rows(frames_data(36), 1 - frames_data(36).y, "w")  # every label flipped
    train = join_examples(gold, wrong)
    assert weak_mask(train.ids).sum() == len(wrong)
    cfg = WeakGoldConfig(member="baseline", cv_folds=3, weight_grid=[0.0, 0.3, 1.0])
    data = TaskData(FRAMES, train, gold.subset(range(12)), gold)
    bundle = fit_bundle(data, "weakgold", cfg, 13)
    m = bundle.model
    assert isinstance(m, WeakGoldModel)
    assert list(m.cv_scores) == ["w=0", "w=0.3", "w=1"]
    assert m.cv_scores[m.choice] == max(m.cv_scores.values())
    assert m.choice == "w=0" and m.n_added == 0  # the flipped labels would cost F1
    assert m.cv_scores["w=1"] < m.cv_scores["w=0"]
    info = bundle.info["smallgold"]
    assert info["learner"] == "weakgold" and info["extra_rows"] == len(wrong)
    bundle.save(tmp_path / "b")
    back = ModelBundle.load(tmp_path / "b")
    assert isinstance(back.model, WeakGoldModel) and back.model.choice == m.choice
    assert np.allclose(back.predict_proba(gold.texts), bundle.predict_proba(gold.texts))
    # no weak rows (``mediaframe train``): the member on the gold, nothing chosen
    plain = fit_bundle(TaskData(FRAMES, gold, gold.subset(range(12)), gold), "weakgold", cfg, 13)
    assert plain.model.choice == "gold" and plain.model.cv_scores == {}


def test_self_training_never_reads_the_extra_rows_labels(
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    full = frames_data(48)
    gold = Examples(full.ids[:24], full.texts[:24], full.y[:24])
    rest = full.subset(range(24, 48))
    member = {"model_name_or_path": tiny_encoder, "max_tokens": 24, "C_grid": [0.3, 1.0]}
    cfg = SelfTrainConfig(embedding=member, cv_folds=3, thresholds=[0.9, 0.6], rounds=2)
    fits = []
    for y in (np.zeros_like(rest.y), np.ones_like(rest.y)):  # garbage either way
        train = join_examples(gold, weak_rows(rest, y, "u"))
        fits.append(
            fit_bundle(TaskData(FRAMES, train, gold.subset(range(9)), gold), "selftrain", cfg, 13)
        )
    a, b = (f.model for f in fits)
    assert isinstance(a, SelfTrainModel)
    assert list(a.cv_scores) == ["none", "t=0.9,r=1", "t=0.9,r=2", "t=0.6,r=1", "t=0.6,r=2"]
    assert a.cv_scores == b.cv_scores and a.choice == b.choice
    assert a.cv_scores[a.choice] == max(a.cv_scores.values())
    probe = full.texts[:6]
    assert np.allclose(fits[0].predict_proba(probe), fits[1].predict_proba(probe))
    fits[0].save(tmp_path / "s")
    back = ModelBundle.load(tmp_path / "s")
    assert back.model.choice == a.choice
    assert np.allclose(back.predict_proba(probe), fits[0].predict_proba(probe))


def test_setfit_family_fits_predicts_and_round_trips(
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """SetFit on the tiny random BERT (a local folder, no hub): one-vs-rest frames."""
    from models.fewshot import SetFitConfig, SetFitTextModel

    data = frames_data(24)
    cfg = SetFitConfig(model_name_or_path=tiny_encoder, max_length=32, num_iterations=2)
    bundle = fit_bundle(TaskData(FRAMES, data, data.subset(range(8)), data), "setfit", cfg, 13)
    assert isinstance(bundle.model, SetFitTextModel)
    p = bundle.predict_proba(data.texts[:5])
    assert p.shape == (5, len(FRAMES.labels)) and ((p >= 0) & (p <= 1)).all()
    bundle.save(tmp_path / "f")
    back = ModelBundle.load(tmp_path / "f")
    assert np.allclose(back.predict_proba(data.texts[:5]), p, atol=1e-5)
