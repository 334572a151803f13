"""Build the bundled sample's raw inputs from the clean articles in ``data/articles``.

The clean articles (written for this project) are the ground truth. This script turns
them into what a scraper really delivers: JSONL and CSV exports, a Parquet feed, and
folders of dirty web dumps per outlet (icon-font menus, "Listen Live", "Get short URL",
share footers, tag lines, related-headline lists, the title printed twice, several
articles pasted into one file) plus a few HTML pages, exact and near duplicates, and
non-English items. Ingest must recover every article exactly: the document id is a
hash of the clean title and text, so gold labels written against the clean articles
join the ingested corpus. Deterministic: run it again and nothing changes.

    python data/build_sample.py
"""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ARTICLES = HERE / "articles"
RAW = HERE / "raw"

MENUS = [
    "icon bookmark icon camera icon share icon comment icon print",
    "icon menu icon search icon user",
    "icon bookmark icon share",
]
NON_ENGLISH = [
    {
        "source_id": "ru-001",
        "title": "В Бишкеке обсудили работу миграционных центров",
        "text": (
            "БИШКЕК, 12 марта. Представители министерств труда трёх стран региона обсудили "
            "в Бишкеке работу новых центров подготовки трудовых мигрантов. По словам "
            "организаторов, центры помогут людям заранее получить документы, пройти "
            "медицинский осмотр и изучить язык страны назначения.\n\nУчастники встречи "
            "договорились обмениваться данными о вакансиях и проводить совместные ярмарки "
            "труда. Следующее заседание рабочей группы запланировано на осень."
        ),
        "source": "Steppe Review",
        "date": "2025-03-12",
        "url": "https://steppe-review.example/ru/2025/03/12/migration-centres",
    },
    {
        "source_id": "ru-002",
        "title": "Цены на хлеб в Алматы выросли на шесть процентов",
        "text": (
            "АЛМАТЫ, 3 февраля. Хлеб в магазинах Алматы подорожал в среднем на шесть "
            "процентов с начала года. Пекари объясняют рост цен подорожанием муки, "
            "электроэнергии и перевозок.\n\nГородские власти обещают расширить сеть "
            "социальных магазинов, где базовые продукты продаются по фиксированным ценам, "
            "а также проверить обоснованность наценок крупных торговых сетей."
        ),
        "source": "Steppe Review",
        "date": "2025-02-03",
        "url": "https://steppe-review.example/ru/2025/02/03/bread-prices",
    },
]


def load(batch: str) -> list[dict]:
    path = ARTICLES / f"batch_{batch}.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def pretty_date(iso: str, rng: random.Random) -> str:
    d = pd.Timestamp(iso)
    style = rng.randrange(3)
    if style == 0:
        return f"Published: {d:%Y-%m-%d} {rng.randrange(6, 23):02d}:{rng.randrange(60):02d}"
    if style == 1:
        return f"{d:%B} {d.day}, {d.year}"
    return f"{d:%d.%m.%Y}, {rng.randrange(6, 23):02d}:{rng.randrange(60):02d}"


def dirty_page(art: dict, others: list[dict], rng: random.Random, style: int) -> list[str]:
    """One article as a scraped page: chrome above, the body, chrome and links below."""
    lines: list[str] = []
    related = [o["title"] for o in rng.sample(others, 3)]
    tags = ", ".join(
        rng.sample(
            [
                "NATO",
                "security",
                "Russia",
                "Baltic",
                "CSTO",
                "energy",
                "sanctions",
                "diplomacy",
                "migration",
                "economy",
            ],
            3,
        )
    )
    if style == 0:
        lines += [
            rng.choice(MENUS),
            "Listen Live",
            art["title"],
            art["title"],
            pretty_date(art["date"], rng),
            "",
        ]
        lines += [p for para in paragraphs(art["text"]) for p in (para, "")]
        lines += ["Get short URL", f"Tags: {tags}", "Related", *related, ""]
    elif style == 1:
        lines += [
            "Menu",
            "Search",
            art["title"],
            pretty_date(art["date"], rng),
            "Share on Facebook Twitter Telegram",
        ]
        lines += paragraphs(art["text"])  # no blank lines between paragraphs
        lines += [
            "Read also:",
            *related,
            f"© {art['date'][:4]} {art['source']}. All rights reserved.",
        ]
    else:
        lines += [f"{art['title']} {art['title']}", "icon share icon bookmark", ""]
        lines += [p for para in paragraphs(art["text"]) for p in (para, "")]
        lines += ["Share", "12 comments", f"Keywords: {tags}", ""]
    return lines


def write_dumps(arts: list[dict], others: list[dict], rng: random.Random) -> int:
    """Per outlet: one file with up to seven pasted articles, the rest one per file."""
    by_outlet: dict[str, list[dict]] = {}
    for a in arts:
        by_outlet.setdefault(a["source"], []).append(a)
    files = 0
    for outlet, items in sorted(by_outlet.items()):
        folder = RAW / "web" / outlet
        folder.mkdir(parents=True, exist_ok=True)
        pasted, single = items[:7], items[7:]
        lines: list[str] = []
        for k, a in enumerate(pasted):
            lines += dirty_page(a, others, rng, style=k % 3)
        (folder / "pasted-digest.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        files += 1
        for k, a in enumerate(single):
            slug = re.sub(r"[^a-z0-9]+", "-", a["title"].lower()).strip("-")[:60]
            if k % 5 == 4:
                (folder / f"{a['date']}-{slug}.html").write_text(html_page(a), encoding="utf-8")
            else:
                page = dirty_page(a, others, rng, style=rng.randrange(3))
                (folder / f"{a['date']}-{slug}.txt").write_text(
                    "\n".join(page) + "\n", encoding="utf-8"
                )
            files += 1
    return files


def html_page(a: dict) -> str:
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs(a["text"]))
    t = html.escape(a["title"])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{t}</title>"
        f"<meta property='og:title' content=\"{t}\">"
        f"<meta property='og:site_name' content=\"{html.escape(a['source'])}\">"
        f"<meta property='article:published_time' content='{a['date']}'>"
        f"<link rel='canonical' href='{a['url']}'></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/live'>Listen Live</a>"
        "</nav><script>window.ads=[1,2,3];</script>"
        f"<article><h1>{t}</h1>\n{body}\n</article>"
        "<aside><h3>Related</h3><ul><li><a href='/x'>Other story one</a></li>"
        "<li><a href='/y'>Other story two</a></li></ul></aside>"
        "<footer>Get short URL · Share · © All rights reserved</footer></body></html>"
    )


def main() -> None:
    rng = random.Random(20240101)
    a, b, c, d, e = (load(x) for x in "abcde")
    everything = a + b + c + d + e
    if RAW.exists():
        for f in sorted(RAW.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
    RAW.mkdir(parents=True, exist_ok=True)

    # A clean JSONL export, plus two non-English items (kept and flagged by ingest).
    with (RAW / "wire-export.jsonl").open("w", encoding="utf-8") as fh:
        for row in a + NON_ENGLISH:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    # A CSV export with other column names, exact duplicates and near-duplicates.
    csv_rows = [dict(r) for r in b]
    csv_rows += [dict(r) for r in rng.sample(a, 3)]  # exact duplicates of JSONL rows
    for r in rng.sample(b, 2):  # near duplicates: a syndicated copy with a small edit
        near = dict(r)
        near["source_id"] = r["source_id"] + "-syndicated"
        near["text"] = (
            r["text"].replace(" said ", " told reporters ", 1)
            + "\n\nThis story was distributed by a partner agency."
        )
        csv_rows.append(near)
    df = pd.DataFrame(csv_rows).rename(columns={"source_id": "id"})
    df.to_csv(RAW / "outlets-export.csv", index=False)

    # A Parquet feed.
    pd.DataFrame(c).rename(columns={"source_id": "id"}).to_parquet(
        RAW / "feed.parquet", index=False
    )

    # Dirty web dumps and HTML pages, one folder per outlet.
    n = write_dumps(d + e, everything, rng)
    print(
        f"wrote {RAW}: jsonl {len(a) + len(NON_ENGLISH)} rows, csv {len(csv_rows)} rows, "
        f"parquet {len(c)} rows, {n} web files"
    )


if __name__ == "__main__":
    main()
