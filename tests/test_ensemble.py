"""The ensemble family: TF-IDF and the embedding family (on the tiny random BERT of
``test_embedding``), mixed with a weight chosen on out-of-fold training predictions.

The tests ask what the family promises whatever its members' quality: the weight is the
out-of-fold argmax (and follows the data, not a constant), the probabilities are the
convex mix of the members' own calibrated outputs, the split it is tuned or scored on
does not move the choice, bundles round-trip, and a champion of it scores through the
registered pyfunc.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import store_in
from test_embedding import FRAMES, STANCE, frames_data, stance_data, tiny_encoder  # noqa: F401

from models.base import ModelBundle
from models.ensemble import EnsembleConfig, EnsembleModel
from models.ensemble.model import scaled
from models.training import TaskData, fit_bundle
from pipelines.config import TrainConfig

pytestmark = pytest.mark.slow


def ens_cfg(encoder: str, **kw) -> EnsembleConfig:
    member = {"model_name_or_path": encoder, "max_tokens": 24, "C_grid": [1.0], "cv_folds": 3}
    base = {"embedding": member, "cv_folds": 3, "weight_grid": [0.0, 0.25, 0.5, 0.75, 1.0]}
    return EnsembleConfig(**{**base, **kw})


def mix_of_members(m: EnsembleModel, texts: list[str], targets=None) -> np.ndarray:
    """The mix recomputed from each member's own ``predict_proba`` and temperature."""
    kind = m.spec.kind
    assert m.baseline is not None and m.member is not None and m.weight is not None
    pb = scaled(m.baseline.predict_proba(texts, targets), m.temperatures["baseline"], kind)
    pm = scaled(m.member.predict_proba(texts, targets), m.temperatures["member"], kind)
    return m.weight * pb + (1 - m.weight) * pm


def test_frames_weight_is_the_out_of_fold_best_and_round_trips(
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    data = frames_data()
    cfg = ens_cfg(tiny_encoder)
    bundle = fit_bundle(TaskData(FRAMES, data, data.subset(range(12)), data), "ensemble", cfg, 13)
    m = bundle.model
    assert isinstance(m, EnsembleModel)
    assert set(m.cv_scores) == {"0", "0.25", "0.5", "0.75", "1"}  # every weight was scored
    best = max(m.cv_scores.values())
    assert m.cv_scores[f"{m.weight:g}"] == best  # the chosen weight is the argmax ...
    assert set(m.member_scores) == {"baseline", "member"}
    info = bundle.info["ensemble"]
    assert info["weight"] == m.weight and info["thresholds"] == "oof"
    assert len(bundle.thresholds) == len(FRAMES.labels)
    probe = [*data.texts[:4], "Troops were deployed. Tariffs hurt exporters."]
    p = m.predict_proba(probe)
    assert np.allclose(p, mix_of_members(m, probe))  # a convex mix of the members' own
    bundle.save(tmp_path / "b")
    back = ModelBundle.load(tmp_path / "b")
    assert isinstance(back.model, EnsembleModel) and back.model.weight == m.weight
    assert back.model.temperatures == m.temperatures
    assert back.thresholds == bundle.thresholds
    assert np.allclose(back.predict_proba(probe), bundle.predict_proba(probe))
    # the tuning split calibrates the bundle but never moves the out-of-fold choice
    other = fit_bundle(
        TaskData(FRAMES, data, data.subset(range(24, 36)), data), "ensemble", cfg, 13
    )
    assert other.model.weight == m.weight and other.model.cv_scores == m.cv_scores


def test_the_weight_follows_which_member_is_right() -> None:
    """On out-of-fold probabilities where one member is right and the other is noise, the
    weight goes to the right one, whichever it is: chosen, not a constant."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    right = np.eye(3)[y] * 0.8 + 0.2 / 3
    noise = rng.dirichlet(np.ones(3), 60)
    m = EnsembleModel(STANCE, EnsembleConfig(weight_grid=[0.0, 0.5, 1.0]))
    m.choose_weight(y, {"baseline": right, "member": noise})
    assert m.weight == 1.0
    m.choose_weight(y, {"baseline": noise, "member": right})
    assert m.weight == 0.0
    assert m.member_scores["member"] > m.member_scores["baseline"]


def test_stance_mix_is_a_distribution_over_classes(tiny_encoder: str) -> None:  # noqa: F811
    data = stance_data()
    m = EnsembleModel(STANCE, ens_cfg(tiny_encoder))
    m.fit(data)
    p = m.predict_proba(data.texts, data.targets)
    assert np.allclose(p.sum(axis=1), 1)
    assert np.allclose(p, mix_of_members(m, data.texts, data.targets))
    assert (p.argmax(axis=1) == data.y).mean() > 0.8  # it learnt the training set


def test_members_default_to_the_runs_own_sections(tiny_encoder: str) -> None:  # noqa: F811
    c = TrainConfig(
        task="frames",
        family="ensemble",
        baseline={"C": 2.0},
        embedding={"max_tokens": 64},
        ensemble={"embedding": {"model_name_or_path": tiny_encoder}},
    )
    sec = c.family_config()
    assert isinstance(sec, EnsembleConfig)
    assert sec.baseline.C == 2.0  # from the run's baseline: section
    assert sec.embedding.model_name_or_path == tiny_encoder  # set under ensemble: wins
    assert sec.embedding.max_tokens == 256  # ... whole, so the run's embedding: is not read
    with pytest.raises(ValueError, match="member"):
        TrainConfig(task="frames", family="ensemble", ensemble={"member": "svm"})


def test_an_ensemble_champion_scores_through_the_pyfunc(
    baseline_champion: dict,
    tiny_encoder: str,  # noqa: F811
    tmp_path: Path,
    root: Path,
) -> None:
    """Train (frames, stance) -> publish -> score the registered pyfunc, in a store of its
    own; the session's ingested and labelled sample is read, never written."""
    from pipelines.config import PublishConfig
    from pipelines.publish import publish
    from pipelines.train import run_train

    member = {"model_name_or_path": tiny_encoder, "max_tokens": 64, "max_chunks": 4}
    section = {"embedding": {**member, "C_grid": [1.0], "cv_folds": 2}, "cv_folds": 2}
    gold = root / "data/gold"
    common = {
        "family": "ensemble",
        "labels": str(baseline_champion["labels"]),
        "documents": str(baseline_champion["documents"]),
        "output": str(tmp_path / "models"),
        "codebook": str(root / "configs/codebooks/mfc.yaml"),
        "stance": str(root / "configs/stance.yaml"),
        "splits": str(gold / "splits.json"),
        "bootstrap": 50,
        "ensemble": section,
    }
    text = "NATO troops held drills near the border as Moscow condemned the provocation."
    with store_in(tmp_path):
        runs = {t: run_train(TrainConfig(task=t, **common))["run_id"] for t in ("frames", "stance")}
        res = publish(
            PublishConfig(
                gold=str(gold / "gold.jsonl"),
                splits=str(gold / "splits.json"),
                documents=str(baseline_champion["documents"]),
                bootstrap=50,
                frames_run=runs["frames"],
                stance_run=runs["stance"],
            )
        )
        assert res.alias == "champion"
        model = mlflow.pyfunc.load_model("models:/mediaframe@champion")
        out = model.predict(pd.DataFrame({"id": ["a"], "text": [text]}))
    assert out["error"].isna().all()
    frames = ModelBundle.load(tmp_path / "models" / "frames-ensemble")
    assert frames.model.family == "ensemble" and frames.info["ensemble"]["member"] == "embedding"
    expected = frames.predict_proba([text])[0]
    assert np.allclose([out.loc[0, "frame_probs"][k] for k in frames.spec.labels], expected)
    assert out.loc[0, "stance_nato"] in {"favor", "against", "neutral"}
