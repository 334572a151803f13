"""How similar a target is to its text: features for (target, text) pairs.

When the target is itself text (a headline against an article body, as in FNC-1), most
of the decision is whether the two are about the same thing at all, and a bag of body
n-grams cannot say that: the same body comes with related and unrelated headlines. These
features compare the two sides, after the FNC-1 official baseline (word overlap,
refuting-word counts and their parity, headline n-grams found in the body and in its
lead) and the UCL system (TF-IDF cosine), plus hedging cues that separate "discuss" from
"agree". Scores are also given as one-hot bins, so a linear model can treat "cosine
0.05" and "cosine 0.5" as different regimes rather than one slope.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from labeling.functions import split_sentences

# The FNC-1 baseline's refuting words, and common hedges (reporting without endorsing).
REFUTING = [
    "fake", "fraud", "hoax", "false", "deny", "denies", "denied", "not", "despite", "nope",
    "doubt", "doubts", "bogus", "debunk", "debunked", "pranks", "retract", "untrue", "myth",
]  # fmt: skip
HEDGING = [
    "allegedly", "reportedly", "reported", "reports", "claims", "claimed", "according",
    "apparently", "purportedly", "rumor", "rumored", "rumour", "unconfirmed", "unverified",
    "may", "might", "could", "possibly", "suggests", "appears", "seems",
]  # fmt: skip

_WORD = re.compile(r"[a-z0-9]+")
_BINS = np.linspace(0.0, 1.0, 11)[1:-1]  # nine inner edges: ten bins over [0, 1]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _content(words: Sequence[str]) -> set[str]:
    return {w for w in words if w not in ENGLISH_STOP_WORDS and len(w) > 1}


def _chargrams(text: str, n: int = 4) -> set[str]:
    t = " ".join(_words(text))
    return {t[i : i + n] for i in range(max(len(t) - n + 1, 0))}


def _frac(part: set, whole: set) -> float:
    return len(part & whole) / len(part) if part else 0.0


class SimilarityFeatures(BaseEstimator, TransformerMixin):
    """Target-text similarity and cue counts from a frame with ``target`` and ``text`` columns.

    ``fit`` learns only the TF-IDF vocabulary (on targets and texts together); the rest
    is computed per pair, each distinct text analysed once however many targets it has.
    """

    def __init__(
        self,
        refuting: Sequence[str] = tuple(REFUTING),
        hedging: Sequence[str] = tuple(HEDGING),
        lead_chars: int = 255,
    ) -> None:
        self.refuting = refuting
        self.hedging = hedging
        self.lead_chars = lead_chars

    # scalar feature names, before the binned copies of the first three
    names: ClassVar[list[str]] = [
        "tfidf_cosine",
        "best_sentence_cosine",
        "word_jaccard",
        "target_words_in_text",
        "target_words_in_lead",
        "target_bigrams_in_text",
        "target_chargrams_in_text",
        "target_refuting",
        "text_refuting",
        "refuting_parity_target",
        "refuting_parity_text",
        "text_hedging",
        "text_hedging_in_best_sentences",
    ]
    binned: ClassVar[list[str]] = ["tfidf_cosine", "best_sentence_cosine", "target_words_in_text"]

    def fit(self, X: pd.DataFrame, y=None) -> SimilarityFeatures:
        self.tfidf_ = TfidfVectorizer(
            stop_words="english", sublinear_tf=True, strip_accents="unicode", dtype=np.float32
        )
        self.tfidf_.fit(list(dict.fromkeys(list(X["target"]) + list(X["text"]))))
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        bins = [f"{n}_bin{i}" for n in self.binned for i in range(len(_BINS) + 1)]
        return np.asarray(self.names + bins, dtype=object)

    def _text_info(self, text: str) -> dict:
        words = _words(text)
        sents = split_sentences(text) or [text]
        return {
            "words": _content(words),
            "lead": _content(_words(text[: self.lead_chars])),
            "bigrams": set(pairwise(words)),
            "chars": _chargrams(text),
            "vec": self.tfidf_.transform([text]),
            "sents": sents,
            "sent_vecs": self.tfidf_.transform(sents),
            "refuting": sum(w in self._ref for w in words),
            "hedging": sum(w in self._hedge for w in words),
            "sent_hedging": [sum(w in self._hedge for w in _words(s)) for s in sents],
        }

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self._ref = set(self.refuting)
        self._hedge = set(self.hedging)
        texts: dict[str, dict] = {}
        tvecs: dict[str, object] = {}
        rows = []
        for target, text in zip(X["target"], X["text"], strict=True):
            info = texts.get(text)
            if info is None:
                info = texts[text] = self._text_info(text)
            tw = _words(target)
            tc = _content(tw)
            tv = tvecs.get(target)
            if tv is None:
                tv = tvecs[target] = self.tfidf_.transform([target])
            cos = float((tv @ info["vec"].T).toarray()[0, 0])
            sent_cos = (info["sent_vecs"] @ tv.T).toarray().ravel()
            best = np.argsort(-sent_cos)[:2]
            t_ref = sum(w in self._ref for w in tw)
            union = tc | info["words"]
            rows.append(
                [
                    cos,
                    float(sent_cos.max()) if len(sent_cos) else 0.0,
                    len(tc & info["words"]) / len(union) if union else 0.0,
                    _frac(tc, info["words"]),
                    _frac(tc, info["lead"]),
                    _frac(set(pairwise(tw)), info["bigrams"]),
                    _frac(_chargrams(target), info["chars"]),
                    np.log1p(t_ref),
                    np.log1p(info["refuting"]),
                    t_ref % 2,
                    info["refuting"] % 2,
                    np.log1p(info["hedging"]),
                    np.log1p(sum(info["sent_hedging"][i] for i in best)),
                ]
            )
        F = np.asarray(rows, dtype=np.float32).reshape(len(X), len(self.names))
        onehots = []
        for name in self.binned:
            col = F[:, self.names.index(name)]
            idx = np.digitize(col, _BINS)
            oh = np.zeros((len(X), len(_BINS) + 1), dtype=np.float32)
            oh[np.arange(len(X)), idx] = 1.0
            onehots.append(oh)
        return np.hstack([F, *onehots])


def nearest_sentences(
    tfidf: TfidfVectorizer, targets: Sequence[str], texts: Sequence[str], k: int
) -> list[str]:
    """Per pair, the ``k`` sentences of the text most similar to the target by TF-IDF
    cosine, joined in their order in the text: where a body states its stance toward a
    headline (Athene and UCL read the whole body, the later systems the nearest lines).
    Each distinct text is split and vectorised once."""
    cache: dict[str, tuple[list[str], object]] = {}
    tvecs: dict[str, object] = {}
    out = []
    for target, text in zip(targets, texts, strict=True):
        entry = cache.get(text)
        if entry is None:
            sents = split_sentences(text) or [text]
            entry = cache[text] = (sents, tfidf.transform(sents))
        sents, svecs = entry
        tv = tvecs.get(target)
        if tv is None:
            tv = tvecs[target] = tfidf.transform([target])
        cos = (svecs @ tv.T).toarray().ravel()
        best = sorted(np.argsort(-cos, kind="stable")[:k])
        out.append(" ".join(sents[i] for i in best))
    return out
