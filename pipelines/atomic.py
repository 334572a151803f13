"""Atomic file writes: every stage's outputs appear whole or not at all.

A file is written under a temporary name beside its target and renamed over it; a
failure removes the temporary file. Readers (and a resumed job) never see half a file.
``mkstemp`` creates its file 0600 (private, whatever the umask); the renamed output gets
the mode a plain ``open()`` would have given it (0666 less the umask, 0644 under 022).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where Linux reports it (``os.umask``
    can only be read by setting it, which would race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # The block may have replaced the file (some writers do); chmod what is there now.
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        # Writers (Arrow) often name no file, or the temporary one: name the output.
        if exc.filename is None or exc.filename == tmp:
            raise OSError(exc.errno or errno.EIO, exc.strerror or str(exc), str(target)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
