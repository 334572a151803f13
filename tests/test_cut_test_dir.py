"""``bench/cut_test_dir.py``: a held-out-like folder cut from train, read by ``--test-dir``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.adapters import get_adapter
from bench.adapters.fnc1 import FNC_TEST, FNC_TRAIN
from bench.adapters.semeval2023 import SEMEVAL_TEST, SEMEVAL_TRAIN
from bench.cut_test_dir import cut, main
from tests.conftest import ROOT, SHARED
from tests.test_benchmark import run_cli
from tests.test_dev_splits import synthetic_fnc


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_fnc1_cut_holds_out_new_claims_and_new_bodies(tmp_path: Path) -> None:
    synthetic_fnc(tmp_path / "src", 12)
    counts = cut("fnc1", tmp_path / "src", tmp_path / "out", 0.3, 4)
    test = _rows(tmp_path / "out/test" / FNC_TEST[0])
    rest = _rows(tmp_path / "out/rest" / FNC_TRAIN[0])
    assert test and rest and counts["test_pairs"] == len(test)
    assert not {r["Headline"] for r in test} & {r["Headline"] for r in rest}
    assert not {r["Body ID"] for r in test} & {r["Body ID"] for r in rest}
    test_bodies = {r["Body ID"] for r in _rows(tmp_path / "out/test" / FNC_TEST[1])}
    assert test_bodies == {r["Body ID"] for r in test}  # every body file row is used
    n_src = len(_rows(tmp_path / "src" / FNC_TRAIN[0]))
    assert len(test) + len(rest) + counts["dropped_pairs"] == n_src
    # the adapter reads both folders as its releases
    fnc = get_adapter("fnc1")
    assert len(fnc.read_tests(tmp_path / "out/test", fnc.options(None))[""]) == len(test)
    assert len(fnc.read_pool(tmp_path / "out/rest", fnc.options(None))) == len(rest)


def test_cut_refuses_an_existing_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    synthetic_fnc(tmp_path / "src", 6)
    (tmp_path / "out/test").mkdir(parents=True)
    argv = ["fnc1", "--data-dir", str(tmp_path / "src"), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "exists; give a new --out" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.skipif(
    not (SHARED / "semeval2023").exists(), reason="needs ../shared/datasets/semeval2023"
)
def test_benchmark_scores_a_cut_test_dir_not_dev(tmp_path: Path, tracking_uri_store: str) -> None:
    out = tmp_path / "cut"
    assert main(["semeval2023", "--data-dir", str(SHARED / "semeval2023"), "--out", str(out)]) == 0
    held, kept = _rows(out / "test" / SEMEVAL_TEST), _rows(out / "rest" / SEMEVAL_TRAIN)
    assert len(held) + len(kept) == len(_rows(SHARED / "semeval2023" / SEMEVAL_TRAIN))
    assert not {r["id"] for r in held} & {r["id"] for r in kept}
    res_path = tmp_path / "res.json"
    argv = ["benchmark", "semeval2023", "--data-dir", str(out / "rest")]
    argv += ["--test-dir", str(out / "test"), "--output", str(res_path)]
    argv += ["--config", str(ROOT / "configs/bench/semeval2023.yaml")]
    argv += ["--set", f"adapter.codebook={ROOT / 'configs/codebooks/mfc.yaml'}"]
    argv += ["--set", "cv.enabled=false", "--set", "bootstrap=50"]
    assert run_cli(argv) == 0
    res = json.loads(res_path.read_text())
    assert res["split"] == "test"
    assert res["n_test"] == len(held)  # the cut folder is what is scored ...
    assert res["n_train"] + res["n_tune"] == len(kept)  # ... and rest (fit + dev) trains
    assert res["metrics"]["micro_f1"] > res["trivial"]["micro_f1"]
