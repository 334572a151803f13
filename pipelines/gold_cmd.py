"""``mediaframe split`` and ``mediaframe gold import|export``: gold files from the CLI.

``split`` writes a grouped, stratified ``splits.json`` from a gold file
(``pipelines.split``). ``gold import`` reads a Label Studio JSON export, checks every
annotation against the codebook and targets (values matched as ``label`` does), says
what it dropped and why, and merges the rest into the gold file, one row per document x
annotator (agreement needs them all; ``label`` adjudicates). ``gold export`` turns a
``label`` output folder into Label Studio tasks, least certain first, pre-annotated with
at most ``--max-frames`` frames by probability, beside the matching labeling interface.
Both read the codebook and targets from the label config (``--config``, ``--set``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from labeling.gold import GoldError, Rejection, Vocabulary, rejection_message
from labeling.studio import DEFAULT_MAX_FRAMES


def _vocab(cfg: Any) -> Vocabulary:
    from labeling.codebook import load_codebook, load_stance

    return Vocabulary.of(load_codebook(cfg.codebook), load_stance(cfg.stance))


# --------------------------------------------------------------------------- split
def split_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("gold", metavar="GOLD", help="gold JSONL (one row per document x annotator)")
    p.add_argument("--output", metavar="FILE", required=True, help="splits.json to write")
    p.add_argument(
        "--group-by",
        metavar="FIELD",
        help="keep documents with the same FIELD (e.g. source: the outlet) in one split; "
        "read from the gold rows, else from --documents",
    )
    p.add_argument(
        "--documents", metavar="FILE", help="documents.parquet holding the --group-by column"
    )
    p.add_argument(
        "--stratify",
        default="primary_frame",
        metavar="LABEL",
        help="primary_frame (default) or stance:TARGET, kept balanced across the splits",
    )
    p.add_argument("--dev", type=float, default=0.15, help="share of documents in dev (0.15)")
    p.add_argument("--test", type=float, default=0.15, help="share of documents in test (0.15)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's seed)")
    p.add_argument("--allow-bad-gold", action="store_true", help="split without rejected gold rows")


def run_split(args: argparse.Namespace, cfg: Any) -> int:
    """Check the gold (loud), find each document's group, split, write, summarise."""
    from pipelines.gold_io import load_gold_inputs
    from pipelines.split import make_split, read_groups, write_split

    inputs = load_gold_inputs(_vocab(cfg), args.gold, allow_bad=args.allow_bad_gold)
    if args.documents:
        from pipelines.label_input import DocumentsFile

        docs = DocumentsFile.open(args.documents)
        ids = {str(x) for c in docs.chunks(50_000, ["id"]) for x in c["id"]}
        inputs.check_documents(ids)
    gold = inputs.gold
    groups = (
        read_groups(args.gold, set(gold), args.group_by, args.documents) if args.group_by else None
    )
    seed = cfg.seed if args.seed is None else args.seed
    res = make_split(gold, groups, args.stratify, args.dev, args.test, seed)
    out = write_split(res, args.output, stratify=args.stratify, seed=seed, group_by=args.group_by)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in res.splits.items())
    print(f"splits: {out} ({sizes} of {len(gold)} gold documents)")
    for k in res.splits:
        groups_txt = f"; {args.group_by}: {', '.join(res.groups[k])}" if res.groups else ""
        mix = ", ".join(f"{lab} {n}" for lab, n in res.distribution[k].items())
        print(f"  {k}: {mix}{groups_txt}")
    return 0


# --------------------------------------------------------------------------- gold
def gold_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=["import", "export"],
        help="import: a Label Studio JSON export into the gold file; export: label "
        "output as Label Studio tasks",
    )
    p.add_argument("export", nargs="?", metavar="EXPORT.json", help="(import) the export")
    p.add_argument(
        "--into", metavar="FILE", help="(import) gold JSONL to merge into (default: config gold)"
    )
    p.add_argument("--labels", metavar="DIR", help="(export) a `label` output folder")
    p.add_argument(
        "--documents",
        metavar="FILE",
        help="(export) documents.parquet with the texts (default: DIR/documents.parquet)",
    )
    p.add_argument("--output", metavar="FILE", help="(export) tasks JSON to write")
    p.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_MAX_FRAMES,
        metavar="K",
        help=f"(export) pre-annotate at most K frames by probability (default "
        f"{DEFAULT_MAX_FRAMES}; 0: every frame above the threshold)",
    )


def run_gold(args: argparse.Namespace, cfg: Any) -> int:
    """``gold import`` or ``gold export``; a flag of the other action is an error."""
    other = (
        ["--labels", "--output", "--documents"] if args.action == "import" else ["--into", "EXPORT"]
    )
    given = {
        "--labels": args.labels,
        "--output": args.output,
        "--documents": args.documents,
        "--into": args.into,
        "EXPORT": args.export,
    }
    wrong = [k for k in other if given[k]]
    if wrong:
        raise ValueError(f"gold {args.action}: {', '.join(wrong)} belongs to the other action")
    if args.action == "import":
        if not args.export:
            raise ValueError("gold import needs EXPORT.json (a Label Studio JSON export)")
        into = args.into or cfg.gold
        if not into:
            raise ValueError("gold import needs --into FILE (the config's gold is null)")
        rep = import_export(args.export, into, _vocab(cfg))
        print(
            f"gold: {into}: {rep['imported']} annotations imported from {args.export} "
            f"({rep['added']} new, {rep['replaced']} replacing the same annotator's row, "
            f"{rep['unchanged']} unchanged; {rep['rows']} rows, {rep['documents']} documents, "
            f"{rep['annotators']} annotators)"
        )
        if rep["dropped"]:
            why = ", ".join(f"{k} {n}" for k, n in rep["dropped_by"].items())
            print(f"dropped {len(rep['dropped'])} ({why}):", file=sys.stderr)
            for line in rep["dropped"][:10]:
                print(f"  {line}", file=sys.stderr)
        return 0
    if not args.labels or not args.output:
        raise ValueError("gold export needs --labels DIR and --output FILE")
    n, xml = export_tasks(args.labels, args.output, cfg, args.documents, args.max_frames or None)
    print(f"tasks: {args.output} ({n} documents, least certain first); interface: {xml}")
    return 0


def import_export(export: str | Path, into: str | Path, vocab: Vocabulary) -> dict[str, Any]:
    """Merge a Label Studio export into the gold file ``into`` (created if absent).

    Each (document, annotator) is one row: an imported row replaces that annotator's
    earlier row for the document, adds one otherwise; rows already in the file keep
    their line and their other fields (e.g. ``source_id``). The file is rewritten
    atomically. Existing rows must pass the same checks (a ``GoldError`` otherwise).
    """
    from labeling.gold import check_rows, read_rows
    from labeling.studio import read_export
    from pipelines.atomic import write_text

    rows, dropped = read_export(export)
    good, rejected = check_rows(rows, vocab, str(export))
    rejected = [
        Rejection(r.where, r.line, r.field, r.message, r.id, r.annotator, "task") for r in rejected
    ]
    dropped = sorted(dropped + rejected, key=lambda r: r.line)
    target = Path(into)
    raw: list[dict[str, Any]] = []
    if target.exists():
        old, bad = read_rows(target)
        old_good, old_bad = check_rows(old, vocab, str(target))
        if bad or old_bad:
            raise GoldError(rejection_message(str(target), bad + old_bad, "fix them first"))
        raw = [json.loads(x) for x in target.open(encoding="utf-8") if x.strip()]
        keys = [(r.id, r.annotator) for r in old]
        lookup = {(r.id, r.annotator): r for r in old_good}
    else:
        keys, lookup = [], {}
    where = {k: i for i, k in enumerate(keys)}
    added = replaced = unchanged = 0
    for r in good:
        key = (r.id, r.annotator)
        if key in where:
            i = where[key]
            if lookup.get(key) == r:
                unchanged += 1
                continue
            raw[i] = {**raw[i], **r.to_json()}
            replaced += 1
        else:
            where[key] = len(raw)
            raw.append(r.to_json())
            added += 1
    write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in raw), target)
    return {
        "imported": len(good),
        "added": added,
        "replaced": replaced,
        "unchanged": unchanged,
        "rows": len(raw),
        "documents": len({str(x["id"]) for x in raw}),
        "annotators": len({str(x.get("annotator") or "gold") for x in raw}),
        "dropped": [str(d) for d in dropped],
        "dropped_by": dict(Counter(d.field for d in dropped)),
    }


def export_tasks(
    labels_dir: str | Path,
    output: str | Path,
    cfg: Any,
    documents: str | Path | None = None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
) -> tuple[int, Path]:
    """Label Studio tasks from ``labels_dir/labels.parquet`` and the documents' texts
    (gold documents are not asked again), and the labeling interface beside them."""
    import pyarrow.parquet as pq

    from labeling.codebook import load_codebook, load_stance
    from labeling.functions import Doc
    from labeling.studio import TaskFile, label_studio_config
    from pipelines.atomic import atomic_path
    from pipelines.label_input import DocumentsFile

    labels = Path(labels_dir) / "labels.parquet" if Path(labels_dir).is_dir() else Path(labels_dir)
    if not labels.is_file():
        raise FileNotFoundError(f"{labels}: not found (run `mediaframe label` first)")
    docs_file = DocumentsFile.open(documents or labels.parent / "documents.parquet")
    codebook, stance = load_codebook(cfg.codebook), load_stance(cfg.stance)
    targets = list(stance.targets)
    texts: dict[str, tuple[str, str]] = {}
    table = pq.read_table(labels)
    rows = [r for r in table.to_pylist() if r.get("label_source") != "gold"]
    wanted = {r["id"] for r in rows}
    for chunk in docs_file.chunks(
        5000, ["id", "title", "text"] if "title" in docs_file.names else ["id", "text"]
    ):
        for r in chunk.to_dict("records"):
            if str(r["id"]) in wanted:
                texts[str(r["id"])] = (str(r.get("title") or ""), str(r["text"]))
    missing = sorted(wanted - set(texts))
    if missing:
        raise ValueError(
            f"{docs_file.path}: {len(missing)} labelled documents have no text here "
            f"(first: {missing[0]}); pass --documents FILE"
        )
    out = Path(output)
    with tempfile.TemporaryFile() as spool:
        tasks = TaskFile(targets, spool, max_frames)
        tasks.add(rows, [Doc(r["id"], *texts[r["id"]]) for r in rows])
        with atomic_path(out) as tmp, tmp.open("wb") as fh:
            tasks.write(fh)
    xml = out.with_name("label_studio_config.xml")
    xml.write_text(
        label_studio_config(codebook.keys, {k: t.name for k, t in stance.targets.items()})
    )
    return len(rows), xml
