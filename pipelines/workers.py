"""Worker processes for the local scoring engine (``mediaframe score --workers N``).

Each worker is a fresh interpreter (the ``spawn`` start method: torch's thread pools and
``fork`` do not mix) with one torch thread, so N workers use N cores without the
threads of one process contending. A worker loads the registered model once, at its
first shard, and scores whole shards: it writes each one atomically (the same
``write_shard`` as one process) and returns only the shard's row and error counts. The
parent reads and normalises the chunks, keeps at most ``window`` shards in flight, and is
the only writer of the manifest (``pipelines.shards.score_shards``).

A worker dies with its parent (``PR_SET_PDEATHSIG`` on Linux): a ``kill -9`` of the job
leaves no orphan writing into an output directory whose lock has been released.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

# Worker threads: the BLAS/OpenMP pools read these when they start, torch's own setter
# covers a torch that is already imported.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent exits (Linux); elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def one_thread() -> None:
    """One intra-op and one inter-op torch thread, one tokenizer thread."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set once in this process
        torch.set_num_interop_threads(1)


def _init(parent: int, tracking_uri: str | None, setup: Callable[..., None] | None, args) -> None:
    die_with_parent(parent)
    one_thread()
    if tracking_uri:
        import mlflow

        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
    if setup is not None:
        setup(*args)


@contextlib.contextmanager
def worker_pool(
    n: int, setup: Callable[..., None] | None = None, args: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """``n`` one-thread worker processes pointed at this process's tracking store;
    ``setup(*args)`` runs once in each (it must be a module-level function). On the way
    out, work not yet started is cancelled and work in progress is waited for."""
    import mlflow

    uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(os.getpid(), uri, setup, args),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------- the scoring task
_MODEL: dict[str, Any] = {}  # pinned URI -> (predict, schema), one model per worker


def score_shard(pinned: str, version: str, path: str, clean, bad: dict[int, str]) -> dict:
    """In a worker: score one normalised chunk with the registered model and write it as
    the shard ``path``; the manifest record of that shard."""
    from pathlib import Path

    from pipelines.score import load_model
    from pipelines.shards import output_schema, score_chunk

    if pinned not in _MODEL:
        model = load_model(pinned)
        one_thread()  # a bundle trained with ``threads: N`` sets N as it loads
        _MODEL[pinned] = (model.predict, output_schema(model))
    predict, schema = _MODEL[pinned]
    return score_chunk(predict, schema, clean, bad, version, Path(path))
