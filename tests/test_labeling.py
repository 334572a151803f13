"""Labeling functions on real codebooks: cues, stance near mentions, failures contained."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from labeling.codebook import load_codebook, load_stance
from labeling.functions import Doc, frame_lf, headline_and_body, paragraphs, stance_lf
from labeling.weak import WeakLabeler, to_rows

HOSTILE = Doc(
    "h",
    "NATO provocations near the border",
    "MOSCOW, May 2. The Foreign Ministry condemned NATO's reckless drills near the "
    "border and accused the alliance of provocations. Moscow praised the CSTO as a "
    "reliable guarantor of security for its members.",
)
GRAIN = Doc(
    "g",
    "Grain prices rise at the market",
    "Wheat and bread prices rose again at the regional market this week as farmers "
    "blamed higher fuel costs. Shoppers said household budgets were stretched.",
)


def labeler(root: Path, codebook: str = "mfc", extra=()) -> WeakLabeler:
    return WeakLabeler(
        load_codebook(root / f"configs/codebooks/{codebook}.yaml"),
        load_stance(root / "configs/stance.yaml"),
        extra_lfs=extra,
    )


def test_security_and_economy_and_stance_are_recognised(root: Path) -> None:
    lab = labeler(root)
    docs = [HOSTILE, GRAIN]
    mats, _ = lab.apply(docs)
    weak = lab.aggregate(docs, mats, "majority_vote", "majority_vote")
    import pandas as pd

    rows = to_rows(pd.DataFrame({"id": ["h", "g"]}), docs, lab, weak, 0.5, "majority_vote")
    assert rows[0]["primary_frame"] == "security_and_defense"
    assert rows[1]["primary_frame"] == "economic"
    assert rows[0]["stance_nato"] == "against" and rows[0]["stance_csto"] == "favor"
    assert rows[1]["stance_nato"] == "not_mentioned" and rows[1]["stance_us"] == "not_mentioned"
    assert any(e.startswith("stance_nato:") for e in rows[0]["evidence"])


def test_a_raising_function_is_reported_by_name_and_dropped(root: Path) -> None:
    @frame_lf("broken_lf", "economic")
    def broken(doc: Doc) -> int:
        if doc.id == "g":
            raise KeyError("boom")
        return 1

    @stance_lf("fine_stance_lf")
    def fine(doc: Doc, target: str) -> int:
        return -1

    lab = labeler(root, extra=[broken, fine])
    mats, _ = lab.apply([HOSTILE, GRAIN])
    assert lab.failed == {"broken_lf"}
    assert lab.errors == [
        "labeling function 'broken_lf' raised on document g: KeyError: 'boom'; dropped"
    ]
    econ = next(m for m in mats if m.group == "economic")
    col = econ.names.index("broken_lf")
    assert (econ.votes[:, col] == -1).all()  # dropped for the whole run, not just one doc


def test_generic_codebook_works_without_code_changes(root: Path) -> None:
    lab = labeler(root, "generic")
    mats, _ = lab.apply([HOSTILE, GRAIN])
    weak = lab.aggregate([HOSTILE, GRAIN], mats, "majority_vote", "majority_vote")
    keys = lab.codebook.keys
    assert weak.frame_probs.shape == (2, 5)
    assert weak.frame_probs[0, keys.index("conflict")] > 0.5
    assert np.isfinite(weak.frame_probs).all()


def _vote(lab: WeakLabeler, doc: Doc, name: str) -> int:
    lf = next(f for f in lab.frame_lfs if f.name == name)
    return lf(doc)


def test_headline_on_the_first_line_feeds_the_title_functions(root: Path) -> None:
    text = "Court strikes down the new law\nJudges met on Monday. Nothing else happened."
    title, body = headline_and_body(text)
    assert (title, body) == ("Court strikes down the new law", text.split("\n", 1)[1])
    assert headline_and_body("One paragraph, no headline.") == ("", "One paragraph, no headline.")
    long_first = " ".join(["word"] * 60) + "\nsecond line"
    assert headline_and_body(long_first) == ("", long_first)  # too long to be a headline
    lab = labeler(root)
    key = "legality_constitutionality_and_jurisprudence"
    assert _vote(lab, Doc("t", title, body), f"cue_title:{key}") == 1
    assert _vote(lab, Doc("t", "", text), f"cue_title:{key}") == -1


def test_single_line_breaks_end_paragraphs_so_the_lead_is_the_lead(root: Path) -> None:
    """An article whose paragraphs are split by single line breaks: its lead is two lines,
    not the whole article, so cues deep in the body do not make the lead vote."""
    filler = "Officials met again and the talks went on for hours without result."
    court = "The court ruled the law illegal; the judge cited the treaty."
    lines = ["The minister opened a new school.", filler, filler, court, filler]
    doc = Doc("p", "", "\n".join(lines))
    assert paragraphs(doc.text) == lines
    lab = labeler(root)
    lead = "cue_lead:legality_constitutionality_and_jurisprudence"
    assert _vote(lab, doc, lead) == -1  # cues only in the body: the lead abstains
    assert _vote(lab, Doc("p2", "", "\n".join([court, *lines])), lead) == 1


def test_cue_spread_votes_on_frames_used_through_a_long_article(root: Path) -> None:
    """Three distinct cues in two paragraphs of a long article: below the density bar
    (so cue_body abstains) but used, so cue_spread votes present; one hit votes absent."""
    filler = " ".join(["The delegation visited the region and met local officials."] * 30)
    text = "\n".join(
        [f"The court heard the case. {filler}", f"A judge and a lawyer spoke. {filler}"]
    )
    key = "legality_constitutionality_and_jurisprudence"
    lab = labeler(root)
    doc = Doc("s", "", text)
    assert _vote(lab, doc, f"cue_body:{key}") == -1
    assert _vote(lab, doc, f"cue_spread:{key}") == 1
    one = Doc("o", "", f"The court was closed. {filler}")
    assert _vote(lab, one, f"cue_spread:{key}") == 0
    same_paragraph = Doc("q", "", f"The court, a judge and a lawyer. {filler}\n{filler}")
    assert _vote(lab, same_paragraph, f"cue_spread:{key}") == -1  # one paragraph only


def test_lf_summary_plot_prints_dollar_names_as_written(tmp_path) -> None:
    """#18 item 12's class: function names come from user codebooks, and mathtext in one
    (an unbalanced or unknown ``$\\...$``) must not crash the label stage's plot."""
    import pandas as pd

    from labeling.analysis import plot_summary

    table = pd.DataFrame(
        {
            "function": ["cue:$\\frac$ bad", "cue:US$ 5", "cue:plain"],
            "coverage": [0.1, 0.2, 0.3],
            "emp_accuracy": [0.5, None, 0.9],
        }
    )
    out = tmp_path / "lf.png"
    plot_summary(table, str(out))
    assert out.stat().st_size > 1000
