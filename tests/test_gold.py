"""Gold labels: validation lists problems; Label Studio export and import round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labeling.gold import (
    Annotation,
    GoldError,
    Vocabulary,
    adjudicate,
    check_rows,
    check_splits,
    read_gold,
    read_jsonl,
    read_rows,
    read_splits,
    validate,
    write_jsonl,
)
from labeling.studio import (
    from_label_studio,
    label_studio_config,
    label_studio_task,
    read_export,
    to_label_studio,
    top_frames,
)

FRAMES = ["economic", "political", "security_and_defense"]
TARGETS = ["nato", "russia"]


def test_validation_lists_unknown_labels_and_documents() -> None:
    rows = [
        Annotation("d1", "A", ["economic", "sports"], "sports", {"nato": "love"}),
        Annotation("zz", "A", ["political"], "political", {"mars": "favor"}),
    ]
    p = validate(rows, FRAMES, TARGETS, {"d1"}, where="ann.jsonl")
    assert len(p.unknown_frames) == 2 and "row 1" in p.unknown_frames[0]
    assert any("'stance.nato'" in x for x in p.unknown_stance)
    assert any("unknown target 'mars'" in x for x in p.unknown_stance)
    assert p.unknown_documents == [
        "ann.jsonl: row 2 (id=zz, annotator=A): field 'id': document not in the corpus"
    ]


def test_label_studio_round_trip(tmp_path: Path) -> None:
    labels = [
        {
            "id": "d1",
            "title": "T1",
            "text": "x",
            "frames": ["economic", "political"],
            "primary_frame": "economic",
            "stance_nato": "favor",
            "stance_russia": "against",
            "uncertainty": 0.2,
        },
        {
            "id": "d2",
            "title": "T2",
            "text": "y",
            "frames": ["security_and_defense"],
            "primary_frame": "security_and_defense",
            "stance_nato": "neutral",
            "stance_russia": "not_mentioned",
            "uncertainty": 0.9,
        },
    ]
    tasks = to_label_studio(labels, TARGETS, "label-model")
    assert [t["data"]["id"] for t in tasks] == ["d2", "d1"]  # most uncertain first
    # An annotator accepts the pre-annotations: Label Studio exports them as annotations.
    for t in tasks:
        t["annotations"] = [
            {"completed_by": {"email": "ann@example.org"}, "result": t["predictions"][0]["result"]}
        ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    back = {a.id: a for a in from_label_studio(export, TARGETS)}
    assert back["d1"].frames == ["economic", "political"]
    assert back["d1"].primary_frame == "economic"
    assert back["d1"].stance == {"nato": "favor", "russia": "against"}
    assert back["d2"].annotator == "ann@example.org"
    write_jsonl(list(back.values()), tmp_path / "gold.jsonl")
    assert [r.id for r in read_jsonl(tmp_path / "gold.jsonl")] == ["d2", "d1"]
    xml = label_studio_config(FRAMES, {"nato": "NATO", "russia": "Russia"})
    assert 'name="stance_nato"' in xml and 'value="security_and_defense"' in xml


# --------------------------------------------------------------------------- matching
def eu_vocab() -> Vocabulary:
    """Frames with labels and a target whose name and aliases differ from its key."""
    return Vocabulary(
        {
            "economic": ["Economic"],
            "political": ["Political"],
            "security_and_defense": ["Security and defense"],
        },
        {"eu": ["the European Union", "EU", "European Union", "re:Brussels\\b"], "nato": ["NATO"]},
    )


def test_values_are_matched_by_key_label_name_or_alias_before_rejecting() -> None:
    rows = [
        Annotation(
            "d1",
            "A",
            ["Political", "SECURITY AND DEFENSE"],
            "Political",
            {"EU": "Favor", "nato": "Not mentioned"},
            line=1,
        ),
        Annotation("d2", "A", ["economic"], None, {"European Union": "against"}, line=2),
        Annotation("d3", "A", ["Sports"], None, {"Brussels": "favor"}, line=3),
    ]
    good, bad = check_rows(rows, eu_vocab(), "g.jsonl")
    assert [r.id for r in good] == ["d1", "d2"]
    assert good[0].frames == ["political", "security_and_defense"]
    assert good[0].primary_frame == "political"
    assert good[0].stance == {"eu": "favor", "nato": "not_mentioned"}
    assert good[1].stance == {"eu": "against"}
    # a regex alias is a pattern, not a spelling; an unknown frame is named with its line
    assert [str(b) for b in bad] == [
        "g.jsonl: line 3 (id=d3, annotator=A): field 'frames': unknown frame 'Sports' "
        "(frames: economic, political, security_and_defense)",
        "g.jsonl: line 3 (id=d3, annotator=A): field 'stance': unknown target 'Brussels' "
        "(targets: eu, nato)",
    ]


def test_a_spelling_two_targets_share_matches_neither() -> None:
    vocab = Vocabulary({"economic": []}, {"us": ["Washington"], "usa_state": ["Washington"]})
    assert vocab.target("washington") is None and vocab.target("US") == "us"


def test_same_annotator_twice_conflicting_is_rejected_and_annotators_adjudicated() -> None:
    rows = [
        Annotation("d1", "A", ["economic"], "economic", {"nato": "favor"}, line=1),
        Annotation("d1", "B", ["economic", "political"], "political", {"nato": "against"}, 2),
        Annotation("d1", "C", ["political", "economic"], "economic", {"nato": "favor"}, 3),
        Annotation("d2", "A", ["economic"], "economic", {}, line=4),
        Annotation("d2", "A", ["political"], "political", {}, line=5),  # conflicts with 4
        Annotation("d3", "A", ["economic"], "economic", {}, line=6),
        Annotation("d3", "A", ["Economic"], "economic", {}, line=7),  # the same, respelled
    ]
    good, bad = check_rows(rows, eu_vocab(), "g.jsonl")
    assert [(b.line, b.id, b.field) for b in bad] == [
        (4, "d2", "(id, annotator)"),
        (5, "d2", "(id, annotator)"),
    ]
    assert "as line 4" in str(bad[1])
    assert [(r.id, r.annotator) for r in good] == [
        ("d1", "A"),
        ("d1", "B"),
        ("d1", "C"),
        ("d3", "A"),
    ]
    gold, decided = adjudicate(good)
    assert decided == 1 and set(gold) == {"d1", "d3"}
    assert gold["d1"].frames == ["economic", "political"]  # each by 2 of 3
    assert gold["d1"].primary_frame == "economic" and gold["d1"].stance == {"nato": "favor"}
    assert gold["d3"].annotator == "A"  # one annotator: the row itself


def test_adjudication_ties_go_to_the_first_annotator() -> None:
    rows = [
        Annotation("d1", "first", ["economic"], "economic", {"nato": "against"}, line=1),
        Annotation("d1", "second", ["political"], "political", {"nato": "favor"}, line=2),
    ]
    g = adjudicate(rows)[0]["d1"]
    assert g.primary_frame == "economic" and g.stance == {"nato": "against"}
    assert g.frames == ["economic"]  # a frame needs more than half the annotators


def test_reading_lists_every_bad_line_with_its_number(tmp_path: Path) -> None:
    p = tmp_path / "g.jsonl"
    p.write_text(
        '{"id": "a", "frames": ["economic"]}\n[1, 2]\n{not json\n{"frames": []}\n'
        '{"id": "b", "frames": "economic"}\n'
    )
    rows, bad = read_rows(p)
    assert [r.id for r in rows] == ["a"]
    assert [(b.line, b.field) for b in bad] == [
        (2, "(row)"),
        (3, "(row)"),
        (4, "id"),
        (5, "frames"),
    ]
    with pytest.raises(GoldError, match=r"4 rejected rows\n  .*g\.jsonl: line 2: field '\(row\)'"):
        read_jsonl(p)
    with pytest.raises(GoldError, match=r"nope\.jsonl: gold file not found"):
        read_rows(tmp_path / "nope.jsonl")


def test_splits_refuse_an_id_in_two_splits_and_name_its_line(tmp_path: Path) -> None:
    p = tmp_path / "splits.json"
    p.write_text(json.dumps({"train": ["a", "b"], "dev": ["c"], "test": ["b", 3]}, indent=1))
    splits, bad = check_splits(p, gold_ids={"a", "b", "c"})
    assert splits == {"train": ["a", "b"], "dev": ["c"], "test": []}
    assert [str(b) for b in bad] == [
        f"{p}: line 10: field 'test[0]': id b is also in train",
        f"{p}: line 11: field 'test[1]': id 3 has no gold label",
    ]
    with pytest.raises(GoldError, match="id b is also in train"):
        read_splits(p)  # what train reads: a leak between splits stops it
    with pytest.raises(GoldError, match="splits file not found"):
        read_splits(tmp_path / "none.json")


# --------------------------------------------------------------------------- Label Studio
def ls_result(name: str, choices: list[str]) -> dict:
    """One result item as Label Studio exports a <Choices> answer."""
    return {
        "value": {"choices": choices},
        "id": f"r-{name}",
        "from_name": name,
        "to_name": "text",
        "type": "choices",
        "origin": "manual",
    }


def ls_annotation(n: int, who, result: list[dict], updated: str, **kw) -> dict:
    """One annotation of a Label Studio JSON export ("JSON" format, Label Studio 1.x)."""
    return {
        "id": n,
        "completed_by": who,
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": updated,
        "updated_at": updated,
        "draft_created_at": None,
        "lead_time": 12.5,
        "prediction": {},
        "result_count": 0,
        "unique_id": f"u-{n}",
        "import_id": None,
        "last_action": None,
        "task": n,
        "project": 1,
        "updated_by": who if isinstance(who, int) else 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
        **kw,
    }


def ls_task(n: int, data: dict, annotations: list[dict]) -> dict:
    return {
        "id": n,
        "annotations": annotations,
        "file_upload": "tasks.json",
        "drafts": [],
        "predictions": [],
        "data": data,
        "meta": {},
        "created_at": "2026-12-01T10:00:00.000000Z",
        "updated_at": "2026-12-02T10:00:00.000000Z",
        "inner_id": n,
        "total_annotations": len(annotations),
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 1,
        "updated_by": 1,
        "comment_authors": [],
    }


def test_read_export_says_what_it_dropped_and_keeps_the_latest_per_annotator(
    tmp_path: Path,
) -> None:
    ok = [ls_result("frames", ["Economic"]), ls_result("stance_nato", ["favor"])]
    tasks = [
        ls_task(
            1,
            {"id": "d1", "title": "t", "text": "x"},
            [
                ls_annotation(1, 7, ok, "2026-12-02T09:00:00Z"),
                ls_annotation(2, 7, [ls_result("frames", ["political"])], "2026-12-02T11:00:00Z"),
                ls_annotation(3, {"id": 8, "email": "b@example.org"}, ok, "2026-12-02T09:30:00Z"),
                ls_annotation(4, 9, ok, "2026-12-02T09:00:00Z", was_cancelled=True),
                ls_annotation(5, 10, [], "2026-12-02T09:00:00Z"),
            ],
        ),
        ls_task(2, {"text": "no id"}, [ls_annotation(6, 7, ok, "2026-12-02T09:00:00Z")]),
    ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    rows, dropped = read_export(export)
    assert {(r.id, r.annotator): r.frames for r in rows} == {
        ("d1", "7"): ["political"],  # updated later: wins over annotation 1
        ("d1", "b@example.org"): ["Economic"],
    }
    assert [(d.line, d.field, d.annotator) for d in dropped] == [
        (1, "annotations", "7"),
        (1, "was_cancelled", "9"),
        (1, "result", "10"),
        (2, "data.id", None),
    ]
    assert str(dropped[0]).startswith(f"{export}: task 1 (id=d1, annotator=7)")


def test_read_gold_adjudicates_one_row_per_annotator(tmp_path: Path) -> None:
    """What publish's gate reads: a gold file with annotators is one label per document."""
    p = tmp_path / "gold.jsonl"
    rows = [
        Annotation("d1", "A", ["economic"], "economic", {"nato": "favor"}),
        Annotation("d1", "B", ["political"], "political", {"nato": "against"}),
        Annotation("d1", "C", ["economic"], "economic", {"nato": "against"}),
    ]
    write_jsonl(rows, p)
    g = read_gold(p)["d1"]
    assert (g.frames, g.primary_frame, g.stance) == (["economic"], "economic", {"nato": "against"})
    p.write_text(p.read_text() + '{"id": "d2", "frames": ["Sports"]}\n')
    with pytest.raises(GoldError, match=r"line 4 .*unknown frame 'Sports'"):
        read_gold(p, Vocabulary.exact(FRAMES, TARGETS))


def test_pre_annotations_hold_at_most_k_frames_by_probability() -> None:
    probs = {"economic": 0.9, "political": 0.6, "security_and_defense": 0.7}
    row = {"frames": list(probs), "frame_probs": probs, "primary_frame": "political"}
    assert top_frames(row, 2) == ["economic", "political"]  # the primary is always kept
    assert top_frames({**row, "primary_frame": "economic"}, 2) == [
        "economic",
        "security_and_defense",
    ]
    assert top_frames(row, None) == list(probs)
    task = to_label_studio([{**row, "id": "d", "text": "x"}], [], "m")[0]
    assert task["predictions"][0]["result"][0]["value"]["choices"] == list(probs)
    capped = label_studio_task({**row, "id": "d", "text": "x"}, [], "m", max_frames=1)
    assert capped["predictions"][0]["result"][0]["value"]["choices"] == ["political"]


def test_a_gold_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    p = tmp_path / "latin1.jsonl"
    p.write_bytes('{"id": "d1", "frames": ["économie"]}\n'.encode("latin-1"))
    with pytest.raises(GoldError, match=r"latin1\.jsonl: not UTF-8 text"):
        read_rows(p)
    p.write_text('{"id": "d1", "title": "a\u2028b", "frames": []}\n', encoding="utf-8")
    assert [r.id for r in read_jsonl(p)] == ["d1"]  # U+2028 inside a string is one line
