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
from labeling.gold import STANCE_VALUES, Annotation, GoldError, Rejection

# Frames a pre-annotation proposes at most (by probability): annotators check a few
# proposed frames; ten of fifteen is a pre-annotation to undo.
DEFAULT_MAX_FRAMES = 3


def _choices(result: list[dict[str, Any]], name: str) -> list[str]:
    for item in result:
        if item.get("from_name") == name:
            return list(item.get("value", {}).get("choices", []))
    return []


def _who(ann: dict[str, Any]) -> str | None:
    """The annotator of an exported annotation: ``completed_by`` is a user id, or (in
    newer exports) the user as an object with ``email`` and ``id``."""
    who = ann.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return None if who in (None, "") else str(who)


def read_export(path: str | Path) -> tuple[list[Annotation], list[Rejection]]:
    """Every annotation of a Label Studio JSON export, and each one dropped, with why.

    Dropped: a task without ``data.id`` (the document id :func:`to_label_studio`
    writes), a cancelled (skipped) annotation, one with no annotator or no choice at
    all, and an older annotation by the same annotator of the same task (the latest,
    by ``updated_at``, wins). ``line`` is the task's position in the export. Label
    values are returned as written; ``labeling.gold.check_rows`` matches them.
    """
    p = Path(path)
    if not p.is_file():
        raise GoldError(f"{p}: Label Studio export not found")
    try:
        tasks = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GoldError(f"{p}: line {exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(tasks, list):
        raise GoldError(f"{p}: not a Label Studio JSON export (a list of tasks)")
    out: dict[tuple[str, str], tuple[str, Annotation]] = {}
    dropped: list[Rejection] = []

    def drop(n: int, fld: str, msg: str, doc: str | None = None, who: str | None = None) -> None:
        dropped.append(Rejection(str(p), n, fld, msg, doc, who, "task"))

    for n, task in enumerate(tasks, 1):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            drop(n, "data.id", "no document id (tasks come from `mediaframe gold export`)")
            continue
        doc = str(data["id"])
        anns = task.get("annotations") or []
        if not anns:
            drop(n, "annotations", "not annotated", doc)
        for ann in anns:
            who = _who(ann)
            if ann.get("was_cancelled"):
                drop(n, "was_cancelled", "skipped by the annotator", doc, who)
                continue
            if who is None:
                drop(n, "completed_by", "no annotator", doc)
                continue
            res = [r for r in ann.get("result") or [] if r.get("type", "choices") == "choices"]
            if not any(r.get("value", {}).get("choices") for r in res):
                drop(n, "result", "no choice made", doc, who)
                continue
            primary = _choices(res, "primary_frame")
            stance = {
                str(r["from_name"]).removeprefix("stance_"): r["value"]["choices"][0]
                for r in res
                if str(r.get("from_name", "")).startswith("stance_")
                and r.get("value", {}).get("choices")
            }
            row = Annotation(
                doc, who, _choices(res, "frames"), primary[0] if primary else None, stance, n
            )
            stamp = str(ann.get("updated_at") or ann.get("created_at") or "")
            key = (doc, who)
            if key in out:
                older, newer = sorted([out[key], (stamp, row)], key=lambda x: x[0])
                out[key] = newer
                drop(
                    n,
                    "annotations",
                    f"older annotation by the same annotator ({older[0]})",
                    doc,
                    who,
                )
            else:
                out[key] = (stamp, row)
    return [row for _, row in out.values()], dropped


def from_label_studio(path: str | Path, targets: list[str] | None = None) -> list[Annotation]:
    """The annotations of a Label Studio JSON export (see :func:`read_export`);
    ``targets``, if given, keeps only their stance."""
    rows, _ = read_export(path)
    if targets is not None:
        for r in rows:
            r.stance = {t: v for t, v in r.stance.items() if t in targets}
    return rows


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


def top_frames(row: dict[str, Any], max_frames: int | None) -> list[str]:
    """The row's frames, at most ``max_frames`` of them by probability (``frame_probs``),
    the primary frame always among them: a pre-annotation of ten frames is one the
    annotator has to undo, not check."""
    frames = list(row.get("frames") or [])
    if not max_frames or len(frames) <= max_frames:
        return frames
    probs = row.get("frame_probs") or {}
    ranked = sorted(frames, key=lambda f: -float(probs.get(f, 0.0)))
    primary = row.get("primary_frame")
    keep = ranked[:max_frames]
    if primary in frames and primary not in keep:
        keep = [primary, *ranked[: max_frames - 1]]
    return [f for f in frames if f in keep]


def label_studio_task(
    row: dict[str, Any], targets: list[str], model: str, max_frames: int | None = None
) -> dict:
    """One task of ``to_label_studio``: the document and its pre-annotation."""
    result = [
        {
            "from_name": "frames",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": top_frames(row, max_frames)},
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

    def __init__(self, targets: list[str], spool: IO[bytes], max_frames: int | None = None) -> None:
        self.targets = targets
        self.max_frames = max_frames  # see top_frames
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
                "frame_probs": row["frame_probs"],
                "primary_frame": row["primary_frame"],
                "uncertainty": uncertainty,
            }
            task = label_studio_task(
                todo, self.targets, self.model or "label-model", self.max_frames
            )
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
