"""The project config: codebook, targets, gold and splits named once for every stage, paths
relative to the config file, built-ins found outside the repository, one meaning of null."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from labeling.codebook import BUILTIN_DIRS, builtin_names
from models.config import Strict
from pipelines.cli import main
from pipelines.config import (
    ConfigError,
    IngestConfig,
    LabelConfig,
    PublishConfig,
    ReportConfig,
    RunConfig,
    ScoreConfig,
    TrainConfig,
    load_config,
)

PROJECT = """
workdir: work
codebook: generic
stance: targets/eu.yaml
gold: gold/gold.jsonl
annotations: null
splits: gold/splits.json
label:
  embedding_lf: false
train_stance: stages/train_stance.yaml
publish:
  splits: gold/publish_splits.json
ingest: {min_words: 3}
score: {chunk_size: 7}
report: {period: week}
"""


def make_project(tmp_path: Path, text: str = PROJECT) -> Path:
    """A user's project folder with its config, and an empty folder to run commands from."""
    proj = tmp_path / "proj"
    (proj / "stages").mkdir(parents=True)
    (proj / "stages" / "train_stance.yaml").write_text(
        "task: stance\noutput: bundles\nbaseline:\n  C: 2.0\n"
    )
    (proj / "mediaframe.yaml").write_text(text)
    (tmp_path / "elsewhere").mkdir()
    return proj / "mediaframe.yaml"


def same_file(a: str, b: Path) -> bool:
    return Path(a).resolve() == b.resolve()


def test_every_stage_reads_its_section_and_inherits_the_shared_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = make_project(tmp_path)
    proj = cfg_file.parent
    monkeypatch.chdir(tmp_path / "elsewhere")  # paths follow the config file, not the CWD
    cfg = "../proj/mediaframe.yaml"
    label = load_config(LabelConfig, cfg)
    stance = load_config(TrainConfig, cfg, task="stance")
    frames = load_config(TrainConfig, cfg, task="frames")
    publish = load_config(PublishConfig, cfg)
    # one key, one place: the targets label writes are the ones train reads
    for stage in (label, stance, frames):
        assert same_file(stage.stance, proj / "targets/eu.yaml"), stage
        assert stage.codebook == "generic"  # a built-in name is not a path
        assert same_file(stage.splits, proj / "gold/splits.json")
    assert same_file(label.gold, proj / "gold/gold.jsonl") and label.annotations is None
    assert label.embedding_lf is False
    # the section's own file: its keys win and its paths follow that file's folder
    assert stance.task == "stance" and stance.baseline.C == 2.0
    assert same_file(stance.output, proj / "stages/bundles")
    assert same_file(stance.labels, proj / "work/labels.parquet")  # from workdir
    assert same_file(frames.output, proj / "work/models") and frames.task == "frames"
    assert same_file(publish.splits, proj / "gold/publish_splits.json")  # section override
    assert same_file(publish.gold, proj / "gold/gold.jsonl")
    assert same_file(publish.documents, proj / "work/documents.parquet")
    # every stage finds its own section in the one file
    assert load_config(IngestConfig, cfg).min_words == 3
    assert load_config(ScoreConfig, cfg).chunk_size == 7
    assert load_config(ReportConfig, cfg).period == "week"

    # a command with no section of its own (a later one, say) still reads the shared keys
    class GoldImport(Strict):
        codebook: str = "mfc"
        gold: str | None = None
        into: str = "x"

    gi = load_config(GoldImport, cfg)
    assert gi.codebook == "generic" and same_file(gi.gold, proj / "gold/gold.jsonl")
    # --set paths are the command line's: relative to the working directory, as typed
    assert load_config(LabelConfig, cfg, ["gold=mine.jsonl"]).gold == "mine.jsonl"


def test_a_shared_key_set_once_reaches_every_stage_of_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = make_project(tmp_path)
    monkeypatch.chdir(tmp_path / "elsewhere")
    run = load_config(RunConfig, cfg_file, ["stance=eu.yaml", "train_frames.codebook=mfc"])
    assert run.stance == "eu.yaml"
    assert run.label.stance == run.train_stance.stance == run.train_frames.stance == "eu.yaml"
    assert run.train_frames.codebook == "mfc" and run.label.codebook == "generic"
    assert same_file(run.workdir, cfg_file.parent / "work")
    assert same_file(run.train_stance.splits, cfg_file.parent / "gold/splits.json")
    assert load_config(RunConfig, cfg_file, ["codebook=builtin:mfc"]).label.codebook == "mfc"


def test_null_splits_is_refused_with_one_message_by_every_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_file = make_project(tmp_path)
    monkeypatch.chdir(tmp_path / "elsewhere")
    io = ["--input", "in", "--output", "out"]
    stages = {
        "label": io,
        "train": ["--task", "stance"],
        "publish": [],
        "run": [],
    }
    messages = set()
    for stage, extra in stages.items():
        argv = [stage, "--config", str(cfg_file), *extra, "--set", "splits=null"]
        assert main([*argv, "--tracking-uri", "sqlite:///m.db"]) == 2, stage
        err = capsys.readouterr().err
        assert "Traceback" not in err
        line = next(x for x in err.splitlines() if "key 'splits'" in x)
        line = line.removeprefix(f"mediaframe {stage}: error: ")  # the one error path's prefix
        line = line.split("; --set ")[0]  # run names every section's key on one line
        assert line.startswith("--set splits=null: key 'splits': "), line  # not the file's fault
        messages.add(line)
    assert len(messages) == 1, "\n".join(sorted(messages))
    assert "null is not allowed" in messages.pop()
    assert not Path("m.db").exists() and not Path("out").exists()


def test_null_splits_in_the_file_is_refused_alike(tmp_path: Path) -> None:
    cfg_file = make_project(tmp_path, PROJECT.replace("splits: gold/splits.json", "splits: null"))
    found = set()
    for model, extra in ((LabelConfig, {}), (TrainConfig, {"task": "stance"})):
        with pytest.raises(ConfigError) as err:
            load_config(model, cfg_file, **extra)
        found |= {x.split("key ")[1] for x in str(err.value).splitlines()}
    assert len(found) == 1 and "null is not allowed" in found.pop()
    # label reads the split only to keep test gold out of its choice: without gold, none
    no_gold = load_config(LabelConfig, cfg_file, ["gold=null"])
    assert no_gold.gold is None and no_gold.splits is None


def test_a_missing_stage_file_of_the_project_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_file = make_project(tmp_path, PROJECT + "train_frames: stages/nope.yaml\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    rc = main(
        ["train", "--task", "frames", "--config", str(cfg_file), "--tracking-uri", "sqlite:///m.db"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "stages/nope.yaml: config file not found" in err
    assert "key 'train_frames'" in err
    # and --config itself must exist (#18 item 4)
    assert main(["label", "--config", "nope.yaml", "--tracking-uri", "sqlite:///m.db"]) == 2
    assert "--config nope.yaml: config file not found" in capsys.readouterr().err


ARTICLES = [
    ("NATO", "The North Atlantic alliance was praised as a reliable guarantor of security"),
    ("Russia", "Moscow was accused of aggression and condemned for its reckless threats"),
    ("economy", "Prices rose again and the budget deficit grew as jobs were lost"),
    ("NATO drills", "NATO held drills; officials said the alliance was a valuable partner"),
]


def test_label_runs_from_an_empty_folder_outside_the_repository(
    tmp_path: Path, tracking_uri_store: str, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    """A user's folder holds only their articles and a config naming built-ins: no
    configs/ copied, commands typed from another folder."""
    proj = tmp_path / "mine"
    proj.mkdir()
    assert not (tmp_path / "configs").exists() and not tmp_path.is_relative_to(root)
    filler = " ".join(f"word{i}" for i in range(25))
    with (proj / "articles.jsonl").open("w") as f:
        for i, (title, text) in enumerate(ARTICLES * 2):
            row = {"id": f"a{i}", "title": f"{title} {i}", "text": f"{text}. {filler} {i}."}
            f.write(json.dumps({**row, "source": f"Outlet {i % 2}", "date": "2024-05-01"}) + "\n")
    (proj / "mediaframe.yaml").write_text(
        "workdir: work\ncodebook: builtin:generic\nstance: default\ngold: null\n"
        "annotations: null\nlabel:\n  embedding_lf: false\n  bootstrap: 0\n"
    )
    cfg = str(proj / "mediaframe.yaml")
    work = proj / "work"
    common = ["--config", cfg, "--tracking-uri", tracking_uri_store]
    assert (
        main(["ingest", "--input", str(proj / "articles.jsonl"), "--output", str(work), *common])
        == 0
    )
    monkeypatch.chdir(tmp_path)
    rc = main(["label", "--input", str(work / "documents.parquet"), "--output", str(work), *common])
    assert rc == 0
    labels = pd.read_parquet(work / "labels.parquet")
    docs = pd.read_parquet(work / "documents.parquet")
    assert len(labels) == len(docs) >= len(ARTICLES) and "gold" not in set(labels["label_source"])
    assert set(labels["frames"].explode().dropna()) <= {
        "conflict",
        "economic_consequences",
        "human_interest",
        "morality",
        "responsibility",
    }
    assert {f"stance_{t}" for t in ("nato", "us", "russia", "csto")} <= set(labels.columns)
    assert "economic_consequences" in set(labels["frames"].explode())


def test_the_built_ins_are_package_data(root: Path) -> None:
    """Each built-in file matches a package-data glob, so an installed wheel carries it."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["labeling"]
    assert builtin_names("codebook") == ["generic", "mfc"]
    assert builtin_names("stance") == ["default"]
    for folder in BUILTIN_DIRS.values():
        for f in folder.glob("*.yaml"):
            rel = f.relative_to(root / "labeling")
            assert any(rel.match(g) for g in globs), rel
