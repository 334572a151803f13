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


def _one_regex(groups: dict[str, list[str]]):
    """The definition the matcher must equal: one alternation of all cues, longest first."""
    import re

    from labeling.codebook import cue_to_regex

    ordered = sorted(
        ((n, c) for n, cues in groups.items() for c in cues), key=lambda nc: -len(nc[1])
    )
    parts, group_of, index = [], {}, 1
    for name, cue in ordered:
        frag = cue_to_regex(cue, name)
        parts.append(f"({frag})" if cue.startswith("case:") else f"((?i:{frag}))")
        group_of[index] = name
        index += 1 + re.compile(frag).groups
    regex = re.compile("|".join(parts))
    return lambda text: [(group_of[m.lastindex], m.span()) for m in regex.finditer(text)]


def test_matcher_equals_one_alternation_regex_on_the_sample(root: Path) -> None:
    """Indexing cues by their first word must not change a single match (nor its group)."""
    import json

    from labeling.codebook import CueMatcher

    texts = [
        "US-led sanctions; the U.S. and the Americans. Tell us. NATO's chief, the "
        "alliance's secretary-general, Moscow-led security bloc, Moscow. EXPORTS, "
        "export-led, re-export, trade deal\n\nstruck, trade  deals, ODKB, port, passport.",
        "Straße ſanctions KELVIN Kremlin's; failed to act, n't, don't, price, PRICES.",
    ]
    with (root / "data/articles/batch_a.jsonl").open() as f:  # the reference is slow
        rows = [json.loads(x) for x in f][:12]
    texts += [r["title"] + "\n\n" + r["text"] for r in rows]
    cb = load_codebook(root / "configs/codebooks/mfc.yaml")
    st = load_stance(root / "configs/stance.yaml")
    groups = [
        {k: f.cues for k, f in cb.frames.items()},
        {k: t.aliases for k, t in st.targets.items()},
        {"favor": st.favor_cues, "against": st.against_cues},
    ]
    n_matches = 0
    for g in groups:
        fast, reference = CueMatcher(g, "test"), _one_regex(g)
        for text in texts:
            got = [(name, m.span()) for name, m in fast.finditer(text)]
            assert got == reference(text), text[:80]
            n_matches += len(got)
    assert n_matches > 500  # the comparison saw real matches, not empty lists
