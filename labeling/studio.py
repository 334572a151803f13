"""Label Studio I/O: the labeling interface, tasks with pre-annotations, and exports read back.

Everything that knows Label Studio's JSON and XML shapes lives here, so the gold format
(``labeling.gold``) stays independent of the annotation tool.
"""

from __future__ import annotations

import json
from array import array
from pathlib import Path
from typing import IO, Any

import numpy as np

from labeling.functions import Doc
from labeling.gold import STANCE_VALUES, Annotation


def _choices(result: list[dict[str, Any]], name: str) -> list[str]:
    for item in result:
        if item.get("from_name") == name:
            return list(item.get("value", {}).get("choices", []))
    return []


def from_label_studio(path: str | Path, targets: list[str]) -> list[Annotation]:
    """Read a Label Studio JSON export made with :func:`label_studio_config`."""
    tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    out: list[Annotation] = []
    for task in tasks:
        doc_id = str(task.get("data", {}).get("id", task.get("id")))
        for ann in task.get("annotations", []):
            if ann.get("was_cancelled"):
                continue
            who = ann.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            res = ann.get("result", [])
            primary = _choices(res, "primary_frame")
            stance = {}
            for t in targets:
                ch = _choices(res, f"stance_{t}")
                if ch:
                    stance[t] = ch[0]
            out.append(
                Annotation(
                    doc_id,
                    str(who),
                    _choices(res, "frames"),
                    primary[0] if primary else None,
                    stance,
                )
            )
    return out


def label_studio_config(frames: list[str], targets: dict[str, str]) -> str:
    """The labeling interface XML that matches our import."""
    fr = "\n".join(f'    <Choice value="{f}"/>' for f in frames)
    st = "\n".join(
        f'  <Header value="Stance toward {name}"/>\n'
        f'  <Choices name="stance_{key}" toName="text" choice="single" required="true">\n'
        + "\n".join(f'    <Choice value="{v}"/>' for v in STANCE_VALUES)
        + "\n  </Choices>"
        for key, name in targets.items()
    )
    return (
        '<View>\n  <Header value="$title"/>\n  <Text name="text" value="$text"/>\n'
        f'  <Choices name="frames" toName="text" choice="multiple">\n{fr}\n  </Choices>\n'
        f'  <Choices name="primary_frame" toName="text" choice="single">\n{fr}\n'
        f"  </Choices>\n{st}\n</View>\n"
    )


def to_label_studio(labels: list[dict[str, Any]], targets: list[str], model: str) -> list[dict]:
    """Tasks with pre-annotations, most uncertain first, so annotators start where it helps.

    ``labels`` rows carry id, title, text, frames, primary_frame, stance_<t>, an
    ``uncertainty`` in [0, 1] and optionally a score.
    """
    return [
        label_studio_task(row, targets, model)
        for row in sorted(labels, key=lambda r: -float(r.get("uncertainty", 0.0)))
    ]


def label_studio_task(row: dict[str, Any], targets: list[str], model: str) -> dict:
    """One task of ``to_label_studio``: the document and its pre-annotation."""
    result = [
        {
            "from_name": "frames",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": list(row.get("frames") or [])},
        },
        {
            "from_name": "primary_frame",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [row["primary_frame"]] if row.get("primary_frame") else []},
        },
    ]
    for t in targets:
        if row.get(f"stance_{t}"):
            result.append(
                {
                    "from_name": f"stance_{t}",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [row[f"stance_{t}"]]},
                }
            )
    return {
        "data": {"id": row["id"], "title": row.get("title") or "", "text": row["text"]},
        "predictions": [
            {
                "model_version": model,
                "score": 1.0 - float(row.get("uncertainty", 0)),
                "result": result,
            }
        ],
    }


class TaskFile:
    """Label Studio tasks, most uncertain first, without holding them.

    Each task is serialised as it comes into a temporary file; memory keeps its offset,
    length and uncertainty (24 bytes), and the tasks are copied out in order at the end:
    the same bytes as ``json.dumps(to_label_studio(...), ensure_ascii=False, indent=1)``.
    """

    def __init__(self, targets: list[str], spool: IO[bytes]) -> None:
        self.targets = targets
        self.model: str | None = None
        self.fh = spool  # a binary temporary file
        self.offset = array("q")
        self.length = array("q")
        self.uncertainty = array("d")

    def add(self, rows: list[dict], docs: list[Doc]) -> None:
        if self.model is None and rows:
            self.model = f"label-model:{rows[0]['label_source']}"
        for row, doc in zip(rows, docs, strict=True):
            if row["label_source"] == "gold":
                continue
            probs = np.array(list(row["frame_probs"].values()))
            uncertainty = float(1 - np.mean(np.abs(probs - 0.5)) * 2)
            todo = {
                **{k: row[k] for k in row if k.startswith("stance_") and not k.endswith("_probs")},
                "id": row["id"],
                "title": doc.title,
                "text": doc.text,
                "frames": row["frames"],
                "primary_frame": row["primary_frame"],
                "uncertainty": uncertainty,
            }
            task = label_studio_task(todo, self.targets, self.model or "label-model")
            # one list item at indent level 1: "[\n " + item + "\n]"
            data = json.dumps([task], ensure_ascii=False, indent=1)[3:-2].encode("utf-8")
            self.offset.append(self.fh.tell())
            self.length.append(len(data))
            self.uncertainty.append(uncertainty)
            self.fh.write(data)

    def write(self, out: IO[bytes]) -> None:
        """The tasks, most uncertain first, to ``out``; the caller makes the write atomic."""
        order = np.argsort(-np.frombuffer(self.uncertainty, dtype=np.float64), kind="stable")
        out.write(b"[\n " if len(order) else b"[")
        for n, i in enumerate(order.tolist()):
            if n:
                out.write(b",\n ")
            self.fh.seek(self.offset[i])
            out.write(self.fh.read(self.length[i]))
        out.write(b"\n]" if len(order) else b"]")
