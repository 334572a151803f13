"""What every model family shares: the interface, calibration, thresholds, save/load.

A ``ModelBundle`` is a fitted model plus what turns its scores into decisions: the task
spec, a temperature fitted on dev (when it lowers dev log-loss) and per-label thresholds
tuned on dev. The scorer and the benchmarks load bundles, never a bare model, so a
threshold tuned in training is the one used in production.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.data import Examples, TaskSpec

MetricLogger = Callable[[dict[str, float], int], None]
# ``(step, total)`` after each optimiser step: models report progress, callers draw it, so
# no model imports the pipelines' progress bars.
StepCallback = Callable[[int, int], None]


@dataclass
class FitOptions:
    """Long-run controls a family may honour or ignore (the baseline trains in seconds and
    ignores them): checkpoints, resuming, a deliberate stop, and step progress."""

    checkpoint_dir: str | Path | None = None
    resume_from: str | Path | None = None
    stop_after_steps: int | None = None
    on_step: StepCallback | None = None


class TextModel(ABC):
    """A classifier over texts or (target, text) pairs; returns probabilities."""

    family: str = ""

    def __init__(self, spec: TaskSpec, seed: int = 13) -> None:
        self.spec = spec
        self.seed = seed

    def check(self) -> None:
        """Fail before any work if the model cannot be built (e.g. missing weights)."""
        return None

    @abstractmethod
    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None: ...

    def finalize(self, bundle: ModelBundle, data: Any) -> ModelBundle:
        """The calibrated bundle as it will ship; a family may pick an inference mode here
        (``data`` is the ``models.training.TaskData`` it was trained on)."""
        return bundle

    @abstractmethod
    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        """Multi-label: independent per-label probabilities; multiclass: rows sum to 1."""

    def logits(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        p = np.clip(self.predict_proba(texts, targets), 1e-7, 1 - 1e-7)
        if self.spec.kind == "multilabel":
            return np.log(p / (1 - p))
        return np.log(p)

    @abstractmethod
    def save(self, path: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: Path, spec: TaskSpec) -> TextModel: ...


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray, kind: str) -> float:
    """One temperature on dev by grid search of log-loss; 1.0 when scaling does not help."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(4.0), 41))

    def nll(t: float) -> float:
        if kind == "multilabel":
            p = np.clip(_sigmoid(logits / t), 1e-7, 1 - 1e-7)
            return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
        p = np.clip(softmax(logits / t), 1e-7, 1)
        return float(-np.log(p[np.arange(len(y)), y]).mean())

    base = nll(1.0)
    best = min(grid, key=nll)
    return float(best) if nll(best) < base - 1e-4 else 1.0


@dataclass
class ModelBundle:
    model: TextModel
    temperature: float = 1.0
    thresholds: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> TaskSpec:
        return self.model.spec

    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.temperature == 1.0:
            return self.model.predict_proba(texts, targets)
        z = self.model.logits(texts, targets) / self.temperature
        return _sigmoid(z) if self.spec.kind == "multilabel" else softmax(z)

    def decide(self, probs: np.ndarray) -> list:
        """Multi-label: the labels over threshold; multiclass: the arg-max label."""
        labels = self.spec.labels
        if self.spec.kind == "multilabel":
            th = np.asarray(self.thresholds or [0.5] * len(labels))
            return [
                [lab for lab, p, t in zip(labels, row, th, strict=True) if p >= t] for row in probs
            ]
        return [labels[i] for i in probs.argmax(axis=1)]

    def calibrate(self, dev: Examples) -> None:
        if len(dev) == 0:
            return
        z = self.model.logits(dev.texts, dev.targets)
        self.temperature = fit_temperature(z, dev.y, self.spec.kind)

    def save(self, path: str | Path) -> None:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        self.model.save(p / "model")
        meta = {
            "family": self.model.family,
            "spec": self.spec.to_dict(),
            "temperature": self.temperature,
            "thresholds": list(self.thresholds),
            "info": self.info,
        }
        (p / "bundle.json").write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        p = Path(path)
        meta = json.loads((p / "bundle.json").read_text())
        spec = TaskSpec.from_dict(meta["spec"])
        model_cls = family_class(meta["family"])
        model = model_cls.load(p / "model", spec)
        return cls(model, meta["temperature"], meta["thresholds"], meta.get("info", {}))


def family_class(family: str) -> type[TextModel]:
    from models.registry import get_family

    return get_family(family).model()
