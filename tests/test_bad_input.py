"""Bad input through ingest, label and score: a defined result or a per-row error, never a
crash, and every row accounted for (rows in = rows out + rows the stage's report counts).

Generated documents (hypothesis) cover empty, whitespace, right-to-left and Cyrillic text,
HTML with scripts, control characters, numbers, None and NaN in the text column,
repeated ids and per-line encodings; hand-written cases cover 1 MB texts, binary junk,
mixed encodings in one file, missing columns and CSV with quoted newlines and quotes.
Score runs the real published baseline champion (built once per session).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipelines.config import IngestConfig, LabelConfig, ScoreConfig
from pipelines.ingest import IngestError, ingest
from pipelines.label import run_label
from pipelines.score import score
from pipelines.shards import ScoreError

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a stage run takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SENTENCE = (
    "NATO ministers met in Brussels on Tuesday to discuss the alliance budget, while "
    "Moscow condemned the drills near its border as a provocation. "
)
VOCAB = [
    "alliance",
    "border",
    "budget",
    "ministers",
    "summit",
    "drills",
    "troops",
    "treaty",
    "talks",
    "sanctions",
    "envoy",
    "security",
    "pact",
    "vote",
    "parliament",
    "energy",
    "gas",
    "pipeline",
    "trade",
    "tariffs",
    "refugees",
    "aid",
    "court",
    "election",
    "campaign",
    "protest",
    "strike",
    "reform",
    "economy",
    "inflation",
    "bank",
    "market",
]


def prose(seed: int, n: int = 40) -> str:
    """Distinct text per seed, so rows meant to differ are not near duplicates."""
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) for _ in range(n)) + "."


# ----------------------------------------------------------------------------- generators
letters = st.sampled_from(
    [
        "abcdefghij klmnop",  # Latin
        "абвгдеёжзий клмнопрст",  # Cyrillic
        "אבגדהוזחטיכלמנ",  # Hebrew (right to left)
        "ابتثجحخدذرزسشص",  # Arabic (right to left)
        "\u200f\u202e\u0000\u0007\ufeff\x0b",  # direction marks, controls, BOM
        "日本語のテキスト",
    ]
)


@st.composite
def texts(draw) -> Any:
    kind = draw(
        st.sampled_from(
            ["article", "empty", "blank", "short", "mixed", "html", "none", "nan", "number"]
        )
    )
    if kind == "article":
        return SENTENCE * draw(st.integers(2, 6)) + draw(st.text(min_size=0, max_size=30))
    if kind == "empty":
        return ""
    if kind == "blank":
        return draw(st.sampled_from([" ", "\n\n\t", "\u00a0\u2003", "\r\n"]))
    if kind == "short":
        return draw(st.text(max_size=40))
    if kind == "mixed":
        alphabet = draw(letters)
        words = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=9), max_size=60))
        return " ".join(words) + " " + SENTENCE * draw(st.integers(0, 2))
    if kind == "html":
        return f"<html><script>alert('x')</script><p>{SENTENCE * 3}</p></html>"
    if kind == "none":
        return None
    if kind == "nan":
        return math.nan
    return draw(st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=False)))


@st.composite
def rows(draw) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 12))
    ids = draw(
        st.lists(st.sampled_from(["a", "b", "c", "1", "ü", "д", ""]), min_size=n, max_size=n)
    )
    body = draw(st.lists(texts(), min_size=n, max_size=n))
    return [
        {"id": i or f"r{k}", "title": draw(st.one_of(st.none(), st.text(max_size=20))), "text": t}
        for k, (i, t) in enumerate(zip(ids, body, strict=True))
    ]


ENCODINGS = ["utf-8", "cp1251", "latin-1", "broken"]


def encode_line(line: str, encoding: str) -> bytes:
    if encoding == "broken":
        data = line.encode("utf-8")
        return data[: len(data) // 2] + b"\xff\xfe\xc3(" + data[len(data) // 2 :]
    return line.encode(encoding, errors="replace")


def write_jsonl(path: Path, records: list[dict[str, Any]], encodings: list[str]) -> int:
    """One JSON object per line, each line in its own encoding; returns lines written."""
    with path.open("wb") as fh:
        for rec, enc in zip(records, encodings, strict=True):
            line = json.dumps(rec, ensure_ascii=False, allow_nan=True)
            fh.write(encode_line(line, enc) + b"\n")
    return len(records)


def write_csv(path: Path, records: list[dict[str, Any]]) -> int:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "title", "text"])
    for r in records:
        w.writerow([r["id"], r["title"] or "", "" if r["text"] is None else r["text"]])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return len(records)


def check_ingest_accounting(rep, out: Path, rows_in: int) -> pd.DataFrame:
    j = rep.to_json()
    assert j["unaccounted"] == 0, j
    assert rep.rows_read + rep.split_extra == rep.documents_out + j["dropped_total"]
    if rows_in >= 0:
        assert rep.rows_read == rows_in
    df = pd.read_parquet(out / "documents.parquet")
    assert len(df) == rep.documents_out
    assert df["id"].is_unique
    assert all(isinstance(t, str) and t.strip() for t in df["text"])
    assert not any("alert(" in t for t in df["text"])
    return df


# ----------------------------------------------------------------------------- ingest
@SETTINGS
@given(records=rows(), data=st.data())
def test_ingest_accounts_for_every_generated_row(tmp_path_factory, trials, records, data) -> None:
    tmp = tmp_path_factory.mktemp("ingest")
    fmt = data.draw(st.sampled_from(["jsonl", "csv"]))
    if fmt == "jsonl":
        enc = data.draw(
            st.lists(st.sampled_from(ENCODINGS), min_size=len(records), max_size=len(records))
        )
        n = write_jsonl(tmp / "in.jsonl", records, enc)
    else:
        n = write_csv(tmp / "in.csv", records)
    rep = ingest([tmp / f"in.{fmt}"], tmp / "out", IngestConfig(min_words=5))
    check_ingest_accounting(rep, tmp / "out", n)
    trials.record(
        "bad input",
        "ingest",
        f"{fmt}: {n} generated rows",
        f"{n} in",
        f"{rep.documents_out} out + {sum(rep.dropped.values())} counted",
        True,
    )


@SETTINGS
@given(text=texts(), encoding=st.sampled_from(ENCODINGS), suffix=st.sampled_from([".txt", ".html"]))
def test_ingest_text_dumps_in_any_encoding(
    tmp_path_factory, trials, text, encoding, suffix
) -> None:
    tmp = tmp_path_factory.mktemp("dump")
    d = tmp / "site"
    d.mkdir()
    body = text if isinstance(text, str) else str(text)
    (d / f"page{suffix}").write_bytes(encode_line(body, encoding))
    rep = ingest([d], tmp / "out", IngestConfig(min_words=5))
    check_ingest_accounting(rep, tmp / "out", 1)
    trials.record(
        "bad input", "ingest", f"{suffix} dump, {encoding}", "1 in", rep.documents_out, True
    )


def test_ingest_hand_written_cases(tmp_path: Path, trials) -> None:
    d = tmp_path / "in"
    d.mkdir()
    big = (SENTENCE * 8000)[:1_000_000]
    cases: dict[str, bytes] = {
        "empty.txt": b"",
        "blank.txt": b"  \n\t\n ",
        "junk.txt": bytes(random.Random(0).randrange(256) for _ in range(5000)),
        "zeros.txt": b"\x00" * 100 + SENTENCE.encode(),
        "big.txt": big.encode(),
        "cp1251.txt": ("Министры НАТО встретились в Брюсселе во вторник. " * 6).encode("cp1251"),
        "latin1.txt": ("Les ministres de l'OTAN se sont réunis à Bruxelles. " * 6).encode(
            "latin-1"
        ),
        "hebrew.txt": ('שרי נאט"ו נפגשו בבריסל ביום שלישי כדי לדון בתקציב. ' * 6).encode("utf-8"),
        "script.html": (
            f"<html><head><script>alert(document.cookie)</script></head><body><article>"
            f"<p>{SENTENCE * 4}</p><script>alert(2)</script></article></body></html>"
        ).encode(),
    }
    for name, data in cases.items():
        (d / name).write_bytes(data)
    # One file, four encodings and a broken line, plus rows with no usable text.
    lines = [
        json.dumps({"id": "u8", "text": "Русский текст: " + prose(1)}, ensure_ascii=False).encode(),
        json.dumps(
            {"id": "w1251", "text": "Министры НАТО: " + prose(2)}, ensure_ascii=False
        ).encode("cp1251"),
        json.dumps(
            {"id": "l1", "text": "Réunion à Bruxelles: " + prose(3)}, ensure_ascii=False
        ).encode("latin-1"),
        b'{"id": "trunc", "text": "cut in the mid',
        b'{"id": "num", "text": 42}',
        b'{"id": "nan", "text": NaN}',
        b'{"id": "none", "text": null}',
        b"[1, 2, 3]",
        json.dumps({"id": "u8", "text": "Same id, new text. " + SENTENCE * 2}).encode(),
    ]
    (d / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    quoted = 'He said "enough", then\nleft. ' + SENTENCE
    with (d / "quoted.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "text"])
        w.writerow(["q1", 'A "quoted", title', quoted])
        w.writerow(["q2", "", ""])
        w.writerow(["q3", "extra", "fields", "here"])
    rep = ingest([d], tmp_path / "out", IngestConfig(min_words=5))
    df = check_ingest_accounting(rep, tmp_path / "out", -1)
    files_rows = len(cases) + len(lines) + 3
    assert rep.rows_read == files_rows
    src = set(df["source_id"])
    assert {"u8", "w1251", "l1", "q1", "cp1251", "latin1", "hebrew", "big"} <= src
    text_of = dict(zip(df["source_id"], df["text"], strict=True))
    assert "Министры НАТО" in text_of["w1251"] and "Министры НАТО" in text_of["cp1251"]
    assert "Réunion" in text_of["l1"] and "réunis" in text_of["latin1"]
    assert '"enough"' in text_of["q1"]
    assert len(text_of["big"]) > 900_000
    assert rep.dropped["unreadable_row"] == 3  # truncated JSON, a JSON array, 4 CSV fields
    assert rep.dropped["non_string_text"] == 3  # 42, NaN, null
    assert rep.dropped["binary"] >= 1 and rep.dropped["empty_text"] >= 3
    assert any("mixed.jsonl: line 4: not valid JSON" in e for e in rep.errors)
    assert any("quoted.csv: row 3: 4 fields but the header has 3" in e for e in rep.errors)
    trials.record(
        "bad input",
        "ingest",
        "hand-written: 1 MB, junk, encodings, html, csv",
        f"{files_rows} in",
        f"{rep.documents_out} out + {sum(rep.dropped.values())} counted",
        True,
    )


def test_ingest_missing_text_column_names_file_and_columns(tmp_path: Path, trials) -> None:
    p = tmp_path / "nocol.csv"
    p.write_text("id,body\n1,hello\n")
    with pytest.raises(IngestError, match=r"nocol\.csv: text column 'text' not found.*'body'"):
        ingest([p], tmp_path / "out", IngestConfig())
    assert not (tmp_path / "out" / "documents.parquet").exists()
    trials.record("bad input", "ingest", "missing text column", "clear error", "IngestError", True)


# ----------------------------------------------------------------------------- label
def label_cfg() -> LabelConfig:
    return LabelConfig(
        codebook=str(ROOT / "configs/codebooks/mfc.yaml"),
        stance=str(ROOT / "configs/stance.yaml"),
        gold=None,
        annotations=None,
        splits=None,
        embedding_lf=False,
        bootstrap=0,
    )


@pytest.fixture(scope="module")
def label_store(tmp_path_factory) -> str:
    """One store for every generated example: creating a sqlite store costs seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('label-store') / 'mlruns.db'}"


@settings(SETTINGS, max_examples=6)
@given(records=rows())
def test_label_accounts_for_every_document(tmp_path_factory, label_store, trials, records) -> None:
    tmp = tmp_path_factory.mktemp("label")
    # A documents file made elsewhere, with whatever it holds; one good row so there is
    # something to label.
    # Parquet holds one type per column: numbers in the text column arrive as null here.
    docs = pd.DataFrame(
        [
            *({**r, "text": r["text"] if isinstance(r["text"], str) else None} for r in records),
            {"id": "good", "title": "t", "text": SENTENCE * 3},
        ]
    )
    docs.to_parquet(tmp / "documents.parquet")
    mlflow.set_tracking_uri(label_store)
    res = run_label(tmp / "documents.parquet", tmp / "out", label_cfg())
    r = res.report
    labels = pd.read_parquet(tmp / "out" / "labels.parquet")
    assert r["documents_in"] == len(docs)
    assert len(labels) == r["documents"] == r["documents_in"] - r["skipped_total"]
    assert labels["id"].is_unique and labels["primary_frame"].notna().all()
    assert r["skipped_total"] == len(r["row_errors"])
    trials.record(
        "bad input",
        "label",
        f"{len(docs)} generated documents",
        f"{len(docs)} in",
        f"{len(labels)} out + {r['skipped_total']} counted",
        True,
    )


# ----------------------------------------------------------------------------- score
@pytest.fixture()
def champion(baseline_champion, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", baseline_champion["uri"])
    mlflow.set_tracking_uri(baseline_champion["uri"])
    return baseline_champion


def expected_error(text: Any) -> str | None:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return "text is missing, not a string"
    if not isinstance(text, str):
        return f"text is {type(text).__name__}, not a string"
    if not text.strip():
        return "text is empty"
    return None


@SETTINGS
@given(records=rows(), fmt=st.sampled_from(["jsonl", "csv", "parquet"]), chunk=st.integers(1, 7))
def test_score_keeps_every_row_in_order(
    tmp_path_factory, champion, trials, records, fmt, chunk
) -> None:
    tmp = tmp_path_factory.mktemp("score")
    inp = tmp / f"in.{fmt}"
    if fmt == "jsonl":
        write_jsonl(inp, records, ["utf-8"] * len(records))
    elif fmt == "csv":
        write_csv(inp, records)
    else:
        pd.DataFrame(
            [{**r, "text": r["text"] if isinstance(r["text"], str) else None} for r in records]
        ).to_parquet(inp)
    res = score([str(inp)], tmp / "out", ScoreConfig(chunk_size=chunk))
    out = pd.read_parquet(tmp / "out")
    assert res.rows == len(out) == len(records)
    assert out["id"].tolist() == [str(r["id"]) for r in records]  # duplicates kept, in order
    for rec, (_, row) in zip(records, out.iterrows(), strict=True):
        text = rec["text"]
        if fmt == "csv":  # CSV holds strings only: None is an empty field, numbers digits
            text = "" if text is None else str(text)
        elif fmt == "parquet" and not isinstance(text, str):
            text = None
        want = expected_error(text)
        assert row["error"] == want, (rec, row["error"])
        assert (row["primary_frame"] is None) == (want is not None)
    assert res.errors == int(out["error"].notna().sum())
    trials.record(
        "bad input",
        "score",
        f"{fmt}: {len(records)} generated rows, chunk {chunk}",
        f"{len(records)} rows",
        f"{len(out)} rows, {res.errors} errors",
        True,
    )


def test_score_hand_written_cases(tmp_path: Path, champion, trials) -> None:
    lines = [
        json.dumps({"id": "big", "text": (SENTENCE * 8000)[:1_000_000]}).encode(),
        json.dumps({"id": "ru", "text": "Министры НАТО: " + SENTENCE}, ensure_ascii=False).encode(
            "cp1251"
        ),
        json.dumps(
            {"id": "he", "text": 'שרי נאט"ו נפגשו. ' + SENTENCE}, ensure_ascii=False
        ).encode(),
        b'{"id": "trunc", "text": "cut',
        bytes(b for b in range(256) if b != 10),  # junk on one line
        json.dumps({"id": "html", "text": f"<script>alert(1)</script><p>{SENTENCE}</p>"}).encode(),
        json.dumps({"id": 7, "text": SENTENCE, "title": 3.5, "date": None}).encode(),
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(lines) + b"\n")
    res = score([str(inp)], tmp_path / "out", ScoreConfig(chunk_size=3))
    out = pd.read_parquet(tmp_path / "out")
    assert res.rows == len(out) == len(lines)
    errs = dict(zip(range(len(out)), out["error"], strict=True))
    assert out["id"].tolist()[:3] == ["big", "ru", "he"] and out["id"].iloc[6] == "7"
    assert errs[0] is None and errs[1] is None and errs[2] is None and errs[5] is None
    assert errs[3].startswith("in.jsonl: line 4: not valid JSON")
    assert errs[4].startswith("in.jsonl: line 5: not valid JSON")
    assert out["title"].iloc[6] == "3.5"
    trials.record("bad input", "score", "hand-written: 1 MB, cp1251, RTL, junk", 7, len(out), True)

    csv_in = tmp_path / "q.csv"
    csv_in.write_text(
        'id,text\n"a,1","He said ""no"",\nthen left. NATO met."\nb,\n"c","x","extra"\n'
    )
    score([str(csv_in)], tmp_path / "out-csv", ScoreConfig(chunk_size=2))
    out = pd.read_parquet(tmp_path / "out-csv")
    assert out["id"].tolist() == ["a,1", "b", None]
    assert out["error"].tolist()[:2] == [None, "text is empty"]
    assert "3 fields but the header has 2" in out["error"].iloc[2]
    trials.record(
        "bad input", "score", "csv: quoted newline, empty, extra field", 3, len(out), True
    )


def test_score_missing_text_column_fails_before_work(tmp_path: Path, champion, trials) -> None:
    for name, content in (("a.jsonl", '{"id": 1, "body": "x"}\n'), ("b.csv", "id,body\n1,x\n")):
        p = tmp_path / name
        p.write_text(content)
        with pytest.raises(
            ScoreError, match=rf"{name}: no 'text' column; columns are \['body', 'id'\]"
        ):
            score([str(p)], tmp_path / f"out-{name}", ScoreConfig())
        assert not (tmp_path / f"out-{name}").exists()
    bad = tmp_path / "c.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(ScoreError, match="not a readable Parquet file"):
        score([str(bad)], tmp_path / "out-c", ScoreConfig())
    shutil.rmtree(tmp_path / "out-c", ignore_errors=True)
    trials.record(
        "bad input",
        "score",
        "missing text column / corrupt parquet",
        "clear error",
        "ScoreError",
        True,
    )


def test_score_reads_json_arrays_gzip_and_utf16(tmp_path: Path, champion, trials) -> None:
    """A .json array, gzip-compressed JSONL, JSON and CSV, and a UTF-16 CSV with its BOM
    (Excel's "Unicode" export): every row read as a row, not one error row per line."""
    docs = [{"id": f"d{i}", "text": f"Министры НАТО {i}: " + prose(i)} for i in range(5)]
    buf = io.StringIO()
    pd.DataFrame(docs).to_csv(buf, index=False)
    files = {
        "a.json": json.dumps(docs, indent=2, ensure_ascii=False).encode(),
        "b.jsonl.gz": gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode()),
        "c.json.gz": gzip.compress(json.dumps(docs).encode()),
        "d.csv.gz": gzip.compress(buf.getvalue().encode()),
        "e.csv": buf.getvalue().encode("utf-16"),
    }
    inp = tmp_path / "in"
    inp.mkdir()
    for name, data in files.items():
        (inp / name).write_bytes(data)
        res = score([str(inp / name)], tmp_path / f"out-{name}", ScoreConfig(chunk_size=2))
        out = pd.read_parquet(tmp_path / f"out-{name}")
        assert res.rows == len(out) == 5 and res.errors == 0, (name, out["error"].tolist())
        assert out["id"].tolist() == [d["id"] for d in docs], name
    # A folder is searched for the same kinds: 5 files x 5 rows, in name order.
    res = score([str(inp)], tmp_path / "all", ScoreConfig(chunk_size=7))
    assert res.rows == 25 and res.errors == 0
    trials.record("bad input", "score", ".json array, .gz, UTF-16 CSV", 25, res.rows, True)


def test_folders_count_what_they_skip(tmp_path: Path, trials) -> None:
    from collections import Counter

    from pipelines.inputs import list_inputs

    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.jsonl").write_text("{}\n")
    (d / "sub" / "b.txt.gz").write_bytes(gzip.compress(b"text"))
    (d / "notes").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "c.jsonl").write_text("{}\n")
    (d / "linked").symlink_to(elsewhere, target_is_directory=True)
    (d / "out").mkdir()
    (d / "out" / "part-00000.parquet").write_bytes(b"")
    skipped: Counter[str] = Counter()
    files = list_inputs([d], [".jsonl"], "input", exclude=d / "out", skipped=skipped)
    assert files == [d / "a.jsonl"]
    assert skipped == {".gz": 1, "(no suffix)": 1, "symlinked folder": 1, "output folder": 1}
    with pytest.raises(ValueError, match=r"no input .* skipped 1 file of another type \(\.gz"):
        list_inputs([d / "sub"], [".csv"], "input")
    trials.record("bad input", "inputs", ".gz, symlinked folder, own output", 4, 4, True)


def test_ingest_decodes_a_utf16_csv(tmp_path: Path, trials) -> None:
    rows = [{"id": str(i), "text": "Министры НАТО встретились. " + prose(i)} for i in range(3)]
    buf = io.StringIO()
    pd.DataFrame(rows).to_csv(buf, index=False)
    (tmp_path / "x.csv").write_bytes(buf.getvalue().encode("utf-16"))
    rep = ingest([str(tmp_path / "x.csv")], tmp_path / "out", IngestConfig(min_words=5))
    docs = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    assert rep.rows_read == 3 and len(docs) == 3 and not rep.errors
    assert all(t.startswith("Министры НАТО") for t in docs["text"])
    trials.record("bad input", "ingest", "UTF-16 CSV with BOM", 3, len(docs), True)


def test_ingest_does_not_read_its_own_output_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trials
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": str(i), "text": "NATO ministers met. " + prose(i)} for i in range(4)]
    (data / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = IngestConfig(min_words=5)
    first = ingest([str(data)], data / "run", cfg)
    again = ingest([str(data)], data / "run", cfg)  # data/run/documents.parquet is output
    assert first.rows_read == again.rows_read == 4 and again.documents_out == 4
    # documents.parquet and ingest_report.json (a .json, an input kind): both left out
    assert "2 files inside the output folder" in capsys.readouterr().err
    trials.record("bad input", "ingest", "output inside the input folder", 4, 4, True)
