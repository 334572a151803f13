"""labeling/README.md's labeling-function example runs as it is written there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def readme_example(root: Path) -> str:
    """The python block under "The labeling-function API" in labeling/README.md."""
    text = (root / "labeling" / "README.md").read_text(encoding="utf-8")
    section = text.split("## The labeling-function API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the API section should hold exactly one python example"
    return blocks[0]


def test_the_readme_labeling_function_example_runs(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(root)  # the example names the bundled configs from the root
    code = readme_example(root)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "labeling/README.md", "exec"), namespace)  # its asserts must hold
    # the functions it defines are the ones that voted, by the names it gave them
    assert {lf.name for lf in namespace["labeler"].frame_lfs} >= {"tariff_in_title"}
    assert "economic" in capsys.readouterr().out
