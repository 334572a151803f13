"""The one input lister of the stages that read files and folders (ingest, score, report).

A path is a file or a folder searched recursively; a missing path is one clear error
naming it, raised as the calling stage's own error class so the CLI reports it as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class InputError(ValueError):
    """An input path that does not exist or holds nothing a stage can read."""


def _private(path: Path, root: Path) -> bool:
    """Under a ``_`` or ``.`` name (a manifest, a temporary shard): output bookkeeping."""
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def list_inputs(
    paths: Iterable[str | Path],
    extensions: Iterable[str],
    what: str,
    *,
    any_file: bool = False,
    skip_private: bool = False,
    error: type[Exception] = InputError,
) -> list[Path]:
    """Files named in ``paths`` plus the files under its folders whose suffix is one of
    ``extensions`` (case-insensitive), folders sorted, in the order given.

    ``what`` names the inputs in messages (e.g. "Parquet file"). A named file must have
    one of the extensions unless ``any_file``; ``skip_private`` leaves out files under
    ``_``/``.`` names in folders. Finding nothing at all is an error too.
    """
    exts = tuple(e.lower() for e in extensions)
    paths = [Path(p) for p in paths]
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise error(f"{p}: no such file or directory")
        if p.is_dir():
            files += sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in exts
                and not (skip_private and _private(f, p))
            )
        elif any_file or p.suffix.lower() in exts:
            files.append(p)
        else:
            raise error(f"{p}: not a {what} (supported: {', '.join(exts)})")
    if not files:
        raise error(f"no {what} ({', '.join(exts)}) under {[str(p) for p in paths]}")
    return files
