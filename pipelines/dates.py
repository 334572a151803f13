"""Dates and agencies that datelines, bylines and timestamps carry, as ISO dates.

Only candidate lines reach the parser (a cheap regex finds a day and a month first), so a
corpus of long bodies pays for a few lines per article, not for every line. A date with no
year stays unknown unless the caller has the year from elsewhere (file metadata): a guessed
year would put an article on the wrong point of a time axis.
"""

from __future__ import annotations

import re
from datetime import date

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# A day and a month, with or without a year: ISO, day.month.year, "March 12, 2014", "12 March".
_CANDIDATE = re.compile(
    rf"\b(?:\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}\.\d{{1,2}}\.\d{{4}}"
    rf"|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?|\d{{1,2}} {_MONTH}(?:,? \d{{4}})?)"
)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
# An agency's name: one to four capitalised words ("RIA Novosti", "ITAR-TASS", "RT").
_NAME = r"[A-Z][\w\-]*(?: [A-Z][\w\-]*){0,3}"
# "12.03.2014, RIA Novosti." / "04.06.2015 ITAR-TASS." / "MOSCOW, March 12 (RIA Novosti) -" /
# "MOSCOW, March 3. /TASS/."
_AGENCY = re.compile(
    r"^(?:[A-Z][A-Z.'’\- ]{1,40}, )?(?:[^,()/]{3,30}?)"
    rf"(?:,? (?P<after>{_NAME})\.\s|\s*\((?P<paren>[^)]{{2,40}})\)\s*[-–—:]"
    r"|\.?\s*/(?P<slash>[^/]{2,40})/\.?)"
)
# A byline line that is only an agency and a timestamp: "ITAR-TASS 05.06.2015", "RT, 14:05 3 June"
_TIME = re.compile(r"\b\d{1,2}:\d{2}(?:\s*[ap]\.?m\.?)?", re.IGNORECASE)
_BYLINE_NAME = re.compile(rf"^[\s,.|·•–—-]*(?P<name>{_NAME})[\s,.|·•–—-]*$")
_NOT_AGENCY = {"updated", "published", "posted", "modified", "created", "date", "time", "by"}


def find_date(line: str, year: int | None = None) -> str | None:
    """The ISO date in a dateline/byline/timestamp line, or None.

    A day and month without a year give a date only when ``year`` is known.
    """
    m = _CANDIDATE.search(line)
    if not m:
        return None
    text = m.group(0)
    has_year = bool(_YEAR.search(text))
    if not has_year and year is None:
        return None
    import dateparser

    settings = {"DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first", "STRICT_PARSING": True}
    if not has_year:
        text = f"{text} {year}"
    parsed = dateparser.parse(text, languages=["en"], settings=settings)
    return parsed.date().isoformat() if parsed and parsed.date() <= date(2100, 1, 1) else None


def dateline_source(line: str) -> str | None:
    """The agency a wire dateline names ("RIA Novosti" in "MOSCOW, March 12 (RIA Novosti) -")."""
    if not _CANDIDATE.search(line[:60]):
        return None
    m = _AGENCY.match(line)
    if not m:
        return None
    found = m.group("after") or m.group("paren") or m.group("slash")
    return found.strip() if found else None


def byline_source(line: str) -> str | None:
    """The agency of a line that holds only an agency and a timestamp ("ITAR-TASS 05.06.2015")."""
    m = _CANDIDATE.search(line)
    if not m or len(line) > 60:
        return None
    rest = _TIME.sub(" ", line[: m.start()] + " " + line[m.end() :])
    named = _BYLINE_NAME.match(rest)
    if not named or named.group("name").split()[0].casefold() in _NOT_AGENCY:
        return None
    return named.group("name")
