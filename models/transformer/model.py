"""A fine-tuned transformer encoder with a classification head, for either task.

Multi-label gets a sigmoid head trained with BCE, multiclass a softmax head trained with
cross-entropy; a (target, text) pair is encoded as "target [SEP] text". Long articles
are not silently cut: ``head_tail`` keeps the first and the last tokens of the body
(the lead states the frame, the ending often the outlet's verdict). Measured on the
sample's frames dev split (MiniLM-L6, 256 tokens, seed 13): head_tail 0.623 micro-F1,
head 0.622, a tie on 36 documents; head_tail stays the default because it never drops
an article's conclusion, and ``long_text: head`` is one config value away.

Training is a plain torch loop: early stopping on dev, gradient accumulation, a seed for
everything, and checkpoints every N optimiser steps that hold model, optimiser,
scheduler, RNG states and the data order, so a resumed run reaches the same weights.
``freeze_encoder`` trains only the head on cached embeddings, for hardware that cannot
fine-tune. Inference sorts by length, pads per batch and fills each batch up to a token
budget (many short texts, few long ones) under ``torch.inference_mode``.

On CPU, inference can run int8 (``set_inference("int8")``), measured 1.3 to 1.4x the
fp32 rate on 2 cores: int8 weights, and activations quantised with one fixed scale per
Linear layer, calibrated on dev texts (``calibrate_int8``). A fixed scale matters: plain
dynamic quantisation picks each layer's activation scale from the whole batch, so a text's
probabilities moved by up to 0.005 with the texts it was batched with, and Spark (whose
batches are not ours) gave other labels than local scoring. Each text is also padded to a
length of its own (``pad_multiple``), since int8 rounding turns the float noise of a
different padded shape into visible changes. With both, a text scores bit for bit the
same in any batch and on any thread count (tested). The training stage keeps int8 only when the
dev metric drops by no more than a configured tolerance
(``pipelines.train.choose_inference``), and the bundle records the choice and the scales,
so the scorer that loads it predicts exactly as measured. Weights are always saved in fp32
and quantised again at load (the quantisation is deterministic); a GPU or MPS device always
runs fp32 (with fp16 autocast on CUDA), since the int8 kernels exist for CPU only.

A marked span (``[[mention]]``, see ``models.data.mark_spans``) reaches the encoder as
text: "mention [SEP] ... [[mention]] ...". With ``span_tokens`` the two markers become
new vocabulary entries (embeddings resized, saved with the bundle). ``pair_input:
siamese`` is the frozen mode for pairs of texts too many to fine-tune on (FNC-1's 50k
headline-body pairs): the target, the text and each of its sentences are encoded once
each, cached by content hash, and an MLP head reads [u, v, |u-v|, u*v] for the text and
for its sentence closest to the target (among its first ``siamese_sentences``; the text
itself when 0), plus ``models.pairs.SimilarityFeatures``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from labeling.functions import split_sentences
from models.base import FitOptions, MetricLogger, ModelBundle, TextModel
from models.data import SPAN_CLOSE, SPAN_OPEN, Examples, TargetWindows, TaskSpec
from models.encoder import (
    EmbeddingCache,
    mean_pool,
    pick_device,
    resolve_model_path,
    set_threads,
)
from models.metrics import fixed_rule_score, selection_metric
from models.pairs import SimilarityFeatures
from models.transformer.config import TransformerConfig


class TrainingInterrupted(RuntimeError):
    """Raised when training stops at ``stop_after_steps`` after writing a checkpoint."""

    def __init__(self, step: int) -> None:
        super().__init__(f"training stopped after optimiser step {step} (checkpoint written)")
        self.step = step


class Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        kw = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kw["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kw).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return self.head(self.dropout(self.embed(input_ids, attention_mask, token_type_ids)))


# The fused kernel quantises its input with a scale we give it and returns fp32: int8
# matrix products whose result for a row depends on that row alone.
_STATIC_OP = "linear_with_input_q_dq_qweight_dq_output_fp32"


class StaticInputInt8Linear(nn.Module):
    """An int8 Linear whose input quantisation is fixed: the calibrated [low, high] range
    (widened to hold 0) onto 7 bits, asymmetric as dynamic quantisation is, so a layer fed
    by GELU (almost all positive) keeps the full resolution. x86 int8 kernels keep
    activations to 7 bits so their 16-bit pair sums cannot saturate; inputs outside the
    range are clipped to it for the same reason."""

    def __init__(self, dynamic: nn.Module, bound: list[float]) -> None:
        super().__init__()
        self.packed = dynamic._packed_params._packed_params
        lo, hi = bound
        self.low, self.high = min(float(lo), 0.0), max(float(hi), 0.0)
        self.scale = max(self.high - self.low, 1e-6) / 127
        self.zero_point = min(127, max(0, round(-self.low / self.scale)))
        self.in_features, self.out_features = dynamic.in_features, dynamic.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(self.low, self.high)
        op = getattr(torch.ops.quantized, _STATIC_OP)
        return op(x, self.scale, self.zero_point, self.packed)


def quantize_int8(net: nn.Module, bounds: dict[str, list[float]] | None = None) -> nn.Module | None:
    """A copy of ``net`` with every Linear layer int8: the encoder's matrix products are
    almost all of CPU inference time. With ``bounds`` (input [min, max] per Linear, from
    ``calibrate_int8``) each layer's activation scale is fixed, so predictions do not
    depend on batch composition; without, scales follow each batch (plain dynamic).
    None when this torch build has no quantisation (``torch.ao.quantization`` is
    deprecated upstream), so callers fall back to fp32 instead of failing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            from torch.ao.quantization import quantize_dynamic

            q = quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
    except (ImportError, AttributeError, RuntimeError, NotImplementedError) as exc:
        warnings.warn(f"int8 dynamic quantisation unavailable ({exc}); using fp32", stacklevel=2)
        return None
    if bounds:
        if not hasattr(torch.ops.quantized, _STATIC_OP):
            warnings.warn(
                f"torch {torch.__version__} lacks quantized::{_STATIC_OP}; int8 scales "
                "follow each batch, so a text's scores depend slightly on its batch",
                stacklevel=2,
            )
        else:
            for parent_name, parent in list(q.named_modules()):
                for name, child in list(parent.named_children()):
                    full = f"{parent_name}.{name}" if parent_name else name
                    if full in bounds:
                        setattr(parent, name, StaticInputInt8Linear(child, bounds[full]))
    return q.eval()


class PairHead(nn.Module):
    """The siamese head: standardised pair features into one hidden layer."""

    def __init__(self, n_in: int, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels)
        )

    def forward(self, x):
        return self.mlp((x - self.mean) / self.std)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Encoded:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]


class TransformerModel(TextModel):
    family = "transformer"

    def __init__(
        self, spec: TaskSpec, cfg: TransformerConfig | None = None, seed: int = 13
    ) -> None:
        super().__init__(spec, seed)
        self.cfg = cfg or TransformerConfig()
        self.net: Classifier | None = None
        self.tokenizer = None
        self.device = "cpu"
        self.history: list[dict[str, float]] = []
        self.inference = "fp32"  # or "int8": see set_inference
        self._int8: nn.Module | None = None
        self.int8_bounds: dict[str, list[float]] = {}  # Linear input range: calibrate_int8
        self.windows = TargetWindows(spec, self.cfg.target_window)
        self.similarity: SimilarityFeatures | None = None  # siamese mode only
        self._cache: EmbeddingCache | None = None

    @property
    def siamese(self) -> bool:
        return self.spec.pair and self.cfg.pair_input == "siamese"

    @property
    def mode(self) -> str:
        """What ran, for reports: fine-tuned, or a frozen encoder with a trained head."""
        if self.siamese:
            return "frozen-encoder siamese head"
        return "frozen-encoder head" if self.cfg.freeze_encoder else "fine-tuned"

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        set_threads(self.cfg.threads)
        path = resolve_model_path(self.cfg.model_name_or_path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.model_max_length = 1 << 30  # we cut long bodies ourselves (head+tail)
        if self.cfg.init == "random":
            conf = AutoConfig.from_pretrained(path)
            for k, v in self.cfg.random_config.items():
                setattr(conf, k, v)
            encoder = AutoModel.from_config(conf)
        else:
            encoder = AutoModel.from_pretrained(path)
        if self.cfg.span_tokens and self.spec.pair:
            # Markers as two new tokens rather than "[", "[": one embedding each, learnt.
            self.tokenizer.add_tokens([SPAN_OPEN, SPAN_CLOSE], special_tokens=True)
            encoder.resize_token_embeddings(len(self.tokenizer))
        self.net = Classifier(encoder, len(self.spec.labels))
        self.device = pick_device(self.cfg.device)
        self.net.to(self.device)
        self.inference, self._int8 = "fp32", None  # training always runs fp32
        self.int8_bounds = {}  # new weights: calibrate again

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: list[str], targets: list[str] | None) -> Encoded:
        """Token ids with special tokens; long bodies keep their head and their tail.

        The cut is made on character offsets of the body's tokens, then the tokenizer
        builds the (target, text) input itself, so any tokenizer's special tokens work.
        """
        tok = self.tokenizer
        first = (
            [self.spec.target_text(t) for t in targets] if (self.spec.pair and targets) else None
        )
        if first and targets and self.cfg.pair_input == "window":
            # Only the sentences around the target's mentions: where stance toward it is
            # said, and far shorter than the article; the article when none is found.
            texts = [self.windows(x, t) or x for x, t in zip(texts, targets, strict=True)]
        bodies = self._shorten_all(list(texts), first)
        enc = (
            tok(first, bodies, truncation="only_second", max_length=self.cfg.max_length)
            if first
            else tok(bodies, truncation=True, max_length=self.cfg.max_length)
        )
        ids = enc["input_ids"]
        types = enc.get("token_type_ids") or [[0] * len(x) for x in ids]
        return Encoded(ids, types)

    def _shorten_all(self, texts: list[str], first: list[str] | None) -> list[str]:
        """Cut every text to its token budget, tokenizing the batch once (fast tokenizer)."""
        tok = self.tokenizer
        special = tok.num_special_tokens_to_add(pair=first is not None)
        a_lens = (
            [len(x) for x in tok(first, add_special_tokens=False)["input_ids"]]
            if first
            else [0] * len(texts)
        )
        offsets = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        return [
            self._cut(t, off, max(self.cfg.max_length - special - a, 8))
            for t, off, a in zip(texts, offsets, a_lens, strict=True)
        ]

    def _shorten(self, text: str, first: str | None) -> str:
        return self._shorten_all([text], [first] if first else None)[0]

    def _cut(self, text: str, offsets: list[tuple[int, int]], budget: int) -> str:
        if len(offsets) <= budget:
            return text
        if self.cfg.long_text == "head":
            return text[: offsets[budget - 1][1]]
        head = round(budget * self.cfg.head_fraction)
        tail = budget - head
        head_text = text[: offsets[head - 1][1]] if head > 0 else ""
        tail_text = text[offsets[len(offsets) - tail][0] :] if tail > 0 else ""
        return f"{head_text} {tail_text}".strip()

    def _padded(self, length: int) -> int:
        """The inference length of a text of ``length`` tokens: the next multiple of
        ``pad_multiple`` (at most ``max_length``). A function of the text alone, so a text
        has the same shape in every batch: int8 rounding turns the last-bit float noise
        of a different padded shape into visible score changes (measured 1.6e-3 with
        MiniLM, 0 with this padding; tests/test_inference.py)."""
        m = self.cfg.pad_multiple
        return max(length, min(-(-length // m) * m, self.cfg.max_length))

    def _batch(self, enc: Encoded, idx: list[int], padded: bool = False):
        pad = self.tokenizer.pad_token_id or 0
        n = max(len(enc.input_ids[i]) for i in idx)
        if padded:
            n = self._padded(n)
        ids = torch.full((len(idx), n), pad, dtype=torch.long)
        types = torch.zeros((len(idx), n), dtype=torch.long)
        mask = torch.zeros((len(idx), n), dtype=torch.long)
        for r, i in enumerate(idx):
            L = len(enc.input_ids[i])
            ids[r, :L] = torch.tensor(enc.input_ids[i])
            types[r, :L] = torch.tensor(enc.token_type_ids[i])
            mask[r, :L] = 1
        return ids.to(self.device), mask.to(self.device), types.to(self.device)

    # ------------------------------------------------------------------ training
    def _loss(self, logits, y, w):
        if self.spec.kind == "multilabel":
            loss = nn.functional.binary_cross_entropy_with_logits(
                logits, y.float(), reduction="none"
            ).mean(dim=1)
        else:
            loss = nn.functional.cross_entropy(
                logits, y.long(), weight=self.class_weights, reduction="none"
            )
        return (loss * w).sum() / w.sum().clamp(min=1e-9)

    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        """Train; ``stop_after_steps`` (the option, else the config's) checkpoints and stops
        there, an interruption on purpose. ``on_step(step, total)`` reports optimiser steps,
        so the caller owns any progress bar."""
        opts = options or FitOptions()
        stop_after_steps = (
            opts.stop_after_steps
            if opts.stop_after_steps is not None
            else self.cfg.stop_after_steps
        )
        seed_everything(self.seed)
        self._build()
        assert self.net is not None
        cfg = self.cfg
        has_dev = dev is not None and len(dev) > 0
        frozen = dev_frozen = enc = dev_enc = None
        if self.siamese:
            for p in self.net.encoder.parameters():
                p.requires_grad = False
            frozen = self._fit_pair_head(train)
            dev_frozen = self._pair_features(dev.texts, dev.targets) if has_dev else None
        else:
            enc = self.encode(train.texts, train.targets)
            dev_enc = self.encode(dev.texts, dev.targets) if has_dev else None
        y = torch.tensor(train.y)
        self.class_weights = None
        if self.spec.kind == "multiclass" and cfg.class_weight == "balanced":
            counts = np.bincount(train.y, minlength=len(self.spec.labels)).astype(float)
            weights = len(train.y) / (len(counts) * np.maximum(counts, 1))
            self.class_weights = torch.tensor(weights, dtype=torch.float32, device=self.device)
        w = torch.tensor(
            train.weights if train.weights is not None else np.ones(len(train)), dtype=torch.float32
        )
        if cfg.freeze_encoder and frozen is None:
            # The encoder never changes, so each text is encoded once, up front, and the
            # epochs train only the head on those vectors.
            for p in self.net.encoder.parameters():
                p.requires_grad = False
            frozen = self._embed_all(enc)
            # Likewise the dev texts: early stopping then costs a head pass per epoch, not
            # a full encoder pass over the dev set (most of a frozen run's time before).
            dev_frozen = self._embed_all(dev_enc) if dev_enc is not None else None
        head_params = list(self.net.head.parameters())
        enc_params = [p for p in self.net.encoder.parameters() if p.requires_grad]
        groups = [{"params": head_params, "lr": cfg.head_lr}]
        if enc_params:
            groups.append({"params": enc_params, "lr": cfg.lr})
        opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        steps_per_epoch = max(1, -(-len(train) // (cfg.batch_size * cfg.grad_accum)))
        total = steps_per_epoch * cfg.epochs
        from transformers import get_linear_schedule_with_warmup

        sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total), total)
        gen = torch.Generator().manual_seed(self.seed)
        # fp16 autocast on CUDA needs loss scaling, or small gradients underflow to zero;
        # disabled elsewhere, where every call below passes straight through.
        scaler = torch.amp.GradScaler("cuda", enabled=self.device == "cuda")
        state = {
            "epoch": 0,
            "step": 0,
            "best": float("-inf"),
            "bad_epochs": 0,
            "batch": 0,
            "order": None,
            "best_state": None,
        }
        if opts.resume_from:
            state = self._restore(Path(opts.resume_from), opt, sched, gen)
            if state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
        ckpt_dir = Path(opts.checkpoint_dir) if opts.checkpoint_dir else None
        self.history = state.get("history", [])
        report = opts.on_step or (lambda step, total: None)
        report(state["step"], total)
        for epoch in range(state["epoch"], cfg.epochs):
            self.net.train()
            if state["order"] is None or state["batch"] == 0:
                state["order"] = torch.randperm(len(train), generator=gen).tolist()
                if cfg.length_buckets and enc is not None:
                    state["order"] = self._bucket(state["order"], enc)
            order = state["order"]
            batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            running = 0.0
            for b in range(state["batch"], len(batches)):
                idx = batches[b]
                with torch.autocast(self.device, enabled=self.device == "cuda"):
                    if frozen is not None:
                        x = frozen[idx]  # the siamese head standardises, then drops out
                        logits = self.net.head(x if self.siamese else self.net.dropout(x))
                    else:
                        ids, mask, types = self._batch(enc, idx)
                        logits = self.net(ids, mask, types)
                    loss = self._loss(
                        logits.float(), y[idx].to(self.device), w[idx].to(self.device)
                    )
                scaler.scale(loss / cfg.grad_accum).backward()
                running += loss.item()
                if (b + 1) % cfg.grad_accum == 0 or b + 1 == len(batches):
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                    scaler.step(opt)
                    scaler.update()
                    sched.step()
                    opt.zero_grad()
                    state["step"] += 1
                    report(state["step"], total)
                    stop = stop_after_steps is not None and state["step"] >= stop_after_steps
                    if ckpt_dir and (state["step"] % cfg.checkpoint_every == 0 or stop):
                        state["batch"], state["epoch"] = b + 1, epoch
                        self._checkpoint(
                            ckpt_dir, opt, sched, gen, {**state, "scaler": scaler.state_dict()}
                        )
                    if stop:
                        raise TrainingInterrupted(state["step"])
            state["batch"] = 0
            state["order"] = None
            metrics = {"train_loss": running / max(len(batches), 1)}
            if dev is not None and (dev_enc is not None or dev_frozen is not None):
                probs = (
                    self._predict_features(dev_frozen)
                    if dev_frozen is not None
                    else self._predict_encoded(dev_enc)
                )
                metrics.update(self._dev_metrics(dev, probs))
            self.history.append({"epoch": epoch + 1, **metrics})
            if log:
                log(metrics, epoch + 1)
            score = metrics.get("dev_score", -metrics["train_loss"])
            if score > state["best"] + 1e-6:
                state["best"], state["bad_epochs"] = score, 0
                state["best_state"] = {
                    k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()
                }
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch + 1
            if ckpt_dir:
                self._checkpoint(
                    ckpt_dir, opt, sched, gen, {**state, "scaler": scaler.state_dict()}
                )
            if state["bad_epochs"] >= cfg.patience:
                break
        if state.get("best_state") is not None:
            self.net.load_state_dict(state["best_state"])

    def _bucket(self, order: list[int], enc: Encoded) -> list[int]:
        """The shuffled order, sorted by length within chunks of 50 batches: batches pad to
        similar lengths (far less wasted compute on short sentences) yet stay random."""
        chunk = self.cfg.batch_size * 50
        out: list[int] = []
        for s in range(0, len(order), chunk):
            out += sorted(order[s : s + chunk], key=lambda i: len(enc.input_ids[i]))
        return out

    def _dev_metrics(self, dev: Examples, probs: np.ndarray) -> dict[str, float]:
        """What early stopping watches: dev loss for multi-label (F1 at a fixed 0.5 threshold
        is flat at zero for the first epochs of a many-label head and would stop training
        before it learns), dev macro-F1 for multiclass (loss favours a timid model that
        predicts the majority class)."""
        p = np.clip(probs, 1e-7, 1 - 1e-7)
        if self.spec.kind == "multilabel":
            loss = float(-(dev.y * np.log(p) + (1 - dev.y) * np.log(1 - p)).mean())
        else:
            loss = float(-np.log(p[np.arange(len(dev.y)), dev.y]).mean())
        f = fixed_rule_score(self.spec.kind, dev.y, probs)
        score = -loss if self.spec.kind == "multilabel" else f
        return {"dev_loss": loss, f"dev_{selection_metric(self.spec.kind)}": f, "dev_score": score}

    def _checkpoint(self, d: Path, opt, sched, gen, state) -> None:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "checkpoint.pt.tmp"
        torch.save(
            {
                "model": self.net.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate(),
                "state": {**state, "history": self.history},
            },
            tmp,
        )
        tmp.replace(d / "checkpoint.pt")
        (d / "checkpoint.json").write_text(
            json.dumps({"epoch": state["epoch"], "step": state["step"], "batch": state["batch"]})
        )

    def _restore(self, path: Path, opt, sched, gen) -> dict:
        f = path / "checkpoint.pt" if path.is_dir() else path
        ck = torch.load(f, map_location=self.device, weights_only=False)
        self.net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        random.setstate(ck["python_rng"])
        return ck["state"]

    # ------------------------------------------------------------------ inference
    def check(self) -> None:
        resolve_model_path(self.cfg.model_name_or_path)

    def finalize(self, bundle: ModelBundle, data) -> ModelBundle:
        from models.training import choose_inference  # it calibrates through the training path

        return choose_inference(bundle, data, self.cfg)

    def set_inference(self, mode: str) -> str:
        """Predict with ``"int8"`` (dynamically quantised Linear layers) or ``"fp32"``.

        Returns the mode in force: int8 falls back to fp32 off CPU, where the quantised
        kernels do not exist, or when this torch cannot quantise.
        """
        if mode not in ("fp32", "int8"):
            raise ValueError(f"inference mode {mode!r}: expected 'fp32' or 'int8'")
        if self.net is None:
            raise RuntimeError("model is not fitted")
        if mode == "int8" and self.device == "cpu":
            if self._int8 is None:
                self._int8 = quantize_int8(self.net, self.int8_bounds)
            if self._int8 is not None:
                self.inference = "int8"
                return self.inference
        self.inference, self._int8 = "fp32", None
        return self.inference

    def calibrate_int8(
        self, texts: list[str], targets: list[str] | None = None, limit: int = 256
    ) -> dict[str, list[float]]:
        """Fix int8's activation scales: the smallest and largest input of every Linear
        layer over (at most ``limit``) ``texts``, run in fp32. Inputs beyond them met later
        are clipped; transformer outliers sit in the same few hidden dimensions for every
        text, so a few dozen dev texts already reach the extremes. Drops any int8 copy
        built before."""
        if self.net is None:
            raise RuntimeError("model is not fitted")
        if self.siamese:
            return {}  # the siamese path embeds with the fp32 encoder: nothing to quantise
        bounds: dict[str, list[float]] = {}
        hooks = []
        for name, mod in self.net.named_modules():
            if isinstance(mod, nn.Linear):

                def seen(_m, inputs, _out, name: str = name) -> None:
                    lo, hi = bounds.get(name, [0.0, 0.0])
                    x = inputs[0]
                    bounds[name] = [min(lo, float(x.min())), max(hi, float(x.max()))]

                hooks.append(mod.register_forward_hook(seen))
        mode = self.inference
        self.inference = "fp32"
        try:
            n = min(len(texts), limit)
            self._predict_encoded(self.encode(list(texts[:n]), targets[:n] if targets else None))
        finally:
            for h in hooks:
                h.remove()
            self.inference = mode
        self.int8_bounds, self._int8 = bounds, None
        if mode == "int8":
            self.set_inference("int8")
        return bounds

    def _inference_net(self) -> Classifier:
        assert self.net is not None
        net = self._int8 if self.inference == "int8" and self._int8 is not None else self.net
        net.eval()
        return net  # type: ignore[return-value]

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Length-sorted batches of at most ``eval_batch_size`` texts and
        ``eval_batch_tokens`` padded tokens: short texts go many to a batch, long ones few,
        so per-batch overhead is paid rarely and no batch outgrows the cache. A batch
        holds one padded length only (``_padded``)."""
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        budget = self.cfg.eval_batch_tokens
        batches: list[list[int]] = []
        cur: list[int] = []
        cur_n = 0  # the padded length of the batch being filled
        for i in order:  # ascending: the newest text is the longest of its batch
            n = self._padded(lengths[i])
            if cur and (
                len(cur) >= self.cfg.eval_batch_size or (len(cur) + 1) * n > budget or n != cur_n
            ):
                batches.append(cur)
                cur = []
            cur.append(i)
            cur_n = n
        if cur:
            batches.append(cur)
        return batches

    def _embed_all(self, enc: Encoded) -> torch.Tensor:
        """Pooled encoder output for every text, length-sorted batches, no gradients."""
        assert self.net is not None
        self.net.eval()
        n = len(enc.input_ids)
        out = torch.zeros((n, self.net.encoder.config.hidden_size), device=self.device)
        with torch.inference_mode():
            for idx in self._batches([len(x) for x in enc.input_ids]):
                out[idx] = self.net.embed(*self._batch(enc, idx, padded=True)).float()
        return out.clone()  # a normal tensor: inference tensors cannot enter autograd

    def _predict_encoded(self, enc: Encoded) -> np.ndarray:
        net = self._inference_net()
        n = len(enc.input_ids)
        out = np.zeros((n, len(self.spec.labels)), dtype=np.float64)
        amp = torch.autocast(self.device, enabled=self.device == "cuda")  # fp16 where it exists
        with torch.inference_mode(), amp:
            for idx in self._batches([len(x) for x in enc.input_ids]):
                ids, mask, types = self._batch(enc, idx, padded=True)
                logits = net(ids, mask, types).float()
                p = (
                    torch.sigmoid(logits)
                    if self.spec.kind == "multilabel"
                    else torch.softmax(logits, dim=-1)
                )
                out[idx] = p.cpu().numpy()
        return out

    def predict_proba(self, texts: list[str], targets: list[str] | None = None) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("model is not fitted")
        if not texts:
            return np.zeros((0, len(self.spec.labels)))
        if self.siamese:
            return self._predict_features(self._pair_features(texts, targets))
        return self._predict_encoded(self.encode(texts, targets))

    # ------------------------------------------------------------------ siamese (frozen)
    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings, each distinct text encoded once (cached by content hash)."""
        if self._cache is None:
            key = f"{self.cfg.model_name_or_path}|{self.cfg.max_length}|{self.cfg.long_text}"
            self._cache = EmbeddingCache(self.cfg.embedding_cache, key)
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        unique = dict(zip(keys, texts, strict=True))
        self._cache.encode(
            SimpleNamespace(encode=self.encode_texts), list(unique), list(unique.values())
        )
        out = np.stack([self._cache.get(k) for k in keys]) if keys else np.zeros((0, 0))
        return out.astype(np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """The EmbeddingCache's encoder interface: mean-pooled, normalised, no gradients."""
        if not texts:
            return np.zeros((0, self.net.encoder.config.hidden_size), dtype=np.float32)
        vecs = self._embed_all(self.encode(texts, None))
        return torch.nn.functional.normalize(vecs, dim=-1).cpu().numpy()

    def _pair_features(self, texts: list[str], targets: list[str] | None) -> torch.Tensor:
        """[u, v, |u-v|, u*v] for the text and for its sentence closest to the target,
        the cosines, and the similarity features: one row per pair."""
        if not targets:
            raise ValueError("siamese pair input needs a target for every text")
        first = [self.spec.target_text(t) for t in targets]
        U = self._embed_texts(first)
        V = self._embed_texts(list(texts))
        n = self.cfg.siamese_sentences
        # Without sentences, the text stands in for its closest sentence (same width).
        sents = {t: (split_sentences(t)[:n] or [t]) if n else [t] for t in dict.fromkeys(texts)}
        flat = [s for ss in sents.values() for s in ss]
        S_all = self._embed_texts(flat)
        start, pos = 0, {}
        for t, ss in sents.items():
            pos[t] = (start, start + len(ss))
            start += len(ss)
        S = np.zeros_like(U)
        cos = np.zeros((len(texts), 3), dtype=np.float32)
        for i, t in enumerate(texts):
            a, b = pos[t]
            c = S_all[a:b] @ U[i]
            j = int(np.argmax(c))
            S[i] = S_all[a + j]
            top = np.sort(c)[::-1][:3]
            cos[i] = (float(U[i] @ V[i]), float(top[0]), float(top.mean()))
        parts = [U, V, np.abs(U - V), U * V, S, np.abs(U - S), U * S, cos]
        if self.similarity is not None:
            import pandas as pd

            parts.append(
                self.similarity.transform(pd.DataFrame({"target": first, "text": list(texts)}))
            )
        return torch.tensor(np.hstack(parts), dtype=torch.float32, device=self.device)

    def _fit_pair_head(self, train: Examples) -> torch.Tensor:
        """Fit the similarity features, build the head for their width, return train rows."""
        import pandas as pd

        assert self.net is not None
        first = [self.spec.target_text(t) for t in (train.targets or [])]
        self.similarity = SimilarityFeatures().fit(
            pd.DataFrame({"target": first, "text": train.texts})
        )
        X = self._pair_features(train.texts, train.targets)
        head = PairHead(X.shape[1], self.cfg.siamese_hidden, len(self.spec.labels))
        head.mean.copy_(X.mean(0))
        head.std.copy_(X.std(0).clamp(min=1e-4))
        self.net.head = head.to(self.device)
        return X

    def _predict_features(self, X: torch.Tensor) -> np.ndarray:
        assert self.net is not None
        self.net.eval()
        with torch.inference_mode():
            logits = self.net.head(X).float()
        p = torch.sigmoid(logits) if self.spec.kind == "multilabel" else torch.softmax(logits, -1)
        return p.cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        assert self.net is not None
        path.mkdir(parents=True, exist_ok=True)
        self.net.encoder.save_pretrained(path / "encoder")
        self.tokenizer.save_pretrained(path / "encoder")
        torch.save(self.net.head.state_dict(), path / "head.pt")
        cfg = self.cfg.model_dump()
        cfg["model_name_or_path"] = "(bundled)"
        cfg["embedding_cache"] = None
        meta: dict = {
            "cfg": cfg,
            "history": self.history,
            "inference": self.inference,
            "int8_bounds": self.int8_bounds,
        }
        if self.siamese:
            meta["head_inputs"] = int(self.net.head.mean.shape[0])
            with (path / "similarity.pkl").open("wb") as fh:
                pickle.dump(self.similarity, fh)
        (path / "transformer.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path, spec: TaskSpec) -> TransformerModel:
        from transformers import AutoModel, AutoTokenizer

        meta = json.loads((path / "transformer.json").read_text())
        cfg = TransformerConfig(
            **{**meta["cfg"], "model_name_or_path": str(path / "encoder"), "init": "pretrained"}
        )
        m = cls(spec, cfg)
        set_threads(cfg.threads)
        m.tokenizer = AutoTokenizer.from_pretrained(path / "encoder")
        m.tokenizer.model_max_length = 1 << 30
        encoder = AutoModel.from_pretrained(path / "encoder")
        m.net = Classifier(encoder, len(spec.labels))
        if m.siamese:
            m.net.head = PairHead(meta["head_inputs"], cfg.siamese_hidden, len(spec.labels))
            with (path / "similarity.pkl").open("rb") as fh:
                m.similarity = pickle.load(fh)
        m.net.head.load_state_dict(torch.load(path / "head.pt", map_location="cpu"))
        m.device = pick_device(cfg.device)
        m.net.to(m.device).eval()
        m.history = meta.get("history", [])
        m.int8_bounds = meta.get("int8_bounds", {})  # older bundles: per-batch int8 scales
        m.set_inference(meta.get("inference", "fp32"))  # as chosen, and measured, in training
        return m
