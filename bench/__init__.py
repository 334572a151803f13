"""The top layer: the quality harness on public datasets and the speed benchmarks.

``mediaframe benchmark`` (``bench.command``, plugged into the CLI as a
``mediaframe.commands`` entry point) trains and scores our models on a public release
through a per-dataset adapter (``bench.adapters``); the ``bench_*.py`` scripts time the
pipeline, the models and the runtimes. bench may import labeling, models and pipelines;
nothing imports bench, so the harness can grow without the product depending on it.
"""
