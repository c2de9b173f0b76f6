"""A bag-of-words encoder: fixed random word vectors (from a hash of the word), summed and divided by the
square root of the word count, so each component of the sentence vector has unit variance whatever the
caption's length (a mean would shrink it as captions get longer).

It has no parameters and knows nothing about meaning (a synonym is as far as any other word), but every word
gets its own random direction, so captions that differ in one word differ clearly: "on the left" and "on
the right" have cosine 0.99 under MiniLM and far less here (notebook 07). That is why the `make train`
preset (``shapes-32-cpu``, a closed set of synthetic captions) uses it; it is also deterministic and
instant, so the unit tests and smoke runs use it where DAMSM or MiniLM would be slow or need files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..data.vocab import tokenize
from .base import TextEncoder, TextFeatures, check_captions, freeze

__all__ = ["BagOfWordsEncoder"]


class BagOfWordsEncoder(TextEncoder):
    """The encoder of the module docstring (0 parameters, deterministic): the sentence vector is the sum of
    the fixed random vectors of the caption's first ``words_num`` words divided by the square root of that count."""

    def __init__(self, dim: int = 32, words_num: int = 18, seed: int = 0) -> None:
        super().__init__()
        self.dim, self.words_num, self.seed = int(dim), int(words_num), int(seed)
        freeze(self)

    def _word(self, w: str) -> Tensor:
        h = int.from_bytes(hashlib.sha256(f"{self.seed}:{w}".encode()).digest()[:8], "little")
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(h % 2**63))

    def encode(self, captions: list[str]) -> TextFeatures:
        captions = check_captions(captions)
        toks = [tokenize(c)[: self.words_num] or ["<end>"] for c in captions]
        T = max(len(t) for t in toks)
        words = torch.zeros(len(toks), self.dim, T)
        mask = torch.zeros(len(toks), T, dtype=torch.bool)
        for i, t in enumerate(toks):
            for j, w in enumerate(t):
                words[i, :, j] = self._word(w)
            mask[i, : len(t)] = True
        sent = words.sum(2) / mask.sum(1, keepdim=True).clamp(min=1).sqrt()
        return TextFeatures(sent, words, mask)

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        return self.encode(list(batch["caption"]))
