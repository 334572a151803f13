"""Human gold labels: the JSONL format, splits, and validation (Label Studio: ``studio``).

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


def apply_gold(
    rows: list[dict],
    gold: dict[str, Annotation],
    keys: list[str],
    targets: list[str],
    labels: list[str],
) -> int:
    """Let gold win: overwrite the weak labels of each row in ``gold``; how many were."""
    n = 0
    for row in rows:
        g = gold.get(row["id"])
        if g is None:
            continue
        n += 1
        row["frames"] = [k for k in keys if k in g.frames]
        row["primary_frame"] = g.primary_frame or (
            row["frames"][0] if row["frames"] else row["primary_frame"]
        )
        row["frame_probs"] = {k: float(k in g.frames) for k in keys}
        for t in targets:
            lab = g.stance.get(t, "not_mentioned")
            row[f"stance_{t}"] = lab
            row[f"stance_{t}_probs"] = {x: float(x == lab) for x in labels}
        row["label_source"] = "gold"
        row["evidence"] = ["gold", *row["evidence"]]
    return n
