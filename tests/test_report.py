"""`mediaframe report`: shares, intervals, coverage of bad rows, the HTML page, MLflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeling.schema import arrow_schema
from pipelines.cli import main
from pipelines.config import ReportConfig
from pipelines.report import ALL, ReportError, build_report, run_report, wilson

FRAMES = ["economic", "security_and_defense", "political"]
TARGETS = ["nato", "russia"]
STANCE_LABELS = ["favor", "against", "neutral"]


def _row(i: int, source, date, primary, frames, nato, russia, error=None) -> dict:
    probs = {f: (0.9 if f in (frames or []) else 0.1) for f in FRAMES}
    sp = dict.fromkeys(STANCE_LABELS, 1 / 3)
    return {
        "id": f"d{i}",
        "title": "t",
        "source": source,
        "date": date,
        "url": None,
        "lang": "en",
        "frames": None if error else frames,
        "primary_frame": None if error else primary,
        "frame_probs": None if error else probs,
        "stance_nato": None if error else nato,
        "stance_nato_probs": None if error else sp,
        "stance_russia": None if error else russia,
        "stance_russia_probs": None if error else sp,
        "evidence": [],
        "model_version": "mediaframe/1",
        "error": error,
    }


def scored_rows() -> list[dict]:
    """Herald: 4 dated + 1 undated + 1 bad date + 1 error row; Courier: 1 article; 1 no source."""
    r = [
        _row(0, "Herald", "2024-01-03", "economic", ["economic"], "against", "favor"),
        _row(1, "Herald", "2024-01-20", "economic", ["economic", "political"], "against", "favor"),
        _row(2, "Herald", "2024-01-29", "political", ["political"], "not_mentioned", "favor"),
        _row(3, "Herald", "2024-02-05T10:00:00Z", "security_and_defense", [], "neutral", "against"),
        _row(4, "Herald", None, "economic", ["economic"], "against", "not_mentioned"),
        _row(5, "Herald", "last Tuesday", "political", ["political"], "favor", "favor"),
        _row(6, "Herald", "2024-01-04", None, None, None, None, error="text is missing"),
        _row(
            7,
            "Courier",
            "2024-01-10",
            "security_and_defense",
            ["security_and_defense"],
            "favor",
            "not_mentioned",
        ),
        _row(8, None, "2024-02-01", "political", ["political"], "not_mentioned", "against"),
    ]
    return r


def write_scored(path: Path, rows: list[dict]) -> Path:
    schema = arrow_schema(
        FRAMES, TARGETS, STANCE_LABELS, {"model_version": pa.string(), "error": pa.string()}
    )
    path.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    for k, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part, schema=schema), path / f"part-{k:05d}.parquet")
    (path / "_manifest.json").write_text(json.dumps({"complete": True}))
    return path


def test_wilson_matches_statsmodels_and_small_groups_get_wide_intervals() -> None:
    from statsmodels.stats.proportion import proportion_confint

    k, n = np.array([0, 1, 3, 40, 0]), np.array([1, 1, 10, 100, 0])
    p, lo, hi = wilson(k, n, 0.95)
    for i in range(4):
        elo, ehi = proportion_confint(k[i], n[i], alpha=0.05, method="wilson")
        assert lo[i] == pytest.approx(elo, abs=1e-12) and hi[i] == pytest.approx(ehi, abs=1e-12)
    assert hi[0] - lo[0] > 0.75  # one article: wide, not an error
    assert hi[3] - lo[3] < 0.2
    assert np.isnan(p[4]) and np.isnan(lo[4]) and np.isnan(hi[4])


def test_shares_coverage_and_periods(tmp_path: Path) -> None:
    scored = write_scored(tmp_path / "scored", scored_rows())
    res = build_report([str(scored)], tmp_path / "rep", ReportConfig(period="month"))
    cov = res.tables["coverage"].set_index("source")
    h = cov.loc["Herald"]
    assert (h["rows"], h["errors"], h["scored"]) == (7, 1, 6)
    assert (h["undated"], h["unparseable_date"], h["in_period_tables"]) == (1, 1, 4)
    assert cov.loc["(no source)", "rows"] == 1
    assert cov.loc[ALL, "rows"] == 9 and cov.loc[ALL, "errors"] == 1
    assert (res.rows, res.errors, res.undated, res.sources) == (9, 1, 2, 3)

    fs = res.tables["frame_shares_by_source"]
    herald = fs[(fs["source"] == "Herald") & (fs["measure"] == "primary")].set_index("frame")
    # 6 scored Herald rows (dated or not, error row left out): economic 3, political 2, sec 1.
    assert herald["n"].unique().tolist() == [6]
    assert herald.loc["economic", "k"] == 3 and herald.loc["political", "share"] == 2 / 6
    assert herald["share"].sum() == pytest.approx(1.0)
    pres = fs[(fs["source"] == "Herald") & (fs["measure"] == "present")].set_index("frame")
    assert pres.loc["political", "k"] == 3  # rows 1, 2 and 5

    fp = res.tables["frame_shares_by_period"]
    assert set(fp["period"]) == {"2024-01", "2024-02"}  # undated and bad dates left out
    jan = fp[(fp["source"] == "Herald") & (fp["period"] == "2024-01")]
    assert jan["n"].unique().tolist() == [3]
    prim = fp[fp["measure"] == "primary"].groupby(["source", "period"])["share"].sum()
    assert np.allclose(prim.to_numpy(), 1.0)
    allsrc = fp[(fp["source"] == ALL) & (fp["period"] == "2024-02")]
    assert allsrc["n"].unique().tolist() == [2]  # Herald's Feb article and the unsourced one

    st = res.tables["stance_by_source"]
    nato = st[(st["source"] == "Herald") & (st["target"] == "nato")].set_index("stance")
    # Herald mentions NATO in 5 scored rows: against 3, neutral 1, favor 1.
    assert nato["n"].unique().tolist() == [5] and nato["articles"].unique().tolist() == [6]
    assert nato.loc["against", "share"] == pytest.approx(0.6)
    lo, hi = nato.loc["against", ["ci_low", "ci_high"]]
    assert lo < 0.6 < hi
    courier = st[(st["source"] == "Courier") & (st["target"] == "russia")]
    assert courier["n"].unique().tolist() == [0] and courier["share"].isna().all()

    weekly = build_report([str(scored)], tmp_path / "wk", ReportConfig(period="week"))
    weeks = set(weekly.tables["frame_shares_by_period"]["period"])
    assert {"2024-01-01", "2024-01-15", "2024-01-29", "2024-02-05"} <= weeks  # Mondays


def test_html_is_self_contained_and_files_are_written(tmp_path: Path) -> None:
    scored = write_scored(tmp_path / "scored", scored_rows())
    res = build_report([str(scored)], tmp_path / "rep", ReportConfig())
    page = res.html.read_text()
    srcs = re.findall(r"src='([^']*)'", page)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in page and "<script" not in page
    assert "Rows per outlet" in page and "Herald" in page
    for name in (
        "coverage.csv",
        "frame_shares_by_source.csv",
        "frame_shares_by_period.csv",
        "stance_by_source.csv",
        "stance_by_period.csv",
        "frames_over_time.png",
        "stance_by_outlet.png",
        "stance_over_time.png",
        "report.json",
    ):
        assert (res.output / name).stat().st_size > 0, name
    assert not list(res.output.glob(".*.tmp"))


def test_incomplete_scoring_is_flagged_and_bad_input_named(tmp_path: Path) -> None:
    scored = write_scored(tmp_path / "scored", scored_rows())
    (scored / "_manifest.json").write_text(json.dumps({"complete": False}))
    res = build_report([str(scored)], tmp_path / "rep", ReportConfig())
    assert res.incomplete == [str(scored)]
    assert "INCOMPLETE INPUT" in res.html.read_text()

    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"id": ["a"], "source": ["x"], "frames": [["economic"]]}).to_parquet(bad)
    with pytest.raises(ReportError, match=r"bad\.parquet: column 'primary_frame' missing"):
        build_report([str(bad)], tmp_path / "r2", ReportConfig())
    with pytest.raises(ReportError, match="no such file"):
        build_report([str(tmp_path / "nope")], tmp_path / "r3", ReportConfig())


def test_report_is_logged_to_mlflow_and_runs_from_the_cli(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    scored = write_scored(tmp_path / "scored", scored_rows())
    res = run_report([str(scored)], tmp_path / "rep", ReportConfig())
    run = mlflow.get_run(res.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "report"
    exp = mlflow.get_experiment(run.info.experiment_id)
    assert exp.name == "mediaframe-report"
    assert run.data.tags["mediaframe.stage"] == "report"
    assert run.data.tags["mediaframe.model_version"] == "mediaframe/1"
    assert run.data.metrics["rows_error"] == 1 and run.data.metrics["rows_undated"] == 2
    client = mlflow.MlflowClient()
    top = {a.path for a in client.list_artifacts(res.run_id)}
    assert {"outlet_report.html", "tables", "plots", "report.json"} <= top
    tables = {a.path for a in client.list_artifacts(res.run_id, "tables")}
    assert "tables/stance_by_source.csv" in tables

    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--period" in capsys.readouterr().out
    out = tmp_path / "cli"
    rc = main(
        [
            "report",
            "--input",
            str(scored),
            "--output",
            str(out),
            "--period",
            "week",
            "--tracking-uri",
            tracking_uri_store,
        ]
    )
    assert rc == 0 and (out / "outlet_report.html").exists()
    assert json.loads((out / "report.json").read_text())["period"] == "week"
    assert main(["report", "--input", str(tmp_path / "nope"), "--output", str(out)]) == 2


def test_labels_parquet_is_accepted(tmp_path: Path) -> None:
    """`mediaframe label` output: no error or model_version columns, a label_source one."""
    rows = [r for r in scored_rows() if r["error"] is None]
    for r in rows:
        del r["error"], r["model_version"]
        r["label_source"] = "gold"
    schema = arrow_schema(FRAMES, TARGETS, STANCE_LABELS, {"label_source": pa.string()})
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    res = build_report([str(path)], tmp_path / "rep", ReportConfig())
    assert (res.rows, res.errors, res.sources) == (8, 0, 3)
    assert res.model_versions == []
    st = res.tables["stance_by_source"]
    assert set(st["target"]) == set(TARGETS)


def test_outlet_names_are_text_not_mathtext(tmp_path: Path) -> None:
    """`$...$` in an outlet name or a frame label is drawn as it is, not parsed as math."""
    from pipelines.evaluate import plot_per_label

    rows = scored_rows()
    rows[7]["source"] = r"A $\frac$ B"
    rows[8]["source"] = "$x^$ Daily"
    res = build_report([str(write_scored(tmp_path / "s", rows))], tmp_path / "r", ReportConfig())
    assert r"A $\frac$ B" in set(res.tables["coverage"]["source"])
    assert (res.output / "frames_over_time.png").stat().st_size > 0
    png = plot_per_label(pd.DataFrame({"label": ["$x^$", "b"], "f1": [0.5, 0.7]}))
    assert png.startswith(b"\x89PNG")
