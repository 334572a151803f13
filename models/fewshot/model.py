"""SetFit (Tunstall et al. 2022) on the configured local sentence encoder.

``setfit`` fine-tunes the body contrastively on pairs of training texts (same label, or
for multi-label at least one shared label, against different), then fits a logistic head
on the tuned embeddings: one-vs-rest per frame for multi-label, one multinomial head for
multiclass. A pair example reads ``target: text``. The body is the configured local folder
(``pkg:`` paths resolved offline, ``HF_HUB_OFFLINE`` set), never a hub id; each text is
read to ``max_length`` tokens. Sample weights are not used (SetFit has none). Bundles hold
the SetFit folder (``setfit/``) and ``fewshot.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from models.base import FitOptions, MetricLogger, TextModel
from models.data import Examples, TaskSpec
from models.encoder import resolve_model_path, set_threads
from models.fewshot.config import SetFitConfig


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class SetFitTextModel(TextModel):
    family = "setfit"

    def __init__(self, spec: TaskSpec, cfg: SetFitConfig | None = None, seed: int = 13) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or SetFitConfig()
        self.model = None  # setfit.SetFitModel once fitted
        self.train_info: dict[str, float] = {}

    @property
    def mode(self) -> str:
        return f"SetFit: contrastive fine-tuning of {self.cfg.model_name_or_path} + logreg"

    def check(self) -> None:
        resolve_model_path(self.cfg.model_name_or_path)
        import setfit  # noqa: F401

    def _inputs(self, texts: list[str], targets: list[str] | None) -> list[str]:
        if not self.spec.pair:
            return list(texts)
        tg = targets or [None] * len(texts)
        return [f"{self.spec.target_text(t)}: {x}" for x, t in zip(texts, tg, strict=True)]

    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        _offline()
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments

        if self.spec.kind == "multiclass" and len(np.unique(train.y)) < 2:
            raise ValueError("training data has a single class; nothing to learn")
        set_threads(self.cfg.threads)
        path = resolve_model_path(self.cfg.model_name_or_path)
        multi = self.spec.kind == "multilabel"
        self.model = SetFitModel.from_pretrained(
            path, multi_target_strategy="one-vs-rest" if multi else None, device="cpu"
        )
        labels = [list(map(int, r)) for r in train.y] if multi else [int(v) for v in train.y]
        ds = Dataset.from_dict({"text": self._inputs(train.texts, train.targets), "label": labels})
        with tempfile.TemporaryDirectory(prefix="setfit-") as out:
            args = TrainingArguments(
                output_dir=out,
                batch_size=self.cfg.batch_size,
                num_epochs=self.cfg.num_epochs,
                num_iterations=self.cfg.num_iterations,
                body_learning_rate=self.cfg.body_learning_rate,
                max_length=self.cfg.max_length,
                seed=self.seed,
                report_to="none",
                show_progress_bar=False,
                save_strategy="no",
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trainer = Trainer(model=self.model, args=args, train_dataset=ds)
                trainer.train()
        self.train_info = {"n_train": float(len(train))}

    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("model is not fitted")
        width = len(self.spec.labels)
        if not texts:
            return np.zeros((0, width))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = self.model.predict_proba(self._inputs(texts, targets), as_numpy=True)
        p = np.asarray(p, dtype=float)
        if self.spec.kind == "multilabel":
            return p.reshape(len(texts), width)
        out = np.zeros((len(texts), width))
        out[:, np.asarray(self.model.model_head.classes_, dtype=int)] = p
        return out

    def save(self, path: Path) -> None:
        if self.model is None:
            raise RuntimeError("model is not fitted")
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(path / "setfit"))
        cfg = self.cfg.model_dump()
        cfg["model_name_or_path"] = "(bundled)"
        (path / "fewshot.json").write_text(json.dumps({"cfg": cfg}, indent=2))

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> SetFitTextModel:
        _offline()
        from setfit import SetFitModel

        meta = json.loads((path / "fewshot.json").read_text())
        m = cls(spec, SetFitConfig(**meta["cfg"]))
        set_threads(m.cfg.threads)
        m.model = SetFitModel.from_pretrained(str(path / "setfit"), device="cpu")
        return m
