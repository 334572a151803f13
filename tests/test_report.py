"""`mediaframe report`: shares, intervals, coverage of bad rows, the HTML page, MLflow."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
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
from pipelines.report import (
    ALL,
    FUTURE,
    ReportError,
    _panels,
    _periods,
    _target_names,
    build_report,
    run_report,
    wilson,
)
from pipelines.report_html import _stance_wide

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
    mixed = [*scored_rows(), scored_rows()[0]]  # d0 twice
    mixed[-2]["model_version"] = "mediaframe/2"
    capsys.readouterr()
    rc = main(
        [
            "report",
            "--input",
            str(write_scored(tmp_path / "mixed", mixed)),
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
    err = capsys.readouterr().err
    assert "warning: rows scored by 2 model versions" in err
    assert "warning: 1 rows repeat an id" in err
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


def test_dates_bucket_in_their_own_offset_and_any_valid_date_parses(tmp_path: Path) -> None:
    """A date's week or month is the one where it was written (not UTC); ISO dates outside
    pandas' 1677-2262 range and RFC 2822 dates parse; dates after the run are flagged."""
    dates = [
        "2024-01-31T23:30:00-05:00",  # UTC: 1 Feb
        "2024-02-01T00:30:00+02:00",  # UTC: 31 Jan
        "Tue, 30 Jan 2024 23:30:00 -0500",  # RFC 2822, UTC: 31 Jan
        "1500-03-01",
        "2999-06-15T08:00:00Z",  # after any run of this test
    ]
    rows = [
        _row(i, "Herald", d, "economic", ["economic"], "favor", "against")
        for i, d in enumerate(dates)
    ]
    res = build_report([str(write_scored(tmp_path / "s", rows))], tmp_path / "m", ReportConfig())
    fp = res.tables["frame_shares_by_period"]
    herald = fp[(fp["source"] == "Herald") & (fp["measure"] == "primary")]
    n = herald.groupby("period")["n"].first().to_dict()
    assert n == {"1500-03": 1, "2024-01": 2, "2024-02": 1}
    cov = res.tables["coverage"].set_index("source").loc["Herald"]
    assert (cov["unparseable_date"], cov["future_date"], cov["in_period_tables"]) == (0, 1, 4)
    assert FUTURE not in set(fp["period"]) and res.future == 1
    summary = json.loads((res.output / "report.json").read_text())
    assert summary["future_dates"] == 1
    assert summary["run_date"] == datetime.now(UTC).date().isoformat()
    assert any("1 rows are dated after the run" in w for w in summary["warnings"])
    assert "dated after the run" in res.html.read_text()

    # Past pandas' upper bound, and the run's own day (the run at 06:00 UTC on it).
    now = datetime(2400, 1, 1, 6, 0, tzinfo=UTC)
    more = ["2300-06-15T08:00:00Z", "2400-01-01", "2400-01-01T12:00:00+00:00", "2400-01-02"]
    got = _periods(pd.Series(more), "month", now).tolist()
    assert got == ["2300-06", "2400-01", FUTURE, FUTURE]
    # Sunday night in New York is Monday in UTC; Monday morning in Kyiv is Sunday in UTC.
    edge = pd.Series(["2024-01-28T23:30:00-05:00", "2024-01-29T00:30:00+02:00"])
    assert _periods(edge, "week", now).tolist() == ["2024-01-22", "2024-01-29"]


def test_repeated_ids_are_dropped_and_mixed_versions_counted(tmp_path: Path) -> None:
    """Duplicates within a batch and across files are left out (first kept) and counted;
    rows of several model versions are counted per version and warned about."""
    rows = scored_rows()
    again = dict(rows[0], source="Courier", model_version="mediaframe/2")  # d0 read before
    new = _row(9, "Courier", "2024-01-05", "economic", ["economic"], "favor", "favor")
    new["model_version"] = "mediaframe/2"
    scored = write_scored(tmp_path / "s", [*rows, again, new, dict(new)])
    res = build_report([str(scored)], tmp_path / "r", ReportConfig(batch_rows=2))
    cov = res.tables["coverage"].set_index("source")
    assert res.rows == 10 and res.duplicates == 2
    assert cov.loc["Herald", "rows"] == 7 and cov.loc["Courier", "rows"] == 2
    summary = json.loads((res.output / "report.json").read_text())
    assert summary["duplicate_ids"] == 2
    assert summary["rows_per_model_version"] == {"mediaframe/1": 9, "mediaframe/2": 1}
    assert res.model_versions == ["mediaframe/1", "mediaframe/2"]
    assert any("2 model versions" in w for w in res.warnings)
    assert any("2 rows repeat an id" in w for w in res.warnings)
    page = res.html.read_text()
    assert page.count("<h2>Warning</h2>") == 2


def test_an_outlet_named_like_the_total_stays_an_outlet(tmp_path: Path) -> None:
    rows = scored_rows()
    rows[7]["source"] = ALL  # Courier's one article, under the total's display name
    res = build_report([str(write_scored(tmp_path / "s", rows))], tmp_path / "r", ReportConfig())
    cov = res.tables["coverage"]
    assert cov["total"].sum() == 1 and res.sources == 3
    outlet = cov[(cov["source"] == ALL) & ~cov["total"]].iloc[0]
    total = cov[cov["total"]].iloc[0]
    assert (outlet["rows"], total["rows"]) == (1, 9)
    assert {(True, ALL), (False, ALL)} <= set(_panels(cov, 12))  # a plot panel each
    fs = res.tables["frame_shares_by_source"]
    mine = fs[(fs["source"] == ALL) & ~fs["total"] & (fs["measure"] == "primary")]
    assert mine["n"].unique().tolist() == [1]
    assert mine.set_index("frame").loc["security_and_defense", "share"] == 1.0
    st = res.tables["stance_by_period"]
    assert st[st["total"]]["source"].unique().tolist() == [ALL]
    assert len(st[(st["source"] == ALL) & ~st["total"]]) > 0


def test_stance_table_names_targets_and_states_the_lead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stance table shows each target by its name from the stance spec and fills the
    ``stance`` column; the report plots stance over time with intervals."""
    spec = tmp_path / "targets.yaml"
    spec.write_text(
        "targets:\n  nato: {name: the Alliance, aliases: [NATO]}\n"
        "  russia: {name: the Russian Federation, aliases: [Russia]}\n"
    )
    gazette = [
        _row(100 + i, "Gazette", "2024-01-10", "economic", ["economic"], "against", "neutral")
        for i in range(20)
    ]
    scored = write_scored(tmp_path / "s", scored_rows() + gazette)
    res = build_report([str(scored)], tmp_path / "r", ReportConfig(stance=str(spec)))
    wide = _stance_wide(res.tables["stance_by_source"])
    assert list(wide.columns[:5]) == ["target", "total", "source", "mentioning", "stance"]
    assert set(wide["target"]) == {"the Alliance", "the Russian Federation"}
    lead = wide.set_index(["target", "source"])["stance"]
    assert lead[("the Alliance", "Gazette")] == "against"
    assert lead[("the Russian Federation", "Gazette")] == "neutral"
    assert lead[("the Alliance", "Herald")] == "no clear lead"  # 3 of 5: wide intervals
    assert lead[("the Alliance", "(no source)")] == "-"  # no mention
    assert wide.iloc[0]["total"]  # the total first under each target
    page = res.html.read_text()
    assert "<td>the Alliance</td>" in page and "<td>nato</td>" not in page
    assert "<th></th>" not in page  # no empty, unnamed header column
    assert "Stance over time, per outlet and month" in page

    by_period = res.tables["stance_by_period"]
    g = by_period[(by_period["source"] == "Gazette") & (by_period["target"] == "nato")]
    against = g[g["stance"] == "against"].iloc[0]
    assert (against["k"], against["n"], against["target_name"]) == (20, 20, "the Alliance")
    assert 0.8 < against["ci_low"] < 1.0 == against["ci_high"]
    assert (res.output / "stance_over_time.png").stat().st_size > 5000

    with pytest.raises(ReportError, match=r"nope\.yaml"):
        build_report(
            [str(scored)], tmp_path / "r2", ReportConfig(stance=str(tmp_path / "nope.yaml"))
        )
    monkeypatch.chdir(tmp_path)  # the built-in default names its targets from any folder
    assert _target_names(ReportConfig())["nato"] == "NATO"
    assert _target_names(ReportConfig(stance=None)) == {}  # null: targets keep their keys
