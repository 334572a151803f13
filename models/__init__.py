"""The middle layer: what a task is, and how a model of any family is fitted and scored.

Imports only ``labeling`` and itself (tests/test_layers.py), so the published scoring
function ships ``labeling`` and ``models`` alone. Modules, one job each:

- ``data``: the task data contract (``TaskSpec``, ``Examples``, marked spans).
- ``metrics``: the metrics the field reports and the one selection metric.
- ``registry``: the families by name; a new family is one sub-package plus one entry.
- ``config``: the strict base of every config schema.
- ``base``: the model interface, calibration, thresholds, the bundle's save and load.
- ``training``: the one fit path (fit, calibrate, tune thresholds, finalize).
- ``baseline/``, ``transformer/``: the families, each owning its config.
- ``encoder``: offline encoder weights from installed packages, embedding cache.
- ``pairs``: target-text similarity features for pairs.
- ``scorer``: the published pyfunc.
"""
