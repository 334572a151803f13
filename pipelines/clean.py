"""Plain-text clean-up of scraped news: site chrome out, pasted articles apart.

Web dumps arrive as lines. Some lines are chrome (icon-font menus, "Listen Live",
"Get short URL", share footers, tag lines, runs of related-headline links); some files
hold several articles pasted one after another, each starting with a short title line,
often printed twice. The rules live here as data (regexes) so a user can extend them
from the ingest config without touching code.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipelines.boilerplate import LineModel, RecurringLines, keep_mask
from pipelines.dates import byline_source, dateline_source, find_date

# Lines that are entirely chrome. Matched against a stripped line, case-insensitively.
DEFAULT_CHROME_LINES: tuple[str, ...] = (
    r"(?:icon[ -][\w-]+[\s|·•]*){2,}",
    r"listen live",
    r"get short url",
    r"short url",
    r"copy link",
    r"(?:share|share this|share on|share article)(?:\s+(?:on\s+)?[\w ]{0,30})?",
    r"(?:facebook|twitter|x|telegram|vk|whatsapp|linkedin|email|e-mail|print|reddit|viber"
    r"|ok|odnoklassniki|mail|copy)(?:[\s|·•,/]+(?:facebook|twitter|x|telegram|vk|whatsapp"
    r"|linkedin|email|e-mail|print|reddit|viber|ok|odnoklassniki|mail|copy))*",
    r"\d*\s*comments?",
    r"(?:add|leave|post|write|view|show|hide) (?:a |your )?comments?.*",
    r"subscribe(?: to [\w ]{1,40})?(?: now)?[.!]?",
    r"follow us(?: on [\w ,&]{1,60})?[.!]?",
    r"(?:read|see) (?:more|also|also:)[.:]?",
    r"(?:related|related articles|related news|related stories|more on this|more on the topic"
    r"|more stories|most read|most popular|top stories|latest news|trending|recommended"
    r"|you may also like|read next|editor's picks?)[:.]?",
    r"advertisement|sponsored(?: content)?|ad",
    r"(?:tags?|keywords?|topics?|filed under)\s*[:|].*",
    r"(?:©|\(c\)|copyright).{0,120}",
    r"all rights reserved.*",
    r"(?:photo|image|video|file photo)(?: ?credit)?\s*[:/].{0,120}",
    r"(?:click|tap) (?:here|to).{0,80}",
    r"(?:sign up|log in|login|register) .{0,60}",
    r"(?:we use cookies|this website uses cookies).{0,200}",
    r"(?:back to top|skip to (?:main )?content|menu|search|home|close)",
    r"(?:updated|published|posted)\s*:?\s*[\w ,:.+/-]{3,40}",
    r"(?:\d{1,2}:\d{2}\s*,?\s*)?\d{1,2}[./ ](?:\d{1,2}|[A-Za-z]{3,9})[./ ]\d{2,4}"
    r"(?:\s*,?\s*\d{1,2}:\d{2})?(?:\s*\(?(?:updated|msk|gmt|utc)[^)]*\)?)?",
    r"(?:[A-Z][a-z]{2,8}\.? \d{1,2},? \d{4})(?:,? \d{1,2}:\d{2}(?: ?[ap]\.?m\.?)?)?",
    r"\d+\s*(?:min(?:ute)?s?|sec)\s*read",
    r"(?:text size|font size|a\+|a-)(?:\s+a[+-])*",
)

# Inline chrome that can sit in the middle of a line of text.
INLINE_CHROME: tuple[str, ...] = (r"(?:\bicon[ -][\w-]+\b[\s|·•]*){2,}",)

# Lines that close an article: a title after them starts a new one.
END_MARKERS = re.compile(
    r"^(?:get short url|short url|copy link|share\b.*|\d*\s*comments?|(?:add|leave|post) "
    r"(?:a |your )?comments?.*|(?:tags?|keywords?|topics?|filed under)\s*[:|].*|related\b.*"
    r"|more on this.*|read (?:more|also).*|most read.*|(?:©|copyright).*|all rights reserved.*"
    r"|subscribe.*|follow us.*)$",
    re.IGNORECASE,
)

DATELINE = re.compile(
    r"^(?:[A-Z][A-Z.'’\- ]{1,40}[A-Z.]|[A-Z][a-z]+(?: [A-Z][a-z]+)?)"
    r"(?:\s*,\s*(?:[A-Z][a-z]{2,9}\.?\s+\d{1,2}|\d{1,2}\s+[A-Z][a-z]{2,9})(?:,\s*\d{4})?"
    r"(?:\s*[./]?\s*/[^/]{2,40}/\.?|\s*\([^)]{2,40}\))?\s*[.,:\-–—]"
    r"|\s*\([^)]{2,40}\)\s*[-–—:])"
)

_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
_BYLINE = re.compile(r"^(?:by|posted by|written by|from)\s", re.IGNORECASE)
WS = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_SENTENCE_BREAK = re.compile(r"[a-z0-9%)][.!?][\"”’]?\s+[\"“‘]?[A-Z]")
TERMINAL = re.compile(r"[.!…\"”»’')\]:;,]$")


@dataclass
class Segment:
    """One article cut out of a dump, with the line where it began."""

    title: str
    paragraphs: list[str]
    start_line: int
    date: str | None = None
    dateline_source: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@dataclass
class Cleaner:
    """Compiled chrome rules; build once per ingest, reuse for every document."""

    extra_patterns: Iterable[str] = ()
    # which lines of a plain-text dump are article text (None: the shipped, fitted model)
    line_model: LineModel | None = None
    _line_re: re.Pattern[str] = field(init=False, repr=False)
    _inline_re: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        patterns = list(DEFAULT_CHROME_LINES) + list(self.extra_patterns)
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"invalid chrome pattern {p!r}: {exc}") from exc
        self._line_re = re.compile(
            r"^(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\s*$", re.IGNORECASE
        )
        self._inline_re = re.compile("|".join(INLINE_CHROME), re.IGNORECASE)

    # -- line level -------------------------------------------------------------------
    def normalise_line(self, line: str) -> str:
        line = unicodedata.normalize("NFC", line)
        line = self._inline_re.sub(" ", line)
        line = WS.sub(" ", line).strip()
        return collapse_doubled(line)

    def is_chrome(self, line: str) -> bool:
        return bool(self._line_re.match(line))

    # -- document level ---------------------------------------------------------------
    def clean_text(self, text: str, title: str | None = None) -> tuple[str, int]:
        """Clean a single article body; returns the text and how many chrome lines went."""
        lines = [self.normalise_line(x) for x in text.splitlines()]
        kept: list[str] = []
        dropped = 0
        for line in _drop_related_runs(lines):
            if not line:
                continue
            if self.is_chrome(line):
                dropped += 1
                continue
            if title and not kept and _same(line, title):
                dropped += 1  # the title printed again at the top of the body
                continue
            if kept and _same(line, kept[-1]):
                dropped += 1
                continue
            kept.append(line)
        return "\n\n".join(kept), dropped

    def split_dump(
        self,
        text: str,
        split: bool = True,
        recurring: RecurringLines | None = None,
        year: int | None = None,
    ) -> list[Segment]:
        """Cut a plain-text dump into articles: title line (optionally doubled), then body.

        ``year`` (from file metadata) lets a dateline without a year give a date.
        """
        raw = [self.normalise_line(x) for x in text.splitlines()]
        lines, dates = self._content_lines(raw, recurring, year)
        if not lines:
            return []
        starts = [0]
        if split:
            for i in range(1, len(lines)):
                if _starts_article(lines, i) and i - starts[-1] >= 2:
                    starts.append(i)
        segments: list[Segment] = []
        for k, s in enumerate(starts):
            e = starts[k + 1] if k + 1 < len(starts) else len(lines)
            seg = _segment([t for _, t, _ in lines[s:e]], lines[s][0])
            hi = lines[e][0] if e < len(lines) else len(raw)
            seg.date = next((d for no, d, _ in dates if seg.start_line <= no < hi), None)
            byline = next((a for no, _, a in dates if a and seg.start_line <= no < hi), None)
            # the dateline opens the body, under a subtitle at most: two paragraphs are looked at
            lead = seg.paragraphs[:2]
            found = next((a for p in lead if (a := dateline_source(p) or byline_source(p))), None)
            seg.dateline_source = found or byline
            seg.date = seg.date or next((d for p in lead if (d := find_date(p[:80], year))), None)
            segments.append(seg)
        return fold_untitled_lead(merge_stubs(segments))

    def _content_lines(
        self, raw: list[str], recurring: RecurringLines | None, year: int | None
    ) -> tuple[list[tuple[int, str, bool]], list[tuple[int, str, str | None]]]:
        """The article lines (number, text, follows an end marker) and the dates chrome carries
        (number, ISO date, the agency when the line is a byline such as "ITAR-TASS 05.06.2015")."""
        keep = keep_mask(raw, self.line_model)
        lines: list[tuple[int, str, bool]] = []
        dates: list[tuple[int, str, str | None]] = []
        after_end = True
        for no, line in enumerate(_drop_related_runs(raw)):
            chrome = not line or not keep[no] or self.is_chrome(line)
            chrome = chrome or (len(line) < 60 and byline_source(line) is not None)
            if chrome or (recurring is not None and recurring.is_chrome(line)):
                if raw[no] and len(raw[no]) < 120 and (found := find_date(raw[no], year)):
                    # a timestamp or byline line, dropped as chrome
                    dates.append((no, found, byline_source(raw[no])))
                if line and (END_MARKERS.match(line) or _is_related_header(line)):
                    after_end = True
                continue
            lines.append((no, line, after_end))
            after_end = False
        return lines, dates


# An article has a body: a "segment" with fewer words than this is a teaser, a widget or a
# headline list, and belongs to the article beside it (pasted wire copy runs from 40 words).
MIN_ARTICLE_WORDS = 35


def merge_stubs(segments: list[Segment]) -> list[Segment]:
    """Fold each segment too short to be an article into the one before (the first: after)."""
    out: list[Segment] = []
    pending: list[str] = []  # stubs before the first real article
    for seg in segments:
        lines = ([seg.title] if seg.title else []) + seg.paragraphs
        if sum(len(x.split()) for x in seg.paragraphs) >= MIN_ARTICLE_WORDS or len(segments) == 1:
            if pending:
                seg.paragraphs = pending + ([seg.title] if seg.title else []) + seg.paragraphs
                seg.title, pending = "", []
            out.append(seg)
        elif out:
            out[-1].paragraphs.extend(lines)
        else:
            pending.extend(lines)
    if pending:  # no real article at all: one document of everything
        return [Segment("", pending, segments[0].start_line, segments[0].date)]
    return out


def fold_untitled_lead(segments: list[Segment]) -> list[Segment]:
    """Fold a first segment without a title into the article after it.

    An article starts at its title, so text before the first title found is not an article of
    its own: it is the page's top (menus, teasers the line model kept) or the lead of an article
    whose next split was a related headline ("Related", then a headline, then the body again).
    Measured on webclean's single-article pages, such leads were two of the five pages cut.
    """
    if len(segments) < 2 or segments[0].title:
        return segments
    lead, first = segments[0], segments[1]
    first.paragraphs = lead.paragraphs + first.paragraphs
    first.start_line = lead.start_line
    first.date = first.date or lead.date
    first.dateline_source = first.dateline_source or lead.dateline_source
    return segments[1:]


def _segment(block: list[str], start: int) -> Segment:
    """One article from its lines: a headline-like first line is the title; no repeats."""
    title = block[0] if is_title_like(block[0]) else ""
    paragraphs: list[str] = []
    for line in block[1:] if title else block:
        if title and not paragraphs and _same(line, title):
            continue  # the title printed again
        if paragraphs and _same(line, paragraphs[-1]):
            continue
        paragraphs.append(line)
    return Segment(title, collapse_repeated_body(paragraphs), start)


def collapse_repeated_body(paragraphs: list[str]) -> list[str]:
    """A body printed twice in a row (a page's print view under its web view) kept once."""
    n = len(paragraphs)
    for size in range(n // 2, 0, -1):
        for i in range(n - 2 * size + 1):
            if size >= 2 and paragraphs[i : i + size] == paragraphs[i + size : i + 2 * size]:
                return collapse_repeated_body(paragraphs[: i + size] + paragraphs[i + 2 * size :])
    return paragraphs


def collapse_doubled(line: str) -> str:
    """'Talks resume Talks resume' -> 'Talks resume': a title printed twice on one line."""
    words = line.split(" ")
    n = len(words)
    if n >= 4 and n % 2 == 0 and words[: n // 2] == words[n // 2 :]:
        return " ".join(words[: n // 2])
    return line


_QUOTES = str.maketrans(dict.fromkeys("“”„«»‘’‚‹›'", '"'))
_TRAILING_SOURCE = re.compile(r"\s+[-–—|]\s+[^-–—|]{2,40}$")


def title_key(line: str) -> str:
    """A line as compared with its repeat: typographic quotes, case, a trailing " - Source" and
    final stops do not count ("Talks 'resume' - TASS" is the same title as "Talks ‘resume’")."""
    key = _TRAILING_SOURCE.sub("", line.translate(_QUOTES)).casefold()
    return key.rstrip(" .")


def _same(a: str, b: str) -> bool:
    return title_key(a) == title_key(b)


def is_title_like(line: str) -> bool:
    """A headline: short, starts like a sentence, no sentence-final full stop."""
    words = line.split()
    if not 2 <= len(words) <= 22 or len(line) > 170:
        return False
    if not (line[0].isupper() or line[0].isdigit() or line[0] in "\"'“‘«"):
        return False
    if len(_LETTER_WORD.findall(line)) < 2 or _BYLINE.match(line):
        return False  # a timestamp, a pager ("1 / 4"), a counter or a byline
    if _SENTENCE_BREAK.search(line):
        return False  # two sentences on one line: a paragraph, not a headline
    if line.endswith(("'", '"', "”", "’")):
        return line.rstrip("'\"”’")[-1:] not in ".!,;:"  # a quoted sentence ends in '."'
    return not TERMINAL.search(line) or line.endswith("?")


def is_body_like(line: str) -> bool:
    return len(line.split()) >= 12 or bool(DATELINE.match(line))


def _is_related_header(line: str) -> bool:
    return bool(
        re.match(
            r"^(?:related|more on this|read (?:more|also)|most read|more stories|latest news"
            r"|you may also like|read next|top stories)\b",
            line,
            re.IGNORECASE,
        )
    )


def _drop_related_runs(lines: list[str]) -> list[str]:
    """Blank out runs of related-headline links.

    A run is three or more consecutive title-like lines with no body between them, or any
    title-like lines right after a "Related"/"Read also" header. A doubled title (two equal
    lines) is an article start, never part of a run, and so is a title followed by a
    dateline or a body paragraph.
    """
    out = list(lines)
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        if line and _is_related_header(line):
            j = i + 1
            while j < n and (not lines[j] or is_title_like(lines[j])):
                if _opens_article(lines, j):
                    break
                out[j] = ""
                j += 1
            i = j
            continue
        if line and is_title_like(line):
            j = i
            run: list[int] = []
            while j < n and (not lines[j] or is_title_like(lines[j])):
                if lines[j]:
                    if _opens_article(lines, j):
                        break
                    run.append(j)
                j += 1
            if len(run) >= 3:
                for k in run:
                    out[k] = ""
            i = max(j, i + 1)
            continue
        i += 1
    return out


def _next_nonempty(lines: list[str], j: int) -> str:
    for k in range(j + 1, min(len(lines), j + 4)):
        if lines[k]:
            return lines[k]
    return ""


def _opens_article(lines: list[str], j: int) -> bool:
    nxt = _next_nonempty(lines, j)
    if not nxt:
        return False
    return _same(nxt, lines[j]) or bool(DATELINE.match(nxt)) or len(nxt.split()) >= 25


def _starts_article(lines: list[tuple[int, str, bool]], i: int) -> bool:
    _, line, after_end = lines[i]
    # a short label ("Editors Pick", "Your Account", "The Nation Barbados") is a section or a
    # footer heading, not a headline, however it is framed
    if not is_title_like(line) or len(line.split()) < 4:
        return False
    nxt = lines[i + 1][1] if i + 1 < len(lines) else ""
    prev = lines[i - 1][1]
    if _same(nxt, line) and not _same(prev, line):
        return True  # title printed twice
    if nxt and DATELINE.match(nxt) and not is_title_like(prev):
        return True  # title then a wire dateline
    # after a footer (share/short URL/tags/related), a title then a body paragraph
    return after_end and bool(nxt) and is_body_like(nxt)


def normalise_for_hash(title: str, text: str) -> str:
    joined = f"{title}\n\n{text}" if title else text
    joined = unicodedata.normalize("NFKC", joined).casefold()
    return re.sub(r"\s+", " ", joined).strip()


def content_id(title: str, text: str) -> str:
    """Stable document id: a hash of the normalised title and text, not of the file."""
    return hashlib.sha256(normalise_for_hash(title, text).encode("utf-8")).hexdigest()[:16]
