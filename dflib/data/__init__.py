"""Captioned image datasets for DF-GAN (docs/official_behaviour.md §12) and a shared batch format.

Every dataset item is a dict ``image (3,H,W) float32 in [-1,1], tokens (words_num,) int64, length int,
caption str, key str`` (+ ``attrs dict[str,int]`` for ``shapes``). Use :func:`build_dataset` and
:func:`collate`::

    ds = build_dataset("shapes", imsize=64)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, collate_fn=collate)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .vocab import Vocab, pad_tokens, safe_load_pickle, tokenize

__all__ = ["DATASETS", "build_dataset", "collate", "Vocab", "pad_tokens", "safe_load_pickle", "tokenize"]

DATASETS = ("shapes", "emoji", "cub", "coco", "folder")


def build_dataset(
    name: str,
    root: str | Path | None = None,
    split: str = "train",
    imsize: int = 64,
    words_num: int = 18,
    seed: int = 0,
    **kw: Any,
) -> torch.utils.data.Dataset:
    """Dataset ``name`` in {'shapes', 'emoji', 'cub', 'coco', 'folder'}.

    ``root`` is needed for 'cub', 'coco' (the official ``data/birds`` / ``data/coco`` folder) and
    'folder'. Extra keyword arguments go to the dataset class (e.g. ``max_objects=1`` for shapes,
    ``skip_bad=True`` for folder/cub/coco).
    """
    from .options import dataset_class

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name not in DATASETS + ("birds",):
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    cls = dataset_class(name)
    common = dict(split=split, imsize=imsize, words_num=words_num, seed=seed, **kw)
    if name in ("shapes", "emoji"):
        return cls(**common)
    if root is None:
        need = ("a folder of images with captions" if name == "folder"
                else "the official data folder (see data/README.md)")
        raise ValueError(f"build_dataset({name!r}) needs root= {need}")
    if name == "folder":
        return cls(root, **common)
    return cls(root, kind="cub" if name == "birds" else name, **common)


def collate(items: list[dict]) -> dict:
    """Stack dataset items into a batch dict (image (B,3,H,W), tokens (B,T), length (B,), caption
    list, key list, attrs dict of (B,) int64 tensors when present)."""
    if not items:
        raise ValueError("collate: empty batch")
    batch = {
        "image": torch.stack([it["image"] for it in items]),
        "tokens": torch.stack([torch.as_tensor(it["tokens"], dtype=torch.int64) for it in items]),
        "length": torch.tensor([int(it["length"]) for it in items], dtype=torch.int64),
        "caption": [it["caption"] for it in items],
        "key": [it["key"] for it in items],
    }
    if "attrs" in items[0]:
        names = items[0]["attrs"].keys()
        batch["attrs"] = {k: torch.tensor([it["attrs"][k] for it in items], dtype=torch.int64) for k in names}
    return batch
