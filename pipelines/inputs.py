"""The one input lister of the stages that read files and folders (ingest, score, report).

A path is a file or a folder searched recursively; a missing path is one clear error
naming it, raised as the calling stage's own error class so the CLI reports it as such.
What a folder search passes over is counted, never dropped in silence: files of a type
the stage does not read (a ``.gz`` ingest cannot open, say), symlinked folders (not
followed: they can loop or lead outside the folder) and the stage's own output folder
when it lies inside an input folder (its shards must not come back as input).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path


class InputError(ValueError):
    """An input path that does not exist or holds nothing a stage can read."""


def _private(path: Path, root: Path) -> bool:
    """Under a ``_`` or ``.`` name (a manifest, a temporary shard): output bookkeeping."""
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def matches(path: Path, exts: tuple[str, ...]) -> bool:
    """Whether the name ends in one of ``exts`` (lower case; ``.jsonl.gz`` works too)."""
    return path.name.lower().endswith(exts)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def describe(skipped: Counter[str]) -> str:
    """``3 files of other types (.gz 2, .png 1), 1 symlinked folder (not followed)``."""
    other = {k: n for k, n in skipped.items() if k.startswith(".") or k == "(no suffix)"}
    parts = []
    if other:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(other.items()))
        total = sum(other.values())
        parts.append(f"{_n(total, 'file of another type', 'files of other types')} ({kinds})")
    if n := skipped.get("symlinked folder"):
        parts.append(f"{_n(n, 'symlinked folder', 'symlinked folders')} (not followed)")
    if n := skipped.get("output folder"):
        parts.append(f"{_n(n, 'file', 'files')} inside the output folder")
    return ", ".join(parts)


def list_inputs(
    paths: Iterable[str | Path],
    extensions: Iterable[str],
    what: str,
    *,
    any_file: bool = False,
    skip_private: bool = False,
    error: type[Exception] = InputError,
    exclude: Path | str | None = None,
    skipped: Counter[str] | None = None,
) -> list[Path]:
    """Files named in ``paths`` plus the files under its folders whose name ends in one
    of ``extensions`` (case-insensitive), folders sorted, in the order given.

    ``what`` names the inputs in messages (e.g. "Parquet file"). A named file must have
    one of the extensions unless ``any_file``; ``skip_private`` leaves out files under
    ``_``/``.`` names in folders; files under ``exclude`` (the stage's output folder) are
    left out of folders. What folders held but was left out is counted into ``skipped``
    (by suffix, "symlinked folder", "output folder"), or, without one, reported in one
    line on stderr. Finding nothing at all is an error too.
    """
    exts = tuple(e.lower() for e in extensions)
    paths = [Path(p) for p in paths]
    out = Path(exclude).resolve() if exclude is not None else None
    counts: Counter[str] = Counter()
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise error(f"{p}: no such file or directory")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_symlink() and f.is_dir():
                    counts["symlinked folder"] += 1
                elif not f.is_file() or (skip_private and _private(f, p)):
                    continue
                elif out is not None and _inside(f, out):
                    if not _private(f, p):
                        counts["output folder"] += 1
                elif matches(f, exts):
                    files.append(f)
                elif not _private(f, p):
                    counts[f.suffix.lower() or "(no suffix)"] += 1
        elif any_file or matches(p, exts):
            files.append(p)
        else:
            raise error(f"{p}: not a {what} (supported: {', '.join(exts)})")
    if skipped is not None:
        skipped.update(counts)
    elif counts:
        print(f"mediaframe: {what}: skipped {describe(counts)}", file=sys.stderr)
    if not files:
        left = f"; skipped {describe(counts)}" if counts else ""
        raise error(f"no {what} ({', '.join(exts)}) under {[str(p) for p in paths]}{left}")
    return files
