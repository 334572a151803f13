"""Configs fail before any work, naming the file, the key and the allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import (
    ConfigError,
    IngestConfig,
    RunConfig,
    TrainConfig,
    load_config,
)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("task: frames\ntransformer:\n  epoch: 3\n", "key 'transformer.epoch': unknown key"),
        ("task: frames\ntransformer:\n  epochs: many\n", "key 'transformer.epochs'"),
        ("task: sentiment\n", "must be one of 'frames' or 'stance'"),
        ("task: frames\nbaseline:\n  classifier: forest\n", "'logreg' or 'linear_svm'"),
        ("task: frames\ntransformer:\n  lr: -1\n", "key 'transformer.lr'"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("task: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_train_configs_name_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(TrainConfig, p)
    assert str(p) in str(err.value)
    assert needle in str(err.value)


def test_overrides_are_typed_and_validated(tmp_path: Path) -> None:
    p = write(tmp_path, "task: stance\n")
    cfg = load_config(TrainConfig, p, ["transformer.epochs=2", "baseline.char_ngrams=true"])
    assert cfg.transformer.epochs == 2 and cfg.baseline.char_ngrams is True
    with pytest.raises(ConfigError, match=r"transformer\.epochs"):
        load_config(TrainConfig, p, ["transformer.epochs=0"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(TrainConfig, p, ["transformer.epochs"])


def test_run_config_reads_stage_files(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    cfg = load_config(RunConfig, "configs/run.yaml", ["train_frames.transformer.epochs=1"])
    assert cfg.train_frames.task == "frames" and cfg.train_stance.task == "stance"
    assert cfg.train_frames.transformer.epochs == 1
    assert cfg.label.codebook == "mfc" and cfg.train_stance.stance == "default"


def test_every_shipped_config_validates(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    load_config(IngestConfig, "configs/ingest.yaml")
    for task in ("frames", "stance"):
        assert load_config(TrainConfig, f"configs/train_{task}.yaml").task == task


def test_family_travels_in_the_train_config(tmp_path: Path) -> None:
    assert load_config(TrainConfig, write(tmp_path, "task: frames\n")).family == "baseline"
    cfg = load_config(TrainConfig, write(tmp_path, "task: frames\nfamily: transformer\n"))
    assert cfg.family == "transformer" and cfg.family_config() is cfg.transformer


def test_run_config_old_models_key_still_loads_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(RunConfig, write(tmp_path, "models: [baseline]\n"))
    assert cfg.families == ["baseline"]
    assert "`models:` is deprecated" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="families"):
        load_config(RunConfig, write(tmp_path, "models: [baseline]\nfamilies: [baseline]\n"))


def test_removed_gold_key_of_train_is_an_unknown_key(tmp_path: Path) -> None:
    # TrainConfig.gold was never read; a config that still sets it is told so.
    with pytest.raises(ConfigError, match="key 'gold': unknown key"):
        load_config(TrainConfig, write(tmp_path, "task: frames\ngold: g.jsonl\n"))


def test_the_shipped_project_config_works_from_any_directory(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its paths follow configs/, not the working directory: the sample is found from /tmp.
    monkeypatch.chdir(tmp_path)
    cfg = load_config(RunConfig, root / "configs/run.yaml")
    assert Path(cfg.input[0]).resolve() == root / "data/raw"
    for p in (cfg.label.gold, cfg.train_stance.splits, cfg.publish.gold, cfg.label.annotations):
        assert Path(p).is_file(), p
    assert Path(cfg.train_frames.labels).resolve() == root / "runs/sample/labels.parquet"
