"""What ``metrics.json`` reports at the end of a training run (:meth:`dflib.train.Trainer.evaluate`).

For the ``shapes`` data: accuracy per attribute a caption states, the classifier's ceiling on real images
and diversity over noise draws where the caption leaves an attribute open (``eval_samples`` images). For
``emoji``: group, subgroup, skin-tone and colour accuracy against a classifier of the real emoji, on the
captions the model was trained on (``emoji_train``) and on emoji it never saw (``emoji_test``), with the
classifier's ceiling, chance and skin-tone diversity. For any dataset: FID against the real test split
with the real-vs-real floor beside it (``eval_fid`` images).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from .emoji_eval import emoji_classifier, evaluate_emoji_generator
from .run_fid import fid_with_floor
from .shapes_eval import evaluate_shapes_generator

__all__ = ["evaluate_run"]


def evaluate_run(netG: nn.Module, encode: Any, cfg: TrainConfig, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The evaluations ``cfg`` asks for, on ``netG`` with the run's text encoder (or its sentence cache)."""
    out: dict[str, Any] = {}
    common = dict(device=device, seed=cfg.seed, truncation=cfg.truncation, imsize=cfg.model.imsize)
    if cfg.eval_samples > 0 and cfg.data.name == "shapes":
        out["shapes"] = evaluate_shapes_generator(netG, encode, cfg.data.options, n=cfg.eval_samples,
                                                  progress=cfg.progress, **common)
    if cfg.eval_samples > 0 and cfg.data.name == "emoji":
        clf = emoji_classifier(seed=cfg.seed, device=device, progress=cfg.progress)  # trained once, both splits
        for split in ("train", "test"):
            out[f"emoji_{split}"] = evaluate_emoji_generator(netG, encode, n=cfg.eval_samples, split=split,
                                                             progress=cfg.progress, classifier=clf, **common)
    if cfg.eval_fid > 0:
        out["fid"] = fid_with_floor(netG, encode, cfg.data.name, cfg.data.options, n=cfg.eval_fid,
                                    root=cfg.data.root, **common)
    return out
