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
            "sents": sents,
            "refuting": sum(w in self._ref for w in words),
            "hedging": sum(w in self._hedge for w in words),
            "sent_hedging": [sum(w in self._hedge for w in _words(s)) for s in sents],
        }

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self._ref = set(self.refuting)
        self._hedge = set(self.hedging)
        targets, texts = list(X["target"]), list(X["text"])
        # One vectoriser call per kind (texts, their sentences, targets) and one sentence x
        # target product per distinct text: per-pair calls spent most of the time in
        # scikit-learn's input checks.
        utexts = list(dict.fromkeys(texts))
        utargets = list(dict.fromkeys(targets))
        tpos = {t: i for i, t in enumerate(utargets)}
        infos = [self._text_info(t) for t in utexts]
        xpos = {t: i for i, t in enumerate(utexts)}
        starts = np.cumsum([0] + [len(i["sents"]) for i in infos])
        V_text = self.tfidf_.transform(utexts)
        V_sent = self.tfidf_.transform([s for i in infos for s in i["sents"]])
        V_tgt = self.tfidf_.transform(utargets)
        t_idx = np.array([tpos[t] for t in targets], dtype=int)
        x_idx = np.array([xpos[t] for t in texts], dtype=int)
        cos_all = np.asarray(V_tgt[t_idx].multiply(V_text[x_idx]).sum(axis=1)).ravel()
        sent_cos_of: list[np.ndarray] = [np.zeros(0)] * len(X)
        for x in range(len(utexts)):
            rows_x = np.flatnonzero(x_idx == x)
            if not len(rows_x):
                continue
            M = (V_sent[starts[x] : starts[x + 1]] @ V_tgt[t_idx[rows_x]].T).toarray()
            for j, r in enumerate(rows_x):
                sent_cos_of[r] = M[:, j]
        rows = []
        for r, (target, text) in enumerate(zip(targets, texts, strict=True)):
            info = infos[xpos[text]]
            tw = _words(target)
            tc = _content(tw)
            cos = float(cos_all[r])
            sent_cos = sent_cos_of[r]
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
    headline. Each distinct text is split once; one vectoriser call per kind and one
    sentence x target product per distinct text (as in ``SimilarityFeatures``)."""
    targets, texts = list(targets), list(texts)
    utexts = list(dict.fromkeys(texts))
    utargets = list(dict.fromkeys(targets))
    tpos = {t: i for i, t in enumerate(utargets)}
    sents = [split_sentences(t) or [t] for t in utexts]
    starts = np.cumsum([0] + [len(s) for s in sents])
    V_sent = tfidf.transform([s for ss in sents for s in ss])
    V_tgt = tfidf.transform(utargets)
    xpos = {t: i for i, t in enumerate(utexts)}
    x_idx = np.array([xpos[t] for t in texts], dtype=int)
    t_idx = np.array([tpos[t] for t in targets], dtype=int)
    out = [""] * len(texts)
    for x in range(len(utexts)):
        rows_x = np.flatnonzero(x_idx == x)
        if not len(rows_x):
            continue
        M = (V_sent[starts[x] : starts[x + 1]] @ V_tgt[t_idx[rows_x]].T).toarray()
        for j, r in enumerate(rows_x):
            best = sorted(np.argsort(-M[:, j], kind="stable")[:k])
            out[r] = " ".join(sents[x][i] for i in best)
    return out
