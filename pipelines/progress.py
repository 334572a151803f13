"""One progress-bar helper so every long step looks and behaves the same.

Bars go to stderr and switch themselves off when stderr is not a terminal (CI logs),
unless MEDIAFRAME_PROGRESS=1 forces them on or MEDIAFRAME_PROGRESS=0 off.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _disabled() -> bool | None:
    flag = os.environ.get("MEDIAFRAME_PROGRESS")
    if flag == "1":
        return False
    if flag == "0":
        return True
    return None  # tqdm: off when not a TTY


def progress(it: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    yield from tqdm(it, desc=desc, total=total, unit=unit, disable=_disabled(), leave=False)


def bar(desc: str, total: int | None = None, unit: str = "it") -> tqdm:
    return tqdm(desc=desc, total=total, unit=unit, disable=_disabled(), leave=False)
