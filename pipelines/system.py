"""Machine facts and peak memory, recorded beside every benchmark figure.

A figure without the machine it ran on cannot be compared, so `mediaframe benchmark` and
the scripts in bench/ stamp their JSON with the same record. Kept free of heavy imports
(torch is read lazily) so a benchmark stage's own peak memory is not inflated by it.
"""

from __future__ import annotations

import os
import platform
import resource
from typing import Any


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def peak_rss_mb() -> float:
    """The process high-water mark (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
