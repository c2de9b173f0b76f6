"""Text encoders by name, and the frozen encoder a training configuration asks for.

Encoder files (``text_encoder*.pth``) are read by :func:`read_text_encoder`: weights only, and a file that is
not a plain state dict is refused in dflib's own words (never with PyTorch's advice to switch the
weights-only protection off)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from .base import TextEncoder, freeze
from .bow import BagOfWordsEncoder
from .cache import ScaledTextEncoder
from .rnn import RNNEncoder, load_state_dict_file

__all__ = ["TEXT_ENCODERS", "build_text_encoder", "build_encoder", "read_text_encoder"]


TEXT_ENCODERS = ("damsm", "minilm")


def read_text_encoder(path: str | Path, vocab: Any = None) -> RNNEncoder:
    """A DAMSM ``RNNEncoder`` built from ``text_encoder*.pth`` (sizes read from the file), read safely."""
    return RNNEncoder.from_state_dict(load_state_dict_file(path, "DAMSM text encoder", describe=True), vocab=vocab)


def build_text_encoder(
    name: str,
    vocab: Any = None,
    path: str | Path | None = None,
    device: str | torch.device = "cpu",
    frozen: bool = True,
    **kw: Any,
) -> TextEncoder:
    """Build a text encoder by name: ``'damsm'`` or ``'minilm'``.

    damsm: ``path`` = a ``text_encoder*.pth`` (official or from ``python -m dflib pretrain``); the sizes
    are read from the file and ``vocab`` (needed for ``encode(captions)``) must have the same number of
    words. Without ``path`` a randomly initialised encoder of ``len(vocab)`` words is returned (to be
    pretrained; ``frozen=False``). minilm: ``path`` optionally overrides the packaged model folder;
    ``vocab`` is ignored. Extra keyword arguments go to the encoder's constructor.
    """
    key = name.lower()
    if key == "damsm":
        if path is not None:
            enc: TextEncoder = read_text_encoder(path, vocab=vocab)
        elif vocab is not None:
            enc = RNNEncoder(len(vocab), vocab=vocab, **kw)
        else:
            raise ValueError("build_text_encoder('damsm') needs path= (pretrained text_encoder*.pth) or vocab=")
    elif key == "minilm":
        from .minilm import MiniLMEncoder

        enc = MiniLMEncoder(model_dir=path, **kw)
    else:
        close = difflib.get_close_matches(key, (*TEXT_ENCODERS, "bow"), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown text encoder {name!r}{hint}: choose one of {TEXT_ENCODERS}")
    enc = enc.to(device)
    return freeze(enc) if frozen else enc


def build_encoder(cfg: TrainConfig, vocab: Any = None, device: str | torch.device = "cpu") -> TextEncoder:
    """The frozen text encoder named by ``cfg.text_encoder`` (the one place where the trainer's encoder is
    built and frozen); checks its size against ``model.cond_dim``.

    DF-GAN trains against a *pretrained* DAMSM encoder, so ``text_encoder='damsm'`` needs
    ``text_encoder_path``: a random encoder would be frozen, never saved, and the run could not be sampled.
    """
    name = cfg.text_encoder.lower()
    if name == "bow":
        enc: TextEncoder = BagOfWordsEncoder(cfg.model.cond_dim, cfg.data.words_num, seed=cfg.seed).to(device)
    else:
        path = cfg.text_encoder_path
        if name == "damsm" and (path is None or not Path(path).is_file()):
            where = f"{path} not found" if path is not None else "no text_encoder_path given"
            raise FileNotFoundError(
                f"DAMSM text encoder: {where}. Set --set text_encoder_path=... (an official text_encoder*.pth or "
                "one pretrained with python -m dflib pretrain), or use --set text_encoder=minilm"
            )
        if name == "minilm" and path is not None and Path(path).is_file():
            raise ValueError(
                f"text_encoder_path={path} is a file, but text_encoder='minilm' reads a model folder: for a DAMSM "
                "encoder (text_encoder*.pth) add --set text_encoder=damsm"
            )
        enc = build_text_encoder(name, vocab=vocab, path=path, device=device)
    if cfg.text_scale != 1.0:
        enc = ScaledTextEncoder(enc, cfg.text_scale)
    if int(enc.dim) != int(cfg.model.cond_dim):
        raise ValueError(
            f"text encoder {cfg.text_encoder!r} gives {enc.dim}-d sentences but model.cond_dim={cfg.model.cond_dim}: "
            f"use --set model.cond_dim={enc.dim}"
        )
    return enc
