"""Pair inputs for the benchmarks: a headline as the target (FNC-1), a marked span (NewsMTSC).

Span markers on hand-written offsets, the FNC score on hand-computed cases, the pair
baseline and both transformer pair modes on tiny real training runs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.adapters import DatasetError, get_adapter
from bench.adapters.fnc1 import fnc_score
from models.base import ModelBundle
from models.baseline import BaselineModel
from models.data import SPAN_CLOSE, SPAN_OPEN, Examples, TaskSpec, mark_spans, span_context
from models.pairs import SimilarityFeatures
from models.transformer import TransformerModel
from pipelines.config import BaselineConfig, TransformerConfig
from pipelines.evaluate import evaluate_multiclass
from tests.test_benchmark import run_cli

FNC_LABELS = ["agree", "disagree", "discuss", "unrelated"]
SENTIMENT = ["negative", "neutral", "positive"]


# ----------------------------------------------------------------------------- span markers
def test_mark_spans_at_start_end_and_several() -> None:
    text = "Obama met Merkel and Obama smiled"
    assert mark_spans(text, [(0, 5)]) == "[[Obama]] met Merkel and Obama smiled"
    assert mark_spans(text, [(27, 33)]) == "Obama met Merkel and Obama [[smiled]]"
    # several mentions of one target, given out of order, each marked once
    both = mark_spans(text, [(21, 26), (0, 5), (0, 5)])
    assert both == "[[Obama]] met Merkel and [[Obama]] smiled"
    assert mark_spans(text, [(0, len(text))]) == f"[[{text}]]"
    # adjacent spans are fine; the unmarked text is unchanged
    assert mark_spans("ab", [(0, 1), (1, 2)]) == "[[a]][[b]]"
    assert mark_spans(text, []) == text


@pytest.mark.parametrize("spans", [[(0, 40)], [(-1, 3)], [(3, 3)], [(0, 6), (4, 9)]])
def test_mark_spans_rejects_bad_offsets(spans: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="span"):
        mark_spans("Obama met Merkel", spans)


def test_span_context_is_the_words_around_each_mention() -> None:
    marked = mark_spans("one two three Obama four five six seven Obama eight", [(14, 19)])
    assert span_context(marked, 2) == "two three targetmention four five"
    both = mark_spans("Obama said a b c d e f g he would go", [(0, 5), (25, 27)])
    assert span_context(both, 1) == "targetmention said g targetmention would"
    assert span_context("no marks here", 3) == ""
    # a multi-word mention is one token; punctuation right after it is a token of its own
    assert span_context("Sen. [[Bernie Sanders]], a rival, spoke", 1) == "Sen. targetmention ,"


# ----------------------------------------------------------------------------- FNC score
def test_fnc_score_on_hand_computed_cases() -> None:
    # official weights: 0.25 related/unrelated right, +0.75 the exact related class
    assert fnc_score(["agree", "unrelated"], ["agree", "unrelated"]) == 100.0
    # max = 1 + 0.25; got 0.25 (related, wrong class) + 0 (unrelated called discuss)
    assert fnc_score(["agree", "unrelated"], ["discuss", "discuss"]) == pytest.approx(20.0)
    # max = 1 + 1 + 0.25 + 0.25 = 2.5; got 1 (disagree) + 0 (agree->unrelated)
    # + 0.25 (unrelated) + 0 (unrelated->agree) = 1.25
    got = fnc_score(
        ["disagree", "agree", "unrelated", "unrelated"],
        ["disagree", "unrelated", "unrelated", "agree"],
    )
    assert got == pytest.approx(50.0)
    # all-unrelated on a related-heavy set: only the unrelated quarter-points
    assert fnc_score(["discuss", "discuss", "unrelated"], ["unrelated"] * 3) == pytest.approx(
        100 * 0.25 / 2.25
    )


def test_fnc_score_in_the_evaluation_with_reference_and_interval() -> None:
    y_true = ["agree", "discuss", "unrelated", "unrelated", "disagree", "unrelated"]
    probs = np.eye(4)[[0, 2, 3, 3, 2, 0]]  # one related slip, one unrelated called agree
    ev = evaluate_multiclass(
        y_true,
        probs,
        FNC_LABELS,
        ["unrelated"] * 5 + ["agree"],
        n_boot=50,
        extra_metrics={"fnc_score": fnc_score},
    )
    # max 3*1 + 3*0.25 = 3.75; got 1 + 1 + 0.25 + 0.25 + 0.25 + 0 = 2.75
    assert ev.metrics["fnc_score"] == pytest.approx(100 * 2.75 / 3.75)
    assert ev.reference["fnc_score"] == pytest.approx(100 * 0.75 / 3.75)  # all "unrelated"
    lo, hi = ev.ci["fnc_score"]
    assert lo <= ev.metrics["fnc_score"] <= hi


# ----------------------------------------------------------------------------- headline pairs
TOPICS = [
    ("volcano", "A volcano erupted near the island town, covering roads in ash."),
    ("meteorite", "A meteorite struck a field outside the capital, leaving a crater."),
    ("shark", "A shark was seen close to the beach and swimmers left the water."),
    ("election", "The election count finished late and the mayor kept his seat."),
]


def headline_pairs() -> Examples:
    """Every headline against every body: related (its own topic) or unrelated."""
    texts, targets, y = [], [], []
    for i, (_, body) in enumerate(TOPICS):
        for j, (other, _) in enumerate(TOPICS):
            for frame in ["Reports of a {w} today", "{w} news spreads online"]:
                texts.append(body)
                targets.append(frame.format(w=other))
                y.append(FNC_LABELS.index("discuss" if i == j else "unrelated"))
    return Examples([f"p{i}" for i in range(len(texts))], texts, np.asarray(y), targets)


FNC = TaskSpec("fnc", "multiclass", FNC_LABELS, pair=True)


def test_similarity_features_see_the_target() -> None:
    data = headline_pairs()
    frame = pd.DataFrame({"target": data.targets, "text": data.texts})
    sim = SimilarityFeatures().fit(frame)
    F = sim.transform(frame)
    assert F.shape == (len(data), len(sim.get_feature_names_out()))
    cos = F[:, sim.names.index("tfidf_cosine")]
    related = data.y == FNC_LABELS.index("discuss")
    assert cos[related].min() > cos[~related].max()
    ref = sim.transform(pd.DataFrame({"target": ["Hoax: no shark"], "text": ["It is fake."]}))
    names = list(sim.get_feature_names_out())
    assert ref[0, names.index("target_refuting")] > 0 and ref[0, names.index("text_refuting")] > 0


def test_pair_baseline_uses_the_headline() -> None:
    data = headline_pairs()
    cfg = BaselineConfig(C=10, similarity_features=True, target_features=False, target_window=0)
    m = BaselineModel(FNC, cfg)
    m.fit(data)
    body = TOPICS[2][1]  # the shark body, with a headline never seen in training
    p = m.predict_proba([body, body], ["Shark sighting at the beach", "Volcano ash on roads"])
    assert FNC_LABELS[p[0].argmax()] == "discuss"
    assert FNC_LABELS[p[1].argmax()] == "unrelated"


# ----------------------------------------------------------------------------- marked spans
NAMES = ["Alice Smith", "Bob Jones", "Carol White", "Dan Brown", "Eve Black", "Frank Green"]
TEMPLATES = [
    "{a} won praise from voters, while {b} faced harsh criticism over the deal.",
    "{a} met {b} on Tuesday in the capital.",
]


def span_data() -> Examples:
    """One sentence, two people, opposite sentiment: only the marked span tells them apart."""
    texts, targets, y = [], [], []
    for i, a in enumerate(NAMES):
        for b in NAMES[i + 1 :] + NAMES[:i]:
            for t_i, tpl in enumerate(TEMPLATES):
                sent = tpl.format(a=a, b=b)
                for who, lab in ((a, "positive"), (b, "negative")):
                    start = sent.index(who)
                    texts.append(mark_spans(sent, [(start, start + len(who))]))
                    targets.append(who)
                    y.append(SENTIMENT.index(lab if t_i == 0 else "neutral"))
    return Examples([f"m{i}" for i in range(len(texts))], texts, np.asarray(y), targets)


SPAN = TaskSpec("newsmtsc", "multiclass", SENTIMENT, pair=True)


def test_span_baseline_tells_two_people_in_one_sentence_apart() -> None:
    data = span_data()
    m = BaselineModel(SPAN, BaselineConfig(C=10, target_features=False, span_window=3))
    m.fit(data)
    sent = "Gina Hall won praise from voters, while Hank Ford faced harsh criticism over the deal."
    texts = [mark_spans(sent, [(0, 9)]), mark_spans(sent, [(40, 49)])]
    p = m.predict_proba(texts, ["Gina Hall", "Hank Ford"])
    assert [SENTIMENT[i] for i in p.argmax(axis=1)] == ["positive", "negative"]


def tiny(**kw) -> TransformerConfig:
    base = {
        "init": "random",
        "max_length": 48,
        "epochs": 3,
        "batch_size": 8,
        "lr": 1e-3,
        "head_lr": 5e-3,
        "patience": 5,
        "threads": 2,
        "eval_batch_size": 16,
    }
    return TransformerConfig(**{**base, **kw})


def test_span_tokens_are_added_resized_and_saved_with_the_bundle(tmp_path: Path) -> None:
    data = span_data()
    m = TransformerModel(SPAN, tiny(span_tokens=True, epochs=2))
    m.fit(data.subset(range(0, len(data), 2)), data.subset(range(1, 40, 2)))
    tok = m.tokenizer
    ids = tok.convert_tokens_to_ids([SPAN_OPEN, SPAN_CLOSE])
    assert all(i != tok.unk_token_id for i in ids)
    assert m.net.encoder.get_input_embeddings().num_embeddings == len(tok)
    enc = m.encode([data.texts[0]], [data.targets[0]])
    assert ids[0] in enc.input_ids[0] and ids[1] in enc.input_ids[0]
    assert m.mode == "fine-tuned"
    ModelBundle(m).save(tmp_path / "b")
    back = ModelBundle.load(tmp_path / "b")
    p = m.predict_proba(data.texts[:6], data.targets[:6])
    assert np.allclose(p, back.predict_proba(data.texts[:6], data.targets[:6]), atol=1e-5)


def test_siamese_frozen_mode_trains_a_head_and_round_trips(tmp_path: Path) -> None:
    data = headline_pairs()
    m = TransformerModel(FNC, tiny(pair_input="siamese", siamese_sentences=2, epochs=4))
    m.fit(data, data.subset(range(0, len(data), 4)))
    assert m.mode == "frozen-encoder siamese head"
    assert all(not p.requires_grad for p in m.net.encoder.parameters())
    # every distinct text, headline and body sentence was encoded once
    distinct = set(data.texts) | set(data.targets)
    assert len(m._cache.mem) >= len(distinct)
    p = m.predict_proba(data.texts[:8], data.targets[:8])
    assert p.shape == (8, 4) and np.allclose(p.sum(axis=1), 1)
    # the head reads the target: same body, two headlines, two different rows
    body = TOPICS[0][1]
    q = m.predict_proba([body, body], ["Volcano erupts", "Shark at the beach"])
    assert not np.allclose(q[0], q[1])
    m.save(tmp_path / "s")
    back = TransformerModel.load(tmp_path / "s", FNC)
    assert np.allclose(p, back.predict_proba(data.texts[:8], data.targets[:8]), atol=1e-5)


# ----------------------------------------------------------------------------- adapters
def write_fnc(d: Path, stances: str, bodies: str, rows, body_rows) -> None:
    d.mkdir(parents=True, exist_ok=True)
    with (d / stances).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Headline", "Body ID", "Stance"])
        w.writerows(rows)
    with (d / bodies).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Body ID", "articleBody"])
        w.writerows(body_rows)


FNC_BODIES = [
    ("0", 'A meteorite hit Managua.\n\nOfficials said it was "relatively small".'),
    ("7", "Apple will sell a gold watch, the company said."),
    ("12", "Reports of a giant crab in Kent are a hoax, the council said."),
]
FNC_ROWS = [
    ("Meteorite crashes in Nicaragua", "0", "agree"),
    ("Giant crab photographed in Kent", "12", "disagree"),
    ("Apple to release gold watch", "7", "discuss"),
    ("Giant crab photographed in Kent", "0", "unrelated"),
    ("Meteorite crashes in Nicaragua", "7", "unrelated"),
]


def test_fnc1_adapter_reads_headlines_as_targets_and_bodies_as_texts(tmp_path: Path) -> None:
    fnc = get_adapter("fnc1")
    write_fnc(tmp_path, "train_stances.csv", "train_bodies.csv", FNC_ROWS, FNC_BODIES)
    pool = fnc.read_pool(tmp_path, fnc.options({}))
    assert pool.targets == [r[0] for r in FNC_ROWS]
    assert pool.texts[0] == FNC_BODIES[0][1]  # quoted, multi-line body read whole
    assert pool.texts[3] == FNC_BODIES[0][1] and pool.texts[4] == FNC_BODIES[1][1]
    assert [FNC_LABELS[i] for i in pool.y] == [r[2] for r in FNC_ROWS]
    # the group is the body's claim topic: bodies joined by related pairs to one headline
    assert pool.groups == ["topic:b:0", "topic:b:12", "topic:b:7", "topic:b:0", "topic:b:7"]
    spec = fnc.spec(fnc.options({}))
    assert spec.pair and spec.labels == FNC_LABELS
    # the dev cut takes whole topics
    dev = fnc.dev_indices(pool, spec, 0.34, 13)
    dev_bodies = {pool.groups[i] for i in dev}
    assert len(dev_bodies) == 1
    assert all((pool.groups[i] in dev_bodies) == (i in set(dev)) for i in range(len(pool)))
    # the held-out release has its own file names
    write_fnc(
        tmp_path / "test",
        "competition_test_stances.csv",
        "competition_test_bodies.csv",
        FNC_ROWS[:2],
        FNC_BODIES,
    )
    tests = fnc.read_tests(tmp_path / "test", fnc.options({}))
    assert list(tests) == [""] and tests[""].targets == [FNC_ROWS[0][0], FNC_ROWS[1][0]]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("Some headline", "99", "agree"), "row 3: field 'Body ID': '99'"),
        (("Some headline", "7", "agrees"), "row 3: field 'Stance'"),
        (("", "7", "agree"), "row 3: field 'Headline'"),
    ],
)
def test_fnc1_adapter_names_file_row_and_field(tmp_path: Path, row, message: str) -> None:
    write_fnc(tmp_path, "train_stances.csv", "train_bodies.csv", [FNC_ROWS[0], row], FNC_BODIES)
    fnc = get_adapter("fnc1")
    with pytest.raises(DatasetError, match=message) as err:
        fnc.read_pool(tmp_path, fnc.options({}))
    assert "train_stances.csv" in str(err.value)


def mtsc_line(gid: str, sentence: str, targets: list[tuple]) -> str:
    """One NewsMTSC JSONL line; a target is (mention, polarity[, further mentions])."""
    out = []
    for k, (mention, pol, *further) in enumerate(targets):
        start = sentence.index(mention)
        t = {
            "Input.gid": f"{gid}_{k}",
            "from": start,
            "to": start + len(mention),
            "mention": mention,
            "polarity": pol,
        }
        if further:
            t["further_mentions"] = [
                {"from": s, "to": s + len(m), "mention": m} for m, s in further[0]
            ]
        out.append(t)
    return json.dumps({"primary_gid": gid, "sentence_normalized": sentence, "targets": out})


MTSC_TRAIN = [
    mtsc_line("s1", "Obama praised Merkel for her courage.", [("Obama", 4.0), ("Merkel", 6.0)]),
    mtsc_line(
        "s2",
        "Trump said he would fire Comey, and he did.",
        [("Trump", 2.0, [("he", 11), ("he", 36)]), ("Comey", 2.0)],
    ),
    mtsc_line("s3", "Clinton lost.", [("Clinton", 2.0)]),
]


def write_mtsc(root: Path, train: list[str], dev: list[str], test: list[str] | None = None):
    files = {"official/train.jsonl": train}
    for s in ("rw", "mt"):
        files[f"dev_test_split_{s}/dev.jsonl"] = dev
        if test is not None:
            files[f"dev_test_split_{s}/test.jsonl"] = test
    for name, lines in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_newsmtsc_adapter_marks_the_mention_and_uses_its_dev_splits(tmp_path: Path) -> None:
    a = get_adapter("newsmtsc")
    write_mtsc(tmp_path, MTSC_TRAIN, MTSC_TRAIN[:1])
    opts = a.options({})
    pool = a.read_pool(tmp_path, opts)
    assert pool.texts[:2] == [
        "[[Obama]] praised Merkel for her courage.",
        "Obama praised [[Merkel]] for her courage.",
    ]
    assert pool.targets == ["Obama", "Merkel", "Trump", "Comey", "Clinton"]
    assert [SENTIMENT[i] for i in pool.y] == [
        "neutral",
        "positive",
        "negative",
        "negative",
        "negative",
    ]
    assert pool.groups == ["s1", "s1", "s2", "s2", "s3"]
    # coreferent mentions are marked only when asked for
    more = a.read_pool(tmp_path, a.options({"further_mentions": True}))
    assert more.texts[2] == "[[Trump]] said [[he]] would fire Comey, and [[he]] did."
    # a dev run: scored on both dev splits, tuned on a sentence-grouped cut of train
    data = a.load(tmp_path, None, opts, 0.34, 13)
    assert data.split == "dev" and set(data.scored) == {"rw", "mt"}
    assert data.scored["rw"].texts == pool.texts[:2]
    assert len(data.train) + len(data.tuning) == len(pool)
    assert not {*data.train.groups} & {*data.tuning.groups}
    # a test run: train on all of train, tune on both dev splits, score both test files
    test = tmp_path / "held-out"
    write_mtsc(test, [], [], MTSC_TRAIN[1:])
    data = a.load(tmp_path, test, opts, 0.34, 13)
    assert data.split == "test" and len(data.train) == len(pool) and len(data.tuning) == 4
    assert data.scored["mt"].targets == ["Trump", "Comey", "Clinton"]
    assert a.test_files == ("dev_test_split_rw/test.jsonl", "dev_test_split_mt/test.jsonl")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.update({"from": 1}), "line 1: target 0: field 'from'/'to'"),
        (lambda t: t.update({"polarity": 3.0}), "line 1: target 0"),
        (lambda t: t.pop("mention"), "line 1: target 0: field 'mention'"),
    ],
)
def test_newsmtsc_adapter_names_file_line_and_field(tmp_path: Path, edit, message: str) -> None:
    d = json.loads(MTSC_TRAIN[0])
    edit(d["targets"][0])
    write_mtsc(tmp_path, [json.dumps(d)], [])
    a = get_adapter("newsmtsc")
    with pytest.raises(DatasetError, match=message) as err:
        a.read_pool(tmp_path, a.options({}))
    assert "train.jsonl" in str(err.value)


def test_newsmtsc_benchmark_reports_both_dev_splits(
    tmp_path: Path, tracking_uri_store: str
) -> None:
    rng = np.random.default_rng(0)
    people = ["Alice Smith", "Bob Jones", "Carol White", "Dan Brown", "Eve Black"]
    verbs = {2.0: "attacked", 4.0: "met", 6.0: "thanked"}

    def lines(n: int, tag: str) -> list[str]:
        out = []
        for i in range(n):
            a, b = rng.choice(people, 2, replace=False)
            pol = float(rng.choice([2.0, 4.0, 6.0]))
            sent = f"{a} was {verbs[pol]} by {b} on day {i}."
            out.append(mtsc_line(f"{tag}{i}", sent, [(a, pol)]))
        return out

    data = tmp_path / "newsmtsc"
    write_mtsc(data, lines(90, "t"), lines(20, "d"))
    out = tmp_path / "res.json"
    rc = run_cli(
        [
            *("benchmark", "newsmtsc", "--data-dir", str(data)),
            *("--set", "bootstrap=50", "--output", str(out)),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["primary_metric"] == "macro_f1_rw"
    assert {"macro_f1_rw", "macro_f1_mt"} <= set(res["metrics"])
    assert res["n_test"] == 40 and res["n_train"] + res["n_tune"] == 90
    assert res["metrics"]["macro_f1_rw"] > res["trivial"]["macro_f1_rw"] + 0.3
