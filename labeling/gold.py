"""Human gold labels: the JSONL format, splits, and validation (Label Studio: ``studio``).

Annotations (one row per document x annotator) are checked against the codebook and
stance targets before anything uses them. Label values are matched the way people type
them (``"Political"`` for ``political``, ``"EU"`` or ``"European Union"`` for the target
``eu``) and only rejected when no frame, target or stance value matches; every rejected
row is named by file, line and field (``Rejection``), never silently dropped. The same
(id, annotator) twice with conflicting labels is rejected; different annotators of one
document are all kept (for agreement) and adjudicated into one label (``adjudicate``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

STANCE_VALUES = ("favor", "against", "neutral", "not_mentioned")
# The stances a classifier predicts and is scored on; the last value is decided by rule.
STANCE_CLASSES, NOT_MENTIONED = STANCE_VALUES[:3], STANCE_VALUES[3]
MAX_LISTED = 10  # rejected rows an error message lists; all are counted


@dataclass
class Annotation:
    id: str
    annotator: str
    frames: list[str]
    primary_frame: str | None
    stance: dict[str, str]
    # Where the row was read (file line or export task), for messages; not a label.
    line: int = field(default=0, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "annotator": self.annotator,
            "frames": self.frames,
            "primary_frame": self.primary_frame,
            "stance": self.stance,
        }


@dataclass(frozen=True)
class Rejection:
    """One rejected row: where it is, which field, and why."""

    where: str
    line: int
    field: str
    message: str
    id: str | None = None
    annotator: str | None = None
    unit: str = "line"  # "row" for rows numbered by position (built in memory)

    def __str__(self) -> str:
        who = f" (id={self.id}, annotator={self.annotator})" if self.id is not None else ""
        return f"{self.where}: {self.unit} {self.line}{who}: field '{self.field}': {self.message}"


class GoldError(ValueError):
    """A gold, annotation or splits file that cannot be used as it is: missing, empty,
    or with rejected rows. The message lists the first rows, each with file, line and
    field; ``rejections`` holds them all."""

    def __init__(self, message: str, rejections: list[Rejection] | None = None) -> None:
        super().__init__(message)
        self.rejections = rejections or []


def rejection_message(
    where: str, rejections: list[Rejection], hint: str = "", limit: int = MAX_LISTED
) -> str:
    """``N rejected rows`` and the first ``limit`` of them, one a line."""
    head = f"{where}: {len(rejections)} rejected row{'s' * (len(rejections) != 1)}"
    if len(rejections) > limit:
        head += f" (first {limit} listed)"
    lines = [head + (f"; {hint}" if hint else "")]
    lines += [f"  {r}" for r in rejections[:limit]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- vocabulary
def _norm(value: str) -> str:
    """Case, spaces, hyphens and punctuation folded: "Security & defense" ~ security_defense."""
    return re.sub(r"[\W_]+", "_", value.casefold()).strip("_")


class Vocabulary:
    """The values gold rows may use, and the spellings accepted for each.

    A frame is matched by its key or its label, a target by its key, its name or any
    plain alias (``case:`` ones without the prefix; ``re:`` patterns are not spellings),
    a stance by its value; all after ``_norm``. A spelling that two entries share is
    not accepted for either, so a match is never a guess.
    """

    def __init__(
        self,
        frames: dict[str, Iterable[str]],
        targets: dict[str, Iterable[str]],
        stances: Iterable[str] = STANCE_VALUES,
    ) -> None:
        self.frame_keys = list(frames)
        self.target_keys = list(targets)
        self._frames = self._index(frames)
        self._targets = self._index(targets)
        self._stances = self._index({s: [s] for s in stances})

    @staticmethod
    def _index(entries: dict[str, Iterable[str]]) -> dict[str, str]:
        seen: dict[str, set[str]] = {}
        for key, spellings in entries.items():
            for s in (key, *spellings):
                if s.startswith("re:"):
                    continue
                seen.setdefault(_norm(s.removeprefix("case:")), set()).add(key)
        index = {s: next(iter(keys)) for s, keys in seen.items() if len(keys) == 1 and s}
        for key in entries:  # a key always names itself
            index[_norm(key)] = key
        return index

    @classmethod
    def of(cls, codebook: Any, stance: Any) -> Vocabulary:
        """From a ``Codebook`` and a ``StanceSpec`` (``labeling.codebook``)."""
        return cls(
            {k: [f.label] for k, f in codebook.frames.items()},
            {k: [t.name, *t.aliases] for k, t in stance.targets.items()},
        )

    @classmethod
    def exact(cls, frames: list[str], targets: list[str]) -> Vocabulary:
        """Keys only (case and spacing still folded), when no codebook is at hand."""
        return cls({f: [] for f in frames}, {t: [] for t in targets})

    def frame(self, value: Any) -> str | None:
        return self._frames.get(_norm(value)) if isinstance(value, str) else None

    def target(self, value: Any) -> str | None:
        return self._targets.get(_norm(value)) if isinstance(value, str) else None

    def stance(self, value: Any) -> str | None:
        return self._stances.get(_norm(value)) if isinstance(value, str) else None


# --------------------------------------------------------------------------- reading
def _row(raw: Any, where: str, no: int, annotator: str | None) -> Annotation | Rejection:
    """One parsed JSONL value as an ``Annotation``, or why it cannot be one."""
    if not isinstance(raw, dict):
        return Rejection(where, no, "(row)", f"not a JSON object but {type(raw).__name__}")
    rid = raw.get("id")
    if rid is None or (isinstance(rid, str) and not rid.strip()) or isinstance(rid, dict | list):
        return Rejection(where, no, "id", "missing" if rid in (None, "") else f"{rid!r}")
    rid, who = str(rid), str(raw.get("annotator") or annotator or "gold")
    frames, stance, primary = (
        raw.get("frames") or [],
        raw.get("stance") or {},
        raw.get("primary_frame"),
    )
    if not isinstance(frames, list):
        return Rejection(where, no, "frames", "must be a list of frames", rid, who)
    if not isinstance(stance, dict):
        return Rejection(where, no, "stance", "must be a mapping target -> stance", rid, who)
    if primary is not None and not isinstance(primary, str):
        return Rejection(where, no, "primary_frame", f"must be a frame, not {primary!r}", rid, who)
    return Annotation(rid, who, list(frames), primary, dict(stance), line=no)


def read_rows(
    path: str | Path, annotator: str | None = None, kind: str = "gold"
) -> tuple[list[Annotation], list[Rejection]]:
    """Every row of a gold or annotation JSONL file, and each line that is not a row.

    ``annotator`` fills rows that do not name one. A missing file is a ``GoldError``.
    """
    p = Path(path)
    if not p.is_file():
        raise GoldError(f"{p}: {kind} file not found (set {kind} to null for none)")
    rows: list[Annotation] = []
    bad: list[Rejection] = []
    try:
        # split on newlines only: JSON strings may hold U+2028, which splitlines() splits on
        lines = p.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise GoldError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(Rejection(str(p), no, "(row)", f"not JSON: {exc}"))
            continue
        got = _row(raw, str(p), no, annotator)
        (rows if isinstance(got, Annotation) else bad).append(got)  # type: ignore[arg-type]
    return rows, bad


def read_jsonl(path: str | Path, annotator: str | None = None) -> list[Annotation]:
    """Read gold or annotation JSONL; a line that is not a row is a ``GoldError``."""
    rows, bad = read_rows(path, annotator)
    if bad:
        raise GoldError(rejection_message(str(path), bad), bad)
    return rows


def read_gold(path: str | Path, vocab: Vocabulary | None = None) -> dict[str, Annotation]:
    """One label per document of a gold file: every row read (a bad line is a
    ``GoldError``), matched to ``vocab`` if given (a rejected row is a ``GoldError``),
    and the annotators of a document adjudicated (``adjudicate``), so a file with one
    row per annotator, as ``mediaframe gold import`` writes, is read as ``label`` reads it."""
    rows = read_jsonl(path)
    if vocab is not None:
        rows, bad = check_rows(rows, vocab, str(path))
        if bad:
            raise GoldError(rejection_message(str(path), bad), bad)
    return adjudicate(rows)[0]


def write_jsonl(rows: list[Annotation], path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- checking
def normalise(
    row: Annotation, vocab: Vocabulary, where: str, unit: str = "line"
) -> Annotation | list[Rejection]:
    """``row`` with every value spelled as its key, or the fields no key matches.

    The primary frame counts as present, so it is added to ``frames`` when missing.
    """
    bad: list[Rejection] = []

    def reject(fld: str, msg: str) -> None:
        bad.append(Rejection(where, row.line, fld, msg, row.id, row.annotator, unit))

    frames: list[str] = []
    for f in row.frames:
        key = vocab.frame(f)
        if key is None:
            reject("frames", f"unknown frame {f!r} (frames: {', '.join(vocab.frame_keys)})")
        elif key not in frames:
            frames.append(key)
    primary = None
    if row.primary_frame is not None:
        primary = vocab.frame(row.primary_frame)
        if primary is None:
            reject("primary_frame", f"unknown frame {row.primary_frame!r}")
        elif primary not in frames:
            frames.append(primary)
    stance: dict[str, str] = {}
    for t, lab in row.stance.items():
        key, value = vocab.target(t), vocab.stance(lab)
        if key is None:
            reject("stance", f"unknown target {t!r} (targets: {', '.join(vocab.target_keys)})")
        elif value is None:
            reject(f"stance.{t}", f"unknown label {lab!r} (allowed {', '.join(STANCE_VALUES)})")
        elif stance.get(key, value) != value:
            reject(f"stance.{t}", f"{value!r} contradicts {stance[key]!r} given for {key!r}")
        else:
            stance[key] = value
    if bad:
        return bad
    return Annotation(row.id, row.annotator, frames, primary, stance, line=row.line)


def check_rows(
    rows: list[Annotation],
    vocab: Vocabulary,
    where: str,
    doc_ids: set[str] | None = None,
) -> tuple[list[Annotation], list[Rejection]]:
    """The usable rows, normalised, and the rejected ones with their reasons.

    A row is rejected whole (one bad field makes the row unsure). The same (id,
    annotator) twice: one row if the labels agree, both rejected if they conflict.
    ``doc_ids``: documents not in it are rejected (gold for a document not labelled).
    """
    good: list[Annotation] = []
    bad: list[Rejection] = []
    unit = "line"
    if any(not r.line for r in rows):  # built in memory: number them by position
        rows, unit = [replace(r, line=i + 1) for i, r in enumerate(rows)], "row"
    for r in rows:
        got = normalise(r, vocab, where, unit)
        if doc_ids is not None and r.id not in doc_ids:
            bad.append(
                Rejection(
                    where, r.line, "id", "document not in the corpus", r.id, r.annotator, unit
                )
            )
        elif isinstance(got, Annotation):
            good.append(got)
        if isinstance(got, list):
            bad.extend(got)
    first: dict[tuple[str, str], Annotation] = {}
    conflicted: set[tuple[str, str]] = set()
    kept: list[Annotation] = []
    for r in good:
        key = (r.id, r.annotator)
        if key not in first:
            first[key] = r
            kept.append(r)
        elif _labels(first[key]) != _labels(r):
            conflicted.add(key)
            bad.append(
                Rejection(
                    where,
                    r.line,
                    "(id, annotator)",
                    f"same document and annotator as line {first[key].line} with other labels",
                    r.id,
                    r.annotator,
                    unit,
                )
            )
    for key in conflicted:
        f = first[key]
        bad.append(
            Rejection(
                where, f.line, "(id, annotator)", "labels conflict with a later row", *key, unit
            )
        )
    bad.sort(key=lambda x: x.line)
    return [r for r in kept if (r.id, r.annotator) not in conflicted], bad


def _labels(r: Annotation) -> tuple:
    return (frozenset(r.frames), r.primary_frame, tuple(sorted(r.stance.items())))


def adjudicate(rows: list[Annotation]) -> tuple[dict[str, Annotation], int]:
    """One label per document from all its annotators, and how many needed a decision.

    A frame is present when more than half the annotators mark it; the primary frame
    and each target's stance are the most common value. A tie goes to the annotator who
    comes first in the file (the first pass), as the sample's own adjudication does.
    A document with one annotator keeps that row.
    """
    by_id: dict[str, list[Annotation]] = {}
    for r in rows:
        by_id.setdefault(r.id, []).append(r)
    out: dict[str, Annotation] = {}
    decided = 0
    for doc, anns in by_id.items():
        if len(anns) == 1:
            out[doc] = anns[0]
            continue
        if len({_labels(a) for a in anns}) > 1:
            decided += 1
        n = len(anns)
        counts = Counter(f for a in anns for f in a.frames)
        frames = [f for f in dict.fromkeys(f for a in anns for f in a.frames) if counts[f] * 2 > n]
        primary = _vote([a.primary_frame for a in anns])
        if primary is not None and primary not in frames:
            frames.append(primary)
        targets = dict.fromkeys(t for a in anns for t in a.stance)
        stance = {t: _vote([a.stance.get(t, NOT_MENTIONED) for a in anns]) for t in targets}
        out[doc] = Annotation(
            doc, "adjudicated", frames, primary, {t: v for t, v in stance.items() if v}
        )
    return out, decided


def _vote(values: list[str | None]) -> str | None:
    """The most common non-null value; ties to the one given first."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(v for v in values if v is not None and counts[v] == best)


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


def validate(
    rows: list[Annotation],
    frames: list[str],
    targets: list[str],
    doc_ids: set[str] | None = None,
    where: str = "annotations",
) -> GoldProblems:
    """The problems of ``rows`` against exact frame and target keys, by kind."""
    problems = GoldProblems()
    _, bad = check_rows(rows, Vocabulary.exact(frames, targets), where, doc_ids)
    for b in bad:
        kind = {
            "frames": problems.unknown_frames,
            "primary_frame": problems.unknown_frames,
            "id": problems.unknown_documents,
        }.get(b.field)
        if kind is None:
            kind = problems.unknown_stance if b.field.startswith("stance") else problems.malformed
        kind.append(str(b))
    return problems


# --------------------------------------------------------------------------- splits
SPLITS = ("train", "dev", "test")


def _line_of(text: str, value: Any, start: int) -> int:
    """The line of ``value`` (as JSON) at or after ``start`` in ``text``, for messages."""
    pos = text.find(json.dumps(value), start)
    return text.count("\n", 0, pos if pos >= 0 else start) + 1


def check_splits(
    path: str | Path, gold_ids: set[str] | None = None
) -> tuple[dict[str, list[str]], list[Rejection]]:
    """The train/dev/test ids of a splits file, and each id entry that is rejected.

    Missing file, not JSON, or a split missing or not a list: a ``GoldError``.
    Rejected entries: an id that is not a string or number, one in two splits (a leak
    between training and evaluation), or (``gold_ids`` given) one no gold row labels.
    Other keys (such as the outlets of each split) are left out.
    """
    p = Path(path)
    if not p.is_file():
        raise GoldError(f"{p}: splits file not found (set splits to null for none)")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoldError(f"{p}: line {exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise GoldError(f"{p}: must be a JSON object with train, dev and test id lists")
    out: dict[str, list[str]] = {}
    bad: list[Rejection] = []
    seen: dict[str, str] = {}
    for k in SPLITS:
        if k not in data:
            raise GoldError(f"{p}: split {k!r} missing (needs train, dev and test)")
        if not isinstance(data[k], list):
            raise GoldError(f"{p}: split {k!r} must be a list of document ids")
        start = text.find(f'"{k}"')
        out[k] = []
        for i, x in enumerate(data[k]):
            line = _line_of(text, x, max(start, 0))
            if not isinstance(x, str | int) or isinstance(x, bool):
                bad.append(Rejection(str(p), line, f"{k}[{i}]", f"not a document id: {x!r}"))
                continue
            x = str(x)
            if x in seen:
                bad.append(Rejection(str(p), line, f"{k}[{i}]", f"id {x} is also in {seen[x]}"))
            elif gold_ids is not None and x not in gold_ids:
                bad.append(Rejection(str(p), line, f"{k}[{i}]", f"id {x} has no gold label"))
            else:
                seen[x] = k
                out[k].append(x)
    return out, bad


def read_splits(path: str | Path) -> dict[str, list[str]]:
    """The train/dev/test ids; any rejected entry is a ``GoldError`` listing them."""
    splits, bad = check_splits(path)
    if bad:
        raise GoldError(rejection_message(str(path), bad), bad)
    return splits


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
