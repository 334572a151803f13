"""Labeling functions: small typed voters that label a document or abstain.

Framing is multi-label, so frame functions vote per frame: present (1), absent (0) or
abstain (-1). Stance functions see a (document, target) pair that mentions the target and
vote an index into the stance labels, or abstain. Users add their own with the
``frame_lf`` / ``stance_lf`` decorators; built-ins are cue lexicons compiled once per
codebook, cues near target mentions (with negation and quotes), and similarity between
the document's embedding and each frame's definition.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labeling.codebook import Codebook, CueMatcher, StanceSpec, cue_to_regex
from labeling.label_model import ABSTAIN


@dataclass
class Doc:
    """What a labeling function sees; derived views are computed once and shared."""

    id: str
    title: str
    text: str
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> int:
        if "words" not in self.cache:
            self.cache["words"] = len(self.text.split())
        return self.cache["words"]

    @property
    def sentences(self) -> list[str]:
        if "sentences" not in self.cache:
            self.cache["sentences"] = split_sentences(self.text)
        return self.cache["sentences"]


_SENT = re.compile(r"(?<=[.!?…])[\"”’»)]*\s+(?=[\"“‘«(]?[A-Z0-9])|\n{2,}")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s and s.strip()]


_PARAGRAPH = re.compile(r"\s*\n\s*")
HEADLINE_MAX_WORDS = 40


def paragraphs(text: str) -> list[str]:
    """The text's non-empty lines: a blank line or a single line break ends a paragraph.

    Exports differ: some separate paragraphs by blank lines, many (SemEval-2023's among
    them) by single line breaks. Splitting on blank lines only made the "lead" of a
    single-break article the whole article.
    """
    return [p for p in _PARAGRAPH.split(text.strip()) if p]


def headline_and_body(text: str) -> tuple[str, str]:
    """(title, body) of a text whose first line is its headline, else ("", text).

    Datasets that ship the article as one field with the headline on its first line
    (SemEval-2023) would otherwise never fire the title functions. A first line counts as
    a headline when another line follows it and it is short (at most
    ``HEADLINE_MAX_WORDS`` words); otherwise the text is returned whole.
    """
    head, sep, body = text.strip().partition("\n")
    if not sep or not body.strip() or len(head.split()) > HEADLINE_MAX_WORDS:
        return "", text
    return head.strip(), body.strip()


@dataclass
class LabelingFunction:
    """A named voter. ``frame`` is set for per-frame functions, ``task`` says which task."""

    name: str
    task: str  # "frames" | "stance"
    fn: Callable[..., int]
    frame: str | None = None

    def __call__(self, *args: Any) -> int:
        return int(self.fn(*args))


def frame_lf(name: str, frame: str) -> Callable[[Callable[[Doc], int]], LabelingFunction]:
    """Decorator: ``@frame_lf("my_lf", "economic")`` over ``def f(doc) -> 1 | 0 | -1``."""

    def wrap(fn: Callable[[Doc], int]) -> LabelingFunction:
        return LabelingFunction(name, "frames", fn, frame)

    return wrap


def stance_lf(name: str) -> Callable[[Callable[[Doc, str], int]], LabelingFunction]:
    """Decorator: ``@stance_lf("my_lf")`` over ``def f(doc, target) -> label index | -1``."""

    def wrap(fn: Callable[[Doc, str], int]) -> LabelingFunction:
        return LabelingFunction(name, "stance", fn)

    return wrap


# ============================================================================ frames
class FrameCues:
    """Runs the codebook matcher once per document; the cue functions read its counts."""

    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook
        self.matcher = codebook.matcher()

    def hits(self, doc: Doc) -> dict[str, dict[str, list[str]]]:
        key = f"cues:{self.codebook.name}"
        if key not in doc.cache:
            lead = "\n\n".join(paragraphs(doc.text)[:2])
            doc.cache[key] = {
                "title": self.matcher.counts(doc.title or ""),
                "lead": self.matcher.counts(lead),
                "body": self._body(doc),
            }
        return doc.cache[key]

    def paragraphs_with(self, doc: Doc) -> dict[str, int]:
        """How many of the body's paragraphs hold at least one cue of each frame."""
        self.hits(doc)
        return doc.cache[f"cue_paragraphs:{self.codebook.name}"]

    def _body(self, doc: Doc) -> dict[str, list[str]]:
        """The body's cue hits per frame (one pass), noting the paragraph of each hit."""
        breaks = [m.end() for m in _PARAGRAPH.finditer(doc.text)]
        hits: dict[str, list[str]] = {}
        where: dict[str, set[int]] = {}
        for name, m in self.matcher.finditer(doc.text):
            hits.setdefault(name, []).append(m.group(0).lower())
            where.setdefault(name, set()).add(bisect.bisect_right(breaks, m.start()))
        doc.cache[f"cue_paragraphs:{self.codebook.name}"] = {k: len(v) for k, v in where.items()}
        return hits


SPREAD_MIN_DISTINCT = 3  # distinct cue words of a frame ...
SPREAD_MIN_PARAGRAPHS = 2  # ... found in at least this many paragraphs


def cue_functions(cues: FrameCues) -> list[LabelingFunction]:
    """Four cue voters per frame: body density, title, lead paragraphs and spread.

    Density (cue hits per 100 words) is a high bar for a long article: a frame used all
    through a 900-word piece but not dominating it stays below 1 hit per 100 words, and
    with the title and lead functions also silent every function abstained, so the label
    model fell back to its prior, which for most frames is "absent". That is how frames
    present in half of an article collection (Political, Morality) were under-labelled.
    ``cue_spread`` votes on exactly that middle ground: several distinct cue words of the
    frame in more than one paragraph say it is used, whatever the article's length; at
    most one hit says it is not.
    """
    lfs: list[LabelingFunction] = []
    for key in cues.codebook.keys:

        def body(doc: Doc, key: str = key) -> int:
            hits = cues.hits(doc)["body"].get(key, [])
            distinct = len(set(hits))
            per100 = 100 * len(hits) / max(doc.words, 1)
            if distinct >= 3 and per100 >= 1.0:
                return 1
            if not hits:
                return 0
            return ABSTAIN

        def title(doc: Doc, key: str = key) -> int:
            return 1 if cues.hits(doc)["title"].get(key) else ABSTAIN

        def lead(doc: Doc, key: str = key) -> int:
            h = cues.hits(doc)
            n_lead = len(set(h["lead"].get(key, [])))
            if n_lead >= 2:
                return 1
            if n_lead == 0 and len(h["body"].get(key, [])) <= 1:
                return 0
            return ABSTAIN

        def spread(doc: Doc, key: str = key) -> int:
            hits = cues.hits(doc)["body"].get(key, [])
            if (
                len(set(hits)) >= SPREAD_MIN_DISTINCT
                and cues.paragraphs_with(doc).get(key, 0) >= SPREAD_MIN_PARAGRAPHS
            ):
                return 1
            if len(hits) <= 1:
                return 0
            return ABSTAIN

        lfs.append(LabelingFunction(f"cue_body:{key}", "frames", body, key))
        lfs.append(LabelingFunction(f"cue_title:{key}", "frames", title, key))
        lfs.append(LabelingFunction(f"cue_lead:{key}", "frames", lead, key))
        lfs.append(LabelingFunction(f"cue_spread:{key}", "frames", spread, key))
    return lfs


def embedding_functions(
    codebook: Codebook, similarities: Callable[[Doc], np.ndarray], top: int = 3
) -> list[LabelingFunction]:
    """One voter per frame: present when the frame's definition is among the closest.

    ``similarities(doc)`` returns cosine similarity of the document to each frame's
    definition, in codebook order. Ranks, not raw similarities, make the vote robust to
    the encoder's scale.
    """
    keys = codebook.keys
    lfs = []
    for i, key in enumerate(keys):

        def vote(doc: Doc, i: int = i) -> int:
            sims = similarities(doc)
            order = np.argsort(-sims)
            rank = int(np.where(order == i)[0][0])
            if rank < top and sims[i] > 0.15:
                return 1
            if rank >= len(keys) - 5:
                return 0
            return ABSTAIN

        lfs.append(LabelingFunction(f"embedding:{key}", "frames", vote, key))
    return lfs


# ============================================================================ stance
class StanceCues:
    """Mentions and evaluative cues near them, computed once per (document, target)."""

    def __init__(self, spec: StanceSpec) -> None:
        self.spec = spec
        self.mentions = spec.mention_matcher()
        self.polarity = CueMatcher(
            {"favor": spec.favor_cues, "against": spec.against_cues}, spec.path
        )
        neg = "|".join(cue_to_regex(n, f"{spec.path}: negations") for n in spec.negations)
        self.negation = re.compile(f"(?i:{neg})") if neg else None
        rv = "|".join(cue_to_regex(n, f"{spec.path}: reporting") for n in spec.reporting_verbs)
        self.reporting = re.compile(f"(?i:{rv})") if rv else None
        self.labels = spec.labels

    def mentioned(self, doc: Doc) -> dict[str, int]:
        if "mentions" not in doc.cache:
            full = f"{doc.title}\n\n{doc.text}"
            counts: dict[str, int] = {}
            for name, _ in self.mentions.finditer(full):
                counts[name] = counts.get(name, 0) + 1
            doc.cache["mentions"] = counts
        return doc.cache["mentions"]

    def analyse(self, doc: Doc, target: str) -> dict[str, Any]:
        key = f"stance:{target}"
        if key in doc.cache:
            return doc.cache[key]
        sents = [doc.title, *doc.sentences] if doc.title else doc.sentences
        spans = self._sentence_mentions(doc, sents)
        with_mention = [i for i, found in enumerate(spans) if any(n == target for n, _ in found)]
        w = self.spec.window
        near = sorted(
            {j for i in with_mention for j in range(i - w, i + w + 1)} & set(range(len(sents)))
        )
        tally = {
            "favor": 0,
            "against": 0,
            "near_favor": 0,
            "near_against": 0,
            "quote_favor": 0,
            "quote_against": 0,
            "title_favor": 0,
            "title_against": 0,
            "adjacent_favor": 0,
            "adjacent_against": 0,
        }
        cues: list[str] = []
        for j in near:
            s = sents[j]
            is_mention = j in with_mention
            quoted = bool(self.reporting and self.reporting.search(s)) or '"' in s or "“" in s
            for pol, m in self.polarity.finditer(s):
                before = s[max(0, m.start() - 30) : m.start()]
                if self.negation and self.negation.search(before):
                    pol = "against" if pol == "favor" else "favor"
                weight = 1 if is_mention else 0
                tally[f"near_{pol}"] += 1
                tally[pol] += weight
                if quoted and is_mention:
                    tally[f"quote_{pol}"] += 1
                if doc.title and j == 0 and is_mention:
                    tally[f"title_{pol}"] += 1
                if is_mention and self._adjacent(s, spans[j], m, target):
                    tally[f"adjacent_{pol}"] += 1
                cues.append(f"{pol}:{m.group(0).lower()}")
        out = {"tally": tally, "n_mentions": len(with_mention), "cues": cues}
        doc.cache[key] = out
        return out

    def _sentence_mentions(self, doc: Doc, sents: list[str]) -> list[list[tuple[str, range]]]:
        """Each sentence's target mentions (target, span), found once for all targets."""
        if "sentence_mentions" not in doc.cache:
            doc.cache["sentence_mentions"] = [
                [(n, range(m.start(), m.end())) for n, m in self.mentions.finditer(s)]
                for s in sents
            ]
        return doc.cache["sentence_mentions"]

    def _adjacent(
        self, sentence: str, mentions: list[tuple[str, range]], cue: re.Match[str], target: str
    ) -> bool:
        """A cue within six words of the target's own mention ("NATO's provocations")."""
        for name, span in mentions:
            if name != target:
                continue
            gap = sentence[min(span.stop, cue.end()) : max(span.start, cue.start())]
            if len(gap.split()) <= 6:
                return True
        return False


def stance_functions(cues: StanceCues) -> list[LabelingFunction]:
    labels = cues.labels
    fav, ag = labels.index("favor"), labels.index("against")
    neu = labels.index("neutral") if "neutral" in labels else ABSTAIN

    def by_margin(prefix: str, margin: int) -> Callable[[Doc, str], int]:
        def vote(doc: Doc, target: str) -> int:
            t = cues.analyse(doc, target)["tally"]
            f, a = t[f"{prefix}favor"], t[f"{prefix}against"]
            if f - a >= margin:
                return fav
            if a - f >= margin:
                return ag
            return ABSTAIN

        return vote

    def neutral_mention(doc: Doc, target: str) -> int:
        a = cues.analyse(doc, target)
        t = a["tally"]
        if t["near_favor"] + t["near_against"] <= 1 and a["n_mentions"] <= 2:
            return neu
        return ABSTAIN

    return [
        LabelingFunction("stance:mention_sentence", "stance", by_margin("", 1)),
        LabelingFunction("stance:mention_sentence_strong", "stance", by_margin("", 3)),
        LabelingFunction("stance:near_window", "stance", by_margin("near_", 2)),
        LabelingFunction("stance:adjacent_cue", "stance", by_margin("adjacent_", 1)),
        LabelingFunction("stance:quoted", "stance", by_margin("quote_", 1)),
        LabelingFunction("stance:title", "stance", by_margin("title_", 1)),
        LabelingFunction("stance:passing_mention", "stance", neutral_mention),
    ]
