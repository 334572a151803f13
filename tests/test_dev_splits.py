"""Dev splits and CV folds that predict test (#23): each adapter's group key, and FNC-1
disjoint in headlines *and* bodies, on tiny files shaped like each release's."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from bench.adapters import get_adapter
from bench.adapters.fnc1 import FNC_TEST, FNC_TRAIN, claim_topics
from bench.adapters.newsmtsc import document_of, shaped_like, story_of
from models.data import Examples
from models.selection import CVPlan, make_folds, primary_strata
from tests.test_benchmark import ROOT, run_cli

STANCES = ["agree", "disagree", "discuss"]


def synthetic_fnc(d: Path, n_topics: int = 12, seed: int = 3, files=FNC_TRAIN) -> list[tuple]:
    """FNC-1-shaped files: per claim topic 2 headlines and 3 bodies, every in-topic pair
    related (agree/disagree/discuss), plus each body paired as unrelated with 4 random
    headlines of other topics, as the release's unrelated pairs were made."""
    rng = random.Random(seed)
    heads, bodies, rows = [], [], []
    for t in range(n_topics):
        th = [f"Claim {t} number {j} about thing{t}" for j in range(2)]
        tb = [(f"{t * 10 + j}", f"Body {j} reports thing{t} and more.") for j in range(3)]
        heads.append(th)
        bodies.extend(tb)
        for h in th:
            for bid, _ in tb:
                rows.append((h, bid, rng.choice(STANCES)))
    for bid, _ in bodies:
        t = int(bid) // 10
        others = [h for u, hs in enumerate(heads) if u != t for h in hs]
        rows.extend((h, bid, "unrelated") for h in rng.sample(others, 4))
    rng.shuffle(rows)
    d.mkdir(parents=True, exist_ok=True)
    with (d / files[0]).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Headline", "Body ID", "Stance"])
        w.writerows(rows)
    with (d / files[1]).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Body ID", "articleBody"])
        w.writerows(bodies)
    return rows


def _bodies(ex) -> set[str]:
    return set(ex.texts)


def test_claim_topics_join_related_pairs_only() -> None:
    t = claim_topics(["A", "A", "B", "B"], ["1", "2", "2", "3"], [0, 2, 3, 1])
    assert t["h:A"] == t["b:1"] == t["b:2"]  # A is related to bodies 1 and 2
    assert t["h:B"] == t["b:3"] != t["h:A"]  # B's unrelated pair with body 2 joins nothing


def test_fnc1_dev_split_shares_no_headline_and_no_body_with_train(tmp_path: Path) -> None:
    rows = synthetic_fnc(tmp_path)
    fnc = get_adapter("fnc1")
    data = fnc.load(tmp_path, None, fnc.options({}), 0.25, 13)
    dev = data.scored[""]
    fit_heads = set(data.train.targets) | set(data.tuning.targets)
    fit_bodies = _bodies(data.train) | _bodies(data.tuning)
    assert len(dev) and len(data.train)
    assert not set(dev.targets) & fit_heads  # the old Body-ID cut shared nearly all
    assert not _bodies(dev) & fit_bodies
    # dev keeps the topic's related pairs; only unrelated cross pairs are left out
    left = data.left_out
    assert left is not None and data.notes["left_out_by_split"] == len(left)
    assert len(data.train) + len(data.tuning) + len(dev) + len(left) == len(rows)
    assert {int(v) for v in left.y} == {3}
    assert {int(v) for v in dev.y} & {0, 1, 2}
    # a test run tunes on the same dev split and trains on the same pairs
    test_dir = tmp_path / "held"
    synthetic_fnc(test_dir, 4, 9, FNC_TEST)
    run = fnc.load(tmp_path, test_dir, fnc.options({}), 0.25, 13)
    assert run.tuning.ids == dev.ids
    assert sorted(run.train.ids) == sorted(data.train.ids + data.tuning.ids)


def test_fnc1_cv_folds_are_disjoint_in_headlines_and_bodies(tmp_path: Path) -> None:
    synthetic_fnc(tmp_path)
    fnc = get_adapter("fnc1")
    pool = fnc.read_pool(tmp_path, fnc.options({}))
    second = fnc.second_groups(pool)
    folds = make_folds(
        primary_strata(pool.y, "multiclass"), pool.groups, CVPlan(3, 2, 5), second=second
    )
    assert len(folds) == 6
    for f in folds:
        train, test = pool.subset(f.train), pool.subset(f.test)
        assert len(test) and len(train)
        assert not set(test.targets) & set(train.targets)
        assert not _bodies(test) & _bodies(train)
    # without the second key the same folds share headlines (through unrelated pairs)
    plain = make_folds(primary_strata(pool.y, "multiclass"), pool.groups, CVPlan(3, 1, 5))
    assert any(set(pool.subset(f.test).targets) & set(pool.subset(f.train).targets) for f in plain)


def test_fnc1_cv_folds_rebuild_the_release_unrelated_share(tmp_path: Path) -> None:
    synthetic_fnc(tmp_path)
    fnc = get_adapter("fnc1")
    pool = fnc.read_pool(tmp_path, fnc.options({}))
    share = float((pool.y == 3).mean())
    rebuild = fnc.cv_scoring_set(pool, fnc.options({}))
    assert (
        rebuild is not None
        and fnc.cv_scoring_set(pool, fnc.options({"fold_mix": "disjoint"})) is None
    )
    second = fnc.second_groups(pool)
    topic = {h: g for h, g in zip(pool.targets, second, strict=True)}
    topic.update({b: g for b, g in zip(pool.texts, pool.groups, strict=True)})
    folds = make_folds(primary_strata(pool.y, "multiclass"), pool.groups, CVPlan(3, 1, 5), second)
    for f in folds:
        train, fold = pool.subset(f.train), pool.subset(f.test)
        scored = rebuild(fold, 7)
        assert scored.ids[: len(fold)] == fold.ids  # the fold's own pairs first, unchanged
        assert (fold.y == 3).mean() < share - 0.2  # the disjoint fold lost its unrelated
        assert abs((scored.y == 3).mean() - share) < 1 / len(scored)
        new = list(zip(scored.targets[len(fold) :], scored.texts[len(fold) :], strict=True))
        assert new and set(scored.y[len(fold) :].tolist()) == {3}
        assert len(set(new)) == len(new) and not set(new) & set(
            zip(fold.targets, fold.texts, strict=True)
        )
        assert {h for h, _ in new} <= set(fold.targets) and {b for _, b in new} <= set(fold.texts)
        assert all(topic[h] != topic[b] for h, b in new)  # a body of another story
        assert not {h for h, _ in new} & set(train.targets)
        assert rebuild(fold, 7).ids == scored.ids and rebuild(fold, 8).targets != scored.targets


def test_fnc1_benchmark_cv_runs_on_the_disjoint_folds(
    tmp_path: Path, tracking_uri_store: str
) -> None:
    data = tmp_path / "fnc1"
    synthetic_fnc(data, 15)
    out = tmp_path / "res.json"
    sets = ["bootstrap=0", "cv.k=3", "cv.repeats=1"]
    argv = ["benchmark", "fnc1", "--data-dir", str(data), "--output", str(out)]
    argv += ["--config", str(ROOT / "configs/bench/fnc1.yaml")]
    assert run_cli(argv + [x for s in sets for x in ("--set", s)]) == 0
    res = json.loads(out.read_text())
    cv = res["cv"]
    assert cv["group_key"].startswith("claim topic")
    assert cv["n"] == len(list(csv.reader((data / FNC_TRAIN[0]).open()))) - 1  # the release
    assert all(f["n_left_out"] > 0 for f in cv["folds"])  # unrelated cross pairs, per fold
    assert all(f["n_added"] > 0 for f in cv["folds"])  # ... rebuilt in each scoring fold
    assert res["notes"]["left_out_by_split"] > 0


def test_newsmtsc_groups_are_stories() -> None:
    assert document_of("allsides_1000_401_25_Reality Leigh Winner_0_6") == "allsides_1000_401"
    assert document_of("polusa_v1_113704059_-1_35_Northam_148_155") == "polusa_v1_113704059"
    assert document_of("s1") == "s1"
    # two outlets' articles on AllSides story 408 are one group; POLUSA keeps its article
    assert story_of("allsides_1018_408_1_Hillary Clinton_2_17") == "allsides:408"
    assert story_of("allsides_1019_408_0_Hillary Clinton_8_15") == "allsides:408"
    assert story_of("polusa_v1_113704059_-1_35_Northam_148_155") == "polusa_v1_113704059"
    assert get_adapter("newsmtsc").group_key.startswith("story")


def test_newsmtsc_rw_shaped_fold_keeps_the_largest_subset_with_the_mix() -> None:
    strata = [(0, False)] * 60 + [(1, False)] * 20 + [(1, True)] * 20
    ex = Examples([f"i{k}" for k in range(100)], ["t"] * 100, np.asarray([s[0] for s in strata]))
    want = {(0, False): 0.5, (1, False): 0.4, (1, True): 0.1}
    out = shaped_like(ex, strata, want, 3)
    kept = [strata[int(i[1:])] for i in out.ids]
    # (1, False) is the scarcest against its share: all 20 stay, the rest scaled to them
    assert (kept.count((0, False)), kept.count((1, False)), kept.count((1, True))) == (25, 20, 5)
    assert shaped_like(ex, strata, want, 3).ids == out.ids != shaped_like(ex, strata, want, 4).ids


@pytest.mark.parametrize(("group_by", "grouped"), [("outlet", True), ("none", False)])
def test_gvfc_groups_by_outlet(tmp_path: Path, group_by: str, grouped: bool) -> None:
    from tests.test_benchmark import GVFC_COLUMNS

    urls = ["https://www.yahoo.com/a", "https://thehill.com/b", "http://yahoo.com/c", ""]
    with (tmp_path / "GVFC_extension_multimodal.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, GVFC_COLUMNS)
        w.writeheader()
        for i, url in enumerate(urls):
            row = dict.fromkeys(GVFC_COLUMNS, "")
            row.update(id=str(i), article_url=url, headline=f"Headline {i} on guns")
            w.writerow({**row, "Q3 Theme1": str(1 + i % 3)})
    a = get_adapter("gvfc")
    pool = a.read_pool(tmp_path, a.options({"group_by": group_by}))
    if grouped:
        assert pool.groups == ["yahoo.com", "thehill.com", "yahoo.com", "id:3"]
    else:
        assert pool.groups is None


def test_semeval_articles_are_items_and_cv_is_stratified() -> None:
    a = get_adapter("semeval2023")
    assert a.group_key.startswith("article") and a.second_groups(None) is None  # type: ignore[arg-type]
    y = np.asarray([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 1]])
    folds = make_folds(primary_strata(y, "multilabel"), None, CVPlan(2, 1, 1))
    assert all(len(set(primary_strata(y[f.test], "multilabel"))) == 2 for f in folds)
