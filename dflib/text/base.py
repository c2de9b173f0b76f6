"""The interface every text encoder in ``dflib.text`` shares.

A text encoder is an ``nn.Module`` with an attribute ``dim`` (sentence-vector size) and
``encode(captions)`` / ``encode_batch(batch)``, both returning ``TextFeatures(sent, words, mask)``:
``sent (B, D)``, ``words (B, D, T)``, ``mask (B, T)`` bool with True on real tokens.

DF-GAN uses the encoder frozen: ``eval()`` and ``requires_grad=False`` (docs/official_behaviour.md). ``freeze``
does both and makes later ``.train()`` calls keep the encoder in eval mode, so that a training loop which
switches a parent module to train mode cannot turn dropout back on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["TextFeatures", "TextEncoder", "freeze", "check_captions"]


class TextFeatures(NamedTuple):
    """What ``encode`` returns; a tuple, so ``sent, words, mask = enc.encode(captions)`` works."""

    sent: Tensor  # (B, D)
    words: Tensor  # (B, D, T)
    mask: Tensor  # (B, T) bool, True = real token


class TextEncoder(nn.Module):
    """Base class: subclasses set ``self.dim`` and implement ``encode`` and ``encode_batch``."""

    dim: int

    def __init__(self) -> None:
        super().__init__()
        self.frozen = False

    def encode(self, captions: list[str]) -> TextFeatures:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """The device of the encoder's first parameter (CPU when it has none)."""
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def train(self, mode: bool = True) -> "TextEncoder":
        """Like ``nn.Module.train``, but a frozen encoder always stays in eval mode."""
        return super().train(False if self.frozen else mode)


def freeze(encoder: nn.Module) -> nn.Module:
    """Put ``encoder`` in eval mode and switch off gradients of all its parameters (docs/official_behaviour.md §8)."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    if isinstance(encoder, TextEncoder):
        encoder.frozen = True
    encoder.eval()
    return encoder


def check_captions(captions: Any) -> list[str]:
    """Validate ``captions`` (a non-empty list of strings) and return it as a list."""
    if isinstance(captions, str):
        raise TypeError(f"encode() takes a list of captions, not one string: use encode([{captions!r}])")
    captions = list(captions)
    if not captions:
        raise ValueError("encode() got an empty list of captions")
    bad = [c for c in captions if not isinstance(c, str)]
    if bad:
        raise TypeError(f"every caption must be a str; got {type(bad[0]).__name__}: {bad[0]!r}")
    return captions

