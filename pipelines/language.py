"""Which language a document is in: a cheap English check, langdetect for the rest."""

from __future__ import annotations

import re

_EN_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "on",
        "with",
        "as",
        "was",
        "by",
        "it",
        "said",
        "at",
        "from",
        "be",
        "are",
        "has",
        "have",
        "will",
        "its",
        "an",
        "not",
        "this",
        "which",
        "were",
        "but",
        "after",
        "their",
        "they",
    ]
)


def detect_language(text: str) -> str:
    """Cheap English check first (most of the corpus), langdetect for the rest."""
    sample = text[:2000]
    words = re.findall(r"[a-zA-Z]+", sample.lower())
    letters = sum(ch.isalpha() for ch in sample) or 1
    latin = sum("a" <= ch.lower() <= "z" for ch in sample)
    if words and latin / letters > 0.9:
        share = sum(w in _EN_WORDS for w in words) / len(words)
        if share > 0.2:
            return "en"
    try:
        from langdetect import DetectorFactory, detect

        DetectorFactory.seed = 0
        return detect(sample)
    except Exception:
        return "und"
