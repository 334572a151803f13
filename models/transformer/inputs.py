"""From texts to padded token batches: the one place a text's length and shape are decided.

Long bodies keep their head and tail (the lead states the frame, the ending often the
outlet's verdict); at inference each text is padded to a length of its own, so its scores
never depend on the texts it is batched with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Encoded:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]


class TokenInputs:
    """Tokenizing and batching for ``TransformerModel`` (``cfg``, ``spec``, ``tokenizer``,
    ``windows`` and ``device`` are the model's)."""

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
