"""The rest of the one-error-path cases (tests/test_error_path.py runs the fast ones in
`make test`): wrong types, an output that is a file or read-only, a huge chunk_size, a
gold line that is an array, missing model artifacts, a corrupt manifest, foreign shards.
Each is the real CLI in a subprocess: exit 2, one line naming file/row/key, no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_error_path import CASES, FAST, check_case, run_cases

REST = sorted(set(CASES) - set(FAST))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    return run_cases(REST, tmp_path_factory.mktemp("errors"))


@pytest.mark.parametrize("name", REST)
def test_expected_failure_is_one_line_exit_2(name: str, results, trials) -> None:
    check_case(name, results, trials)
