"""Text encoders for DF-GAN: the DAMSM BiLSTM (spec Sec. 5) and an offline MiniLM sentence encoder.

Every encoder has ``dim`` and ``encode(captions)`` / ``encode_batch(batch)`` returning
``TextFeatures(sent (B, D), words (B, D, T), mask (B, T))``. ``build_text_encoder`` returns them frozen
(eval mode, no gradients), which is how DF-GAN uses its text encoder (spec Sec. 4.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .base import TextEncoder, TextFeatures, freeze
from .damsm import (
    DAMSMConfig,
    DAMSMGammas,
    InceptionImageEncoder,
    RNNEncoder,
    SmallImageEncoder,
    damsm_loss,
    load_text_encoder,
    pretrain_damsm,
    retrieval_at_1,
    train_damsm,
)

__all__ = [
    "build_text_encoder",
    "TextEncoder",
    "TextFeatures",
    "freeze",
    "RNNEncoder",
    "load_text_encoder",
    "InceptionImageEncoder",
    "SmallImageEncoder",
    "DAMSMConfig",
    "DAMSMGammas",
    "damsm_loss",
    "train_damsm",
    "retrieval_at_1",
    "pretrain_damsm",
    "MiniLMEncoder",
]

TEXT_ENCODERS = ("damsm", "minilm")


def build_text_encoder(
    name: str,
    vocab: Any = None,
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    frozen: bool = True,
    **kw: Any,
) -> TextEncoder:
    """Build a text encoder by name: ``'damsm'`` or ``'minilm'``.

    damsm: ``path`` = a ``text_encoder*.pth`` (official or from ``python -m dflib.text.pretrain``); the sizes
    are read from the file and ``vocab`` (needed for ``encode(captions)``) must have the same number of
    words. Without ``path`` a randomly initialised encoder of ``len(vocab)`` words is returned (to be
    pretrained; ``frozen=False``). minilm: ``path`` optionally overrides the packaged model folder;
    ``vocab`` is ignored. Extra keyword arguments go to the encoder's constructor.
    """
    key = name.lower()
    if key == "damsm":
        if path is not None:
            enc: TextEncoder = load_text_encoder(path, vocab=vocab)
        elif vocab is not None:
            enc = RNNEncoder(len(vocab), vocab=vocab, **kw)
        else:
            raise ValueError("build_text_encoder('damsm') needs path= (pretrained text_encoder*.pth) or vocab=")
    elif key == "minilm":
        from .minilm import MiniLMEncoder

        enc = MiniLMEncoder(model_dir=path, **kw)
    else:
        raise ValueError(f"unknown text encoder {name!r}: choose one of {TEXT_ENCODERS}")
    enc = enc.to(device)
    return freeze(enc) if frozen else enc


def __getattr__(name: str) -> Any:
    if name == "MiniLMEncoder":  # imported lazily: transformers is a heavy import
        from .minilm import MiniLMEncoder

        return MiniLMEncoder
    raise AttributeError(f"module 'dflib.text' has no attribute {name!r}")
