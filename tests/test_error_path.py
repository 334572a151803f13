"""One error path for every stage: an expected failure is one line naming the file, row or
key and the cause, exit 2, no traceback; ``--debug`` shows the traceback.

Each case runs the real CLI in a subprocess; the cases of a module are started together
and checked one by one. ``FAST`` (a bad --set, a stance file of wrong types, a full disk,
a damaged .gz, and --debug) runs in `make test`; the rest of ``CASES`` (each a few
seconds of interpreter start-up) runs in `make test-reliability`
(tests/reliability/test_error_cases.py), and both add their rows to the reliability
table. The cases that need a registered model use a registry whose only version points at
artifacts that are gone: `score` resolves it, then fails on what the case is about (a
corrupt manifest, foreign shards, the missing artifacts).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (
    "NATO ministers met in Brussels on Tuesday to discuss the alliance budget while Moscow "
    "condemned the drills near its border; officials said talks would continue next week."
)


@dataclass
class Case:
    args: list[str]
    named: list[str]  # what the one error line must name (file, row, key)
    absent: tuple[str, ...] = ()  # what it must not say (the config blamed for a --set)
    store: bool = False  # needs the registry with the broken model version
    preexec: Callable[[], None] | None = None


def _file_size_limit() -> None:
    """A full disk, as the child sees it: writes past 1 KB fail with EFBIG."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 10, 1 << 10))


def _read_only(d: Path) -> bool:
    """Make ``d`` unwritable, for root too (the immutable flag); False if impossible."""
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        return True
    return subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0


def _writable_again(d: Path) -> None:
    if d.exists():
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(d)], capture_output=True)
        d.chmod(0o755)


def _inputs(d: Path, label: bool) -> None:
    rows = [{"id": str(i), "text": f"{ARTICLE} Story {i}."} for i in range(6)]
    (d / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "afile").write_text("a file, not a folder\n")
    (d / "bad.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    (d / "cb.yaml").write_text("frames:\n  conflict:\n    cues: [clash]\n    questions: 5\n")
    (d / "st.yaml").write_text("targets:\n  nato:\n    name: NATO\n    aliases: 5\n")
    (d / "gold.jsonl").write_text("[1, 2]\n")
    (d / "splits.json").write_text('{"train": [], "dev": [], "test": []}')
    (d / "garbled" / "_manifest.json").parent.mkdir()
    (d / "garbled" / "_manifest.json").write_text('{"model_version": "mediaframe/1", "sha')
    (d / "foreign").mkdir()
    shutil.copy(ROOT / "data" / "raw" / "feed.parquet", d / "foreign" / "part-00000.parquet")
    if not label:
        return
    from pipelines.config import IngestConfig
    from pipelines.ingest import ingest

    ingest([str(d / "in.jsonl")], d / "docs", IngestConfig(min_words=5))


def _broken_registry(d: Path) -> str:
    """A registry whose @champion is a version whose artifacts do not exist."""
    import mlflow

    uri = f"sqlite:///{d / 'registry.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("mediaframe")
    mv = client.create_model_version("mediaframe", source=str(d / "artifacts-gone"))
    client.set_registered_model_alias("mediaframe", "champion", mv.version)
    return uri


LABEL = [
    "label",
    "--input",
    "docs/documents.parquet",
    "--output",
    "labels",
    *("--set", "embedding_lf=false", "--set", "annotations=null", "--set", "splits=null"),
    *("--set", f"codebook={ROOT / 'configs/codebooks/generic.yaml'}"),
    *("--set", f"stance={ROOT / 'configs/stance.yaml'}", "--set", "gold=null"),
]
SCORE = ["score", "--input", "in.jsonl", "--output"]

CASES: dict[str, Case] = {
    "set-not-yaml": Case(
        [*SCORE, "s1", "--set", "chunk_size=["], ["--set 'chunk_size=['"], ("score.yaml", "config")
    ),
    "set-wrong-type": Case(
        [*SCORE, "s2", "--set", "chunk_size=abc"],
        ["--set chunk_size=abc", "'chunk_size'"],
        ("config", "(defaults)"),
    ),
    "huge-chunk-size": Case(
        [*SCORE, "s3", "--set", f"chunk_size={10**20}"], ["'chunk_size'", "less than"]
    ),
    "codebook-wrong-type": Case([*LABEL, "--set", "codebook=cb.yaml"], ["cb.yaml", "questions"]),
    "stance-wrong-type": Case([*LABEL, "--set", "stance=st.yaml"], ["st.yaml", "aliases"]),
    "gold-line-is-array": Case(  # gold needs its split beside it (null is refused there)
        [*LABEL, "--set", "gold=gold.jsonl", "--set", "splits=splits.json"],
        ["gold.jsonl", "line 1"],
    ),
    "output-is-a-file": Case(["ingest", "--input", "in.jsonl", "--output", "afile"], ["afile"]),
    "output-under-a-file": Case(
        ["ingest", "--input", "in.jsonl", "--output", "afile/sub"], ["afile/sub", "not a directory"]
    ),
    "read-only-output": Case(
        ["ingest", "--input", "in.jsonl", "--output", "readonly/out"], ["readonly/out"]
    ),
    "disk-full": Case(
        ["ingest", "--input", "in.jsonl", "--output", "full", "--set", "min_words=5"],
        ["full/documents.parquet", "too large"],
        preexec=_file_size_limit,
    ),
    "damaged-gzip": Case(
        ["score", "--input", "bad.jsonl.gz", "--output", "s4"], ["bad.jsonl.gz", "gzip"]
    ),
    "missing-model-artifacts": Case(
        [*SCORE, "s5"], ["models:/mediaframe/1", "artifacts"], store=True
    ),
    "corrupt-manifest": Case(
        [*SCORE, "garbled"], ["garbled/_manifest.json", "--restart"], store=True
    ),
    "foreign-shards": Case([*SCORE, "foreign"], ["foreign", "part-"], store=True),
}
DEBUG_CASE = "set-not-yaml"


def _env(store: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDIAFRAME_PROGRESS": "0"}
    env.pop("MEDIAFRAME_DEBUG", None)
    env["MLFLOW_TRACKING_URI"] = store or "sqlite:///mlruns.db"
    return env


FAST = ["set-not-yaml", "stance-wrong-type", "disk-full", "damaged-gzip"]


def run_cases(names: list[str], d: Path, debug: bool = False) -> dict[str, tuple[int, str]]:
    """Start the CLI for each case in ``names`` (and, with ``debug``, DEBUG_CASE under
    ``--debug``) in ``d`` at once; (exit code, stderr) by case name. A case that cannot be
    set up here (read-only as root without chattr) is left out."""
    cases = {n: CASES[n] for n in names}
    _inputs(d, label=any(c.args[0] == "label" for c in cases.values()))
    read_only = "read-only-output" in cases and _read_only(d / "readonly")

    def start(args: list[str], store: str | None, preexec=None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *args],
            cwd=d,
            env=_env(store),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )

    procs = {
        n: start(c.args, None, c.preexec)
        for n, c in cases.items()
        if not c.store and (read_only or n != "read-only-output")
    }
    if debug:
        procs["--debug"] = start(["--debug", *CASES[DEBUG_CASE].args], None)
    if any(c.store for c in cases.values()):
        store = _broken_registry(d)  # built while the first cases run
        procs |= {n: start(c.args, store) for n, c in cases.items() if c.store}
    try:
        return {n: (p.wait(timeout=600), p.stderr.read()) for n, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        _writable_again(d / "readonly")


def check_case(name: str, results: dict[str, tuple[int, str]], trials) -> None:
    """The one-line contract for case ``name``, recorded in the reliability table."""
    if name not in results:
        pytest.skip("cannot make a folder read-only here (root without chattr)")
    case = CASES[name]
    code, err = results[name]
    lines = [ln for ln in err.splitlines() if ln.startswith("mediaframe ")]
    line = lines[0] if lines else ""
    ok = (
        "Traceback" not in err
        and code == 2
        and len(lines) == 1
        and line.startswith(f"mediaframe {case.args[0]}: ")
        and all(t in line for t in case.named)
        and not any(t in line for t in case.absent)
    )
    trials.record("errors", case.args[0], name, "exit 2, one line", f"exit {code}", ok)
    assert "Traceback" not in err, err[-3000:]
    assert code == 2 and len(lines) == 1, err[-3000:]
    assert line.startswith(f"mediaframe {case.args[0]}: "), line
    for text in case.named:
        assert text in line, (text, line)
    for text in case.absent:
        assert text not in line, (text, line)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    return run_cases(FAST, tmp_path_factory.mktemp("errors"), debug=True)


@pytest.mark.parametrize("name", FAST)
def test_expected_failure_is_one_line_exit_2(name: str, results, trials) -> None:
    check_case(name, results, trials)


def test_debug_shows_the_traceback(results) -> None:
    code, err = results["--debug"]
    assert code != 0 and "Traceback" in err and "ConfigError" in err


def test_gz_damage_is_named_in_process(tmp_path: Path) -> None:
    """The reader's own error for a damaged .gz (what the CLI turns into one line)."""
    from pipelines.readers import iter_jsonl

    bad = tmp_path / "x.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"text": "a"}\n')[:-6])  # truncated: no CRC, no size
    with pytest.raises(ValueError, match=r"x\.jsonl\.gz: not a readable gzip file"):
        list(iter_jsonl(bad))


@pytest.mark.parametrize("name", ["in.zip", "in.parquet.gz", "in.txt.bz2"])
def test_a_named_archive_is_refused_not_read_as_lines(tmp_path: Path, name: str) -> None:
    """Read as JSONL, each line of an archive would be an error row, exit 0: refused."""
    from pipelines.config import ScoreConfig
    from pipelines.score import score
    from pipelines.shards import ScoreError

    (tmp_path / name).write_bytes(gzip.compress(b'{"text": "a"}\n'))
    with pytest.raises(ScoreError, match=rf"{name}: a compressed or archived file"):
        score([str(tmp_path / name)], tmp_path / "out", ScoreConfig())
    assert not (tmp_path / "out").exists()
