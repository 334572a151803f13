"""Console progress for long model work, in the form ``pipelines.progress`` gives the stages.

``models`` cannot import ``pipelines`` (tests/test_layers.py), so the few lines that make a
bar behave like the stages' bars live here too: bars go to stderr, switch themselves off
when stderr is not a terminal unless MEDIAFRAME_PROGRESS=1, and MEDIAFRAME_PROGRESS=0
silences them. ``note`` is a line that survives the bars (an epoch's figures), printed
unless progress is off, so a log file also shows that training is moving.
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def _disabled() -> bool | None:
    flag = os.environ.get("MEDIAFRAME_PROGRESS")
    if flag == "1":
        return False
    if flag == "0":
        return True
    return None  # tqdm: off when not a TTY


def bar(
    desc: str, total: int | None = None, unit: str = "it", initial: int = 0, position: int = 0
) -> tqdm:
    """A bar on stderr that clears itself when closed (``leave=False``)."""
    return tqdm(
        desc=desc,
        total=total,
        unit=unit,
        initial=initial,
        position=position,
        disable=_disabled(),
        leave=False,
        file=sys.stderr,
    )


def note(line: str) -> None:
    """One line above any open bar, unless MEDIAFRAME_PROGRESS=0."""
    if os.environ.get("MEDIAFRAME_PROGRESS") != "0":
        tqdm.write(line, file=sys.stderr)
