"""webclean: how much article text our ingest keeps and how much site chrome it drops.

Runs ``ingest`` on a webclean-style folder (``html/``, ``text/``, ``snippets.json``: see the
dataset's SOURCE.md) and scores the output exactly as the dataset's ``score.py`` does, beside
two references: keep everything, and ``trafilatura.extract`` on the HTML. ``--test-dir`` scores
a second folder of the same layout (the held-out half) with the same code.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.atomic import write_text
from pipelines.config import IngestConfig
from pipelines.ingest import ingest


def score_pages(pages: dict[str, Any], root: Path, docs: Iterable[tuple[str, str, str]]) -> dict:
    """score.py's figures for (provenance, title, text) rows against ``pages``' snippets.

    Same matching as score.py: a page's documents are the rows whose provenance names its file,
    their titles and texts joined; only snippets present in the raw text dump count.
    """
    text: dict[str, str] = collections.defaultdict(str)
    ndocs: collections.Counter[str] = collections.Counter()
    for prov, title, body in docs:
        name = os.path.basename(str(prov)).split(":")[0].rsplit(".", 1)[0]
        text[name] += "\n" + str(title or "") + "\n" + str(body or "")
        ndocs[name] += 1
    tp = fn = fp = tn = 0
    for name, p in pages.items():
        raw = (root / p["text"]).read_text(encoding="utf-8")
        out = text.get(name, "")
        for s in p["with"]:
            if s in raw:
                tp += s in out
                fn += s not in out
        for s in p["without"]:
            if s in raw:
                fp += s in out
                tn += s not in out
    prec, rec = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {
        "pages": len(pages),
        "no_document": sum(1 for n in pages if n not in text),
        "cut_into_several": sum(1 for n in pages if ndocs.get(n, 0) > 1),
        "text_kept": f"{tp}/{tp + fn}",
        "boilerplate_removed": f"{tn}/{tn + fp}",
        "boilerplate_removed_share": round(tn / max(1, tn + fp), 3),
        "precision": round(prec, 3),
        "recall": round(rec, 3),
        "F1": round(2 * prec * rec / max(1e-9, prec + rec), 3),
    }


def frame_rows(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    return list(zip(df["provenance"], df["title"], df["text"], strict=True))


def ingest_rows(folder: Path, cfg: IngestConfig | None = None) -> list[tuple[str, str, str]]:
    """Our ingest on one folder of dumps, with ``mediaframe ingest``'s default settings."""
    cfg = cfg or IngestConfig()
    with tempfile.TemporaryDirectory() as out:
        ingest([folder], out, cfg)
        return frame_rows(pd.read_parquet(Path(out) / "documents.parquet"))


def reference_rows(pages: dict[str, Any], root: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Keep-everything (the raw dump) and ``trafilatura.extract`` on the HTML, one row a page."""
    import trafilatura

    keep, traf = [], []
    for p in pages.values():
        keep.append((p["text"], "", (root / p["text"]).read_text(encoding="utf-8")))
        html = (root / p["html"]).read_text(encoding="utf-8", errors="replace")
        traf.append((p["html"], "", trafilatura.extract(html) or ""))
    return {"keep everything (text)": keep, "trafilatura.extract (html)": traf}


def score_folder(data_dir: Path) -> dict[str, dict]:
    pages = json.loads((data_dir / "snippets.json").read_text(encoding="utf-8"))
    runs = reference_rows(pages, data_dir)
    runs["mediaframe ingest (text)"] = ingest_rows(data_dir / "text")
    runs["mediaframe ingest (html)"] = ingest_rows(data_dir / "html")
    return {name: score_pages(pages, data_dir, rows) for name, rows in runs.items()}


def print_table(title: str, scores: dict[str, dict]) -> None:
    print(f"\n{title}")
    print(f"{'system':30} {'P':>6} {'R':>6} {'F1':>6} {'chrome out':>11} {'cut':>4}")
    for name, s in scores.items():
        print(
            f"{name:30} {s['precision']:6.3f} {s['recall']:6.3f} {s['F1']:6.3f} "
            f"{s['boilerplate_removed']:>11} {s['cut_into_several']:4d}"
        )


def run_webclean(data_dir: Path, test_dir: Path | None = None, output: Path | None = None) -> dict:
    """Score ``data_dir`` (and ``test_dir``); print the tables, write JSON to ``output``."""
    result: dict[str, Any] = {"data": {"dir": str(data_dir), **score_folder(Path(data_dir))}}
    if test_dir is not None:
        result["test"] = {"dir": str(test_dir), **score_folder(Path(test_dir))}
    for part, scores in result.items():
        print_table(f"{part}: {scores['dir']}", {k: v for k, v in scores.items() if k != "dir"})
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        write_text(json.dumps(result, indent=2), output)  # never a half-written result
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data-dir", type=Path, required=True, help="folder with html/, text/, snippets.json"
    )
    ap.add_argument("--test-dir", type=Path, default=None, help="a held-out folder, same layout")
    ap.add_argument("--output", type=Path, default=None, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    run_webclean(args.data_dir, args.test_dir, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
