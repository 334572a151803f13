"""Which lines of a plain-text web dump are article text: a jusText-style model.

Select-all text from a browser keeps the page's menus, share rows, cookie notes and footers as
lines of their own. Site-specific patterns do not carry over to the next site, so each line is
judged from features that hold across sites (length, stopword density, glued menu tokens,
title case, sentence shape), then short lines take the class of their neighbours, as jusText
(Pomikálek 2011) does for HTML blocks. Lines that recur across the files of one folder are
chrome whatever they look like (see ``RecurringLines``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable

# jusText's English defaults, on characters and on the share of words that are stopwords.
LENGTH_LOW = 70
LENGTH_HIGH = 200
STOP_LOW = 0.30
STOP_HIGH = 0.32
# Body text extraction: a dropped line inside a block costs this many characters of text; a
# further block of text is kept if it holds REGION_SHARE of the best block's, and REGION_MIN.
GAP_COST = 50.0
REGION_SHARE = 0.3
REGION_MIN = 150.0
# A heading kept before good text must sit within this many characters of it.
HEADING_DISTANCE = 200

GOOD, NEARGOOD, SHORT, BAD = "good", "neargood", "short", "bad"


@functools.cache
def _stoplists() -> dict[str, frozenset[str]]:
    """jusText's stoplists (about 100 languages), loaded once per process."""
    import justext

    return {lang: frozenset(justext.get_stoplist(lang)) for lang in justext.get_stoplists()}


@functools.cache
def _word_languages() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for lang, words in _stoplists().items():
        for w in words:
            index.setdefault(w, []).append(lang)
    return {w: tuple(langs) for w, langs in index.items()}


def stoplist_for(words: Iterable[str]) -> frozenset[str]:
    """The stoplist that covers most of ``words``: the dump's language, without a detector."""
    index = _word_languages()
    hits: Counter[str] = Counter()
    for w in words:
        hits.update(index.get(w, ()))
    if not hits:
        return _stoplists()["English"]
    return _stoplists()[hits.most_common(1)[0][0]]


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_GLUED = re.compile(r"[a-z][A-Z][a-z]")
_SENTENCE_END = re.compile(r"[.!?…][\"”’»)]?$")


def classify_line(line: str, stopwords: frozenset[str]) -> str:
    """The context-free class of one non-empty line."""
    words = _WORD.findall(line)
    if not words:
        return BAD  # digits, symbols, a timestamp or a pager
    tokens = line.split()
    numbers = sum(any(ch.isdigit() for ch in t) for t in tokens)
    if numbers >= 2 and len(words) <= 2 and len(line) < 40:
        return BAD  # a pager or counter widget: "Page 1 of 3", "1 2 3 4 5"
    if sum(len(_GLUED.findall(t)) >= 2 for t in tokens) / len(tokens) > 0.25:
        return BAD  # an icon-font menu or widget words pasted without spaces: "NewsWorldSport"
    items = line.split(",")
    if (
        len(items) >= 3
        and all(len(x.split()) <= 3 for x in items)
        and not _SENTENCE_END.search(line)
    ):
        return BAD  # a keyword line: "Baltic, drills, security"
    if len(line) < LENGTH_LOW or (len(line) < LENGTH_HIGH and not _SENTENCE_END.search(line)):
        return SHORT  # too short to judge alone, or shaped like a headline: the context decides
    stop = sum(w.lower() in stopwords for w in words) / len(words)
    if stop >= STOP_HIGH and len(line) >= LENGTH_HIGH:
        return GOOD
    if stop >= STOP_LOW or (stop >= 0.2 and _SENTENCE_END.search(line)):
        return NEARGOOD
    return BAD


def _neighbour(classes: list[str], i: int, step: int, skip: tuple[str, ...]) -> str | None:
    j = i + step
    while 0 <= j < len(classes):
        if classes[j] not in skip:
            return classes[j]
        j += step
    return None


def _resolve_short(lines: list[str], classes: list[str], i: int) -> str:
    prev = _neighbour(classes, i, -1, (SHORT,)) or BAD
    nxt = _neighbour(classes, i, 1, (SHORT,)) or BAD
    if prev == nxt:
        return prev
    # between good text and chrome: a whole short sentence ("Talks resume on Monday.") closes
    # or opens the paragraph beside it; a label ("Share", "Related") does not
    return GOOD if _SENTENCE_END.search(lines[i]) and len(lines[i].split()) >= 3 else BAD


def keep_mask(lines: list[str]) -> list[bool]:
    """Per line: does it belong to the article text? Empty lines are False."""
    idx = [i for i, x in enumerate(lines) if x]
    stopwords = stoplist_for(w.lower() for i in idx for w in _WORD.findall(lines[i]))
    ctx = [classify_line(lines[i], stopwords) for i in idx]
    if ctx and not any(c in (GOOD, BAD) for c in ctx):
        ctx = [NEARGOOD if c == SHORT else c for c in ctx]  # too little text to judge: keep it
    # near-good lines stay near-good (not bad, as jusText's between-bad rule would make them):
    # measured on webclean, that rule cost more article text than it removed chrome
    first = [GOOD if c == NEARGOOD else c for c in ctx]
    texts = [lines[i] for i in idx]
    final = [_resolve_short(texts, first, k) if c == SHORT else c for k, c in enumerate(first)]
    _keep_headings(lines, idx, ctx, final)
    keep = main_regions(
        [len(lines[i]) if c == GOOD else None for i, c in zip(idx, final, strict=True)]
    )
    final = [GOOD if k else (BAD if c == GOOD else c) for k, c in zip(keep, final, strict=True)]
    _keep_headings(lines, idx, ctx, final)  # again: a block's heading may sit across a gap
    mask = [False] * len(lines)
    for k, i in enumerate(idx):
        mask[i] = final[k] == GOOD
    return mask


def _best_run(values: list[float], free: list[bool]) -> tuple[float, int, int]:
    """Kadane's maximum-sum run of ``values`` inside the ``free`` positions."""
    best, lo, hi = 0.0, 0, 0
    total, start = 0.0, 0
    for i, v in enumerate(values):
        if not free[i]:
            total, start = 0.0, i + 1
            continue
        if total <= 0:
            total, start = 0.0, i
        total += v
        if total > best:
            best, lo, hi = total, start, i + 1
    return best, lo, hi


def main_regions(chars: list[int | None]) -> list[bool]:
    """Good lines that sit in an article's block of text, not in the page's furniture.

    The article is the run of lines with the most good text net of a cost per dropped line in
    it (Finn et al.'s body text extraction, on lines). A pasted file holds several articles, so
    further runs are kept while each holds at least ``REGION_SHARE`` of the best one's text;
    a newsletter blurb or author bio in the footer holds far less than an article.
    """
    values = [float(c) if c is not None else -GAP_COST for c in chars]
    free = [True] * len(values)
    keep = [False] * len(values)
    first = 0.0
    while True:
        score, lo, hi = _best_run(values, free)
        # the best block is the article however short; a further one must earn its place
        if hi <= lo or (first and score < max(REGION_MIN, REGION_SHARE * first)):
            break
        first = first or score
        for i in range(lo, hi):
            free[i] = False
            keep[i] = chars[i] is not None
    return keep


def _keep_headings(lines: list[str], idx: list[int], ctx: list[str], final: list[str]) -> None:
    """A short line just above good text is its heading (an article title, a subhead)."""
    for k, c in enumerate(ctx):
        if c != SHORT or final[k] == GOOD:
            continue
        dist = 0
        for m in range(k + 1, len(idx)):
            if final[m] == GOOD:
                if dist <= HEADING_DISTANCE:
                    final[k] = GOOD
                break
            dist += len(lines[idx[m]])
            if dist > HEADING_DISTANCE:
                break


def line_key(line: str) -> bytes:
    """A short digest of a line, case- and space-insensitive, for counting recurrences."""
    return hashlib.blake2b(" ".join(line.casefold().split()).encode(), digest_size=8).digest()


class RecurringLines:
    """Lines seen in several files of one folder (one site's scrape) are that site's chrome.

    Counts each distinct line once per file. The table is bounded: at most ``max_keys``
    8-byte keys (about 100 bytes each with the Counter's overhead: 20 MB at the default), after
    which new lines are no longer counted, so a huge folder can only under-report chrome.
    """

    def __init__(self, min_files: int = 3, max_words: int = 30, max_keys: int = 200_000):
        self.min_files = min_files
        self.max_words = max_words
        self.max_keys = max_keys
        self.counts: Counter[bytes] = Counter()
        self.files = 0

    def add_file(self, lines: Iterable[str]) -> None:
        self.files += 1
        for key in {line_key(x) for x in lines if x and len(x.split()) <= self.max_words}:
            if key in self.counts or len(self.counts) < self.max_keys:
                self.counts[key] += 1

    def is_chrome(self, line: str) -> bool:
        return (
            len(line.split()) <= self.max_words
            and self.counts.get(line_key(line), 0) >= self.min_files
        )
