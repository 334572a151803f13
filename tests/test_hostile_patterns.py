"""Cues and aliases that could hang or exhaust memory are refused at load or bounded.

Each case runs in a child process with a wall-clock timeout and an address-space limit
(RLIMIT_AS), so a regression fails this test instead of taking the machine down.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from labeling.codebook import CodebookError, CueMatcher, load_stance

LIMIT_BYTES = 4 << 30  # torch-free child: 4 GiB is far above what matching needs

CHILD = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from labeling.codebook import CodebookError, CueMatcher
    try:
        hits = CueMatcher({{"a": [sys.argv[1]]}}, "hostile.yaml").counts(sys.argv[2])
    except CodebookError as exc:
        print("refused:", exc)
    else:
        print("matched:", sum(len(v) for v in hits.values()))
    """
)


def run_case(cue: str, text: str, timeout: float = 60) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(limit=LIMIT_BYTES), cue, text],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


EMPTY_MATCHERS = ["re:", "case:", "re:x?", "re:NATO|", "*", "re:(?=NATO)", r"re:\b", "re:a*"]


@pytest.mark.parametrize("cue", EMPTY_MATCHERS)
def test_cues_that_match_nothing_are_refused_at_load(cue: str) -> None:
    # These once made the matcher loop at the end of the text with a growing list.
    out = run_case(cue, "NATO met")
    assert out.startswith("refused:"), out
    assert "hostile.yaml" in out and "empty string" in out


def test_backtracking_regex_is_stopped_by_the_timeout() -> None:
    out = run_case("re:(a|aa)+$", "a" * 40 + "!")
    assert out.startswith("refused:") and "took over" in out, out


@pytest.mark.parametrize(
    ("cue", "text", "n"),
    [
        ("re:N[A-Z]+O", "NATO and NTO", 2),
        ("allian*", "alliances, alliance", 2),
        ("NATO", "NATO", 1),
    ],
)
def test_ordinary_cues_still_match(cue: str, text: str, n: int) -> None:
    assert sum(len(v) for v in CueMatcher({"a": [cue]}, "t").counts(text).values()) == n


def test_stance_alias_that_matches_nothing_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "stance.yaml"
    path.write_text("targets:\n  nato:\n    label: NATO\n    aliases: [NATO, 're:x?']\n")
    with pytest.raises(CodebookError, match=r"stance\.yaml: line \d+"):
        load_stance(path)
