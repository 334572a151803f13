"""The embedding cache keys entries by a hash of (encoder, text), never by a document id:
an id cannot steer a file path, and two corpora that share ids never share embeddings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from labeling.codebook import load_codebook
from labeling.functions import Doc
from models.encoder import EmbeddingCache
from pipelines.config import LabelConfig
from pipelines.label import make_similarity


class CountingEncoder:
    """A deterministic encoder that records what it was asked to encode."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_keys_are_digests_of_encoder_and_text_and_each_text_is_encoded_once(
    tmp_path: Path,
) -> None:
    cache = EmbeddingCache(tmp_path / "cache", "enc-a")
    enc = CountingEncoder()
    out = cache.encode(enc, ["b", "a", "b", "../../x"])
    assert enc.seen == ["b", "a", "../../x"]  # duplicates encoded once
    assert out.shape == (4, 3) and np.array_equal(out[0], out[2])
    names = [p.name for p in files_under(tmp_path)]
    assert len(names) == 3 and all(re.fullmatch(r"[0-9a-f]{40}\.npy", n) for n in names)

    again = EmbeddingCache(tmp_path / "cache", "enc-a")  # a new process: read from disk
    enc2 = CountingEncoder()
    assert np.array_equal(again.encode(enc2, ["a", "b"]), out[[1, 0]]) and enc2.seen == []
    other = EmbeddingCache(tmp_path / "cache", "enc-b")  # another encoder shares nothing
    enc3 = CountingEncoder()
    other.encode(enc3, ["a"])
    assert enc3.seen == ["a"] and other.key("a") != cache.key("a")


def test_hostile_ids_write_nothing_outside_the_cache_and_corpora_sharing_ids_stay_apart(
    tmp_path: Path,
) -> None:
    cache_dir = tmp_path / "a" / "b" / "cache"
    cfg = LabelConfig(embedding_cache=str(cache_dir))
    codebook = load_codebook(cfg.codebook)  # a built-in name by default
    ids = ["../../x", "../../../../y", str(tmp_path / "abs"), "d1"]
    first = [
        Doc(i, f"title {n}", f"NATO troops deploy to the border, report {n}.")
        for n, i in enumerate(ids)
    ]
    second = [
        Doc(i, f"other {n}", f"The harvest failed and food prices rose by {n} percent.")
        for n, i in enumerate(ids)
    ]
    s1 = make_similarity(cfg, codebook)(first)
    s2 = make_similarity(cfg, codebook)(second)  # same ids, another corpus, warm cache

    assert files_under(tmp_path) == files_under(cache_dir)  # nothing escaped
    assert all(re.fullmatch(r"[0-9a-f]{40}\.npy", p.name) for p in files_under(cache_dir))
    assert len(files_under(cache_dir)) == 2 * len(ids)
    fresh = make_similarity(LabelConfig(embedding_cache=None), codebook)(second)
    np.testing.assert_allclose(s2, fresh, atol=1e-5)  # its own embeddings, not the first's
    assert not np.allclose(s1, s2, atol=1e-3)
