"""The label model recovers known function accuracies from votes alone."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.label_model import ABSTAIN, dawid_skene, majority_vote


def synthetic(n: int, accuracies: list[float], coverage: float, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    votes = np.full((n, len(accuracies)), ABSTAIN)
    for j, acc in enumerate(accuracies):
        covered = rng.random(n) < coverage
        right = rng.random(n) < acc
        wrong = (truth + rng.integers(1, k, n)) % k
        votes[covered, j] = np.where(right, truth, wrong)[covered]
    return truth, votes


def test_dawid_skene_recovers_function_accuracies() -> None:
    accs = [0.9, 0.8, 0.7, 0.6, 0.55]
    _truth, votes = synthetic(4000, accs, 0.8, 3)
    names = [f"lf{j}" for j in range(len(accs))]
    res = dawid_skene(votes, 3, names)
    est = [res.accuracies[n] for n in names]
    assert est == pytest.approx(accs, abs=0.05)
    assert est == sorted(est, reverse=True)


def test_dawid_skene_beats_majority_vote_when_one_voter_is_good() -> None:
    truth, votes = synthetic(3000, [0.95, 0.45, 0.45, 0.45], 1.0, 3, seed=1)
    ds = dawid_skene(votes, 3, ["a", "b", "c", "d"]).probs.argmax(axis=1)
    mv = majority_vote(votes, 3).probs.argmax(axis=1)
    assert (ds == truth).mean() > (mv == truth).mean() + 0.05


def test_items_without_votes_get_the_prior() -> None:
    votes = np.array([[1, 1], [0, ABSTAIN], [ABSTAIN, ABSTAIN]])
    p = majority_vote(votes, 2).probs
    assert p[0].tolist() == [0.0, 1.0]
    assert p[2].sum() == pytest.approx(1.0) and 0 < p[2][0] < 1
    p_ds = dawid_skene(votes, 2, ["a", "b"]).probs
    assert p_ds.shape == (3, 2) and np.allclose(p_ds.sum(axis=1), 1.0)


@pytest.mark.parametrize(("k", "coverage", "seed"), [(2, 0.5, 3), (3, 0.8, 4)])
def test_dawid_skene_equals_crowd_kit(k: int, coverage: float, seed: int) -> None:
    """Our dense EM is crowd-kit's algorithm: same posteriors, same function accuracies."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    _truth, votes = synthetic(1500, [0.9, 0.75, 0.6, 0.55], coverage, k, seed=seed)
    votes[:50] = ABSTAIN  # items nobody voted on
    votes[50:80, 1:] = ABSTAIN  # items with a single vote
    names = ["a", "b", "c", "d"]
    ours = dawid_skene(votes, k, names)
    rows, cols = np.nonzero(votes != ABSTAIN)
    df = pd.DataFrame(
        {"task": rows, "worker": [names[c] for c in cols], "label": votes[rows, cols]}
    )
    ck = DawidSkene(n_iter=100)
    proba = ck.fit_predict_proba(df).reindex(columns=range(k), fill_value=0.0)
    assert np.allclose(ours.probs[proba.index.to_numpy()], proba.to_numpy(), atol=1e-6)
    assert (
        np.allclose(ours.probs[:50], ours.probs[0])
        and len(proba) == (votes != ABSTAIN).any(axis=1).sum()
    )
    for w in names:
        acc = sum(float(ck.priors_[c]) * float(ck.errors_.loc[(w, c), c]) for c in ck.priors_.index)
        assert ours.accuracies[w] == pytest.approx(acc, abs=1e-6)
