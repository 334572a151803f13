"""The one label/prediction table, written by ``label`` and by the scorer alike.

One row per document: pass-through metadata, ``frames`` (keys above threshold),
``primary_frame`` (always set), ``frame_probs`` (frame -> probability), per target
``stance_<t>`` and ``stance_<t>_probs``, and ``evidence``. ``label`` adds
``label_source``; the scorer adds ``model_version`` and ``error`` instead.
"""

from __future__ import annotations

import pyarrow as pa

PASS_THROUGH = ["title", "source", "date", "url", "lang"]


def arrow_schema(
    frames: list[str],
    targets: list[str],
    stance_labels: list[str],
    extra: dict[str, pa.DataType] | None = None,
) -> pa.Schema:
    probs = pa.struct([(f, pa.float64()) for f in frames])
    fields = [pa.field("id", pa.string())]
    fields += [pa.field(c, pa.string()) for c in PASS_THROUGH]
    fields += [
        pa.field("frames", pa.list_(pa.string())),
        pa.field("primary_frame", pa.string()),
        pa.field("frame_probs", probs),
    ]
    sp = pa.struct([(s, pa.float64()) for s in stance_labels])
    for t in targets:
        fields += [pa.field(f"stance_{t}", pa.string()), pa.field(f"stance_{t}_probs", sp)]
    fields.append(pa.field("evidence", pa.list_(pa.string())))
    for name, typ in (extra or {}).items():
        fields.append(pa.field(name, typ))
    return pa.schema(fields)
