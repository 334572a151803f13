"""The transformer family's training loop, kept apart from the network it trains.

A plain torch loop (setfit's split of trainer and model): early stopping on dev, gradient
accumulation, one seed for everything, and checkpoints every N optimiser steps that hold
model, optimiser, scheduler, RNG states and the data order, so a resumed run reaches the
same weights. With a frozen encoder (``freeze_encoder`` or siamese pairs) every text is
embedded once and the epochs train only the head. Metrics leave through the metric
logger and steps through ``FitOptions.on_step``; the console gets an epoch bar, a batch
bar inside it and one line of figures per epoch (``models.progress``, silenced by
MEDIAFRAME_PROGRESS=0), so minutes of fine-tuning are never silent.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from models.base import FitOptions, MetricLogger
from models.data import Examples
from models.metrics import fixed_rule_score, selection_metric
from models.progress import bar, note
from models.transformer.config import TransformerConfig

if TYPE_CHECKING:
    from models.transformer.model import TransformerModel


class TrainingInterrupted(RuntimeError):
    """Raised when training stops at ``stop_after_steps`` after writing a checkpoint."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training stopped after optimiser step {step} (checkpoint written)")
        self.step = step


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainingArguments:
    """What the loop needs from the family config, and nothing about the network."""

    epochs: int
    batch_size: int
    grad_accum: int
    lr: float
    head_lr: float
    weight_decay: float
    warmup_ratio: float
    patience: int
    checkpoint_every: int
    length_buckets: bool
    class_weight: str | None
    freeze_encoder: bool
    stop_after_steps: int | None = None

    @classmethod
    def from_config(cls, cfg: TransformerConfig, stop_after_steps: int | None = None):
        """The config's loop settings; ``stop_after_steps`` (an option) wins over its own."""
        values = {f.name: getattr(cfg, f.name) for f in fields(cls)}
        if stop_after_steps is not None:
            values["stop_after_steps"] = stop_after_steps
        return cls(**values)


@dataclass
class _Inputs:
    """The training and dev inputs: token ids, or vectors when the encoder is frozen."""

    enc: Any = None
    dev_enc: Any = None
    frozen: torch.Tensor | None = None
    dev_frozen: torch.Tensor | None = None


def _fresh_state() -> dict[str, Any]:
    return {
        "epoch": 0,
        "step": 0,
        "best": float("-inf"),
        "best_epoch": 0,
        "bad_epochs": 0,
        "batch": 0,
        "order": None,
        "best_state": None,
    }


def epoch_criterion(kind: str) -> str:
    """The dev figure early stopping keeps the best epoch by (``dev_score`` is it, signed
    so that higher is better): see ``dev_metrics`` for why it differs by task kind."""
    return "dev_loss" if kind == "multilabel" else f"dev_{selection_metric(kind)}"


def dev_metrics(kind: str, y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """What early stopping watches: dev loss for multi-label (F1 at a fixed 0.5 threshold
    is flat at zero for the first epochs of a many-label head and would stop training
    before it learns), dev macro-F1 for multiclass (loss favours a timid model that
    predicts the majority class)."""
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    if kind == "multilabel":
        loss = float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    else:
        loss = float(-np.log(p[np.arange(len(y)), y]).mean())
    f = fixed_rule_score(kind, y, probs)
    score = -loss if kind == "multilabel" else f
    return {"dev_loss": loss, f"dev_{selection_metric(kind)}": f, "dev_score": score}


class Trainer:
    """Fits one ``TransformerModel`` (built, then trained in place)."""

    def __init__(self, model: TransformerModel, args: TrainingArguments) -> None:
        self.model = model
        self.args = args
        self.class_weights: torch.Tensor | None = None

    # ------------------------------------------------------------------ the loop
    def train(
        self,
        train: Examples,
        dev: Examples | None,
        log: MetricLogger | None,
        options: FitOptions,
    ) -> None:
        m, args = self.model, self.args
        seed_everything(m.seed)
        m._build()
        assert m.net is not None
        inputs = self._inputs(train, dev)
        y, w = self._targets(train)
        self._optimiser(len(train))
        state = _fresh_state()
        if options.resume_from:
            state = self._restore(Path(options.resume_from))
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        self.ckpt_dir = Path(options.checkpoint_dir) if options.checkpoint_dir else None
        m.history = state.get("history", [])
        self.report = options.on_step or (lambda step, total: None)
        self.report(state["step"], self.total)
        has_dev = dev is not None and len(dev) > 0
        m.epoch_criterion = epoch_criterion(m.spec.kind) if has_dev else "train_loss"
        note(
            f"training {m.spec.name}: {len(train)} examples, {args.epochs} epochs, "
            f"{self.total} optimiser steps on {m.device}"
            + (f", from step {state['step']}" if state["step"] else "")
        )
        self.epochs_bar = bar("epochs", args.epochs, "epoch", initial=state["epoch"])
        try:
            for epoch in range(state["epoch"], args.epochs):
                running, n_batches = self._epoch(epoch, state, inputs, y, w, len(train))
                metrics = {"train_loss": running / max(n_batches, 1)}
                metrics.update(self._dev_metrics(dev, inputs))
                m.history.append({"epoch": epoch + 1, **metrics})
                if log:
                    log(metrics, epoch + 1)
                stop = self._end_epoch(epoch, state, metrics)
                self._epoch_done(epoch, state, metrics, stop)
                if stop:
                    break
        finally:
            self.epochs_bar.close()
        m.best_epoch = state.get("best_epoch") or None
        if state.get("best_state") is not None:
            m.net.load_state_dict(state["best_state"])

    def _epoch_done(self, epoch: int, state: dict, metrics: dict[str, float], stop: bool) -> None:
        """Move the epoch bar and print the epoch's figures, saying which epoch is kept."""
        shown = {k: v for k, v in metrics.items() if k != "dev_score"}
        self.epochs_bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)
        self.epochs_bar.update(1)
        figures = ", ".join(f"{k} {v:.4f}" for k, v in shown.items())
        best = state.get("best_epoch", 0)
        kept = "kept" if best == epoch + 1 else f"best is {best}"
        tail = "; early stop (patience)" if stop and epoch + 1 < self.args.epochs else ""
        note(
            f"epoch {epoch + 1}/{self.args.epochs}: {figures} "
            f"({kept}, by {self.model.epoch_criterion}){tail}"
        )

    def _inputs(self, train: Examples, dev: Examples | None) -> _Inputs:
        m = self.model
        has_dev = dev is not None and len(dev) > 0
        out = _Inputs()
        if m.siamese:
            self._freeze()
            out.frozen = m._fit_pair_head(train)
            out.dev_frozen = m._pair_features(dev.texts, dev.targets) if has_dev else None
            return out
        out.enc = m.encode(train.texts, train.targets)
        out.dev_enc = m.encode(dev.texts, dev.targets) if has_dev else None
        if self.args.freeze_encoder:
            # The encoder never changes, so each text (dev too) is encoded once, up front,
            # and the epochs train only the head on those vectors.
            self._freeze()
            out.frozen = m._embed_all(out.enc)
            out.dev_frozen = m._embed_all(out.dev_enc) if out.dev_enc is not None else None
        return out

    def _freeze(self) -> None:
        for p in self.model.net.encoder.parameters():
            p.requires_grad = False

    def _targets(self, train: Examples) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        if m.spec.kind == "multiclass" and self.args.class_weight == "balanced":
            counts = np.bincount(train.y, minlength=len(m.spec.labels)).astype(float)
            weights = len(train.y) / (len(counts) * np.maximum(counts, 1))
            self.class_weights = torch.tensor(weights, dtype=torch.float32, device=m.device)
        w = train.weights if train.weights is not None else np.ones(len(train))
        return torch.tensor(train.y), torch.tensor(w, dtype=torch.float32)

    def _optimiser(self, n_train: int) -> None:
        from transformers import get_linear_schedule_with_warmup

        m, args = self.model, self.args
        groups = [{"params": list(m.net.head.parameters()), "lr": args.head_lr}]
        enc_params = [p for p in m.net.encoder.parameters() if p.requires_grad]
        if enc_params:
            groups.append({"params": enc_params, "lr": args.lr})
        self.opt = torch.optim.AdamW(groups, weight_decay=args.weight_decay)
        steps_per_epoch = max(1, -(-n_train // (args.batch_size * args.grad_accum)))
        self.total = steps_per_epoch * args.epochs
        warmup = int(args.warmup_ratio * self.total)
        self.sched = get_linear_schedule_with_warmup(self.opt, warmup, self.total)
        self.gen = torch.Generator().manual_seed(m.seed)
        # fp16 autocast on CUDA needs loss scaling, or small gradients underflow to zero;
        # disabled elsewhere, where every call below passes straight through.
        self.scaler = torch.amp.GradScaler("cuda", enabled=m.device == "cuda")

    def _epoch(
        self, epoch: int, state: dict, inputs: _Inputs, y, w, n_train: int
    ) -> tuple[float, int]:
        """One pass over the (resumed) batch order; returns the summed loss and batches."""
        m, args = self.model, self.args
        m.net.train()
        if state["order"] is None or state["batch"] == 0:
            state["order"] = torch.randperm(n_train, generator=self.gen).tolist()
            if args.length_buckets and inputs.enc is not None:
                state["order"] = self._bucket(state["order"], inputs.enc)
        order = state["order"]
        batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        running = 0.0
        batch_bar = bar(
            f"epoch {epoch + 1}/{args.epochs}",
            len(batches),
            "batch",
            initial=state["batch"],
            position=1,
        )
        try:
            for b in range(state["batch"], len(batches)):
                loss = self._loss(self._logits(batches[b], inputs), y, w, batches[b])
                self.scaler.scale(loss / args.grad_accum).backward()
                running += loss.item()
                if (b + 1) % args.grad_accum == 0 or b + 1 == len(batches):
                    self._step(epoch, b, state)
                batch_bar.set_postfix(loss=f"{loss.item():.3f}", step=state["step"], refresh=False)
                batch_bar.update(1)
        finally:
            batch_bar.close()
        state["batch"] = 0
        state["order"] = None
        return running, len(batches)

    def _logits(self, idx: list[int], inputs: _Inputs) -> torch.Tensor:
        m = self.model
        with torch.autocast(m.device, enabled=m.device == "cuda"):
            if inputs.frozen is not None:
                x = inputs.frozen[idx]  # the siamese head standardises, then drops out
                return m.net.head(x if m.siamese else m.net.dropout(x))
            ids, mask, types = m._batch(inputs.enc, idx)
            return m.net(ids, mask, types)

    def _loss(self, logits: torch.Tensor, y, w, idx: list[int]) -> torch.Tensor:
        device = self.model.device
        y, w, logits = y[idx].to(device), w[idx].to(device), logits.float()
        if self.model.spec.kind == "multilabel":
            loss = nn.functional.binary_cross_entropy_with_logits(
                logits, y.float(), reduction="none"
            ).mean(dim=1)
        else:
            loss = nn.functional.cross_entropy(
                logits, y.long(), weight=self.class_weights, reduction="none"
            )
        return (loss * w).sum() / w.sum().clamp(min=1e-9)

    def _step(self, epoch: int, b: int, state: dict) -> None:
        """One optimiser step; a checkpoint every ``checkpoint_every`` steps and at a stop."""
        args = self.args
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.model.net.parameters(), 1.0)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        self.opt.zero_grad()
        state["step"] += 1
        self.report(state["step"], self.total)
        stop = args.stop_after_steps is not None and state["step"] >= args.stop_after_steps
        if self.ckpt_dir and (state["step"] % args.checkpoint_every == 0 or stop):
            state["batch"], state["epoch"] = b + 1, epoch
            self._checkpoint(state)
        if stop:
            raise TrainingInterrupted(state["step"])

    def _end_epoch(self, epoch: int, state: dict, metrics: dict[str, float]) -> bool:
        """Keep the best weights, checkpoint, and say whether patience has run out."""
        score = metrics.get("dev_score", -metrics["train_loss"])
        if score > state["best"] + 1e-6:
            state["best"], state["bad_epochs"] = score, 0
            state["best_epoch"] = epoch + 1
            net = self.model.net
            state["best_state"] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        if self.ckpt_dir:
            self._checkpoint(state)
        return state["bad_epochs"] >= self.args.patience

    def _bucket(self, order: list[int], enc) -> list[int]:
        """The shuffled order, sorted by length within chunks of 50 batches: batches pad to
        similar lengths (far less wasted compute on short sentences) yet stay random."""
        chunk = self.args.batch_size * 50
        out: list[int] = []
        for s in range(0, len(order), chunk):
            out += sorted(order[s : s + chunk], key=lambda i: len(enc.input_ids[i]))
        return out

    def _dev_metrics(self, dev: Examples | None, inputs: _Inputs) -> dict[str, float]:
        m = self.model
        if dev is None or (inputs.dev_enc is None and inputs.dev_frozen is None):
            return {}
        if inputs.dev_frozen is not None:
            return dev_metrics(m.spec.kind, dev.y, m._predict_features(inputs.dev_frozen))
        return dev_metrics(m.spec.kind, dev.y, m._predict_encoded(inputs.dev_enc))

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, state: dict) -> None:
        assert self.ckpt_dir is not None
        d = self.ckpt_dir
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "checkpoint.pt.tmp"
        torch.save(
            {
                "model": self.model.net.state_dict(),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "generator": self.gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate(),
                "state": {
                    **state,
                    "scaler": self.scaler.state_dict(),
                    "history": self.model.history,
                },
            },
            tmp,
        )
        tmp.replace(d / "checkpoint.pt")
        (d / "checkpoint.json").write_text(
            json.dumps({"epoch": state["epoch"], "step": state["step"], "batch": state["batch"]})
        )

    def _restore(self, path: Path) -> dict:
        f = path / "checkpoint.pt" if path.is_dir() else path
        ck = torch.load(f, map_location=self.model.device, weights_only=False)
        self.model.net.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        random.setstate(ck["python_rng"])
        return ck["state"]
