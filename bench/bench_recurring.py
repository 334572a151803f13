"""Memory of ingest's cross-document recurrence table (``RecurringLines``) at scale.

    python bench/bench_recurring.py [--files 100000 1000000] [--max-keys 200000]

Ingest counts, per folder, the short lines that recur across the folder's files (a site's
menus, share bars and footers) before it cleans them. A folder of a million scraped pages
must not grow that table without end: it holds at most ``max_keys`` line digests. This
feeds one table with generated pages shaped like real ones (about 30 lines that occur
once, plus 8 chrome lines from the site's pool of 40) and reports, per size, the memory
the table keeps (``tracemalloc``, after the last file), its key count, and whether the
site's chrome is still recognised and article lines are not. One row also feeds chrome
that first appears only after the table is full: the bound's cost, which the table
accepts (such lines are under-reported, never wrongly cut).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import report
from pipelines.boilerplate import RecurringLines

CHROME = [f"Menu item {i} | Share | Subscribe to our newsletter" for i in range(40)]
LATE_CHROME = [f"Cookie banner variant {i} Accept all" for i in range(10)]


def page(i: int, rng: random.Random, chrome: list[str]) -> list[str]:
    """One page: 30 lines seen only here (headline, paragraphs' first lines) and 8 chrome lines."""
    own = [
        f"Article {i} line {j} about talks between ministers on day {i % 365}" for j in range(30)
    ]
    return own + rng.sample(chrome, 8)


def measure(files: int, max_keys: int, late_from: int | None) -> dict:
    rng = random.Random(0)
    tracemalloc.start()
    table = RecurringLines(max_keys=max_keys)
    t0 = time.perf_counter()
    for i in range(files):
        chrome = LATE_CHROME if late_from is not None and i >= late_from else CHROME
        table.add_file(page(i, rng, chrome))
    secs = time.perf_counter() - t0
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    probe = rng.randrange(files)
    return {
        "files": files,
        "max_keys": max_keys,
        "late_chrome_from_file": late_from if late_from is not None else "",
        "keys": len(table.counts),
        "table_mb": round(kept / 2**20, 1),
        "peak_traced_mb": round(peak / 2**20, 1),
        "seconds_traced": round(secs, 1),
        "chrome_recognised": f"{sum(map(table.is_chrome, CHROME))}/{len(CHROME)}",
        "late_chrome_recognised": f"{sum(map(table.is_chrome, LATE_CHROME))}/{len(LATE_CHROME)}",
        "article_lines_cut": sum(map(table.is_chrome, page(probe, rng, CHROME)[:30])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--max-keys", type=int, default=RecurringLines().max_keys)
    args = ap.parse_args()
    rows = [measure(n, args.max_keys, None) for n in args.files]
    # chrome that changes once the table is full: the one thing the bound gives up
    rows.append(measure(args.files[0], args.max_keys, args.files[0] // 2))
    report(
        "bench_recurring",
        rows,
        {"command": "python bench/bench_recurring.py " + " ".join(sys.argv[1:])},
    )


if __name__ == "__main__":
    main()
