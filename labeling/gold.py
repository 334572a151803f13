"""Human gold labels: the JSONL format, Label Studio import/export, and validation.

Annotations (one row per document x annotator) are validated against the codebook and
stance targets: unknown labels or unknown documents are listed back to the user, never
silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STANCE_VALUES = ("favor", "against", "neutral", "not_mentioned")
# The stances a classifier predicts and is scored on; the last value is decided by rule.
STANCE_CLASSES, NOT_MENTIONED = STANCE_VALUES[:3], STANCE_VALUES[3]


@dataclass
class Annotation:
    id: str
    annotator: str
    frames: list[str]
    primary_frame: str | None
    stance: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "annotator": self.annotator,
            "frames": self.frames,
            "primary_frame": self.primary_frame,
            "stance": self.stance,
        }


@dataclass
class GoldProblems:
    unknown_frames: list[str] = field(default_factory=list)
    unknown_stance: list[str] = field(default_factory=list)
    unknown_documents: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (self.unknown_frames, self.unknown_stance, self.unknown_documents, self.malformed)
        )

    def lines(self) -> list[str]:
        return self.malformed + self.unknown_frames + self.unknown_stance + self.unknown_documents


def read_jsonl(path: str | Path, annotator: str | None = None) -> list[Annotation]:
    """Read gold or annotation JSONL; ``annotator`` fills rows that do not name one."""
    out: list[Annotation] = []
    p = Path(path)
    with p.open(encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: line {no}: not JSON: {exc}") from exc
            if "id" not in row:
                raise ValueError(f"{p}: line {no}: field 'id' missing")
            out.append(
                Annotation(
                    id=str(row["id"]),
                    annotator=str(row.get("annotator") or annotator or "gold"),
                    frames=list(row.get("frames") or []),
                    primary_frame=row.get("primary_frame"),
                    stance=dict(row.get("stance") or {}),
                )
            )
    return out


def write_jsonl(rows: list[Annotation], path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")


def validate(
    rows: list[Annotation],
    frames: list[str],
    targets: list[str],
    doc_ids: set[str] | None = None,
    where: str = "annotations",
) -> GoldProblems:
    problems = GoldProblems()
    fset = set(frames)
    for i, r in enumerate(rows):
        loc = f"{where}: row {i + 1} (id={r.id}, annotator={r.annotator})"
        for f in r.frames:
            if f not in fset:
                problems.unknown_frames.append(f"{loc}: field 'frames': unknown frame {f!r}")
        if r.primary_frame is not None and r.primary_frame not in fset:
            problems.unknown_frames.append(
                f"{loc}: field 'primary_frame': unknown frame {r.primary_frame!r}"
            )
        for t, lab in r.stance.items():
            if t not in targets:
                problems.unknown_stance.append(f"{loc}: field 'stance': unknown target {t!r}")
            elif lab not in STANCE_VALUES:
                problems.unknown_stance.append(
                    f"{loc}: field 'stance.{t}': unknown label {lab!r} (allowed {STANCE_VALUES})"
                )
        if doc_ids is not None and r.id not in doc_ids:
            problems.unknown_documents.append(f"{loc}: document not in the corpus")
    return problems


def read_splits(path: str | Path) -> dict[str, list[str]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for k in ("train", "dev", "test"):
        if k not in data:
            raise ValueError(f"{path}: split {k!r} missing (needs train, dev and test)")
    return {k: [str(x) for x in data[k]] for k in ("train", "dev", "test")}


# ----------------------------------------------------------------------------- Label Studio
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
