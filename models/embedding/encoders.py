"""The two chunk encoders of the embedding family, and the offline distillation cache.

Both take chunks (a few sentences each) and return L2-normalised float32 vectors, and both
give a chunk the same vector whatever it is batched with: the transformer pads each chunk
to a length of its own (the next multiple of ``pad_multiple``) and batches only chunks of
that length; the static encoder averages token vectors, one chunk at a time by nature.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.encoder import ModelPathError, encoder_cache_dir, pick_device, resolve_model_path


def directory_digest(path: str | Path) -> str:
    """BLAKE2b of every file's relative name and bytes under ``path``: the encoder's
    identity for caches, so new weights in the same folder are never served stale."""
    root = Path(path)
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        h.update(rel.encode("utf-8") + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


class _Digested:
    path: str
    _digest: str | None = None

    @property
    def digest(self) -> str:
        """The encoder folder's digest, computed on first use (only the disk cache needs it)."""
        if self._digest is None:
            self._digest = directory_digest(self.path)
        return self._digest


class TransformerChunkEncoder(_Digested):
    """Mean-pooled, normalised embeddings of the frozen encoder, batch-independent."""

    kind = "transformer"

    def __init__(
        self,
        path: str,
        max_tokens: int = 256,
        batch_size: int = 32,
        pad_multiple: int = 16,
        device: str = "auto",
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.model_max_length = 1 << 30  # chunks are cut to max_tokens by us
        self.model = AutoModel.from_pretrained(path)
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.pad_multiple = pad_multiple
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece tokens of each text, without the special tokens."""
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(x) for x in enc]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_tokens + 2, padding=False
        )["input_ids"]
        pad_id = self.tokenizer.pad_token_id or 0
        m = self.pad_multiple
        by_len: dict[int, list[int]] = {}
        for i, x in enumerate(ids):
            by_len.setdefault(-(-len(x) // m) * m, []).append(i)
        with torch.inference_mode():
            for width, members in sorted(by_len.items()):
                for s in range(0, len(members), self.batch_size):
                    idx = members[s : s + self.batch_size]
                    batch = np.full((len(idx), width), pad_id, dtype=np.int64)
                    mask = np.zeros((len(idx), width), dtype=np.int64)
                    for r, i in enumerate(idx):
                        batch[r, : len(ids[i])] = ids[i]
                        mask[r, : len(ids[i])] = 1
                    t_ids = torch.from_numpy(batch).to(self.device)
                    t_mask = torch.from_numpy(mask).to(self.device)
                    hidden = self.model(input_ids=t_ids, attention_mask=t_mask).last_hidden_state
                    w = t_mask.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * w).sum(1) / w.sum(1).clamp(min=1e-9)
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    out[idx] = pooled.float().cpu().numpy()
        return out

    def save(self, path: Path) -> None:
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)


class StaticChunkEncoder(_Digested):
    """A model2vec static model: each chunk is the normalised mean of its token vectors."""

    kind = "static"

    def __init__(self, path: str) -> None:
        from model2vec import StaticModel

        self.path = path
        self.model = StaticModel.from_pretrained(path, normalize=True, force_download=False)
        self.dim = int(self.model.dim)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An estimate (4 tokens per 3 words), not a second tokenization: a static chunk
        is a mean of token vectors, so where a chunk ends matters far less than for the
        transformer, and tokenizing each sentence twice was a third of scoring time."""
        return [-(-4 * len(t.split()) // 3) for t in texts]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # No truncation (chunks are already cut) and no worker processes (scoring runs
        # its own; a pool per call costs more than it saves on a few thousand chunks).
        vecs = self.model.encode(list(texts), max_length=None, use_multiprocessing=False)
        return np.asarray(vecs, dtype=np.float32)

    def save(self, path: Path) -> None:
        self.model.save_pretrained(path)


def distilled_path(source: str, pca_dims: int | None, cache: str | None = None) -> str:
    """The model2vec distillation of the encoder at ``source`` (a configured model path),
    made once and kept under the encoder cache by the encoder's digest and the settings.

    Never downloads: the encoder comes from ``resolve_model_path`` (offline) and the hub
    lookup model2vec makes for a model card is skipped for a local folder. Written to a
    temporary folder and renamed, so a killed distillation leaves nothing to trust.
    """
    import model2vec

    path = resolve_model_path(source)
    if not Path(path).is_dir():
        raise ModelPathError(f"model path {source!r}: static distillation needs a local folder")
    key = hashlib.blake2b(
        f"{directory_digest(path)}|pca={pca_dims}|model2vec={model2vec.__version__}".encode(),
        digest_size=8,
    ).hexdigest()
    root = Path(cache).expanduser() if cache else encoder_cache_dir() / "static"
    target = root / f"{Path(path).name}-{key}"
    if (target / "model.safetensors").exists():
        return str(target)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".distil-", dir=root))
    try:
        distil(path, pca_dims).save_pretrained(tmp / "model")
        try:
            (tmp / "model").rename(target)
        except OSError:  # another process distilled it first: theirs is as good
            if not (target / "model.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def distil(path: str, pca_dims: int | None):
    """model2vec's distillation of the local encoder at ``path`` (CPU, no hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    return distill_from_model(model, tokenizer, pca_dims=pca_dims, device="cpu")
