"""The plain-text line features and the lead fold, on real browser dumps of webclean's pages
(skipped where the dataset is absent) and on lines of the shapes real pages print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.boilerplate import FEATURES, line_features, stoplist_for
from pipelines.clean import Cleaner, Segment, fold_untitled_lead

# the shared datasets sit beside the project checkout (../shared/datasets, as in the README)
WEBCLEAN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "webclean"


def _page(name: str) -> str:
    if not (WEBCLEAN / "snippets.json").exists():
        pytest.skip("the webclean dataset is not on this machine")
    pages = json.loads((WEBCLEAN / "snippets.json").read_text(encoding="utf-8"))
    return (WEBCLEAN / pages[name]["text"]).read_text(encoding="utf-8")


def _features(lines: list[str]) -> list[dict[str, float]]:
    stop = stoplist_for(w.lower() for x in lines for w in x.split())
    return [dict(zip(FEATURES, row, strict=True)) for row in line_features(lines, stop)]


def test_menu_link_and_label_lines_stand_apart_from_prose_on_a_real_page() -> None:
    cleaner = Cleaner()
    lines = [
        x
        for x in (cleaner.normalise_line(r) for r in _page("instyle.com.cancer").splitlines())
        if x
    ]
    feats = _features(lines)
    by_line = dict(zip(lines, feats, strict=True))
    prose = [f for x, f in by_line.items() if len(x) > 300 and x.endswith(".")]
    assert prose
    menu = by_line["Beauty"]  # a menu entry among the page's other menu entries
    assert menu["log_short_run"] > max(f["log_short_run"] for f in prose)
    assert menu["wide_sentence_end"] < min(f["wide_sentence_end"] for f in prose) + 0.5
    printed = next(f for x, f in by_line.items() if "Printed from https://www.instyle.com" in x)
    assert printed["link_ratio"] > 0
    assert max(f["link_ratio"] for f in prose) < printed["link_ratio"]


def test_label_colon_and_link_tokens() -> None:
    lines = [
        "Share this article:",
        "Follow @desk and www.example.com for more",
        "The ministry said the talks would resume on Monday after a week of delays.",
    ]
    label, links, prose = _features(lines)
    assert label["label_colon"] == 1.0 and prose["label_colon"] == 0.0
    assert links["link_ratio"] == pytest.approx(2 / 6)  # six tokens, two link-like
    assert prose["link_ratio"] == 0.0


def test_a_related_headline_inside_a_real_article_does_not_cut_it() -> None:
    """pcmag's page: the body, a "Related" list whose last headline sits just above the
    body's next paragraph, then the rest of the body: one article, under no related title."""
    segs = Cleaner().split_dump(_page("pcmag.com.platters"))
    assert len(segs) == 1
    assert "80TB hard drive is theoretically possible" in segs[0].text


def test_an_untitled_lead_joins_the_article_after_it_and_keeps_its_title() -> None:
    lead = Segment("", ["Home", "Trending now: three teasers the model kept"], 0)
    art = Segment("Ministers discuss grain prices", ["Body one.", "Body two."], 5, "2026-03-01")
    titled = Segment("Another article", ["Its body."], 20)
    (one, two) = fold_untitled_lead([lead, art, titled])
    assert one.title == "Ministers discuss grain prices"
    assert one.paragraphs == [*lead.paragraphs, "Body one.", "Body two."]
    assert (one.start_line, one.date) == (0, "2026-03-01")
    assert two is titled
    # a first article with a title, or a lone segment, is left as it is
    assert fold_untitled_lead([art, titled]) == [art, titled]
    assert fold_untitled_lead([lead]) == [lead]
