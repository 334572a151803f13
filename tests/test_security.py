"""Security defaults: registry-only model loading, a loopback dashboard, no secrets leaked."""

from __future__ import annotations

import os
import string
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import tracking
from pipelines.cli import build_parser, main, ui_command
from pipelines.config import ScoreConfig
from pipelines.score import resolve_model, score
from pipelines.shards import ScoreError

NOT_REGISTRY = [
    "runs:/0123456789abcdef/scorer",
    "file:///tmp/model",
    "/tmp/model",
    "mlartifacts/1/abc/artifacts/scorer",
    "s3://bucket/model",
    "https://example.org/model.pkl",
    "models://other-workspace/mediaframe/1",
    "models:/mediaframe",
    "models:/mediaframe/latest/../../x",
    "models:/mediaframe@champion/../x",
    "models:/../mediaframe/1",
]


@pytest.mark.parametrize("uri", NOT_REGISTRY)
def test_loader_accepts_only_registry_uris(uri: str, tmp_path, trials) -> None:
    with pytest.raises(ScoreError, match="only registry URIs"):
        resolve_model(uri)
    (tmp_path / "in.jsonl").write_text('{"id": "1", "text": "x"}\n')
    with pytest.raises(ScoreError, match="only registry URIs"):
        score([str(tmp_path / "in.jsonl")], tmp_path / "out", ScoreConfig(model=uri))
    assert not (tmp_path / "out").exists()
    trials.record("security", "score", f"model {uri}", "refused", "ScoreError", True)


def test_registry_uri_not_in_the_registry_is_refused(tracking_uri_store, tmp_path) -> None:
    with pytest.raises(ScoreError, match=r"models:/mediaframe@champion' not found"):
        resolve_model("models:/mediaframe@champion")
    with pytest.raises(ScoreError, match="not found"):
        resolve_model("models:/mediaframe/3")


def test_cli_refuses_a_run_uri_with_one_message(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"id": "1", "text": "x"}\n')
    rc = main(
        [
            "score",
            "--model",
            "runs:/abc/scorer",
            "--input",
            "in.jsonl",
            "--output",
            "out",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'm.db'}",
        ]
    )
    assert rc == 2
    assert "only registry URIs" in capsys.readouterr().err


def test_dashboard_binds_loopback_unless_exposed_explicitly(capsys, trials) -> None:
    parser = build_parser()
    args = parser.parse_args(["ui"])
    cmd = ui_command(args)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        with pytest.raises(ValueError, match="--expose"):
            ui_command(parser.parse_args(["ui", "--host", host]))
        assert main(["ui", "--host", host]) == 2  # refused before any server starts
        assert "basic-auth" in capsys.readouterr().err
        exposed = ui_command(parser.parse_args(["ui", "--host", host, "--expose"]))
        assert exposed[exposed.index("--host") + 1] == host
        trials.record("security", "ui", f"--host {host}", "needs --expose", "refused", True)


PASSWORD = st.text(
    alphabet=string.ascii_letters + string.digits + "!$&'()*+,;=:@%-._~", min_size=4, max_size=24
).filter(lambda p: "***" not in p)


@settings(max_examples=60, deadline=None)
@given(
    password=PASSWORD,
    user=st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=10),
    scheme=st.sampled_from(["http", "https", "postgresql", "mysql+pymysql"]),
)
def test_redact_hides_any_password(password: str, user: str, scheme: str) -> None:
    uri = f"{scheme}://{user}:{password}@db.example:5432/mlflow"
    red = tracking.redact(uri)
    assert red == f"{scheme}://{user}:***@db.example:5432/mlflow"
    if scheme.startswith("http"):
        clean, u, p = tracking.split_credentials(uri)
        # Userinfo in a URI is percent-encoded (RFC 3986), so "%00" in it is one character.
        assert clean == f"{scheme}://db.example:5432/mlflow" and (u, p) == (user, unquote(password))


def test_configure_moves_credentials_out_of_the_uri(monkeypatch) -> None:
    """The URI MLflow keeps (and prints in its run links) holds no password; and a server
    that is down fails in seconds with the URI redacted, before any work."""
    import time

    import mlflow

    old = mlflow.get_tracking_uri()
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.1")
    t0 = time.perf_counter()
    with pytest.raises(tracking.TrackingUnavailable) as err:
        tracking.configure("http://alice:pa55w0rd@127.0.0.1:9/")
    assert time.perf_counter() - t0 < 15
    msg = str(err.value)
    assert "pa55w0rd" not in msg and "alice:***@127.0.0.1:9" not in msg
    assert "127.0.0.1:9" in msg and "unreachable" in msg and "2 attempt(s)" in msg
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:9/"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "pa55w0rd"
    mlflow.set_tracking_uri(old)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask: int, mode: int) -> None:
    """Atomic writes go through mkstemp (0600): the output must end up as a plain open()
    would have made it, readable by the group and others under the usual umask 022."""
    import stat

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.atomic import atomic_path, current_umask, write_text

    old = os.umask(umask)
    try:
        assert current_umask() == umask
        write_text("{}", tmp_path / "report.json")
        with atomic_path(tmp_path / "part-00000.parquet") as tmp:
            pq.write_table(pa.Table.from_pandas(pd.DataFrame({"a": [1]})), tmp)
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    for name in ("report.json", "part-00000.parquet", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_write_error_names_the_output_not_the_temporary_file(tmp_path) -> None:
    from pipelines.atomic import atomic_path

    with pytest.raises(OSError) as info, atomic_path(tmp_path / "documents.parquet"):
        raise OSError("Error writing bytes to file")  # as Arrow raises it: no errno, no file
    assert info.value.filename == str(tmp_path / "documents.parquet")
    assert not list(tmp_path.glob(".*.tmp"))
