"""Public benchmark datasets, one adapter module each; ``ADAPTERS`` is the registry.

A new dataset is one module with an ``Adapter`` subclass and one line in ``ADAPTERS``.
"""

from __future__ import annotations

from bench.adapters.base import Adapter, AdapterOptions, BenchData, DatasetError
from bench.adapters.fnc1 import Fnc1Adapter
from bench.adapters.gvfc import GvfcAdapter
from bench.adapters.newsmtsc import NewsmtscAdapter
from bench.adapters.sample import SampleAdapter, SampleStanceAdapter
from bench.adapters.semeval2023 import Semeval2023Adapter

__all__ = ["ADAPTERS", "Adapter", "AdapterOptions", "BenchData", "DatasetError", "get_adapter"]

ADAPTERS: dict[str, Adapter] = {
    "gvfc": GvfcAdapter(),
    "semeval2023": Semeval2023Adapter(),
    "fnc1": Fnc1Adapter(),
    "newsmtsc": NewsmtscAdapter(),
    "sample": SampleAdapter(),
    "sample-stance": SampleStanceAdapter(),
}


def get_adapter(name: str) -> Adapter:
    if name not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[name]
