"""CPU inference in int8 with fixed activation scales, kept only where it costs little.

Plain dynamic quantisation picks each layer's activation scale from the whole batch, so a
text's probabilities would move with its batch (and Spark, whose batches are not ours,
would disagree with local scoring). Each Linear layer's input range is instead measured
once on dev texts and stored in the bundle; training keeps int8 only when the dev
selection metric drops by at most ``quantize_tolerance``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from models.transformer.config import TransformerConfig

if TYPE_CHECKING:
    from models.base import ModelBundle
    from models.training import TaskData
    from models.transformer.network import Classifier


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


class Int8Inference:
    """The int8 inference mode of ``TransformerModel`` (``net``, ``device`` and
    ``inference`` are the model's)."""

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


def choose_inference(bundle: ModelBundle, data: TaskData, tcfg: TransformerConfig) -> ModelBundle:
    """Keep int8 CPU inference only if it costs at most ``quantize_tolerance`` on dev.

    int8 is faster on CPU (bench/RESULTS.md), but what it costs in accuracy depends on
    the model, so it is measured on every trained model rather than assumed: the fp32
    and the int8 model each get their own temperature and thresholds on dev and
    are scored with the selection metric. Both scores and the decision go into the
    bundle (``info["inference"]``) and the run; the bundle predicts in the mode chosen.
    """
    from models.training import calibrated, selection_score  # training imports this family

    model: Any = bundle.model
    name, fp32 = selection_score(bundle, data)
    record: dict[str, Any] = {
        "policy": tcfg.quantize,
        "tolerance": tcfg.quantize_tolerance,
        "metric": name,
        "fp32": fp32,
    }
    chosen = bundle
    if tcfg.quantize != "never":
        model.calibrate_int8(data.dev.texts, data.dev.targets)  # fixed int8 scales
        if model.set_inference("int8") == "int8":
            int8_bundle = calibrated(model, data)
            _, int8 = selection_score(int8_bundle, data)
            record["int8"] = int8
            drop = fp32 - int8
            if tcfg.quantize == "always" or drop <= tcfg.quantize_tolerance:
                chosen = int8_bundle
            else:
                record["reason"] = f"int8 drops {name} by {drop:.4f} > {tcfg.quantize_tolerance}"
                model.set_inference("fp32")
        else:
            record["reason"] = f"int8 unavailable on {model.device}"
    record["mode"] = model.inference
    chosen.info["inference"] = record
    return chosen
