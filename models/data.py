"""The one data contract both model families read.

A task is multi-label (frames) or multiclass (a primary frame, stance), with its label
set. An example is a text, or a (target, text) pair where the target is a name (a
stance target), free text (a headline, as in FNC-1) or a marked span inside the text
(a person mention, as in NewsMTSC). The benchmark adapters produce this same contract.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np

from labeling.codebook import CueMatcher
from labeling.functions import split_sentences

SPAN_OPEN, SPAN_CLOSE = "[[", "]]"
# The id prefix of a weakly labelled (or unlabelled) training row beside the gold: the
# small-gold learners (``models/smallgold``) weigh, pseudo-label or drop those rows, and
# cross-validate on the others only.
WEAK_PREFIX = "weak:"
SPAN_WORD = "targetmention"  # what a marked span becomes in the baseline's word window


def mark_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with ``[[`` and ``]]`` around each (start, end) character span.

    This is how a span target enters the one contract: the marked text is the example's
    text and the mention is its target, so every model, the scorer and the saved bundle
    read spans exactly as they read any other pair. Duplicate spans are marked once;
    overlapping or out-of-range spans are an error, not a silently garbled input.
    """
    out = text
    prev_start = len(text) + 1
    for start, end in sorted(set(spans), reverse=True):
        if not (0 <= start < end <= len(text)):
            raise ValueError(f"span ({start}, {end}) is outside the text (length {len(text)})")
        if end > prev_start:
            raise ValueError(f"span ({start}, {end}) overlaps the span starting at {prev_start}")
        out = out[:start] + SPAN_OPEN + out[start:end] + SPAN_CLOSE + out[end:]
        prev_start = start
    return out


_MARKED = re.compile(re.escape(SPAN_OPEN) + r"(.*?)" + re.escape(SPAN_CLOSE), re.S)


def span_context(text: str, words: int) -> str:
    """The ``words`` words either side of each marked span, the span itself as one token.

    A sentence in NewsMTSC often names two people and praises one: the words next to the
    mention ("[[X]] blamed", "praised [[X]]") carry its polarity, the rest of the sentence
    is shared with the other target. Empty when the text has no marked span.
    """
    if SPAN_OPEN not in text:
        return ""
    toks = re.findall(r"\S+", _MARKED.sub(f" {SPAN_WORD} ", text))
    hits = [i for i, t in enumerate(toks) if SPAN_WORD in t]
    keep = sorted({j for i in hits for j in range(i - words, i + words + 1) if 0 <= j < len(toks)})
    return " ".join(toks[j] for j in keep)


@dataclass
class TaskSpec:
    name: str
    kind: Literal["multilabel", "multiclass"]
    labels: list[str]
    pair: bool = False
    target_names: dict[str, str] = field(default_factory=dict)
    target_aliases: dict[str, list[str]] = field(default_factory=dict)
    # Optional polarity cues ({"favor": [...], "against": [...], "negations": [...]}):
    # outlet-independent evidence of stance near the target, used as features.
    cue_lexicon: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ValueError(f"task {self.name!r} needs at least two labels, got {self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"task {self.name!r} has duplicate labels: {self.labels}")

    def to_dict(self) -> dict:
        return asdict(self)  # every field: a saved model must rebuild exactly this spec

    @classmethod
    def from_dict(cls, d: dict) -> TaskSpec:
        return cls(**d)

    def target_text(self, target: str | None) -> str:
        """What the model reads as the first segment: the display name, or the target itself."""
        if target is None:
            return ""
        return self.target_names.get(target, target)


@dataclass
class Examples:
    ids: list[str]
    texts: list[str]
    y: np.ndarray  # multilabel: n x labels of 0/1; multiclass: n class indices
    targets: list[str] | None = None
    weights: np.ndarray | None = None
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> Examples:
        idx = np.asarray(idx, dtype=int)
        pick = lambda xs: [xs[i] for i in idx] if xs is not None else None  # noqa: E731
        return Examples(
            ids=[self.ids[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            y=self.y[idx],
            targets=pick(self.targets),
            weights=self.weights[idx] if self.weights is not None else None,
            groups=pick(self.groups),
        )


def weak_mask(ids: list[str]) -> np.ndarray:
    """True for the rows marked weak (``WEAK_PREFIX``), False for gold."""
    return np.asarray([i.startswith(WEAK_PREFIX) for i in ids], dtype=bool)


def mark_weak(ex: Examples) -> Examples:
    """The same rows with their ids marked weak (once)."""
    return replace(ex, ids=[i if i.startswith(WEAK_PREFIX) else WEAK_PREFIX + i for i in ex.ids])


def doc_id(item_id: str) -> str:
    """The document an item comes from: without the weak mark, and a pair's ``doc:target``
    without its target, since the document is what must not leak across folds."""
    item_id = item_id.removeprefix(WEAK_PREFIX)
    return item_id.split(":", 1)[0] if ":" in item_id else item_id


class TargetWindows:
    """Sentences around a target's mentions: where stance toward it is usually said.

    Known targets use their aliases; free-text targets (a headline) use its content words;
    a marked span ``[[...]]`` is its own mention.
    """

    def __init__(self, spec: TaskSpec, window: int = 1) -> None:
        self.window = window
        self.matchers = {
            t: CueMatcher({t: aliases}, f"task {spec.name}")
            for t, aliases in spec.target_aliases.items()
        }

    def _hits(self, sentence: str, target: str) -> bool:
        if SPAN_OPEN in sentence:
            return True
        m = self.matchers.get(target)
        if m is not None:
            return any(True for _ in m.finditer(sentence))
        words = {w for w in re.findall(r"[a-z]{4,}", target.lower())}
        return bool(words & set(re.findall(r"[a-z]{4,}", sentence.lower())))

    def __call__(self, text: str, target: str | None) -> str:
        if not target:
            return ""
        sents = split_sentences(text)
        hits = [i for i, s in enumerate(sents) if self._hits(s, target)]
        keep = sorted(
            {
                j
                for i in hits
                for j in range(i - self.window, i + self.window + 1)
                if 0 <= j < len(sents)
            }
        )
        return " ".join(sents[j] for j in keep)


class PolarityCues:
    """Counts of favor and against cues in a text, a negation before a cue flipping it."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        self.matcher = CueMatcher(
            {"favor": lexicon.get("favor", []), "against": lexicon.get("against", [])}, "cues"
        )
        neg = [n for n in lexicon.get("negations", [])]
        from labeling.codebook import cue_to_regex

        self.negation = (
            re.compile("|".join(f"(?i:{cue_to_regex(n, 'negations')})" for n in neg))
            if neg
            else None
        )

    def __call__(self, text: str) -> tuple[int, int]:
        fav = ag = 0
        for pol, m in self.matcher.finditer(text):
            before = text[max(0, m.start() - 30) : m.start()]
            if self.negation is not None and self.negation.search(before):
                pol = "against" if pol == "favor" else "favor"
            if pol == "favor":
                fav += 1
            else:
                ag += 1
        return fav, ag
