"""A small YAML file cannot grow into gigabytes: aliases are refused, messages are short.

The alias bomb runs in a child process with an address-space limit and a timeout, so a
regression fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labeling.codebook import CodebookError, load_codebook
from labeling.yamlio import MAX_MESSAGE, YamlError, load_yaml


def alias_bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f"frames: *l{levels - 1}")
    return "\n".join(lines) + "\n"


CHILD = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    from labeling.codebook import CodebookError, load_codebook
    try:
        load_codebook(sys.argv[1])
    except CodebookError as exc:
        print(str(exc))
    """
)


def test_alias_bomb_codebook_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{path}: line 2: YAML aliases" in proc.stdout
    assert len(proc.stdout) < 1000


def test_yaml_errors_are_cut_to_a_readable_length() -> None:
    with pytest.raises(YamlError) as info:
        load_yaml("a: [" + "x, " * 100_000 + "\n  b: {", "big.yaml")
    assert str(info.value).startswith("big.yaml: not valid YAML")
    assert len(str(info.value)) <= MAX_MESSAGE + 40


def test_codebook_without_aliases_still_loads() -> None:
    book = load_codebook(Path(__file__).resolve().parents[1] / "configs/codebooks/mfc.yaml")
    assert len(book.frames) == 15


def test_duplicate_keys_still_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("frames:\n  a: {label: A}\n  a: {label: B}\n")
    with pytest.raises(CodebookError, match="line 3: duplicate key 'a' \\(first at line 2\\)"):
        load_codebook(path)


def test_alias_bomb_config_is_a_config_error(tmp_path: Path) -> None:
    from pipelines.config import ConfigError, IngestConfig, load_config

    path = tmp_path / "ingest.yaml"
    path.write_text(alias_bomb().replace("frames:", "chrome_patterns:"))
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config(IngestConfig, path)


def test_bad_set_value_names_the_override() -> None:
    from pipelines.config import ConfigError, IngestConfig, load_config

    with pytest.raises(ConfigError, match=r"--set 'min_words=\[1'"):
        load_config(IngestConfig, None, ["min_words=[1"])
