"""Codebooks are data: validated at load with file and line, compiled into one matcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from labeling.codebook import CodebookError, load_codebook, load_stance

MFC = [
    "economic",
    "capacity_and_resources",
    "morality",
    "fairness_and_equality",
    "legality_constitutionality_and_jurisprudence",
    "policy_prescription_and_evaluation",
    "crime_and_punishment",
    "security_and_defense",
    "health_and_safety",
    "quality_of_life",
    "cultural_identity",
    "public_opinion",
    "political",
    "external_regulation_and_reputation",
    "other",
]


def test_shipped_codebooks(root: Path) -> None:
    mfc = load_codebook(root / "configs/codebooks/mfc.yaml")
    assert mfc.keys == MFC
    assert all(f.definition and f.cues for f in mfc.frames.values())
    generic = load_codebook(root / "configs/codebooks/generic.yaml")
    assert generic.keys == [
        "conflict",
        "human_interest",
        "economic_consequences",
        "morality",
        "responsibility",
    ]
    stance = load_stance(root / "configs/stance.yaml")
    assert list(stance.targets) == ["nato", "us", "russia", "csto"]


def test_one_matcher_finds_cues_of_every_frame(root: Path) -> None:
    m = load_codebook(root / "configs/codebooks/mfc.yaml").matcher()
    hits = m.counts(
        "Troops held military exercises while grain prices rose and polls showed voters worried."
    )
    assert {"security_and_defense", "economic", "public_opinion"} <= set(hits)
    assert "steppe" not in str(hits)


def test_mentions_use_aliases_and_case_rules(root: Path) -> None:
    m = load_stance(root / "configs/stance.yaml").mention_matcher()
    hits = m.counts(
        "Washington and the North Atlantic Alliance; the Kremlin; the Moscow-led "
        "bloc. Tell us more."
    )
    assert set(hits) == {"us", "nato", "russia", "csto"}
    assert "us" not in m.counts("Tell us what happened.")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("frames:\n  a:\n    cues: [x]\n  a:\n    cues: [y]\n", "line 4: duplicate key 'a'"),
        ("frames:\n  a:\n    definition: d\n    cues: []\n", "line 2: frame 'a': empty cue"),
        ("frames:\n  a:\n    cues: ['re:(unclosed']\n", "invalid regex"),
        ("frames:\n  BadKey:\n    cues: [x]\n", "snake_case"),
        ("name: x\n", "needs a 'frames:' mapping"),
    ],
)
def test_bad_codebooks_fail_at_load(tmp_path: Path, body: str, needle: str) -> None:
    p = tmp_path / "cb.yaml"
    p.write_text(body)
    with pytest.raises(CodebookError) as err:
        load_codebook(p)
    assert str(p) in str(err.value) and needle in str(err.value)
