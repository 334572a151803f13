"""Pasted state-media wire copy (issue #19's styles, written from scratch): each article its
own document, with its own title and the date and agency its dateline carries."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.webclean import article_counts
from pipelines.clean import Cleaner, collapse_repeated_body, title_key
from pipelines.config import IngestConfig
from pipelines.dates import dateline_source, find_date
from pipelines.ingest import ingest

FIXTURES = Path(__file__).parent / "fixtures" / "statemedia"


def segments(name: str) -> list:
    return Cleaner().split_dump((FIXTURES / name).read_text(encoding="utf-8"))


def test_wire_digest_gives_each_article_alone_with_its_title_and_date() -> None:
    segs = segments("wire-digest.txt")
    assert [s.title for s in segs] == [
        'Alliance to hold "Northern Gate" drills near Baltic coast',
        "Ministers agree to extend grain corridor talks",
        "Security council to meet on terrorism threat",
    ]
    assert [s.date for s in segs] == ["2014-03-12", None, "2014-03-14"]  # no year: unknown
    assert [s.dateline_source for s in segs] == ["RIA Novosti", "RIA Novosti", "TASS"]
    text = "\n".join(s.text for s in segs)
    for chrome in ("MenuNews", "CommentsAdd", "Baltic, drills", "1 / 4", "Previous", "1 2 3"):
        assert chrome not in text
    assert "Drills near border draw protest" not in text  # the related-headline run
    # the second article's body was printed twice: one copy stays
    assert len(segs[1].paragraphs) == 3


def test_title_repeated_with_other_quotes_and_a_source_starts_the_next_article() -> None:
    segs = segments("2014-03-20-pasted.txt")
    assert [s.title for s in segs] == [
        'Talks on "border regime" resume in Minsk – TASS',
        "Experts doubt quick deal on checkpoints",
    ]
    assert [len(s.paragraphs) for s in segs] == [2, 2]
    assert "Page 1 of 3" not in segs[0].text and "Previous" not in segs[1].text


def test_ingest_takes_a_missing_year_from_the_file_name_and_keeps_the_agency(
    tmp_path: Path,
) -> None:
    ingest([FIXTURES], tmp_path, IngestConfig())
    df = pd.read_parquet(tmp_path / "documents.parquet").set_index("title")
    assert len(df) == 5
    assert df.loc["Experts doubt quick deal on checkpoints", "date"] == "2014-03-21"
    assert df.loc["Ministers agree to extend grain corridor talks", "date"] is None
    assert set(df["dateline_source"]) == {"RIA Novosti", "TASS"}
    assert set(df["source"]) == {"statemedia"}  # the outlet column is not overwritten


def test_title_key_ignores_quotes_case_and_a_trailing_source() -> None:
    assert title_key("Talks on “border regime” resume – TASS") == title_key(
        "talks on 'border regime' resume"
    )
    assert title_key("Talks resume") != title_key("Talks resumed in Minsk")


def test_dates_only_with_a_year_or_one_from_metadata() -> None:
    assert find_date("14:32 12.03.2014") == "2014-03-12"
    assert find_date("MOSCOW, March 12 (RIA Novosti) - Ministers met") is None
    assert find_date("MOSCOW, March 12 (RIA Novosti) - Ministers met", year=2014) == "2014-03-12"
    assert find_date("Ministers met for six hours on Wednesday") is None
    assert dateline_source("MOSCOW, March 3. /TASS/. The alliance said") == "TASS"
    assert dateline_source("The alliance said on Monday (in a statement) - that") is None


def test_a_body_printed_twice_is_kept_once() -> None:
    body = ["First paragraph.", "Second paragraph.", "Third paragraph."]
    assert collapse_repeated_body(body + body) == body
    assert collapse_repeated_body(["A.", "B.", "A."]) == ["A.", "B.", "A."]


# A second dump written from scratch for issue #19's styles: a glued icon-font menu, a title
# printed twice with other quotes, clock-time lines, a subtitle and a photo-count widget
# before the body, related-headline runs, keyword lines with and without "Tags:", glued
# comment-widget words, a body printed twice, a byline "AGENCY day.month.year", datelines
# "day.month.year AGENCY." and "CITY, Month day (Agency) –", a repeated title and a pager.
DIGEST = FIXTURES.parent / "pasted" / "alliance-digest.txt"
DIGEST_ARTICLES = [
    ("Baltic states ask alliance for more air patrols", "The defence ministers of the three"),
    ('Minister: "No plans" for new base in the north', "had no plans to open a new military"),
    ("Ex-officer held on spying charges", "A former army officer was detained"),
    ("Analysts divided over sanctions relief", "Analysts in Washington were divided"),
    ("Summit on terrorism to open in Astana", "Leaders of the regional security bloc"),
]


def test_digest_articles_come_out_alone_with_titles_dates_and_agencies() -> None:
    segs = Cleaner().split_dump(DIGEST.read_text(encoding="utf-8"))
    docs = [(s.title, s.text) for s in segs]
    assert article_counts(docs, DIGEST_ARTICLES) == {"alone": 5, "merged": 0, "cut": 0, "lost": 0}
    assert [title_key(s.title) for s in segs] == [title_key(t) for t, _ in DIGEST_ARTICLES]
    # the clock-time lines and the byline carry the year; "June 5 (RT)" alone does not
    assert [s.date for s in segs] == ["2015-06-03", "2015-06-04", "2015-06-05", None, None]
    assert [s.dateline_source for s in segs] == [
        "RIA Novosti",
        "ITAR-TASS",
        "ITAR-TASS",
        "RT",
        "ITAR-TASS",
    ]
    text = "\n".join(s.text for s in segs)
    for chrome in (
        "HomeWorld",
        "0Comments",
        "Aircraft intercepted",
        "Bombers fly",
        "Photo 1 of 6",
        "air policing, Baltic",
        "Tags:",
        "Prev",
        "1 2 3",
        "Next",
        "09:47",
    ):
        assert chrome not in text, chrome
    assert text.count("A former army officer was detained") == 1  # the body printed twice
    assert text.count("Summit on terrorism") == 0  # its title is the title, not body text


def test_article_counts_tell_merged_and_cut_apart() -> None:
    expected = [("Talks resume", "Delegations met"), ("Deal doubted", "Experts said")]
    assert article_counts([("Talks resume", "Delegations met. Experts said no.")], expected) == {
        "alone": 0,
        "merged": 2,
        "cut": 0,
        "lost": 0,
    }
    assert article_counts(
        [("Talks resume", "x"), ("1 / 4", "Delegations met."), ("Deal doubted", "Experts said")],
        expected,
    ) == {"alone": 1, "merged": 0, "cut": 1, "lost": 0}
