"""Encoders shipped as a zip split over several PyPI packages (``pkgparts:``)."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from models.encoder import ModelPathError, resolve_model_path

SPEC = "pkgparts:tiny-enc-part_*/input/tiny-enc.zip"


def _split_packages(site: Path, pieces: int, skip: int | None = None) -> bytes:
    """Write a zip holding ``tiny-enc/config.json`` split into ``pieces`` packages."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("tiny-enc/config.json", json.dumps({"model_type": "bert"}))
        z.writestr("tiny-enc/1_Pooling/config.json", "{}")
        z.writestr("tiny-enc/weights.bin", bytes(range(256)) * 64)
    data = buf.getvalue()
    step = -(-len(data) // pieces)
    for i in range(pieces):
        if i + 1 == skip:
            continue
        d = site / f"tiny-enc-part_{i + 1:03d}" / "input"
        d.mkdir(parents=True)
        (d / f"tiny-enc.zip.{i + 1:03d}").write_bytes(data[i * step : (i + 1) * step])
    return data


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.setattr(sys, "path", [str(root), *sys.path])
    monkeypatch.setenv("MEDIAFRAME_ENCODER_CACHE", str(tmp_path / "cache"))
    return root


def test_pieces_are_joined_in_order_once(site: Path, tmp_path: Path) -> None:
    _split_packages(site, pieces=12)  # 12 pieces: ".010" must sort after ".009"
    path = Path(resolve_model_path(SPEC))
    assert path.name == "tiny-enc"  # the top folder with config.json, not 1_Pooling
    assert (path / "weights.bin").read_bytes() == bytes(range(256)) * 64
    stamp = (path / "weights.bin").stat().st_mtime_ns
    assert Path(resolve_model_path(SPEC)) == path
    assert (path / "weights.bin").stat().st_mtime_ns == stamp  # served from the cache
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_missing_piece_is_named(site: Path) -> None:
    _split_packages(site, pieces=4, skip=3)
    with pytest.raises(ModelPathError, match=r"pieces \[1, 2, 4\]"):
        resolve_model_path(SPEC)


def test_no_packages_says_what_to_install(site: Path) -> None:
    with pytest.raises(ModelPathError, match="no installed package holds"):
        resolve_model_path(SPEC)
