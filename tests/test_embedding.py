"""The embedding family and its static tier, on a tiny random BERT built from config.

The encoder is random, so the tests ask what a frozen encoder guarantees regardless of its
quality: whole articles are read (chunks past any head-and-tail cut change the output),
a text's vector does not depend on its batch, the stance input depends on the target,
the bundle and the published scorer round-trip, and distillation is cached by digest.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.base import ModelBundle
from models.data import Examples, TaskSpec
from models.embedding import EmbeddingConfig, EmbeddingModel, StaticConfig, StaticEmbeddingModel
from models.embedding.encoders import distilled_path
from models.embedding.inputs import TargetSentences, pack_chunks
from models.registry import get_family
from models.scorer import Scorer
from models.training import TaskData, fit_bundle
from pipelines.config import TrainConfig

SECURITY = ["Troops and missiles were deployed at the border.", "The army held drills."]
ECONOMY = ["Grain prices rose at the market.", "Tariffs hurt exporters and farmers."]
FAV = "{t} was praised as a reliable partner that keeps the peace."
AGN = "{t} was accused of provocations and blamed for the escalation."

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FRAMES = TaskSpec("frames", "multilabel", ["security", "economic", "other"])
STANCE = TaskSpec(
    "stance",
    "multiclass",
    ["favor", "against", "neutral"],
    pair=True,
    target_names={"nato": "NATO", "russia": "Russia"},
    target_aliases={"nato": ["NATO", "the Alliance"], "russia": ["Russia", "Moscow"]},
)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-wide random BERT with a word-piece vocabulary of a few hundred
    entries (letters, digits, the test texts' words), saved as a local folder: small
    enough that model2vec distils it in under a second."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bert")
    text = " ".join([*SECURITY, *ECONOMY, FAV, AGN, "NATO Russia Moscow Alliance Prices"])
    words = sorted({w.lower() for w in re.findall(r"[A-Za-z]+", text)})
    chars = string.ascii_lowercase + string.digits
    vocab = [*SPECIAL, *chars, *".,;:!?'\"()[]-", *("##" + c for c in chars), *words]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    wordpiece = BertWordPieceTokenizer(str(out / "vocab.txt"), lowercase=True)
    names = dict(
        zip(
            ["pad_token", "unk_token", "cls_token", "sep_token", "mask_token"], SPECIAL, strict=True
        )
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=wordpiece._tokenizer, **names)
    conf = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(conf).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def cfg(encoder: str, **kw) -> EmbeddingConfig:
    base = {"model_name_or_path": encoder, "max_tokens": 24, "C_grid": [0.1, 1.0], "cv_folds": 3}
    return EmbeddingConfig(**{**base, **kw})


def frames_data(n: int = 36) -> Examples:
    texts, y = [], []
    for i in range(n):
        s, e = SECURITY[i % 2], ECONOMY[(i // 2) % 2]
        kind = i % 3
        texts.append(f"{s} {e}" if kind == 0 else (s if kind == 1 else e))
        y.append([int(kind != 2), int(kind != 1), 0])
    groups = [f"outlet{i % 4}" for i in range(n)]
    return Examples([f"d{i}" for i in range(n)], texts, np.array(y), groups=groups)


def stance_data(n: int = 40) -> Examples:
    texts, targets, y = [], [], []
    for i in range(n):
        t, other = ("NATO", "Russia") if i % 2 else ("Russia", "NATO")
        fav = i % 4 < 2
        a, b = (FAV, AGN) if fav else (AGN, FAV)
        texts.append(f"{a.format(t=t)} Prices rose. {b.format(t=other)}")
        targets.append(t.lower())
        y.append(0 if fav else 1)
    return Examples([f"s{i}" for i in range(n)], texts, np.array(y), targets)


def test_chunks_cover_the_whole_article_in_sentence_order(tiny_encoder: str) -> None:
    m = EmbeddingModel(FRAMES, cfg(tiny_encoder))
    enc = m._load_encoder()
    article = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    chunks = pack_chunks(article, enc.count_tokens, 24, 100)
    assert len(chunks) > 5
    assert " ".join(chunks) == article  # nothing dropped, nothing reordered
    assert max(enc.count_tokens(chunks)) <= 24
    # a sentence longer than a chunk is cut into word runs that each fit
    long = " ".join(["word"] * 100) + "."
    runs = pack_chunks(long, enc.count_tokens, 24, 100)
    assert len(runs) >= 4 and max(enc.count_tokens(runs)) <= 24
    few = pack_chunks(article, enc.count_tokens, 24, 3)  # max_chunks bounds the cost ...
    assert len(few) == 3 and few[0] == chunks[0] and few[-1] == chunks[-1]  # ... not the span


def test_the_end_of_a_long_article_changes_its_features(tiny_encoder: str) -> None:
    m = EmbeddingModel(FRAMES, cfg(tiny_encoder))
    body = " ".join(f"Sentence {i} is about the weather today." for i in range(60))
    a = m.features([body + " Troops and missiles were deployed at the border."])
    b = m.features([body + " Grain prices rose at the market."])
    assert not np.allclose(a, b)  # past max_chunks the last chunk is still read
    # and with room for every chunk, a change in the middle alone changes the vector
    m = EmbeddingModel(FRAMES, cfg(tiny_encoder, max_chunks=500))
    mid = body.replace("Sentence 30 is about the weather", "Sentence 30 is about tanks")
    assert not np.allclose(m.features([body]), m.features([mid]))


def test_a_text_scores_the_same_alone_and_in_any_batch(tiny_encoder: str) -> None:
    m = EmbeddingModel(FRAMES, cfg(tiny_encoder, memory_cache=0))
    texts = [SECURITY[0], " ".join(ECONOMY * 5), "Short.", " ".join(SECURITY * 9)]
    together = m.features(texts)
    alone = np.concatenate([m.features([t]) for t in texts])
    assert np.array_equal(together, alone)


def test_target_sentences_are_marked_and_per_target() -> None:
    ts = TargetSentences(STANCE)
    text = "Moscow sent troops. Prices rose. NATO and Russia met in Brussels."
    assert ts(text, "russia") == ["[[Moscow]] sent troops.", "NATO and [[Russia]] met in Brussels."]
    assert ts(text, "nato") == ["[[NATO]] and Russia met in Brussels."]
    assert ts("Prices rose.", "nato") == []


def test_frames_fit_predict_save_load_round_trip(tiny_encoder: str, tmp_path: Path) -> None:
    data = frames_data()
    spec_data = TaskData(FRAMES, data, data.subset(range(12)), data.subset(range(12, 24)))
    bundle = fit_bundle(spec_data, "embedding", cfg(tiny_encoder), seed=13)
    m = bundle.model
    assert isinstance(m, EmbeddingModel) and m.best_C in (0.1, 1.0)
    assert set(m.cv_scores) == {"0.1", "1.0"}  # the inner CV ran for every C
    assert bundle.info["embedding"]["thresholds"] == "inner_cv"
    assert len(bundle.thresholds) == 3
    probe = ["Troops were deployed at the border.", "Tariffs hurt exporters and farmers."]
    p = bundle.predict_proba(probe)
    assert p.shape == (2, 3) and (p[:, 2] < 1e-6).all()  # no positive "other": a constant
    train_p = bundle.predict_proba(data.texts)
    pred = (train_p >= np.asarray(bundle.thresholds)).astype(int)
    assert (pred[:, :2] == data.y[:, :2]).mean() > 0.8  # it learnt the training set
    bundle.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b" / "model" / "embedding.json").read_text())
    assert meta["cfg"]["model_name_or_path"] == "(bundled)"  # the encoder ships inside
    back = ModelBundle.load(tmp_path / "b")
    assert np.allclose(back.predict_proba(probe), p)
    assert back.thresholds == bundle.thresholds


def test_inner_cv_thresholds_follow_the_temperature(tiny_encoder: str) -> None:
    data = frames_data()
    m = EmbeddingModel(FRAMES, cfg(tiny_encoder))
    m.fit(data)
    raw = np.asarray(m.raw_thresholds)
    b = m.finalize(ModelBundle(m, temperature=2.0), None)
    # the decision is unchanged: raw p >= t  <=>  calibrated p >= the moved threshold
    z = m.logits(data.texts)
    cal = 1 / (1 + np.exp(-z / 2.0))
    assert ((cal >= np.asarray(b.thresholds)) == (m.predict_proba(data.texts) >= raw)).all()


def test_stance_reads_the_target_sentences(tiny_encoder: str, tmp_path: Path) -> None:
    data = stance_data()
    m = EmbeddingModel(STANCE, cfg(tiny_encoder, C_grid=[10.0]))
    m.fit(data)
    text = FAV.format(t="NATO") + " Prices rose. " + AGN.format(t="Russia")
    f = m.features([text, text], ["nato", "russia"])
    d = m._load_encoder().dim * 2  # mean+max of the article
    assert np.array_equal(f[0, :d], f[1, :d])  # one article ...
    assert not np.allclose(f[0, d:], f[1, d:])  # ... two targets, two inputs
    assert f[0, -1] == 1.0 and m.features(["Prices rose."], ["nato"])[0, -1] == 0.0
    only = EmbeddingModel(STANCE, cfg(tiny_encoder, pair_article=False))
    g = only.features([text, text], ["nato", "russia"])
    assert g.shape[1] == f.shape[1] - d and np.array_equal(g, f[:, d:])  # the target part
    p = m.predict_proba(data.texts, data.targets)
    assert (p.argmax(axis=1) == data.y).mean() > 0.8
    assert np.allclose(p.sum(axis=1), 1)
    ModelBundle(m).save(tmp_path / "s")
    back = ModelBundle.load(tmp_path / "s")
    assert np.allclose(back.predict_proba(data.texts[:6], data.targets[:6]), p[:6])


def test_a_family_section_is_validated_like_the_others() -> None:
    with pytest.raises(ValueError, match="pooling"):
        TrainConfig(task="frames", family="embedding", embedding={"pooling": "median"})
    c = TrainConfig(task="frames", family="static")
    assert c.family_config().encoder == "static"
    assert get_family("static").model() is StaticEmbeddingModel


def test_static_tier_distils_once_by_digest_and_scores_through_the_pyfunc(
    tiny_encoder: str, tmp_path: Path
) -> None:
    cache = tmp_path / "static-cache"
    sc = StaticConfig(
        model_name_or_path=tiny_encoder,
        max_tokens=24,
        C_grid=[1.0],
        cv_folds=3,
        static_pca_dims=16,
        static_cache=str(cache),
    )
    first = distilled_path(tiny_encoder, 16, str(cache))
    assert distilled_path(tiny_encoder, 16, str(cache)) == first  # cached, not redistilled
    assert len(list(cache.iterdir())) == 1
    assert distilled_path(tiny_encoder, 8, str(cache)) != first  # settings are in the key
    fr = frames_data()
    frames = fit_bundle(TaskData(FRAMES, fr, fr.subset(range(12)), fr), "static", sc, 13)
    st = stance_data()
    stance = fit_bundle(TaskData(STANCE, st, st.subset(range(12)), st), "static", sc, 13)
    assert frames.model.family == "static" and frames.model.encoder.dim == 16
    assert frames.info["embedding"]["encoder"] == "static"
    frames.save(tmp_path / "frames")
    stance.save(tmp_path / "stance")
    meta = {"stance": {"targets": {"nato": {"name": "NATO", "aliases": ["NATO"]}}}}
    meta["stance"]["targets"]["russia"] = {"name": "Russia", "aliases": ["Russia"]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    scorer = Scorer.from_dirs(tmp_path / "frames", tmp_path / "stance", tmp_path / "meta.json")
    text = FAV.format(t="NATO") + " Troops were deployed at the border."
    out = scorer.score(pd.DataFrame({"id": ["a", "b"], "text": [text, "Grain prices rose."]}))
    assert out["error"].isna().all()
    assert out.loc[0, "stance_nato"] in {"favor", "against", "neutral"}
    assert out.loc[0, "stance_russia"] == "not_mentioned"
    fp = frames.predict_proba([text])[0]
    assert np.allclose([out.loc[0, "frame_probs"][k] for k in FRAMES.labels], fp)
