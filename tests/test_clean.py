"""Each dirty-web pattern the ingest stage must undo, as a fixture of its own."""

from __future__ import annotations

from pipelines.clean import Cleaner, collapse_doubled, content_id, is_title_like

BODY1 = [
    "MOSCOW, March 3. /Example Agency/. The alliance announced new exercises near the border "
    "on Monday, officials said, adding that several thousand troops would take part.",
    "The defence ministry said it would respond to any provocation with appropriate measures, "
    "according to a statement published on its website.",
]
BODY2 = [
    "BRUSSELS, March 4 (Example Wire) - Ministers met to discuss grain prices and the cost of "
    "fertiliser for farmers across the region on Tuesday.",
    "A spokesperson said the talks had been constructive and that a second round would follow "
    "later in the month.",
]


def split(text: str) -> list:
    return Cleaner().split_dump(text)


def test_icon_menu_listen_live_and_short_url_are_removed() -> None:
    dump = "\n".join(
        [
            "icon bookmark icon camera icon share icon comment",
            "Listen Live",
            "Alliance plans drills near border",
            *BODY1,
            "Get short URL",
        ]
    )
    (seg,) = split(dump)
    assert seg.title == "Alliance plans drills near border"
    assert seg.paragraphs == BODY1


def test_inline_icon_run_inside_a_line_is_removed() -> None:
    c = Cleaner()
    assert (
        c.normalise_line("icon bookmark icon camera Ministers met today") == "Ministers met today"
    )


def test_title_printed_twice_on_two_lines_and_on_one_line() -> None:
    (seg,) = split(
        "\n".join(["Ministers discuss grain prices", "Ministers discuss grain prices", *BODY2])
    )
    assert seg.title == "Ministers discuss grain prices"
    assert (
        collapse_doubled("Talks resume in Geneva Talks resume in Geneva")
        == "Talks resume in Geneva"
    )
    (seg2,) = split("\n".join(["Talks resume in Geneva Talks resume in Geneva", *BODY2]))
    assert seg2.title == "Talks resume in Geneva"


def test_share_footer_tags_and_related_headlines_are_removed() -> None:
    dump = "\n".join(
        [
            "Ministers discuss grain prices",
            *BODY2,
            "Share on Facebook Twitter",
            "12 comments",
            "Tags: grain, economy, EU",
            "Related",
            "Another story about something else",
            "Second related headline here",
            "Third related headline in the list",
        ]
    )
    (seg,) = split(dump)
    assert seg.paragraphs == BODY2


def test_related_run_without_header_is_removed() -> None:
    dump = "\n".join(
        [
            "Ministers discuss grain prices",
            *BODY2,
            "Another story about something else",
            "Second related headline here",
            "Third related headline in the list",
        ]
    )
    (seg,) = split(dump)
    assert seg.paragraphs == BODY2


def test_seven_pasted_articles_become_seven_documents() -> None:
    parts = []
    for k in range(7):
        title = f"Story number {k} about regional security talks"
        body = [p.replace("Monday", f"day {k}") for p in (BODY1 if k % 2 else BODY2)]
        if k % 3 == 0:
            parts += [
                "icon bookmark icon share",
                "Listen Live",
                title,
                title,
                *body,
                "Get short URL",
                "Tags: security",
                "",
            ]
        elif k % 3 == 1:
            parts += [
                "Menu",
                title,
                "March 4, 2024",
                *body,
                "Read also:",
                "First related link headline",
                "Second related link headline",
                "Third related link headline",
                "",
            ]
        else:
            parts += [title, title, *body, "Share", ""]
    segs = split("\n".join(parts))
    assert [s.title for s in segs] == [
        f"Story number {k} about regional security talks" for k in range(7)
    ]
    for s in segs:
        assert len(s.paragraphs) == 2
        assert not any("related" in p.lower() or "icon" in p for p in s.paragraphs)


def test_paragraph_boundaries_are_kept() -> None:
    (seg,) = split("\n".join(["Ministers discuss grain prices", BODY2[0], "", BODY2[1]]))
    assert seg.text == "\n\n".join(BODY2)


def test_date_is_taken_from_a_dateline_chrome_line() -> None:
    (seg,) = split(
        "\n".join(["Ministers discuss grain prices", "Published: 2024-03-04 10:15", *BODY2])
    )
    assert seg.date == "2024-03-04"


def test_quoted_sentence_is_not_a_title() -> None:
    assert not is_title_like('"A lie repeated for years becomes the landscape," he said.')
    assert not is_title_like("It rained. Then it stopped")
    assert is_title_like("Alliance plans drills near border")


def test_content_id_is_stable_under_whitespace_and_case() -> None:
    assert content_id("Title", "Body  text\n\nmore") == content_id("title", "body text more")
    assert content_id("Title", "Body") != content_id("Title", "Body!")


def test_line_model_drops_footer_prose_that_jusText_rules_keep() -> None:
    """A whole sentence spoken to the reader ("you can support us") after the article is
    chrome to the fitted line model; jusText's length-and-stopword rules keep it as text."""
    from pipelines.boilerplate import JUSTEXT_RULES

    footer = (
        "If you enjoyed this, you can support us: your donation keeps our reporting free for "
        "you and your friends."
    )
    dump = "\n".join(["Ministers discuss grain prices", *BODY2, *BODY1, "Get our app", footer])
    (seg,) = Cleaner().split_dump(dump)
    assert seg.title == "Ministers discuss grain prices"
    assert seg.paragraphs == BODY2 + BODY1
    (rules,) = Cleaner(line_model=JUSTEXT_RULES).split_dump(dump)
    assert footer in rules.paragraphs
