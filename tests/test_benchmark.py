"""`mediaframe benchmark`: adapters on hand-written rows in each release's format, the split
policy, the JSON/MLflow contract on a tiny synthetic dataset, and (integration) the real
GVFC training release when ../shared/datasets is present."""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import mlflow
import numpy as np
import pytest

from bench import command
from bench.adapters import ADAPTERS, DatasetError
from bench.adapters.base import complement, group_cut, stratified_cut
from bench.adapters.gvfc import GvfcAdapter
from bench.adapters.semeval2023 import Semeval2023Adapter, SemevalOptions
from bench.weak import WeakConfig, weak_examples
from tests.conftest import ROOT, SHARED


def run_cli(argv: list[str]) -> int:
    """``mediaframe benchmark ...`` through the plugin's own parser and ``run``, as the CLI
    calls it once it loads the ``mediaframe.commands`` entry points."""
    assert argv[0] == command.NAME
    parser = argparse.ArgumentParser(prog=f"mediaframe {command.NAME}")
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv[1:]))


GVFC_COLUMNS = [
    "id",
    "article_url",
    "headline",
    "google_visual_api_web_entities_detection_on_lead_image",
    "automatically_generated_caption_of_lead_image",
    "lead_3_sentences_summary_of_full_article_text",
    "presum_summary_of_full_article_text",
    "Q1 Relevant",
    "Q2 Focus",
    "Q3 Theme1",
    "Q3 Theme2",
    "V1image",
    "V2ethnicity",
    "V3relevance",
    "V4relevance",
    "Q4 Image1",
    "Q4 Image2",
]


def write_gvfc(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """rows: (id, headline, lead, Q3 Theme1) in the multimodal extension's format."""
    path.mkdir(parents=True, exist_ok=True)
    f = path / "GVFC_extension_multimodal.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, GVFC_COLUMNS)
        w.writeheader()
        for i, head, lead, code in rows:
            row = dict.fromkeys(GVFC_COLUMNS, "")
            row.update(
                {
                    "id": i,
                    "article_url": f"https://example.org/{i}",
                    "headline": head,
                    "lead_3_sentences_summary_of_full_article_text": lead,
                    "Q1 Relevant": "1",
                    "Q2 Focus": "1",
                    "Q3 Theme1": code,
                    "Q3 Theme2": "99",
                }
            )
            w.writerow(row)
    return f


def write_semeval(path: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    """rows: (id, text, frames) in en_train.csv's format (title = the text's first line)."""
    path.mkdir(parents=True, exist_ok=True)
    f = path / name
    with f.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "text", "frames"])
        for i, text, frames in rows:
            w.writerow([i, text.split("\n")[0], text, frames])
    return f


# ============================================================================ adapters
def test_gvfc_adapter_reads_headlines_codes_and_leads(tmp_path: Path) -> None:
    write_gvfc(
        tmp_path,
        [
            ("1", "Florida shooter a troubled loner", "He was expelled. Police said.", "4"),
            ("2", "NRA sues over new gun law", "", "1"),
            ("3", "Unframed story", "x", "99"),
            ("4", "Shooting costs the city millions", "Budget hit.", "9"),
        ],
    )
    a = GvfcAdapter()
    ex = a.read_pool(tmp_path, a.options({}))
    assert ex.ids == ["gvfc:1", "gvfc:2", "gvfc:4"]  # 99 = no frame: not in the task
    assert ex.texts[0] == "Florida shooter a troubled loner"
    labels = a.spec(a.options({})).labels
    assert [labels[i] for i in ex.y] == ["mental_health", "gun_rights", "economic_consequences"]
    lead = a.read_pool(tmp_path, a.options({"input": "headline_lead"}))
    assert lead.texts[0] == "Florida shooter a troubled loner\n\nHe was expelled. Police said."
    assert lead.texts[1] == "NRA sues over new gun law"  # no lead: the headline alone


def test_gvfc_lead_examples_add_training_items_only_for_the_named_family(tmp_path: Path) -> None:
    write_gvfc(
        tmp_path,
        [
            ("1", "Florida shooter a troubled loner", "He was expelled. Police said.", "4"),
            ("2", "NRA sues over new gun law", "", "1"),
            ("4", "Shooting costs the city millions", "Budget hit.", "9"),
        ],
    )
    a = GvfcAdapter()
    opts = a.options({"lead_examples": ["baseline"]})
    train = a.read_pool(tmp_path, opts).subset([0, 1])  # article 4 is not in this part
    out = a.extra_train(train, tmp_path, opts, "baseline")
    # the headlines stay first; article 2 has no lead, so nothing new to add for it
    assert out.ids == ["gvfc:1", "gvfc:2", "gvfc:1#lead"]
    assert out.texts[2] == "Florida shooter a troubled loner\n\nHe was expelled. Police said."
    assert list(out.y) == [3, 0, 3]
    assert a.extra_train(train, tmp_path, opts, "transformer") is train
    assert a.extra_train(train, tmp_path, a.options({}), "baseline") is train
    with pytest.raises(ValueError, match="lead_examples"):
        a.options({"lead_examples": ["weak"]})


def test_gvfc_adapter_names_file_row_and_field(tmp_path: Path) -> None:
    f = write_gvfc(tmp_path, [("1", "ok headline", "", "2"), ("2", "bad code", "", "12")])
    a = GvfcAdapter()
    with pytest.raises(
        DatasetError, match=r"GVFC_extension_multimodal.csv: row 3: field 'Q3 Theme1'"
    ):
        a.read_pool(tmp_path, a.options({}))
    f.write_text("id,headline\n1,x\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['Q3 Theme1'\]"):
        a.read_pool(tmp_path, a.options({}))
    with pytest.raises(ValueError, match="input"):
        a.options({"input": "body"})


def test_semeval_adapter_maps_frames_onto_the_mfc_codebook(tmp_path: Path) -> None:
    write_semeval(
        tmp_path,
        "en_train.csv",
        [
            ("111", "Plague outbreak\n\nThe WHO warned.", "Health_and_safety,Quality_of_life"),
            ("222", "Court rules\n\nJudges said.", "Legality_Constitutionality_and_jurisprudence"),
        ],
    )
    a = Semeval2023Adapter()
    opts = SemevalOptions(codebook=str(ROOT / "configs/codebooks/mfc.yaml"))
    spec = a.spec(opts)
    assert len(spec.labels) == 14 and "other" not in spec.labels
    ex = a.read_pool(tmp_path, opts)
    assert ex.ids == ["semeval2023:111", "semeval2023:222"]
    assert ex.texts[0].startswith("Plague outbreak")
    on = [[spec.labels[j] for j in np.nonzero(r)[0]] for r in ex.y]
    assert on == [
        ["health_and_safety", "quality_of_life"],
        ["legality_constitutionality_and_jurisprudence"],
    ]
    write_semeval(tmp_path, "en_test.csv", [("9", "Text", "Economic,Propaganda")])
    with pytest.raises(DatasetError, match=r"en_test.csv: row 2: field 'frames': unknown frame"):
        a.read_tests(tmp_path, opts)


def test_cuts_are_seeded_stratified_and_group_safe() -> None:
    strata = ["a"] * 50 + ["b"] * 10 + ["c"] * 2
    cut = stratified_cut(strata, 0.2, 7)
    assert np.array_equal(cut, stratified_cut(strata, 0.2, 7))
    picked = [strata[i] for i in cut]
    assert picked.count("a") == 10 and picked.count("b") == 2 and picked.count("c") == 1
    groups = [f"body{i // 3}" for i in range(30)]
    g = group_cut(groups, 0.3, 1)
    inside = {groups[i] for i in g}
    outside = {groups[i] for i in complement(30, g)}
    assert len(inside) == 3 and not inside & outside


# ============================================================================ synthetic data
VOCAB = {
    "1": ["second amendment", "gun rights", "nra", "carry permit"],
    "2": ["gun control", "background checks", "assault weapons ban", "regulation"],
    "3": ["senate", "democrats", "republicans", "campaign"],
    "4": ["mental health", "troubled loner", "psychiatric", "depression"],
    "5": ["school safety", "campus security", "armed guards", "lockdown drill"],
    "6": ["racial", "black community", "ethnicity", "hate crime"],
    "7": ["poll", "protest", "students march", "public opinion"],
    "8": ["video games", "culture", "hollywood", "society"],
    "9": ["costs", "insurance", "gun sales", "stock"],
}


def synthetic_gvfc(path: Path, per_frame: int, seed: int) -> None:
    rng = random.Random(seed)
    filler = ["after", "shooting", "in", "town", "officials", "say", "new", "report"]
    rows = []
    for code, words in VOCAB.items():
        for k in range(per_frame):
            head = " ".join(rng.sample(words, 2) + rng.sample(filler, 3))
            rows.append((f"{code}-{k}-{seed}", head.capitalize(), "", code))
    rng.shuffle(rows)
    write_gvfc(path, rows)


def test_benchmark_command_json_and_mlflow_contract(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "gvfc"
    synthetic_gvfc(data, 12, 1)
    out = tmp_path / "res.json"
    rc = run_cli(
        [
            "benchmark",
            "gvfc",
            "--data-dir",
            str(data),
            "--config",
            str(ROOT / "configs/bench/gvfc.yaml"),
            "--set",
            "bootstrap=200",
            "--set",
            "cv.k=3",
            "--set",
            "cv.repeats=2",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "accuracy (primary)" in printed and "trivial" in printed
    res = json.loads(out.read_text())
    for key in (
        "dataset",
        "model",
        "split",
        "metrics",
        "primary_metric",
        "ci95",
        "n_train",
        "n_test",
        "subsample",
        "train_seconds",
        "predict_seconds",
        "peak_rss_mb",
    ):
        assert key in res, key
    assert (res["dataset"], res["model"], res["split"]) == ("gvfc", "baseline", "dev")
    assert set(res["metrics"]) == {"accuracy", "macro_f1"}
    assert res["primary_metric"] == "accuracy"
    lo, hi = res["ci95"]["accuracy"]
    assert lo <= res["metrics"]["accuracy"] <= hi
    assert res["n_train"] + res["n_tune"] + res["n_test"] == 9 * 12
    assert res["n_test"] == 9 * round(12 * 0.2)  # stratified: 20% of each frame
    # distinctive words per frame: a real model is far above the majority class
    assert res["metrics"]["accuracy"] > res["trivial"]["accuracy"] + 0.3
    assert res["peak_rss_mb"] > 0 and res["train_seconds"] > 0

    exp = mlflow.get_experiment_by_name("benchmark-gvfc")
    assert exp is not None
    (run,) = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert run.info.status == "FINISHED" and run.info.run_id == res["run_id"]
    assert run.data.metrics["accuracy"] == pytest.approx(res["metrics"]["accuracy"])
    assert "trivial_accuracy" in run.data.metrics and "accuracy_ci_low" in run.data.metrics
    assert run.data.params["baseline.char_ngrams"] == "True"
    assert run.data.params["adapter.input"] == "headline"
    assert "transformer.max_length" not in run.data.params
    # the repeated grouped CV over the training release, beside the fixed split's figure
    cv = res["cv"]
    assert (cv["k"], cv["repeats"], cv["n"]) == (3, 2, 9 * 12)
    assert set(cv["mean"]) == set(cv["sd"]) == {"accuracy", "macro_f1"}
    assert len(cv["folds"]) == 6 and sum(f["n_test"] for f in cv["folds"]) == 2 * 9 * 12
    assert cv["mean"]["accuracy"] > cv["trivial"]["mean"]["accuracy"] + 0.3
    assert 0 <= cv["sd"]["accuracy"] < 0.3
    assert run.data.metrics["cv_mean_accuracy"] == pytest.approx(cv["mean"]["accuracy"])
    assert "cv 3x2 mean ± sd" in printed

    # the held-out run: train on the whole release minus dev, score the test files
    test = tmp_path / "gvfc-test"
    synthetic_gvfc(test, 3, 2)
    rc = run_cli(
        [
            "benchmark",
            "gvfc",
            "--data-dir",
            str(data),
            "--test-dir",
            str(test),
            "--set",
            "bootstrap=50",
            "--set",
            "subsample=40",
            "--set",
            "cv.k=2",
            "--set",
            "cv.repeats=1",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["split"] == "test" and res["n_test"] == 27
    assert res["n_train"] == 40 and res["subsample"] == 40
    assert res["cv"]["n"] == 40 + res["n_tune"]  # the test files never enter the CV


def test_benchmark_errors_are_one_clear_line(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "gvfc"
    synthetic_gvfc(data, 4, 1)
    rc = run_cli(["benchmark", "gvfc", "--data-dir", str(data), "--set", "adapter.input=body"])
    assert rc == 2 and "key 'adapter'" in capsys.readouterr().err
    rc = run_cli(["benchmark", "gvfc", "--data-dir", str(data), "--test-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "GVFC_extension_multimodal.csv: file not found" in err
    rc = run_cli(["benchmark", "gvfc", "--data-dir", str(data), "--labels", "weak"])
    assert rc == 2 and "--labels weak needs a multi-label dataset" in capsys.readouterr().err
    assert mlflow.get_experiment_by_name("benchmark-gvfc") is None  # all before any run


def test_a_run_that_fails_midway_is_failed_in_mlflow(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "gvfc"
    synthetic_gvfc(data, 4, 1)
    args = ["benchmark", "gvfc", "--data-dir", str(data), "--family", "transformer"]
    rc = run_cli([*args, "--set", f"transformer.model_name_or_path={tmp_path / 'no-model'}"])
    assert rc == 2 and "no-model" in capsys.readouterr().err
    exp = mlflow.get_experiment_by_name("benchmark-gvfc")
    runs = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert not (tmp_path / "bench/results/quality-gvfc-transformer-dev.json").exists()


def test_weak_labels_come_from_the_labeling_functions_not_gold(tmp_path: Path) -> None:
    """Gold here is deliberately wrong: the weak examples must ignore it."""
    econ = (
        "Inflation and food prices rose again as the economy slowed, tariffs hurt exporters "
        "and the central bank raised interest rates; wages lag and unemployment climbs."
    )
    court = (
        "The supreme court ruled the law unconstitutional; judges said the lawsuit and the "
        "appeal raise questions of legal jurisdiction and due process."
    )
    write_semeval(
        tmp_path, "en_train.csv", [("1", f"Prices\n\n{econ}", "Morality"), ("2", court, "Morality")]
    )
    a = Semeval2023Adapter()
    opts = SemevalOptions(codebook=str(ROOT / "configs/codebooks/mfc.yaml"))
    spec = a.spec(opts)
    gold = a.read_pool(tmp_path, opts)
    wcfg = WeakConfig(
        codebook=str(ROOT / "configs/codebooks/mfc.yaml"), stance=str(ROOT / "configs/stance.yaml")
    )
    weak = weak_examples(gold, spec, wcfg)
    on = [{spec.labels[j] for j in np.nonzero(r)[0]} for r in weak.y]
    assert "economic" in on[0] and "morality" not in on[0]
    assert "legality_constitutionality_and_jurisprudence" in on[1]
    assert weak.ids == gold.ids and weak.weights is not None


def econ_or_court_rows(econ_frames: str, n: int = 30) -> list[tuple[str, str, str]]:
    """SemEval rows alternating an economy story (``econ_frames``) and a court story."""
    rows = []
    for i in range(n):
        econ = i % 2 == 0
        body = (
            "Inflation, prices and the economy: tariffs hurt exporters and investors."
            if econ
            else "The court ruled the law unconstitutional after a lawsuit and an appeal."
        )
        frames = econ_frames if econ else "Legality_Constitutionality_and_jurisprudence"
        rows.append((str(i), f"Story {i}\n\n{body} Item {i}.", frames))
    return rows


def test_weak_run_keeps_the_gold_trivial_reference(tmp_path: Path, tracking_uri_store: str) -> None:
    """Same reference as the gold-trained models, though the model never saw gold."""
    rows = econ_or_court_rows("Economic,Political")
    data = tmp_path / "semeval"
    write_semeval(data, "en_train.csv", rows)
    codebook = str(ROOT / "configs/codebooks/mfc.yaml")
    results = {}
    for model in ("gold", "weak"):
        out = tmp_path / f"{model}.json"
        args = ["benchmark", "semeval2023", "--data-dir", str(data), "--labels", model]
        sets = [
            f"adapter.codebook={codebook}",
            f"weak.codebook={codebook}",
            f"weak.stance={ROOT / 'configs/stance.yaml'}",
            "bootstrap=50",
            "cv.k=2",
            "cv.repeats=1",
        ]
        assert run_cli([*args, *[x for s in sets for x in ("--set", s)], "--output", str(out)]) == 0
        results[model] = json.loads(out.read_text())
    assert results["weak"]["trivial"] == results["gold"]["trivial"]
    # CV on the same gold folds: the same reference; the weak model scored on gold too
    cv_gold, cv_weak = results["gold"]["cv"], results["weak"]["cv"]
    assert cv_weak["trivial"] == cv_gold["trivial"]
    assert [f["test_digest"] for f in cv_weak["folds"]] == [
        f["test_digest"] for f in cv_gold["folds"]
    ]
    assert results["weak"]["n_train"] == results["gold"]["n_train"]
    assert (results["gold"]["model"], results["weak"]["model"]) == ("baseline", "weak")
    assert "no gold" in results["weak"]["model_detail"]


def test_weak_unlabeled_texts_are_labelled_and_added_to_training(
    tmp_path: Path, tracking_uri_store: str
) -> None:
    """`weak.unlabeled`: more texts for the weak model; a label column there is never read."""
    rows = econ_or_court_rows("Economic")
    data = tmp_path / "semeval"
    write_semeval(data, "en_train.csv", rows)
    extra = [(f"u{i}", f"Extra {i}\n\n{rows[i][1]}", "Not_a_frame") for i in range(8)]
    write_semeval(data, "en_dev_unlabeled.csv", extra)  # a bad label: must not be read
    codebook = str(ROOT / "configs/codebooks/mfc.yaml")
    sets = [
        f"adapter.codebook={codebook}",
        f"weak.codebook={codebook}",
        f"weak.stance={ROOT / 'configs/stance.yaml'}",
        "bootstrap=50",
        "cv.enabled=false",
    ]
    args = ["benchmark", "semeval2023", "--data-dir", str(data), "--labels", "weak"]
    args += [x for s in sets for x in ("--set", s)]
    plain, more = tmp_path / "plain.json", tmp_path / "more.json"
    assert run_cli([*args, "--output", str(plain)]) == 0
    with_extra = ["--set", "weak.unlabeled=[en_dev_unlabeled.csv]", "--output", str(more)]
    assert run_cli([*args, *with_extra]) == 0
    a, b = json.loads(plain.read_text()), json.loads(more.read_text())
    assert b["n_train"] == a["n_train"] + len(extra)
    assert b["n_test"] == a["n_test"] and b["trivial"] == a["trivial"]  # gold reference kept
    assert "en_dev_unlabeled.csv" in b["model_detail"]
    assert run_cli([*args, "--set", "weak.unlabeled=[missing.csv]"]) == 2

    # weak+gold: the gold training set plus the weakly labelled unlabelled texts
    both = tmp_path / "both.json"
    args[args.index("weak")] = "weak+gold"
    cv_on = ["--set", "cv.enabled=true", "--set", "cv.k=2", "--set", "cv.repeats=1"]
    assert run_cli([*args, *with_extra[:2], *cv_on, "--output", str(both)]) == 0
    c = json.loads(both.read_text())
    assert all(f["n_extra"] == len(extra) for f in c["cv"]["folds"])  # weak texts train
    assert sum(f["n_test"] for f in c["cv"]["folds"]) == len(rows)  # and never score
    assert c["model"] == "baseline-weak+gold" and c["labels"] == "weak+gold"
    assert c["n_train"] == b["n_train"] and c["n_tune"] == a["n_tune"]
    assert "gold + " in c["model_detail"] and c["trivial"] == a["trivial"]
    assert run_cli(args) == 2  # weak+gold with no unlabelled texts


def test_old_model_flag_still_works_with_a_deprecation_warning(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["benchmark", "gvfc", "--data-dir", str(tmp_path / "g"), "--set", "bootstrap=20"]
    args += ["--set", "cv.enabled=false"]
    synthetic_gvfc(tmp_path / "g", 4, 1)
    with pytest.warns(DeprecationWarning, match="use --family baseline"):
        assert run_cli([*args, "--model", "baseline", "--output", str(tmp_path / "o.json")]) == 0
    assert "--model baseline is deprecated; use --family baseline" in capsys.readouterr().err
    assert json.loads((tmp_path / "o.json").read_text())["model"] == "baseline"
    with pytest.warns(DeprecationWarning, match="--family baseline --labels weak"):
        assert run_cli([*args, "--model", "weak"]) == 2  # gvfc is not multi-label
    assert run_cli([*args, "--model", "weak", "--family", "baseline"]) == 2


def test_registry_names_the_issue_datasets() -> None:
    assert {"gvfc", "semeval2023"} <= set(ADAPTERS)
    for name, a in ADAPTERS.items():
        assert a.name == name and a.primary_metric and a.test_files


# ============================================================================ real data
@pytest.mark.integration
@pytest.mark.skipif(not (SHARED / "gvfc").exists(), reason="needs ../shared/datasets/gvfc")
def test_gvfc_baseline_on_the_real_training_release(
    tmp_path: Path, tracking_uri_store: str
) -> None:
    out = tmp_path / "gvfc.json"
    rc = run_cli(
        [
            "benchmark",
            "gvfc",
            "--data-dir",
            str(SHARED / "gvfc"),
            "--config",
            str(ROOT / "configs/bench/gvfc.yaml"),
            "--set",
            "bootstrap=200",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    extra = res.get("notes", {}).get("extra_train_examples", 0)  # headline + lead items
    assert res["n_train"] - extra + res["n_tune"] + res["n_test"] == 1040  # the release's 80%
    assert res["n_test"] == 208
    assert res["metrics"]["accuracy"] > res["trivial"]["accuracy"] + 0.3


# ============================================================================ sample corpus
def write_sample(root: Path, n_per_outlet: int = 3, outlets: int = 4) -> None:
    """The bundled corpus's layout: articles/*.jsonl and gold/gold.jsonl."""
    (root / "articles").mkdir(parents=True)
    (root / "gold").mkdir()
    arts, gold = [], []
    for o in range(outlets):
        for k in range(n_per_outlet):
            sid = f"x-{o}-{k}"
            sec = (o + k) % 2 == 0
            arts.append(
                {
                    "source_id": sid,
                    "title": f"Story {sid}",
                    "text": "NATO troops at the border." if sec else "Bread prices rise again.",
                    "source": f"Outlet {o}",
                }
            )
            gold.append(
                {
                    "id": f"id{o}{k}",
                    "source_id": sid,
                    "frames": ["security_and_defense"] if sec else ["economic"],
                    "stance": {"nato": "favor" if o % 2 else "against", "us": "not_mentioned"},
                }
            )
    (root / "articles/batch_x.jsonl").write_text("\n".join(json.dumps(a) for a in arts) + "\n")
    (root / "gold/gold.jsonl").write_text("\n".join(json.dumps(g) for g in gold) + "\n")


def test_sample_adapters_read_frames_and_stance_pairs_grouped_by_outlet(tmp_path: Path) -> None:
    write_sample(tmp_path)
    frames, stance = ADAPTERS["sample"], ADAPTERS["sample-stance"]
    fo = frames.options({"codebook": str(ROOT / "configs/codebooks/mfc.yaml")})
    ex = frames.read_pool(tmp_path, fo)
    labels = frames.spec(fo).labels
    assert len(ex) == 12 and ex.ids[0] == "id00" and ex.texts[0].startswith("Story x-0-0\n\n")
    assert labels[int(np.argmax(ex.y[0]))] == "security_and_defense"
    assert sorted(set(ex.groups or [])) == [f"Outlet {o}" for o in range(4)]
    so = stance.options({"stance": str(ROOT / "configs/stance.yaml")})
    pairs = stance.read_pool(tmp_path, so)
    assert len(pairs) == 12 and pairs.ids[0] == "id00:nato"  # not_mentioned is no example
    assert pairs.targets == ["nato"] * 12 and stance.primary_metric == "macro_f1"
    dev = frames.dev_indices(ex, frames.spec(fo), 0.5, 1)
    assert len({ex.groups[i] for i in dev}) == 2  # whole outlets
    (tmp_path / "gold/gold.jsonl").write_text('{"id": "z", "source_id": "nope"}\n')
    with pytest.raises(DatasetError, match=r"gold\.jsonl: row 1: field 'source_id'"):
        frames.read_pool(tmp_path, fo)


def test_sample_adapter_reads_the_bundled_corpus() -> None:
    a = ADAPTERS["sample"]
    ex = a.read_pool(
        ROOT / "data", a.options({"codebook": str(ROOT / "configs/codebooks/mfc.yaml")})
    )
    assert len(ex) == 160 and len(set(ex.groups or [])) == 10


def test_curve_json_plot_and_mlflow_run(
    tmp_path: Path, tracking_uri_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "gvfc"
    synthetic_gvfc(data, 8, 1)
    out = tmp_path / "curve.json"
    args = ["benchmark", "gvfc", "--data-dir", str(data), "--set", "cv.enabled=false"]
    assert run_cli([*args, "--curve", "20,all", "--output", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"dataset", "split", "primary_metric", "curve"}
    assert (res["dataset"], res["split"], res["primary_metric"]) == ("gvfc", "dev", "accuracy")
    assert [(e["gold"], e["seed"]) for e in res["curve"]] == [
        (g, s) for g in (20, "all") for s in (13, 14, 15)
    ]
    for e in res["curve"]:
        assert set(e) == {"gold", "family", "labels", "seed", "metrics"}
        assert (e["family"], e["labels"]) == ("baseline", "gold")
        assert set(e["metrics"]) == {"accuracy", "macro_f1"}
    full = [e["metrics"]["accuracy"] for e in res["curve"] if e["gold"] == "all"]
    assert np.mean(full) > 1 / 9 + 0.3  # distinctive words: far above chance
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "learning curve on dev" in printed and "all" in printed
    exp = mlflow.get_experiment_by_name("benchmark-gvfc")
    (run,) = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert run.info.run_name == "gvfc-baseline-dev-curve"
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert "curve.json" in arts and "plots" in arts
    assert run_cli([*args, "--curve", "20,lots"]) == 2
    assert "'lots' is not a gold budget" in capsys.readouterr().err
