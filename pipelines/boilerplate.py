"""Which lines of a plain-text web dump are article text: a jusText-style model.

Select-all text from a browser keeps the page's menus, share rows, cookie notes and footers as
lines of their own. Site-specific patterns do not carry over to the next site, so each line is
judged from features that hold across sites (``FEATURES``: length, stopword density, sentence
shape, capitals, digits, symbols, words addressing the reader, and the neighbours'
shape) by a small logistic model (``LineModel``) whose weights and two cut-offs are
fitted by ``bench/webclean.py`` with cross-validation by page. Its probability gives jusText's
classes; short lines then take the class of their neighbours, as jusText (Pomikálek 2011)
does for HTML blocks, and only the page's main blocks of text stay. A few shapes are never
text (``hard_bad``: pagers, glued icon-font menus, keyword lists). Lines that recur across the
files of one folder are chrome whatever they look like (see ``RecurringLines``).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

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
# A headline is at most this long (a line shaped like one is judged by its neighbours).
HEADLINE_CHARS = 170
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
_SENTENCE_SPLIT = re.compile(r"[.!?…][\"”’»)]?(?:\s|$)")


# Words that address the reader or speak for the site: newsletter calls, cookie notes, author
# blurbs and "we may earn a commission" notes are prose, but prose spoken to "you" by "us".
_READER = frozenset({"you", "your", "yours", "you're", "you’re", "our", "we", "us", "we're"})

# The line features, in the order of ``LineModel.weights``. Each holds across sites: shape
# (length, sentences, terminal stop), vocabulary (stopwords, reader address, capitals, digits,
# symbols), length against the page's longest line, the neighbours' (two lines either side and
# a wider window), labels ending in a colon, link-like tokens, and the run of short lines a line
# sits in (a menu, a link list). No place in the page:
# a pasted file holds several articles, and the last is text as much as the first.
FEATURES = (
    "log_chars",
    "log_words",
    "stopword_ratio",
    "sentence_end",
    "log_sentences",
    "capitalised_ratio",
    "digit_ratio",
    "symbol_ratio",
    "reader_ratio",
    "relative_length",
    "context_log_chars",
    "context_stopword_ratio",
    "context_sentence_end",
    "label_colon",
    "link_ratio",
    "log_short_run",
    "wide_log_chars",
    "wide_stopword_ratio",
    "wide_sentence_end",
)

# Tokens shaped like links, handles or addresses ("www.x.com", "@desk", "#tag", "mail@x.org"):
# menus, share rows and contact footers are made of them, article prose seldom is.
_LINKLIKE = re.compile(r"^(?:https?:|www\.|[@#]\w)|\w\.(?:com|org|net|co|uk|io)\b|\w@\w")
# A line of at most this many words counts towards a run of short lines (a menu, a link list).
SHORT_RUN_WORDS = 4
# The wide context: this many lines either side, the line itself left out. A menu, a footer or
# a related list is a run of lines unlike prose; a list item inside an article sits among prose.
WIDE_WINDOW = 6


def line_features(lines: list[str], stopwords: frozenset[str]) -> list[list[float]]:
    """One feature vector per line (non-empty lines, in page order)."""
    own: list[tuple[float, float, float]] = []
    rows: list[list[float]] = []
    longest = max((len(x) for x in lines), default=1) or 1
    for line in lines:
        words = _WORD.findall(line)
        tokens = line.split() or [""]
        nw = len(words) or 1
        lower = [w.lower() for w in words]
        stop = sum(w in stopwords for w in lower) / nw
        end = 1.0 if _SENTENCE_END.search(line) else 0.0
        rows.append(
            [
                math.log1p(len(line)),
                math.log1p(len(words)),
                stop,
                end,
                math.log1p(len(_SENTENCE_SPLIT.findall(line))),
                sum(w[0].isupper() for w in words) / nw,
                sum(any(c.isdigit() for c in t) for t in tokens) / len(tokens),
                sum(not (c.isalnum() or c.isspace()) for c in line) / max(1, len(line)),
                sum(w in _READER for w in lower) / nw,
                math.log(max(1, len(line)) / longest),
            ]
        )
        own.append((math.log1p(len(line)), stop, end))
    n = len(lines)
    # the run of short lines each line sits in (0 for a longer line)
    short = [len(x.split()) <= SHORT_RUN_WORDS for x in lines]
    run = [0] * n
    i = 0
    while i < n:
        j = i
        while j < n and short[j]:
            j += 1
        for m in range(i, j):
            run[m] = j - i
        i = j + 1 if j == i else j
    prefix = [[0.0, 0.0, 0.0]]
    for v in own:
        prefix.append([a + b for a, b in zip(prefix[-1], v, strict=True)])
    for i, row in enumerate(rows):
        near = [own[j] for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < n]
        k = len(near) or 1
        row.extend(sum(v[f] for v in near) / k for f in range(3))
        line = lines[i]
        tokens = line.split() or [""]
        row.append(1.0 if line.rstrip().endswith(":") else 0.0)
        row.append(sum(bool(_LINKLIKE.search(t)) for t in tokens) / len(tokens))
        row.append(math.log1p(run[i]))
        lo, hi = max(0, i - WIDE_WINDOW), min(n, i + WIDE_WINDOW + 1)
        k = hi - lo - 1
        row.extend(
            (prefix[hi][f] - prefix[lo][f] - own[i][f]) / k if k else own[i][f] for f in range(3)
        )
    return [[float(v) for v in row] for row in rows]


@dataclass(frozen=True)
class LineModel:
    """A logistic model of "this line is article text", and the two cut-offs that turn its
    probability into jusText's classes: at least ``good`` is good, under ``bad`` is bad, in
    between the neighbours decide. Fitted by ``bench/webclean.py --fit`` (cross-validated by
    page on webclean); the weights sit on the raw features of ``FEATURES``."""

    weights: tuple[float, ...]
    bias: float
    good: float = 0.6
    bad: float = 0.3
    # second stage: the line's first-stage log-odds and its neighbours' mean probability in
    # windows of CONTEXT_WINDOWS lines (empty: no second stage)
    context_weights: tuple[float, ...] = ()
    context_bias: float = 0.0

    def first_stage(self, rows: list[list[float]]) -> list[float]:
        """Log-odds from each line's own features."""
        return [
            self.bias + sum(w * x for w, x in zip(self.weights, row, strict=True)) for row in rows
        ]

    def probabilities(self, rows: list[list[float]]) -> list[float]:
        z = self.first_stage(rows)
        if self.context_weights:
            z = [
                self.context_bias + sum(w * x for w, x in zip(self.context_weights, f, strict=True))
                for f in context_features(z)
            ]
        return [_sigmoid(v) for v in z]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Neighbour windows of the second stage: a list item or a code line inside an article is
# article text because the lines around it are.
CONTEXT_WINDOWS = (1, 3, 8)


def context_features(logits: list[float]) -> list[list[float]]:
    """Per line: its own first-stage log-odds, then its neighbours' mean probability in each
    window of ``CONTEXT_WINDOWS`` (the line itself left out)."""
    probs = [_sigmoid(v) for v in logits]
    prefix = [0.0]
    for p in probs:
        prefix.append(prefix[-1] + p)
    n = len(probs)
    out = []
    for i, z in enumerate(logits):
        row = [z]
        for w in CONTEXT_WINDOWS:
            lo, hi = max(0, i - w), min(n, i + w + 1)
            k = hi - lo - 1
            row.append((prefix[hi] - prefix[lo] - probs[i]) / k if k else 0.5)
        out.append(row)
    return out


def hard_bad(line: str) -> bool:
    """Shapes that are never article text, whatever the model says."""
    words = _WORD.findall(line)
    if not words:
        return True  # digits, symbols, a timestamp or a pager
    tokens = line.split()
    numbers = sum(any(ch.isdigit() for ch in t) for t in tokens)
    if numbers >= 2 and len(words) <= 2 and len(line) < 40:
        return True  # a pager or counter widget: "Page 1 of 3", "1 2 3 4 5"
    if sum(len(_GLUED.findall(t)) >= 2 for t in tokens) / len(tokens) > 0.25:
        return True  # an icon-font menu or widget words pasted without spaces: "NewsWorldSport"
    items = line.split(",")
    return (
        len(items) >= 3
        and all(len(x.split()) <= 3 for x in items)
        and not _SENTENCE_END.search(line)
    )  # a keyword line: "Baltic, drills, security"


def classify_line(line: str, stopwords: frozenset[str]) -> str:
    """The context-free class of one non-empty line by jusText's rules (no model)."""
    if hard_bad(line):
        return BAD
    words = _WORD.findall(line)
    if len(line) < LENGTH_LOW or (len(line) < LENGTH_HIGH and not _SENTENCE_END.search(line)):
        return SHORT  # too short to judge alone, or shaped like a headline: the context decides
    stop = sum(w.lower() in stopwords for w in words) / len(words)
    if stop >= STOP_HIGH and len(line) >= LENGTH_HIGH:
        return GOOD
    if stop >= STOP_LOW or (stop >= 0.2 and _SENTENCE_END.search(line)):
        return NEARGOOD
    return BAD


def model_classes(texts: list[str], stopwords: frozenset[str], model: LineModel) -> list[str]:
    """Context-free classes from the line model; short headline-shaped lines stay "short"."""
    probs = model.probabilities(line_features(texts, stopwords))
    out = []
    for line, p in zip(texts, probs, strict=True):
        if hard_bad(line):
            out.append(BAD)
        elif p >= model.good:
            # a headline or a subhead is short: only its neighbours can say it is text
            short = len(line) < LENGTH_LOW and not _SENTENCE_END.search(line)
            out.append(SHORT if short else GOOD)
        elif p < model.bad:
            # a headline of three words or more is never judged alone: few snippets are
            # titles, so the model has not learnt them; the neighbours (the body) decide,
            headline = len(line) <= HEADLINE_CHARS and 3 <= len(line.split()) <= 22
            headline = headline and not _SENTENCE_END.search(line)
            # and a short sentence closing a paragraph ("The drills end on March 25.") neither
            sentence = len(line) < LENGTH_LOW and len(line.split()) >= 3
            out.append(SHORT if headline or sentence else BAD)
        else:
            out.append(SHORT if len(line) < LENGTH_HIGH else NEARGOOD)
    return out


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


def keep_mask(lines: list[str], model: LineModel | None = None) -> list[bool]:
    """Per line: does it belong to the article text? Empty lines are False.

    ``model`` gives the context-free classes (None: ``DEFAULT_MODEL``); ``JUSTEXT_RULES``
    uses jusText's own length and stopword rules instead. A model whose two cut-offs are
    equal keeps a line on its probability alone, without smoothing or blocks.
    """
    model = model or DEFAULT_MODEL
    idx = [i for i, x in enumerate(lines) if x]
    stopwords = stoplist_for(w.lower() for i in idx for w in _WORD.findall(lines[i]))
    texts = [lines[i] for i in idx]
    if model is JUSTEXT_RULES:
        ctx = [classify_line(t, stopwords) for t in texts]
    elif model.good == model.bad:
        probs = model.probabilities(line_features(texts, stopwords))
        mask = [False] * len(lines)
        for k, i in enumerate(idx):
            mask[i] = probs[k] >= model.good and not hard_bad(texts[k])
        return mask
    else:
        ctx = model_classes(texts, stopwords, model)
        if GOOD not in ctx:
            # the model finds no text at all (a one-line file, a page unlike any it was fitted
            # on): jusText's rules judge it, so a plain paragraph is never dropped outright
            ctx = [classify_line(t, stopwords) for t in texts]
    if ctx and not any(c in (GOOD, BAD) for c in ctx):
        ctx = [NEARGOOD if c == SHORT else c for c in ctx]  # too little text to judge: keep it
    # near-good lines stay near-good (not bad, as jusText's between-bad rule would make them):
    # measured on webclean, that rule cost more article text than it removed chrome
    first = [GOOD if c == NEARGOOD else c for c in ctx]
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


# jusText's rules as they stood before the line model: a sentinel for ``keep_mask``.
JUSTEXT_RULES = LineModel(weights=(), bias=0.0)
# Fitted on all 74 webclean pages by `python -m bench.webclean --fit` (CV figure: RESULTS.md).
DEFAULT_MODEL = LineModel(
    weights=(
        -1.564, 2.5763, 1.119, 0.8817, -0.8862, -1.1747, 0.6015, 24.321, -12.3655, 0.6485,
        1.1224, -1.4831, -1.1275, 0.7007, -15.2712, 0.4646, -0.3232, 0.1324, 2.5438,
    ),
    bias=-2.4895,
    good=0.6,
    bad=0.5,
    context_weights=(0.9125, 1.1219, 2.0608, -1.8607),
    context_bias=-0.5585,
)  # fmt: skip
