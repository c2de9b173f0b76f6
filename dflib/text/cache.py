"""Wrappers around a frozen text encoder: sentence vectors scaled by a constant, and memoised per caption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .base import TextEncoder, TextFeatures, freeze

__all__ = ["ScaledTextEncoder", "SentenceCache"]


class ScaledTextEncoder(TextEncoder):
    """Multiplies the sentence vectors of a frozen encoder by ``scale`` (``TrainConfig.text_scale``).

    DF-GAN's affines read ``cat([z, s])``: with a unit-norm sentence vector (MiniLM) next to a
    ``z_dim``-dimensional N(0, 1) noise the text is a small part of the condition; scaling it up makes the
    generator pick up the caption sooner. Word features are left as they are.
    """

    def __init__(self, encoder: TextEncoder, scale: float) -> None:
        super().__init__()
        self.inner, self.scale, self.dim = encoder, float(scale), int(encoder.dim)
        freeze(self)

    def _scaled(self, f: TextFeatures) -> TextFeatures:
        return TextFeatures(f.sent * self.scale, f.words, f.mask)

    def encode(self, captions: list[str]) -> TextFeatures:
        return self._scaled(self.inner.encode(captions))

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        return self._scaled(self.inner.encode_batch(batch))


class SentenceCache:
    """Sentence vectors memoised per caption (CPU tensors); valid for deterministic frozen encoders.

    Each new caption is encoded on its own (a batch of one): a padded batch changes the order of
    floating-point sums (MiniLM differs by ~1e-7 with the batch around a caption), so this way a caption's
    vector does not depend on which captions it first came with, and a resumed run, which rebuilds the
    cache in another order, gets bit-identical vectors.
    """

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.table: dict[str, Tensor] = {}

    def __call__(self, batch: Mapping[str, Any]) -> Tensor:
        caps = list(batch["caption"])
        missing = sorted({c for c in caps if c not in self.table})
        for c in missing:
            row = caps.index(c)  # first row of the new caption
            sub: dict[str, Any] = {"caption": [c]}
            for key in ("tokens", "length"):  # token-based encoders (DAMSM) read these
                if key in batch:
                    sub[key] = batch[key][row : row + 1]
            with torch.no_grad():
                self.table[c] = self.encoder.encode_batch(sub).sent[0].detach().float().cpu()
        return torch.stack([self.table[c] for c in caps])

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        """Encoder-like access (sentence vectors only; ``words``/``mask`` are None)."""
        return TextFeatures(self(batch), None, None)  # type: ignore[arg-type]
