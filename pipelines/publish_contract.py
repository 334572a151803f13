"""What a training run claims to be, recorded at training time and checked at publish.

A run's contract is its task, its codebook (name and digest), its label set and, for
stance, its targets, logged as ``contract.json`` beside the bundle; a stance run also
logs the stance spec it trained with as ``stance.json``, so publishing reads the spec
from the run and never from a file that may have changed or moved since. Runs logged
before contracts existed (legacy) fall back to their ``mediaframe.task`` tag, or are
refused naming the run.

The codebook digest is a hash of the codebook's frame keys in their order (not of the
file's bytes): two files with the same frames and edited cues or definitions train
models with the same outputs, and those stay comparable; a different key set does not.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from labeling.codebook import Codebook, StanceSpec

CONTRACT = "contract.json"
STANCE = "stance.json"
TASK_TAG = "mediaframe.task"
CODEBOOK_TAG = "mediaframe.codebook"
DIGEST_TAG = "mediaframe.codebook_digest"


class PublishError(RuntimeError):
    """Nothing publishable (no finished runs), or a named run that cannot be used."""


def codebook_digest(codebook: Codebook) -> str:
    """The first 16 hex digits of SHA-256 over the frame keys, in codebook order."""
    return hashlib.sha256(json.dumps(codebook.keys).encode()).hexdigest()[:16]


def log_contract(
    task: str, codebook: Codebook, labels: list[str], stance: StanceSpec | None
) -> dict[str, Any]:
    """Record the active run's contract (and, for stance, its spec) as artifacts and tags."""
    contract: dict[str, Any] = {
        "task": task,
        "codebook": codebook.name,
        "codebook_digest": codebook_digest(codebook),
        "labels": list(labels),
        "targets": list(stance.targets) if stance is not None and task == "stance" else [],
    }
    mlflow.log_dict(contract, CONTRACT)
    mlflow.set_tag(DIGEST_TAG, contract["codebook_digest"])
    if stance is not None and task == "stance":
        mlflow.log_dict(stance.to_dict(), STANCE)
    return contract


def _artifact_json(run_id: str, name: str) -> dict[str, Any] | None:
    """A JSON artifact of the run, or None when the run has none of that name."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=name, dst_path=tmp
            )
        except Exception:  # absent artifact: MLflow raises several kinds by store
            return None
        return json.loads(Path(path).read_text())


@dataclass
class Contract:
    run_id: str
    task: str
    codebook: str | None
    digest: str | None
    legacy: bool


def read_contract(run) -> Contract:
    """The run's recorded contract, or for a legacy run its task tag; refuses neither."""
    rid = run.info.run_id
    data = _artifact_json(rid, CONTRACT)
    if data is not None:
        return Contract(rid, data["task"], data.get("codebook"), data.get("codebook_digest"), False)
    task = run.data.tags.get(TASK_TAG)
    if task not in ("frames", "stance"):
        raise PublishError(
            f"run {rid}: no recorded contract and no {TASK_TAG} tag; cannot tell its task"
        )
    return Contract(rid, task, run.data.tags.get(CODEBOOK_TAG), None, True)


def _same_codebook(a: Contract, b: Contract) -> bool:
    """Digests decide when both runs have one; legacy runs compare codebook names."""
    if a.digest and b.digest:
        return a.digest == b.digest
    return not (a.codebook and b.codebook) or a.codebook == b.codebook


def check_pair(fr, sr) -> tuple[Contract, Contract]:
    """The frames and stance runs' contracts, refusing a swapped, doubled or mismatched pair."""
    if fr.info.run_id == sr.info.run_id:
        raise PublishError(
            f"run {fr.info.run_id} given as both --frames-run and --stance-run; "
            "publish needs one frames run and one stance run"
        )
    fc, sc = read_contract(fr), read_contract(sr)
    for c, want, flag in ((fc, "frames", "--frames-run"), (sc, "stance", "--stance-run")):
        if c.task != want:
            raise PublishError(f"{flag} {c.run_id} is a {c.task} run, expected a {want} run")
    if not _same_codebook(fc, sc):
        raise PublishError(
            f"frames run {fc.run_id} (codebook {fc.codebook}, {fc.digest}) and stance run "
            f"{sc.run_id} (codebook {sc.codebook}, {sc.digest}) were trained with different "
            "codebooks"
        )
    return fc, sc


def recorded_stance(run_id: str) -> dict[str, Any] | None:
    """The stance spec logged with the run, or None for a legacy run."""
    return _artifact_json(run_id, STANCE)


def champion_digest(champion) -> str | None:
    """The champion's codebook digest: its version tag, else its frames run's contract."""
    digest = champion.tags.get("codebook_digest")
    if digest:
        return digest
    frames_run = champion.tags.get("frames_run")
    if not frames_run:
        return None
    data = _artifact_json(frames_run, CONTRACT)
    return (data or {}).get("codebook_digest")
