"""The transformer family: a sentence encoder with a classification head, for either task.

Multi-label gets a sigmoid head trained with BCE, multiclass a softmax head trained with
cross-entropy; a (target, text) pair is encoded as "target [SEP] text" (or, with
``pair_input: window``, only the sentences around the target). The model composes one
piece per job: ``inputs`` (tokens and batches), ``trainer`` (the loop), ``int8`` (CPU
inference), ``siamese`` (frozen pairs), ``network`` (the torch modules); this module is
the ``TextModel`` API and persistence. Bundles store the encoder, the head and
``transformer.json`` (config, history, inference mode and int8 scales).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.base import FitOptions, MetricLogger, ModelBundle, TextModel
from models.data import SPAN_CLOSE, SPAN_OPEN, Examples, TargetWindows, TaskSpec
from models.encoder import EmbeddingCache, pick_device, resolve_model_path, set_threads
from models.pairs import SimilarityFeatures
from models.transformer.config import TransformerConfig
from models.transformer.inputs import Encoded, TokenInputs
from models.transformer.int8 import Int8Inference, choose_inference
from models.transformer.network import Classifier, PairHead
from models.transformer.siamese import SiameseFeatures
from models.transformer.trainer import Trainer, TrainingArguments


class TransformerModel(TokenInputs, Int8Inference, SiameseFeatures, TextModel):
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

    def fit(
        self,
        train: Examples,
        dev: Examples | None = None,
        log: MetricLogger | None = None,
        options: FitOptions | None = None,
    ) -> None:
        """Train in place (``models.transformer.trainer``); ``stop_after_steps`` (the
        option, else the config's) checkpoints and stops there, on purpose."""
        opts = options or FitOptions()
        args = TrainingArguments.from_config(self.cfg, opts.stop_after_steps)
        Trainer(self, args).train(train, dev, log, opts)

    def check(self) -> None:
        resolve_model_path(self.cfg.model_name_or_path)

    def finalize(self, bundle: ModelBundle, data) -> ModelBundle:
        return choose_inference(bundle, data, self.cfg)

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
