"""A table of invalid configs for every stage: each fails before any work, and the message
names the file, the key and what would have been accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.config import (
    ConfigError,
    IngestConfig,
    LabelConfig,
    PublishConfig,
    RunConfig,
    ScoreConfig,
    TrainConfig,
    load_config,
)

# (stage model, YAML, the key the message must name, what it must say is allowed)
CASES = [
    (IngestConfig, "min_words: 0\n", "min_words", "greater than or equal to 1"),
    (IngestConfig, "min_word: 3\n", "min_word", "allowed keys: chrome_patterns"),
    (IngestConfig, "columns:\n  body: text\n", "columns.body", "allowed keys: date, id"),
    (IngestConfig, "columns: text\n", "columns", "must be a mapping of keys: date, id"),
    (
        IngestConfig,
        "near_duplicate_threshold: 1.5\n",
        "near_duplicate_threshold",
        "less than or equal to 1",
    ),
    (IngestConfig, "max_bytes: 10\n", "max_bytes", "greater than or equal to 1000"),
    (IngestConfig, "split_pasted_articles: maybe\n", "split_pasted_articles", "valid boolean"),
    (IngestConfig, "file_extensions: .txt\n", "file_extensions", "valid list"),
    (
        LabelConfig,
        "label_model: snorkel\n",
        "label_model",
        "'auto', 'dawid_skene' or 'majority_vote'",
    ),
    (LabelConfig, "frame_threshold: 1\n", "frame_threshold", "less than 1"),
    (LabelConfig, "bootstrap: -5\n", "bootstrap", "greater than or equal to 0"),
    (LabelConfig, "embedding_lf: sometimes\n", "embedding_lf", "valid boolean"),
    (LabelConfig, "codebok: x.yaml\n", "codebok", "allowed keys: annotations, bootstrap, codebook"),
    (TrainConfig, "task: sentiment\n", "task", "'frames' or 'stance'"),
    (TrainConfig, "labels: x\n", "task", "required key is missing; one of 'frames', 'stance'"),
    (
        TrainConfig,
        "task: frames\nbaseline:\n  classifier: forest\n",
        "baseline.classifier",
        "'logreg' or 'linear_svm'",
    ),
    (
        TrainConfig,
        "task: frames\nbaseline:\n  ngram_max: 9\n",
        "baseline.ngram_max",
        "less than or equal to 4",
    ),
    (
        TrainConfig,
        "task: frames\nbaseline:\n  class_weight: auto\n",
        "baseline.class_weight",
        "'balanced'",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  epoch: 3\n",
        "transformer.epoch",
        "allowed keys: batch_size",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  device: tpu\n",
        "transformer.device",
        "'auto', 'cpu', 'cuda' or 'mps'",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  init: zeros\n",
        "transformer.init",
        "'pretrained' or 'random'",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  max_length: 8\n",
        "transformer.max_length",
        "greater than or equal to 16",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  long_text: tail\n",
        "transformer.long_text",
        "'head_tail' or 'head'",
    ),
    (
        TrainConfig,
        "task: stance\ntransformer:\n  pair_input: both\n",
        "transformer.pair_input",
        "'full', 'window' or 'siamese'",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  warmup_ratio: 1\n",
        "transformer.warmup_ratio",
        "less than 1",
    ),
    (
        TrainConfig,
        "task: frames\ntransformer:\n  stop_after_steps: 0\n",
        "transformer.stop_after_steps",
        "greater than or equal to 1",
    ),
    (TrainConfig, "task: frames\nmin_confidence: 2\n", "min_confidence", "less than or equal to 1"),
    (
        TrainConfig,
        "task: frames\ntransformer: 5\n",
        "transformer",
        "must be a mapping of keys: batch_size",
    ),
    (PublishConfig, "confidence: 1.5\n", "confidence", "less than 1"),
    (PublishConfig, "bootstrap: 3\n", "bootstrap", "greater than or equal to 10"),
    (PublishConfig, "margin: -0.1\n", "margin", "greater than or equal to 0"),
    (PublishConfig, "modelname: x\n", "modelname", "allowed keys: bootstrap, confidence"),
    (ScoreConfig, "engine: dask\n", "engine", "'local' or 'spark'"),
    (ScoreConfig, "chunk_size: 0\n", "chunk_size", "greater than or equal to 1"),
    (ScoreConfig, "chunk: 10\n", "chunk", "allowed keys: chunk_size, columns, engine, model"),
    (RunConfig, "families: []\n", "families", "at least one of: baseline, transformer"),
    (RunConfig, "models: []\n", "families", "at least one of: baseline, transformer"),
    (RunConfig, "tasks: [frames, topic]\n", "tasks.1", "'frames' or 'stance'"),
    (RunConfig, "families: [bert]\n", "families.0", "unknown model family 'bert'"),
    (TrainConfig, "task: frames\nfamily: bert\n", "family", "one of: baseline, transformer"),
    (RunConfig, "train_frames:\n  task: frames\n  seed: x\n", "train_frames.seed", "valid integer"),
    (
        RunConfig,
        "label: missing-label.yaml\n",
        "label",
        "missing-label.yaml: config file not found",
    ),
    (RunConfig, "score:\n  engine: ray\n", "score.engine", "'local' or 'spark'"),
    (RunConfig, "workdirs: x\n", "workdirs", "allowed keys: annotations, codebook, families"),
]


@pytest.mark.parametrize(
    ("model", "text", "key", "allowed"),
    CASES,
    ids=[f"{m.__name__}-{k}" for m, _, k, _ in CASES],
)
def test_invalid_config_names_file_key_and_allowed_values(
    tmp_path: Path, trials, model, text: str, key: str, allowed: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(model, path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"key '{key}'" in msg, msg
    assert allowed in msg, msg
    trials.record(
        "configs", model.__name__, text.strip().replace("\n", " | "), "ConfigError", key, True
    )


# The CLI stops at the config: exit 2, one message, and nothing written.
CLI_CASES = [
    ("ingest", "min_words: -1\n", ["--input", "in", "--output", "out"]),
    ("label", "label_model: snorkel\n", ["--input", "in/documents.parquet", "--output", "out"]),
    ("train", "task: frames\ntransformer:\n  epochs: 0\n", ["--task", "frames", "--output", "out"]),
    ("publish", "confidence: 2\n", []),
    ("score", "engine: dask\n", ["--input", "in", "--output", "out"]),
    ("run", "families: []\n", ["--output", "out"]),
]


@pytest.mark.parametrize(("stage", "text", "args"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_fails_on_config_before_any_work(
    tmp_path: Path, monkeypatch, capsys, trials, stage: str, text: str, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    rc = main([stage, "--config", str(cfg), *args, "--tracking-uri", "sqlite:///mlruns.db"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"mediaframe {stage}: config error" in err and str(cfg) in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "mlruns.db").exists()  # not even a tracking store was opened
    trials.record("configs", f"cli {stage}", text.strip(), "exit 2, no output", f"exit {rc}", True)
