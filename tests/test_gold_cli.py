"""Gold through the CLI on real components: loud `label`, `split`, the Label Studio loop.

A small corpus of sample articles is labelled for real (rule functions, real MLflow
sqlite store); gold files are written as users write them, with the mistakes users make.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from itertools import chain
from pathlib import Path

import pandas as pd
import pytest

from labeling.gold import read_jsonl, read_splits
from pipelines.cli import main

ROOT = Path(__file__).resolve().parent.parent
CODEBOOK = str(ROOT / "configs/codebooks/mfc.yaml")
STANCE_EU = """
labels: [favor, against, neutral]
targets:
  nato:
    name: NATO
    aliases: [NATO, the alliance]
  eu:
    name: the European Union
    aliases: [EU, European Union, "re:Brussels\\\\b"]
"""


def articles(n: int) -> list[dict]:
    rows = []
    for f in sorted((ROOT / "data" / "articles").glob("*.jsonl")):
        rows += [json.loads(x) for x in f.open(encoding="utf-8")]
    return rows[:n]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """24 sample articles as documents.parquet (ids d0..d23), a stance file with an EU
    target, and one store for every run of the module."""
    tmp = tmp_path_factory.mktemp("goldcli")
    docs = [
        {"id": f"d{i}", "title": a["title"], "text": a["text"], "source": a.get("source")}
        for i, a in enumerate(articles(24))
    ]
    pd.DataFrame(docs).to_parquet(tmp / "documents.parquet")
    (tmp / "stance.yaml").write_text(STANCE_EU)
    return {
        "tmp": tmp,
        "ids": {d["id"] for d in docs},
        "docs": tmp / "documents.parquet",
        "uri": f"sqlite:///{tmp / 'm.db'}",
    }


def split_for(corpus: dict, sets: tuple[str, ...], out: Path) -> str:
    """A splits file for the gold a call names (null splits are refused with gold): every
    readable gold id of the corpus in train, so that only the gold itself is under test."""
    gold = next((s.split("=", 1)[1] for s in sets if s.startswith("gold=")), None)
    ids: list[str] = []
    if gold and Path(gold).is_file():
        for line in Path(gold).read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and str(row.get("id")) in corpus["ids"]:
                ids.append(str(row["id"]))
    path = out.parent / f"{out.name}-splits.json"
    path.write_text(json.dumps({"train": sorted(set(ids)) or ["d0"], "dev": [], "test": []}))
    return f"splits={path}"


def label(corpus: dict, out: Path, *sets: str, extra: tuple[str, ...] = ()) -> int:
    """`mediaframe label` on the corpus with the rule functions only."""
    base = [f"codebook={CODEBOOK}", f"stance={corpus['tmp'] / 'stance.yaml'}"]
    base += ["annotations=null", "embedding_lf=false", "bootstrap=10"]
    if not any(s.startswith("splits=") for s in sets):
        base.append(split_for(corpus, sets, out))
    args = ["label", "--input", str(corpus["docs"]), "--output", str(out)]
    for s in base + list(sets):
        args += ["--set", s]
    return main([*args, *extra, "--tracking-uri", corpus["uri"]])


GOOD = {"id": "d0", "frames": ["economic"], "primary_frame": "economic", "stance": {}}


def test_label_stops_on_missing_empty_or_rejected_gold(corpus, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert label(corpus, out, f"gold={tmp_path / 'typo.jsonl'}") == 2
    assert "typo.jsonl: gold file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert label(corpus, out, f"gold={empty}") == 2
    assert "empty.jsonl: gold file is empty" in capsys.readouterr().err
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            GOOD,
            {"id": "d1", "frames": ["sports"], "stance": {"nato": "love"}},
            {"id": "d2", "frames": ["political"]},
            {"id": "d2", "frames": ["economic"]},  # same document, same annotator, other labels
        ],
    )
    assert label(corpus, out, f"gold={bad}") == 2
    err = capsys.readouterr().err
    assert "bad.jsonl: 4 rejected rows; fix them, or pass --allow-bad-gold" in err
    assert f"{bad}: line 2 (id=d1, annotator=gold): field 'frames': unknown frame 'sports'" in err
    assert "field 'stance.nato': unknown label 'love'" in err
    assert f"{bad}: line 4 (id=d2, annotator=gold): field '(id, annotator)'" in err
    stranger = write_jsonl(tmp_path / "stranger.jsonl", [GOOD, dict(GOOD, id="not-there")])
    assert label(corpus, out, f"gold={stranger}") == 2
    assert "line 2 (id=not-there, annotator=gold): field 'id': document not in the corpus" in (
        capsys.readouterr().err
    )
    good = write_jsonl(tmp_path / "good.jsonl", [GOOD])
    leak = tmp_path / "splits.json"
    leak.write_text(json.dumps({"train": ["d0"], "dev": ["d0"], "test": []}))
    assert label(corpus, out, f"gold={good}", f"splits={leak}") == 2
    assert "field 'dev[0]': id d0 is also in train" in capsys.readouterr().err
    leak.write_text(json.dumps({"train": [], "dev": [], "test": []}))
    assert label(corpus, out, f"gold={good}", f"splits={leak}") == 2
    assert "splits.json: the splits hold no document id" in capsys.readouterr().err
    assert label(corpus, out, f"gold={good}", f"annotations={tmp_path / 'ann.jsonl'}") == 2
    assert "ann.jsonl: annotations file not found" in capsys.readouterr().err
    assert not out.exists()  # every stop came before any work


@pytest.fixture(scope="module")
def allowed(corpus: dict) -> dict:
    """One real `label --allow-bad-gold` run, with gold spelled as people spell it."""
    tmp = corpus["tmp"]
    gold = write_jsonl(
        tmp / "gold.jsonl",
        [
            {
                "id": "d0",
                "frames": ["Political", "Security and defense"],
                "primary_frame": "Political",
                "stance": {"EU": "Against", "NATO": "favor"},
                "source_id": "a-001",
            },
            {"id": "d1", "frames": ["sports"]},
            {"id": "d2", "annotator": "A", "frames": ["economic"], "primary_frame": "economic"},
            {"id": "d2", "annotator": "B", "frames": ["economic", "morality"]},
            {"id": "d2", "annotator": "C", "frames": ["Economic"], "primary_frame": "economic"},
        ],
    )
    out = tmp / "labelled"
    split = tmp / "allowed-splits.json"
    split.write_text(json.dumps({"train": ["d0", "d2"], "dev": [], "test": []}))
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(stdout), redirect_stderr(stderr):
        mp.chdir(tmp)
        rc = label(corpus, out, f"gold={gold}", f"splits={split}", extra=("--allow-bad-gold",))
    return {
        "rc": rc,
        "out": out,
        "gold": gold,
        "stdout": stdout.getvalue(),
        "stderr": stderr.getvalue(),
    }


def test_allow_bad_gold_goes_on_and_respelled_values_are_gold(allowed) -> None:
    assert allowed["rc"] == 0
    df = pd.read_parquet(allowed["out"] / "labels.parquet").set_index("id")
    assert df.loc["d0", "label_source"] == "gold"
    assert list(df.loc["d0", "frames"]) == ["security_and_defense", "political"]
    assert df.loc["d0", "primary_frame"] == "political"
    assert (df.loc["d0", "stance_eu"], df.loc["d0", "stance_nato"]) == ("against", "favor")
    assert df.loc["d1", "label_source"] != "gold"  # its row was rejected, not guessed
    # three annotators of d2: adjudicated (morality by one of three is out), agreement kept
    assert list(df.loc["d2", "frames"]) == ["economic"]
    report = json.loads((allowed["out"] / "label_report.json").read_text())
    assert report["gold_documents"] == 2 and report["gold_adjudicated"] == 1
    (problem,) = report["gold_problems"]
    assert problem.startswith(
        f"{allowed['gold']}: line 2 (id=d1, annotator=gold): field 'frames': unknown frame 'sports'"
    )
    assert (allowed["out"] / "agreement.csv").exists()
    # the same list as without the flag, printed as a warning before the work
    assert f"warning: {allowed['gold']}: 1 rejected row\n  {problem}" in allowed["stderr"]
    assert "1 gold rows left out (--allow-bad-gold)" in allowed["stderr"]
    assert "label_studio_tasks.json (least certain first)" in allowed["stdout"]


# --------------------------------------------------------------------------- Label Studio
def as_label_studio_export(tasks: list[dict], annotate: dict[int, list[tuple]]) -> list[dict]:
    """What Label Studio's JSON export holds after annotators worked on ``tasks`` (as
    imported): ``annotate`` maps a task's position to (annotator, result, extra) triples."""
    out = []
    for n, task in enumerate(tasks):
        anns = []
        for k, (who, result, extra) in enumerate(annotate.get(n, [])):
            anns.append(
                {
                    "id": 100 * n + k,
                    "completed_by": who,
                    "result": [
                        {**r, "id": f"r{n}{k}{j}", "origin": "prediction"}
                        for j, r in enumerate(result)
                    ],
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2026-12-02T10:00:00.000000Z",
                    "updated_at": f"2026-12-02T10:0{k}:00.000000Z",
                    "lead_time": 30.2,
                    "prediction": {},
                    "result_count": 0,
                    "task": n + 1,
                    "project": 3,
                    "parent_prediction": n + 1,
                    "parent_annotation": None,
                    **extra,
                }
            )
        out.append(
            {
                "id": n + 1,
                "annotations": anns,
                "drafts": [],
                "predictions": [n + 1],  # the export lists prediction ids, not bodies
                "data": task["data"],
                "meta": {},
                "created_at": "2026-12-01T10:00:00.000000Z",
                "updated_at": "2026-12-02T10:00:00.000000Z",
                "inner_id": n + 1,
                "total_annotations": len(anns),
                "cancelled_annotations": 0,
                "total_predictions": 1,
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 3,
                "updated_by": 1,
                "comment_authors": [],
                "file_upload": "tasks.json",
            }
        )
    return out


def gold_cli(corpus: dict, *args: str) -> int:
    sets = ["--set", f"codebook={CODEBOOK}", "--set", f"stance={corpus['tmp'] / 'stance.yaml'}"]
    return main(["gold", *args, *sets, "--tracking-uri", corpus["uri"]])


def test_gold_export_and_import_round_trip_a_label_studio_export(
    corpus, allowed, tmp_path, capsys
) -> None:
    tasks_path = tmp_path / "tasks.json"
    rc = gold_cli(
        corpus,
        "export",
        "--labels",
        str(allowed["out"]),
        "--documents",
        str(corpus["docs"]),
        "--output",
        str(tasks_path),
        "--max-frames",
        "2",
    )
    assert rc == 0, capsys.readouterr().err
    tasks = json.loads(tasks_path.read_text())
    assert {t["data"]["id"] for t in tasks} == {f"d{i}" for i in range(24)} - {"d0", "d2"}
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)  # least certain first
    labels = pd.read_parquet(allowed["out"] / "labels.parquet").set_index("id")
    for t in tasks:
        res = {r["from_name"]: r["value"]["choices"] for r in t["predictions"][0]["result"]}
        row = labels.loc[t["data"]["id"]]
        assert len(res["frames"]) <= 2 and set(res["frames"]) <= set(row["frames"])
        if row["primary_frame"] in row["frames"]:
            assert row["primary_frame"] in res["frames"]
        probs = row["frame_probs"]
        cut = [f for f in row["frames"] if f not in res["frames"]]
        assert all(probs[c] <= max(probs[f] for f in res["frames"]) for c in cut)
    assert (tmp_path / "label_studio_config.xml").exists()

    # Two annotators accept the pre-annotations of the first task; the second one also
    # changes her frames to "Economic" (the label, not the key); one skips the next task.
    first, second = tasks[0], tasks[1]
    changed = [dict(r) for r in first["predictions"][0]["result"]]
    changed[0] = {**changed[0], "value": {"choices": ["Economic"]}}
    ann = {"id": 2, "email": "b@example.org", "first_name": "", "last_name": ""}
    export = as_label_studio_export(
        [first, second],
        {
            0: [(1, first["predictions"][0]["result"], {}), (ann, changed, {})],
            1: [(1, second["predictions"][0]["result"], {"was_cancelled": True})],
        },
    )
    export_path = tmp_path / "export.json"
    export_path.write_text(json.dumps(export))
    into = tmp_path / "gold.jsonl"
    into.write_text(allowed["gold"].read_text().splitlines()[0] + "\n")  # d0, with source_id
    capsys.readouterr()
    assert gold_cli(corpus, "import", str(export_path), "--into", str(into)) == 0
    out, err = capsys.readouterr()
    assert "2 annotations imported" in out and "2 new" in out
    assert "dropped 1 (was_cancelled 1)" in err
    assert f"{export_path}: task 2 (id={second['data']['id']}, annotator=1)" in err
    rows = read_jsonl(into)
    assert [(r.id, r.annotator) for r in rows] == [
        ("d0", "gold"),
        (first["data"]["id"], "1"),
        (first["data"]["id"], "b@example.org"),
    ]
    assert json.loads(into.read_text().splitlines()[0])["source_id"] == "a-001"  # kept
    pred = {r["from_name"]: r["value"]["choices"] for r in first["predictions"][0]["result"]}
    assert set(rows[1].frames) == set(pred["frames"]) | set(pred["primary_frame"])
    assert "economic" in rows[2].frames
    assert rows[1].stance == {
        k.removeprefix("stance_"): v[0] for k, v in pred.items() if k.startswith("stance_")
    }
    before = into.read_text()
    assert gold_cli(corpus, "import", str(export_path), "--into", str(into)) == 0
    assert "2 unchanged" in capsys.readouterr().out and into.read_text() == before


# --------------------------------------------------------------------------- split
def synthetic_gold(path: Path, outlets: int, per_outlet: int, with_source: bool = True) -> Path:
    """Gold over ``outlets`` outlets; each outlet leans to one primary frame."""
    frames = ["economic", "political", "security_and_defense"]
    rows = []
    for o in range(outlets):
        for k in range(per_outlet):
            f = frames[(o + (k % 3 == 0)) % 3]
            row = {"id": f"o{o}-{k}", "frames": [f], "primary_frame": f, "stance": {}}
            if with_source:
                row["source"] = f"Outlet {o}"
            rows.append(row)
    return write_jsonl(path, rows)


def split_cli(corpus: dict, *args: str) -> int:
    sets = ["--set", f"codebook={CODEBOOK}", "--set", f"stance={corpus['tmp'] / 'stance.yaml'}"]
    return main(["split", *args, *sets, "--tracking-uri", corpus["uri"]])


def test_split_keeps_outlets_together_and_is_the_shape_train_reads(
    corpus, tmp_path, capsys
) -> None:
    gold = synthetic_gold(tmp_path / "gold.jsonl", outlets=10, per_outlet=12)
    out = tmp_path / "splits.json"
    args = [str(gold), "--output", str(out), "--group-by", "source", "--dev", "0.2"]
    assert split_cli(corpus, *args, "--test", "0.2", "--seed", "3") == 0
    assert "splits: " in capsys.readouterr().out
    splits = read_splits(out)  # what label, train and publish read
    ids = [r.id for r in read_jsonl(gold)]
    assert sorted(chain.from_iterable(splits.values())) == sorted(ids)  # each document once
    outlet = {i: i.split("-")[0] for i in ids}
    seen = [{outlet[i] for i in splits[k]} for k in ("train", "dev", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert all(len(splits[k]) >= 12 for k in ("dev", "test"))  # at least one outlet each
    assert len(splits["train"]) >= 60
    data = json.loads(out.read_text())
    assert data["group_by"] == "source" and data["seed"] == 3
    assert sorted(chain.from_iterable(data["groups"].values())) == [
        f"Outlet {o}" for o in range(10)
    ]
    first = out.read_text()
    assert split_cli(corpus, *args, "--test", "0.2", "--seed", "3") == 0
    assert out.read_text() == first  # deterministic for a seed


def test_split_stratifies_without_groups_and_reads_groups_from_documents(
    corpus, tmp_path, capsys
) -> None:
    gold = synthetic_gold(tmp_path / "gold.jsonl", outlets=6, per_outlet=20, with_source=False)
    out = tmp_path / "splits.json"
    assert split_cli(corpus, str(gold), "--output", str(out), "--seed", "1") == 0
    splits = read_splits(out)
    primary = {r.id: r.primary_frame for r in read_jsonl(gold)}
    whole = pd.Series(primary).value_counts(normalize=True)
    for k in ("dev", "test"):
        share = pd.Series([primary[i] for i in splits[k]]).value_counts(normalize=True)
        assert (share.reindex(whole.index, fill_value=0) - whole).abs().max() < 0.1
        assert abs(len(splits[k]) - 0.15 * 120) <= 2
    # groups from a documents file; too few of them is an error, not a leaky split
    docs = pd.DataFrame(
        {"id": list(primary), "text": "x", "source": [f"s{i % 2}" for i in range(120)]}
    )
    docs.to_parquet(tmp_path / "documents.parquet")
    capsys.readouterr()
    rc = split_cli(
        corpus,
        str(gold),
        "--output",
        str(out),
        "--group-by",
        "source",
        "--documents",
        str(tmp_path / "documents.parquet"),
    )
    assert (
        rc == 2 and "2 groups; grouped train/dev/test needs at least 3" in capsys.readouterr().err
    )
    assert split_cli(corpus, str(gold), "--output", str(out), "--group-by", "source") == 2
    assert "field 'source': no group" in capsys.readouterr().err


def test_split_and_gold_have_help(capsys) -> None:
    for stage in ("split", "gold"):
        with pytest.raises(SystemExit) as exc:
            main([stage, "--help"])
        assert exc.value.code == 0
        assert f"usage: mediaframe {stage}" in capsys.readouterr().out


# --------------------------------------------------------------------------- columns
def test_unmapped_id_title_date_and_outlet_columns_are_noted(corpus, tmp_path, capsys) -> None:
    arts = articles(3)
    csv = tmp_path / "mine.csv"
    pd.DataFrame(
        {
            "article_id": ["A1", "A2", "A3"],
            "headline": [a["title"] for a in arts],
            "body": [a["text"] for a in arts],
            "published": ["2026-01-01"] * 3,
            "outlet": ["Mine"] * 3,
        }
    ).to_csv(csv, index=False)
    uri = corpus["uri"]
    base = ["ingest", "--input", str(csv), "--set", "columns.text=body", "--tracking-uri", uri]
    assert main([*base, "--output", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    for col, key in (
        ("article_id", "id"),
        ("headline", "title"),
        ("published", "date"),
        ("outlet", "source"),
    ):
        assert f"column {col!r} looks like the document {key}" in err
        assert f"--set columns.{key}={col}" in err
    mapped = [*base, "--set", "columns.id=article_id", "--set", "columns.source=null"]
    assert main([*mapped, "--output", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "'article_id'" not in err and "'outlet'" not in err  # mapped, or set to none
    assert "'headline'" in err
    docs = pd.read_parquet(tmp_path / "b" / "documents.parquet")
    assert sorted(docs["source_id"]) == ["A1", "A2", "A3"]


def test_train_stops_on_a_splits_file_that_leaks(corpus, allowed, tmp_path, capsys) -> None:
    """train reads the splits too: an id in two splits stops it, naming file and line."""
    leak = tmp_path / "splits.json"
    leak.write_text(json.dumps({"train": ["d0", "d2"], "dev": ["d2"], "test": ["d0"]}, indent=1))
    sets = {
        "labels": allowed["out"] / "labels.parquet",
        "documents": corpus["docs"],
        "splits": leak,
        "codebook": CODEBOOK,
        "stance": corpus["tmp"] / "stance.yaml",
        "output": tmp_path / "models",
    }
    args = ["train", "--task", "frames", "--family", "baseline"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    assert main([*args, "--tracking-uri", corpus["uri"]]) == 2
    err = capsys.readouterr().err
    assert f"{leak}: line 7: field 'dev[0]': id d2 is also in train" in err
    assert f"{leak}: line 10: field 'test[0]': id d0 is also in train" in err
    assert not (tmp_path / "models").exists()
