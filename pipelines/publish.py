"""The ``publish`` stage: package the best runs as one pyfunc and pass it through the gate.

Picks the best finished frames and stance runs (or the runs named): by their
cross-validated selection metric where training logged one, else by the dev figure;
logs them as one ``mediaframe`` pyfunc with the project code, signature, input example,
model card and pinned requirements, registers a version and tags it. The promotion gate
scores the new version and the current ``@champion`` on the same gold test documents;
``@champion`` moves only when the new one is better by the configured margin with the
configured confidence (paired bootstrap). Otherwise the version becomes ``@challenger``
and the reason is printed and tagged. The first version becomes champion. The alias is
set last, so a failure part-way never leaves a half-made version as champion. Each run's
contract (task, codebook) is checked first (``publish_contract``), and the gate through
the alias move holds a lease on the registered model (``publish_lease``).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from labeling.codebook import load_stance, stance_from_dict
from labeling.gold import NOT_MENTIONED, STANCE_CLASSES, read_gold, read_splits
from models.metrics import (
    multiclass_metrics,
    multilabel_metrics,
    paired_bootstrap,
    selection_metric,
    task_kind,
)
from models.scorer import INPUT_COLUMNS, SPARK_PARAM, MediaframeModel, Scorer
from models.selection import cv_metric, gate_metrics
from pipelines import tracking
from pipelines.config import PublishConfig, config_hash
from pipelines.publish_contract import (
    PublishError,
    champion_digest,
    check_pair,
    recorded_stance,
)
from pipelines.publish_lease import hold

__all__ = ["PublishError", "PublishResult", "publish"]

ROOT = Path(__file__).resolve().parent.parent
# The served model needs only the two lower layers: the scorer imports nothing from
# pipelines (tests/test_layers.py), so the CLI, Spark and the benchmarks stay out of it.
CODE = [str(ROOT / p) for p in ("labeling", "models")]
REQUIREMENTS = [
    "mlflow",
    "torch",
    "transformers",
    "tokenizers",
    "scikit-learn",
    "pandas",
    "numpy",
    "pyarrow",
    "pyyaml",
    "pydantic",
    "regex",  # codebook regex cues run under its timeout
    "tqdm",
    "python-dateutil",
    "safetensors",
]


@dataclass
class Packaged:
    """One run in the published function, and why it was the one."""

    task: str
    run_id: str
    run_name: str
    family: str
    metric: str
    value: float | None
    why: str

    def line(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:.4f}"
        return (
            f"packaged {self.task} run {self.run_id} ({self.run_name}, {self.family}): "
            f"{self.metric} {value}; {self.why}"
        )


@dataclass
class PublishResult:
    name: str
    version: str
    alias: str
    reason: str
    metrics: dict[str, float]
    packaged: list[Packaged] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What publish did, for the console: each packaged run and why, then the gate."""
        return [p.line() for p in self.packaged] + [
            f"gate: {self.name} version {self.version} -> @{self.alias}: {self.reason}"
        ]


def pinned_requirements() -> list[str]:
    out = []
    for pkg in REQUIREMENTS:
        try:
            out.append(f"{pkg}=={md.version(pkg)}")
        except md.PackageNotFoundError:
            continue
    return out


def best_run(task: str, metric: str) -> str:
    """The finished ``task`` run with the highest ``metric``."""
    return _best_run(task, metric)[0]


def _best_run(task: str, metric: str) -> tuple[str, int, list[str], str]:
    """(the best run's id that passes the trivial gate, how many finished runs with
    ``metric`` it was chosen from, why each better-ranked run was passed over, the figure
    it was ranked by).

    Runs that logged a cross-validated figure are ranked by it, ahead of runs that did not:
    one small dev split picked families that lost on held-out test, the CV mean over gold
    train + dev did not. Runs without it follow, ranked by ``metric``.
    """
    exp = mlflow.get_experiment_by_name(tracking.EXPERIMENTS[task])
    if exp is None:
        raise PublishError(f"no {task} runs yet: train first (`mediaframe train --task {task}`)")
    runs = mlflow.search_runs(
        [exp.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=[f"metrics.{metric} DESC"],
        output_format="list",
    )
    runs = [r for r in runs if metric in r.data.metrics]
    if not runs:
        raise PublishError(f"no finished {task} run with metric {metric!r}")
    cv = cv_metric(metric)
    # sorted is stable: among runs without CV the search's dev order stands.
    runs = sorted(runs, key=lambda r: -r.data.metrics.get(cv, -np.inf))
    skipped = []
    for r in runs:
        passed, reason = trivial_gate(r.data.metrics, metric)
        if passed:
            return r.info.run_id, len(runs), skipped, cv if cv in r.data.metrics else metric
        skipped.append(f"run {r.info.run_id} ({r.info.run_name or '-'}): {reason}")
    raise PublishError(
        f"{task}: none of {len(runs)} finished runs is above the trivial reference, so none "
        f"is published; " + "; ".join(skipped[:3])
    )


def trivial_gate(metrics: dict[str, float], metric: str) -> tuple[bool, str]:
    """Whether a run may be published at all: its cross-validated score above the trivial
    reference on the same folds (``models.selection.gate_metrics``); a run without CV
    figures is held to its selection split's figure against that split's trivial
    reference. A run with neither figure passes, as runs did before either was logged."""
    decision = gate_metrics(metrics, metric)
    if decision is not None:
        return decision.passed, decision.reason
    split, _, base = metric.partition("_")
    value, triv = metrics.get(metric), metrics.get(f"{split}_trivial_{base}")
    if value is None or triv is None:
        return True, "no trivial reference logged"
    verdict = "above" if value > triv else "not above"
    return value > triv, f"{metric} {value:.3f} is {verdict} the trivial reference {triv:.3f}"


def _download_bundle(run_id: str, dest: Path) -> Path:
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="bundle", dst_path=str(dest)
        )
    except Exception as exc:
        raise PublishError(f"run {run_id}: no 'bundle' artifact to publish ({exc})") from exc
    return Path(local)


def gold_test(cfg: PublishConfig) -> pd.DataFrame:
    """The gold test documents with their labels: the gate's common ground."""
    docs = pd.read_parquet(cfg.documents)
    test = set(read_splits(cfg.splits)["test"])
    gold = {i: g for i, g in read_gold(cfg.gold).items() if i in test}  # adjudicated
    df = docs[docs["id"].isin(gold)].copy()
    df["gold"] = [gold[i] for i in df["id"]]
    if df.empty:
        raise PublishError(f"{cfg.splits}: no gold test documents found in {cfg.documents}")
    return df.reset_index(drop=True)


def per_doc_scores(pred: pd.DataFrame, test: pd.DataFrame, frames: list[str], targets: list[str]):
    """Functions of a resample of documents -> the gate's composite metric."""
    yt = np.array([[int(k in g.frames) for k in frames] for g in test["gold"]])
    yp = np.array(
        [
            [int(k in (f if isinstance(f, list | np.ndarray) else [])) for k in frames]
            for f in pred["frames"]
        ]
    )
    st_true, st_pred, st_doc = [], [], []
    for i, g in enumerate(test["gold"]):
        for t in targets:
            lab = g.stance.get(t, NOT_MENTIONED)
            if lab in STANCE_CLASSES:
                st_true.append(lab)
                st_pred.append(pred.at[i, f"stance_{t}"] or NOT_MENTIONED)
                st_doc.append(i)
    st_true_a, st_pred_a, st_doc_a = (
        np.array(st_true, dtype=object),
        np.array(st_pred, dtype=object),
        np.array(st_doc),
    )

    frames_key = selection_metric(task_kind("frames"))
    stance_key = selection_metric(task_kind("stance"))

    def metric(idx: np.ndarray) -> float:
        f = multilabel_metrics(yt[idx], yp[idx], frames, warn=False)[frames_key]
        if len(st_doc_a) == 0:
            return f
        sel = np.concatenate([np.nonzero(st_doc_a == i)[0] for i in idx]) if len(idx) else []
        s = (
            multiclass_metrics(st_true_a[sel], st_pred_a[sel], list(STANCE_CLASSES), warn=False)[
                stance_key
            ]
            if len(sel)
            else math.nan
        )
        return float(np.nanmean([f, s]))

    return metric


def input_schema():
    """``text`` is required; ``id``, ``title``, ``source``, ``date``, ``url`` are optional."""
    from mlflow.types import ColSpec, Schema

    return Schema([ColSpec("string", c, required=(c == "text")) for c in INPUT_COLUMNS])


def model_card(
    frames_run: str, stance_run: str, metrics: dict[str, float], info: dict[str, Any]
) -> str:
    def fmt(k: str) -> str:
        v = metrics.get(k)
        lo, hi = metrics.get(f"{k}_ci_low"), metrics.get(f"{k}_ci_high")
        if v is None:
            return "n/a"
        return f"{v:.3f}" + (f" (95% CI {lo:.3f}-{hi:.3f})" if lo is not None else "")

    return f"""# mediaframe scoring function

**What it does.** Labels news articles with media frames (multi-label, codebook
`{info.get("codebook")}`, with a primary frame) and with stance (favor / against /
neutral, or not_mentioned by rule) toward each configured target.

**Trained on.** The project's labeled corpus (data digest `{info.get("data_digest")}`):
gold labels where they exist, label-model output elsewhere. Frames run `{frames_run}`
({info.get("frames_family")}); stance run `{stance_run}` ({info.get("stance_family")}).

**Gold test metrics.**
- frames micro-F1: {fmt("frames_test_micro_f1")}
- frames macro-F1: {fmt("frames_test_macro_f1")}
- stance macro-F1 (mentioned targets): {fmt("stance_test_macro_f1")}
- stance F_avg (favor/against): {fmt("stance_test_f_avg")}

**Intended use.** Measuring framing and stance across many articles in aggregate
(shares per outlet and period), with the intervals reported beside the estimates.

**Known limits.** Trained on a small English corpus on international security; other
topics, languages (non-English text is scored but the cues and models are English) and
outlets will see lower accuracy. Stance toward a target is only predicted where a name
or alias of the target occurs. Individual predictions are not fit for decisions about
individual authors or outlets without human review. The artifact is a pickle: load it
only from a registry you trust.
"""


def _finished_runs(cfg: PublishConfig, client: MlflowClient):
    """The frames and stance runs to publish, named or the best by the selection metric,
    and for each a ``Packaged`` record of why it was chosen."""
    chosen, why, ranked = {}, {}, {}
    for task, named, metric in (
        ("frames", cfg.frames_run, cfg.selection_metric_frames),
        ("stance", cfg.stance_run, cfg.selection_metric_stance),
    ):
        if named:
            chosen[task], why[task] = named, f"named (--{task}-run)"
        else:
            chosen[task], n, skipped, ranked[task] = _best_run(task, metric)
            why[task] = f"of {n} finished {task} run{'s' * (n != 1)}"
            if skipped:
                why[task] += (
                    " above the trivial reference (passed over: " + "; ".join(skipped) + ")"
                )
    fr = client.get_run(chosen["frames"])
    sr = client.get_run(chosen["stance"])
    for r, task in ((fr, "frames"), (sr, "stance")):
        if r.info.status != "FINISHED":
            raise PublishError(f"run {r.info.run_id} ({task}) is {r.info.status}, not FINISHED")
        if task in ranked:  # the figure it was ranked by, from the run just fetched
            value = r.data.metrics[ranked[task]]
            why[task] = f"highest {ranked[task]} ({value:.4f}) {why[task]}"
    check_pair(fr, sr)
    packaged = [
        Packaged(
            task,
            r.info.run_id,
            r.info.run_name or "",
            r.data.tags.get("mediaframe.model", ""),
            metric,
            r.data.metrics.get(metric),
            why[task],
        )
        for r, task, metric in (
            (fr, "frames", cfg.selection_metric_frames),
            (sr, "stance", cfg.selection_metric_stance),
        )
    ]
    return fr, sr, packaged


def _run_summary(fr, sr) -> tuple[dict[str, float], dict[str, Any]]:
    """The two runs' gold-test metrics (prefixed by task) and their provenance tags."""
    metrics = {f"frames_{k}": v for k, v in fr.data.metrics.items() if k.startswith("test_")}
    metrics.update({f"stance_{k}": v for k, v in sr.data.metrics.items() if k.startswith("test_")})
    info = {
        "codebook": fr.data.tags.get("mediaframe.codebook"),
        "data_digest": fr.data.tags.get("mediaframe.data_digest"),
        "frames_family": fr.data.tags.get("mediaframe.model"),
        "stance_family": sr.data.tags.get("mediaframe.model"),
    }
    return metrics, info


def _gate(
    cfg: PublishConfig,
    client: MlflowClient,
    inputs: pd.DataFrame,
    metric_of,
    new_metric,
    digest: str | None,
) -> tuple[str, str, dict[str, float]]:
    """(alias, reason, paired bootstrap) of the new function against today's champion,
    judged before anything is registered; ``metric_of(predictions)`` is the gate's metric
    as a function of a resample of the gold test documents. A frames model of another
    codebook (``digest``) than the champion's is never compared: its labels are other
    labels, so a higher score on them says nothing, and it stays challenger."""
    champion = _current_champion(client, cfg.model_name)
    if champion is None:
        return "champion", "first version", {}
    old_digest = champion_digest(champion)
    if digest and old_digest and digest != old_digest:
        reason = (
            f"codebook {digest} differs from champion v{champion.version}'s {old_digest}: "
            "a model of another codebook never replaces the champion"
        )
        return "challenger", reason, {}
    old = mlflow.pyfunc.load_model(f"models:/{cfg.model_name}@champion")
    old_metric = metric_of(old.predict(inputs))
    gate = paired_bootstrap(old_metric, new_metric, len(inputs), cfg.bootstrap, cfg.seed)
    if gate["diff"] >= cfg.margin and gate["p_b_better"] >= cfg.confidence:
        reason = (
            f"beats champion v{champion.version} by {gate['diff']:+.4f} "
            f"(P(better)={gate['p_b_better']:.2f})"
        )
        return "champion", reason, gate
    reason = (
        f"does not beat champion v{champion.version}: diff "
        f"{gate['diff']:+.4f} (needs >= {cfg.margin}), P(better)="
        f"{gate['p_b_better']:.2f} (needs >= {cfg.confidence})"
    )
    return "challenger", reason, gate


@dataclass
class _Package:
    """What is logged as the pyfunc: the two bundles, the shared meta and the model card."""

    scorer: Scorer
    artifacts: dict[str, str]
    meta: dict[str, Any]

    def write_meta(self) -> None:
        Path(self.artifacts["meta"]).write_text(json.dumps(self.meta))


def _package(tmp: Path, fr, sr, metrics: dict[str, float], info: dict[str, Any]) -> _Package:
    fdir = _download_bundle(fr.info.run_id, tmp / "f")
    sdir = _download_bundle(sr.info.run_id, tmp / "s")
    meta = {
        "stance": load_stance_from_run(sr),
        "frames_run": fr.info.run_id,
        "stance_run": sr.info.run_id,
        "model_version": "unregistered",
    }
    card = tmp / "model_card.md"
    card.write_text(model_card(fr.info.run_id, sr.info.run_id, metrics, info))
    (tmp / "meta.json").write_text(json.dumps(meta))
    artifacts = {"frames": str(fdir), "stance": str(sdir), "meta": str(tmp / "meta.json")}
    scorer = Scorer.from_dirs(fdir, sdir, tmp / "meta.json")
    return _Package(scorer, {**artifacts, "model_card": str(card)}, meta)


def _log_model(pkg: _Package, inputs: pd.DataFrame):
    example = inputs.head(2).reset_index(drop=True)
    signature = mlflow.models.infer_signature(
        example, pkg.scorer.score(example), params={SPARK_PARAM: False}
    )
    signature.inputs = input_schema()
    return mlflow.pyfunc.log_model(
        name="scorer",
        python_model=MediaframeModel(),
        artifacts=pkg.artifacts,
        code_paths=CODE,
        pip_requirements=pinned_requirements(),
        signature=signature,
        input_example=example,
    )


def publish(cfg: PublishConfig) -> PublishResult:
    """Package the two runs as one pyfunc, gate it on gold test, register, move an alias."""
    client = MlflowClient()
    fr, sr, packaged = _finished_runs(cfg, client)
    for p in packaged:  # said before the minutes of packaging, so a wrong pick shows early
        print(p.line(), flush=True)
    test = gold_test(cfg)
    metrics, info = _run_summary(fr, sr)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = _package(Path(tmp), fr, sr, metrics, info)
        inputs = test[[c for c in INPUT_COLUMNS if c in test.columns]]
        frames, targets = pkg.scorer.frames.spec.labels, pkg.scorer.targets

        def metric_of(pred: pd.DataFrame):
            return per_doc_scores(pred, test, frames, targets)

        new_metric = metric_of(pkg.scorer.score(inputs))
        # Held from reading the champion to moving the alias: see publish_lease.
        with hold(client, cfg.model_name) as lease:
            digest_cb = fr.data.tags.get("mediaframe.codebook_digest")
            alias, reason, gate = _gate(cfg, client, inputs, metric_of, new_metric, digest_cb)
            families = f"{info['frames_family']}+{info['stance_family']}"
            codebook, digest = info["codebook"] or "", info["data_digest"] or ""
            tags = tracking.base_tags("publish", "frames+stance", families, codebook, digest)
            with tracking.stage_run("publish", "publish", tags) as run:
                # The registry number is not known before registering; the run id is, and
                # batch scoring replaces it with the resolved version.
                pkg.meta["model_version"] = f"{cfg.model_name}:run-{run.info.run_id[:12]}"
                pkg.write_meta()
                info_model = _log_model(pkg, inputs)
                mlflow.log_artifact(pkg.artifacts["model_card"])
                mlflow.log_metrics({"gate_new_metric": new_metric(np.arange(len(test)))})
                if gate:
                    mlflow.log_metrics({f"gate_{k}": v for k, v in gate.items()})
                mlflow.set_tag("mediaframe.gate", f"{alias}: {reason}")
                mlflow.set_tag("mlflow.note.content", "\n\n".join(p.line() for p in packaged))
                version = mlflow.register_model(
                    info_model.model_uri, cfg.model_name, tags={"run_id": run.info.run_id}
                )
                # Still inside the run: if the registry fails from here on, the publish run
                # ends FAILED, and the version it made never received an alias.
                v = version.version
                vtags = {
                    "git_commit": tracking.git_commit(),
                    "config_hash": config_hash(cfg),
                    "data_digest": digest,
                    "frames_run": fr.info.run_id,
                    "stance_run": sr.info.run_id,
                    "codebook_digest": digest_cb or "",
                    "gate": f"{alias}: {reason}",
                }
                vtags.update({k: f"{val:.4f}" for k, val in metrics.items() if "_ci_" not in k})
                for k, val in vtags.items():
                    client.set_model_version_tag(cfg.model_name, v, k, str(val))
                lease.check()
                client.set_registered_model_alias(cfg.model_name, alias, v)  # last
    return PublishResult(cfg.model_name, str(v), alias, reason, metrics, packaged)


def load_stance_from_run(run) -> dict[str, Any]:
    """The stance spec the stance run trained with: the copy logged with the run; a legacy
    run without one falls back to re-reading the path stored in its config."""
    recorded = recorded_stance(run.info.run_id)
    if recorded is not None:
        return stance_from_dict(recorded, f"run {run.info.run_id}:stance.json").to_dict()
    cfg_path = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="config.yaml"
    )
    import yaml

    path = yaml.safe_load(Path(cfg_path).read_text())["stance"]
    spec = load_stance(path)
    shutil.rmtree(Path(cfg_path).parent, ignore_errors=True)
    return spec.to_dict()


def _current_champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, "champion")
    except mlflow.exceptions.MlflowException:
        return None
