"""Gold labels: validation lists problems; Label Studio export and import round-trip."""

from __future__ import annotations

import json
from pathlib import Path

from labeling.gold import Annotation, read_jsonl, validate, write_jsonl
from labeling.studio import from_label_studio, label_studio_config, to_label_studio

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
