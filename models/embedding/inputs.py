"""What the embedding family reads: whole-sentence chunks, target sentences, pooling.

No article is read only by its head and tail: its sentences are packed in order into
chunks of at most ``max_tokens`` tokens (a longer sentence is cut into even word runs),
and every chunk is embedded. For stance, the sentences that mention the target (an alias,
or a marked ``[[span]]``) are the second input, the mention wrapped in ``[[ ]]``, so one
article can favor one target and oppose another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from labeling.codebook import CueMatcher
from labeling.functions import split_sentences
from models.data import SPAN_CLOSE, SPAN_OPEN, TaskSpec


def pack_chunks(
    text: str,
    count_tokens: Callable[[Sequence[str]], list[int]],
    max_tokens: int,
    max_chunks: int,
) -> list[str]:
    """The text's sentences packed in order into chunks of at most ``max_tokens``; past
    ``max_chunks`` an evenly spaced selection, so the end of a long text is still read."""
    sents = split_sentences(text) or ([text.strip()] if text.strip() else [])
    if not sents:
        return [""]
    counts = count_tokens(sents)
    pieces: list[tuple[str, int]] = []
    for s, n in zip(sents, counts, strict=True):
        if n <= max_tokens:
            pieces.append((s, n))
            continue
        words = s.split()
        parts = math.ceil(n / max_tokens) + 1  # word runs err short: tokens per word vary
        step = max(1, math.ceil(len(words) / parts))
        for i in range(0, len(words), step):
            run = " ".join(words[i : i + step])
            pieces.append((run, max(1, n * len(words[i : i + step]) // max(1, len(words)))))
    chunks: list[str] = []
    cur: list[str] = []
    size = 0
    for s, n in pieces:
        if cur and size + n > max_tokens:
            chunks.append(" ".join(cur))
            cur, size = [], 0
        cur.append(s)
        size += n
    if cur:
        chunks.append(" ".join(cur))
    if len(chunks) > max_chunks:  # evenly spaced, first and last kept: the whole span
        keep = np.unique(np.linspace(0, len(chunks) - 1, max_chunks).round().astype(int))
        chunks = [chunks[i] for i in keep]
    return chunks


class TargetSentences:
    """The sentences of a text that mention a target, each mention marked ``[[ ]]``.

    A known target is found by its aliases (the same rule as everywhere else); a text that
    already carries a marked span keeps its own marks; a free-text target (a headline) is
    found by its content words, without marks.
    """

    def __init__(self, spec: TaskSpec) -> None:
        self.matchers = {
            t: CueMatcher({t: aliases}, f"task {spec.name}")
            for t, aliases in spec.target_aliases.items()
        }

    def __call__(self, text: str, target: str | None) -> list[str]:
        if not target:
            return []
        sents = split_sentences(text)
        if SPAN_OPEN in text:
            return [s for s in sents if SPAN_OPEN in s]
        m = self.matchers.get(target)
        out: list[str] = []
        if m is None:
            words = set(re.findall(r"[a-z]{4,}", target.lower()))
            return [s for s in sents if words & set(re.findall(r"[a-z]{4,}", s.lower()))]
        # One alias search over the whole text (regex aliases are costly to start per
        # sentence), each hit then given to the sentence whose span holds it.
        hits = [(h.start(), h.end()) for _, h in m.finditer(text)]
        if not hits:
            return []
        pos = 0
        for s in sents:
            start = text.find(s, pos)
            if start < 0:  # split_sentences strips: the sentence is always found
                continue
            end = pos = start + len(s)
            spans = [(a - start, b - start) for a, b in hits if start <= a and b <= end]
            if not spans:
                continue
            marked = s
            for a, b in sorted(spans, reverse=True):  # non-overlapping, right to left
                marked = marked[:a] + SPAN_OPEN + marked[a:b] + SPAN_CLOSE + marked[b:]
            out.append(marked)
        return out


def pool(vectors: np.ndarray, how: str, dim: int) -> np.ndarray:
    """One vector from a text's chunk vectors (zeros when it has none)."""
    if len(vectors) == 0:
        width = 2 * dim if how == "mean_max" else dim
        return np.zeros(width, dtype=np.float32)
    if how == "mean":
        return vectors.mean(axis=0)
    if how == "max":
        return vectors.max(axis=0)
    return np.concatenate([vectors.mean(axis=0), vectors.max(axis=0)])
