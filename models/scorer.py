"""The published scoring function: one MLflow pyfunc for frames and stance together.

It bundles a frame model and a stance model (either family, any mix) with their tuned
thresholds and calibration, the codebook, the stance targets and their mention rule,
and applies the same title + text join as training. Output is the labeling module's
schema plus ``model_version`` and ``error``: one row per input row, and a bad row gets
an error value instead of failing the batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from labeling.codebook import stance_from_dict
from labeling.functions import Doc, StanceCues
from labeling.schema import PASS_THROUGH
from labeling.text import join_title_text
from models.base import ModelBundle

MAX_CHARS = 200_000  # longer texts are cut before scoring; the models read far less anyway
INPUT_COLUMNS = ["id", "text", "title", "source", "date", "url"]
# Inference parameter (in the signature): shape the output for mlflow.pyfunc.spark_udf.
SPARK_PARAM = "spark_udf"


class Scorer:
    """The scoring logic, usable in-process (publish's gate) and inside the pyfunc."""

    def __init__(self, frames: ModelBundle, stance: ModelBundle, meta: dict[str, Any]) -> None:
        self.frames = frames
        self.stance = stance
        self.meta = meta
        self.stance_spec = stance_from_dict(meta["stance"], "bundled stance spec")
        self.cues = StanceCues(self.stance_spec)
        self.targets = list(self.stance_spec.targets)
        self.version = str(meta.get("model_version", "unregistered"))

    @classmethod
    def from_dirs(cls, frames_dir: str | Path, stance_dir: str | Path, meta_path: str | Path):
        meta = json.loads(Path(meta_path).read_text())
        return cls(ModelBundle.load(frames_dir), ModelBundle.load(stance_dir), meta)

    def output_columns(self) -> list[str]:
        cols = ["id", *PASS_THROUGH, "frames", "primary_frame", "frame_probs"]
        for t in self.targets:
            cols += [f"stance_{t}", f"stance_{t}_probs"]
        return [*cols, "evidence", "model_version", "error"]

    def _empty_row(self, rid: Any, meta: dict[str, Any], error: str | None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": None if rid is None else str(rid),
            **meta,
            "frames": [],
            "primary_frame": None,
            "frame_probs": None,
            "evidence": [],
            "model_version": self.version,
            "error": error,
        }
        for t in self.targets:
            row[f"stance_{t}"] = None
            row[f"stance_{t}_probs"] = None
        return row

    def prob_columns(self) -> dict[str, list[str]]:
        """The probability-struct columns and their member names."""
        cols = {"frame_probs": list(self.frames.spec.labels)}
        cols.update({f"stance_{t}_probs": list(self.stance.spec.labels) for t in self.targets})
        return cols

    def null_structs_as_members(self, out: pd.DataFrame) -> pd.DataFrame:
        """A null probability struct as a struct of nulls: mlflow's spark_udf fails the
        whole batch on a null struct value, but carries null members (pipelines/spark.py
        turns them back into a null struct)."""
        for col, keys in self.prob_columns().items():
            empty = dict.fromkeys(keys)
            out[col] = [dict(empty) if v is None else v for v in out[col]]
        return out

    def score(self, df: pd.DataFrame) -> pd.DataFrame:
        if "text" not in df.columns:
            raise ValueError(f"input has no 'text' column; columns are {list(df.columns)}")
        rows: list[dict[str, Any]] = []
        good: list[int] = []
        texts: list[str] = []
        records = df.to_dict("records")
        for i, rec in enumerate(records):
            meta = {c: _str(rec.get(c)) for c in PASS_THROUGH}
            text, title = rec.get("text"), rec.get("title")
            if not isinstance(text, str):
                kind = "missing" if text is None or text != text else type(text).__name__
                rows.append(self._empty_row(rec.get("id"), meta, f"text is {kind}, not a string"))
                continue
            if not text.strip():
                rows.append(self._empty_row(rec.get("id"), meta, "text is empty"))
                continue
            joined = join_title_text(title if isinstance(title, str) else None, text)
            texts.append(joined[:MAX_CHARS])
            good.append(i)
            rows.append(self._empty_row(rec.get("id"), meta, None))
        if good:
            try:
                self._fill(rows, good, texts)
            except Exception:  # isolate the row that broke the batch; score the rest
                for i, text in zip(good, texts, strict=True):
                    try:
                        self._fill(rows, [i], [text])
                    except Exception as exc:
                        rows[i]["error"] = f"{type(exc).__name__}: {exc}"[:500]
        return pd.DataFrame(rows, columns=self.output_columns())

    def _fill(self, rows: list[dict[str, Any]], good: list[int], texts: list[str]) -> None:
        fp = self.frames.predict_proba(texts)
        decided = self.frames.decide(fp)
        keys = self.frames.spec.labels
        pairs: list[tuple[int, str]] = []
        for k, (i, text) in enumerate(zip(good, texts, strict=True)):
            row = rows[i]
            row["frame_probs"] = {key: float(p) for key, p in zip(keys, fp[k], strict=True)}
            row["frames"] = decided[k]
            row["primary_frame"] = keys[int(np.argmax(fp[k]))]
            mentioned = self.cues.mentioned(Doc(str(row["id"]), "", text))
            for t in self.targets:
                if mentioned.get(t):
                    pairs.append((k, t))
                else:
                    row[f"stance_{t}"] = "not_mentioned"
                    row[f"stance_{t}_probs"] = {lab: 0.0 for lab in self.stance.spec.labels}
            row["evidence"] = [f"mentions:{t}={n}" for t, n in sorted(mentioned.items())]
        if pairs:
            sp = self.stance.predict_proba([texts[k] for k, _ in pairs], [t for _, t in pairs])
            labels = self.stance.spec.labels
            for (k, t), p in zip(pairs, sp, strict=True):
                row = rows[good[k]]
                row[f"stance_{t}"] = labels[int(np.argmax(p))]
                row[f"stance_{t}_probs"] = {lab: float(x) for lab, x in zip(labels, p, strict=True)}


def _str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return str(v)


class MediaframeModel(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: artifacts ``frames``, ``stance`` (bundle dirs) and ``meta`` (JSON)."""

    def load_context(self, context) -> None:
        a = context.artifacts
        self.scorer = Scorer.from_dirs(a["frames"], a["stance"], a["meta"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        out = self.scorer.score(model_input)
        if params and params.get(SPARK_PARAM):
            out = self.scorer.null_structs_as_members(out)
        return out
