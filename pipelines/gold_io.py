"""Loud gold: the gold, annotation and splits files a stage reads, checked before use.

A file that is configured but missing or empty, or that has rejected rows, stops the
stage with a ``GoldError`` listing the first rejected rows by file, line and field;
``allow_bad`` (``--allow-bad-gold``) prints the same list and goes on without those rows.
A key set to null means "none" and is never an error. Checks that need the corpus (gold
for a document that is not in it) run in :meth:`GoldInputs.check_documents`, after the
documents are read; everything else runs before any work starts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from labeling.gold import (
    Annotation,
    GoldError,
    Rejection,
    Vocabulary,
    adjudicate,
    check_rows,
    check_splits,
    read_rows,
    rejection_message,
)

HINT = "fix them, or pass --allow-bad-gold to go on without them"


@dataclass
class GoldInputs:
    """What a stage reads of gold: rows per file, adjudicated gold, splits, problems."""

    vocab: Vocabulary
    allow_bad: bool = False
    gold_path: str | None = None
    gold_rows: list[Annotation] = field(default_factory=list)  # every annotator's row
    annotations_path: str | None = None
    annotations: list[Annotation] = field(default_factory=list)
    splits_path: str | None = None
    splits: dict[str, list[str]] | None = None
    problems: list[str] = field(default_factory=list)  # every rejected row, as text

    @property
    def gold(self) -> dict[str, Annotation]:
        """One label per gold document, adjudicated across its annotators."""
        return adjudicate(self.gold_rows)[0]

    @property
    def adjudicated(self) -> int:
        """Gold documents whose annotators disagreed and got a decision."""
        return adjudicate(self.gold_rows)[1]

    def _judge(self, where: str, bad: list[Rejection]) -> None:
        """Stop on rejected rows, or (``allow_bad``) print them and carry on."""
        if not bad:
            return
        msg = rejection_message(where, bad, "" if self.allow_bad else HINT)
        self.problems.extend(str(b) for b in bad)
        if not self.allow_bad:
            raise GoldError(msg, bad)
        print(f"warning: {msg}\n  (going on without them: --allow-bad-gold)", file=sys.stderr)

    def _read(self, path: str, kind: str) -> list[Annotation]:
        rows, bad = read_rows(path, kind=kind)
        good, rejected = check_rows(rows, self.vocab, str(path))
        self._judge(str(path), sorted(bad + rejected, key=lambda r: r.line))
        if not rows and not bad:
            raise GoldError(f"{path}: {kind} file is empty (set {kind} to null for none)")
        return good

    def check_documents(self, doc_ids: set[str], why: str = "document not in the corpus") -> None:
        """Gold and annotation rows for documents that are not in ``doc_ids``."""
        for path, attr, kind in (
            (self.gold_path, "gold_rows", "gold"),
            (self.annotations_path, "annotations", "annotations"),
        ):
            rows = getattr(self, attr)
            bad = [
                Rejection(str(path), r.line, "id", why, r.id, r.annotator)
                for r in rows
                if r.id not in doc_ids
            ]
            if rows and len(bad) == len(rows) and not self.allow_bad:
                raise GoldError(
                    f"{path}: none of its {len(rows)} rows is for a document of this corpus "
                    f"(first: id {rows[0].id}); is it another corpus's {kind}? Set {kind} to "
                    "null for none",
                    bad,
                )
            self._judge(str(path), bad)
            setattr(self, attr, [r for r in rows if r.id in doc_ids])


def load_gold_inputs(
    vocab: Vocabulary,
    gold: str | Path | None,
    annotations: str | Path | None = None,
    splits: str | Path | None = None,
    allow_bad: bool = False,
) -> GoldInputs:
    """Read and check the files that are set (None: not used); see the module doc."""
    out = GoldInputs(vocab, allow_bad)
    if gold:
        out.gold_path = str(gold)
        out.gold_rows = out._read(str(gold), "gold")
    if annotations:
        out.annotations_path = str(annotations)
        out.annotations = out._read(str(annotations), "annotations")
    if splits:
        out.splits_path = str(splits)
        ids = {r.id for r in out.gold_rows} if gold else None
        out.splits, bad = check_splits(splits, ids)
        if not any(out.splits.values()) and not bad:
            raise GoldError(f"{splits}: the splits hold no document id (set splits to null)")
        out._judge(str(splits), bad)
    return out
