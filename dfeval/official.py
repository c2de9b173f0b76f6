"""The FID variant of the official DF-GAN code (docs/official_behaviour.md §16): torchvision Inception-v3 + DM-GAN input path.

Generated images ``x`` in [-1,1] go through :func:`official_preprocess`:

1. ``(x + 1) / 2`` (the repo's ``Normalize(mean=-1, std=2)``), to [0,1];
2. ``Resize((299, 299))`` bilinear **without** antialiasing (torchvision 0.10 tensors);
3. per channel ``x_c · (std_c / 0.5) + (mean_c − 0.5) / 0.5`` with ImageNet mean/std (DM-GAN's
   ``normalize_input``; pytorch-fid would use ``2x − 1`` instead),

then the torchvision Inception-v3 blocks up to the 2048-d average pool (:class:`TorchvisionInceptionPool`).

**Comparability.** Numbers from this pipeline are comparable with the DF-GAN README (12.10 CUB, 15.41 COCO
for the released checkpoints) *only* against the shipped ``*_FIDK0.npz`` reference statistics and with the
ImageNet torchvision weights; they are not comparable with pytorch-fid / clean-fid / the TF-FID extractor
of :func:`dflib.metrics.load_standard_inception`. The weights are never downloaded: download
``inception_v3_google-0cc3c7bd.pth`` (torchvision's ImageNet Inception-v3) yourself and pass its path.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "official_preprocess",
    "TorchvisionInceptionPool",
    "OfficialInception",
    "load_official_inception",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def official_preprocess(x: Tensor, size: int = 299) -> Tensor:
    """Images in [-1,1] (B,3,H,W) -> the official FID network input (docs/official_behaviour.md §16 input steps 1, 2, 4):
    ``(x+1)/2``, bilinear resize to ``size``×``size`` (``align_corners=False``, no antialias), then
    ``x_c·(std_c/0.5) + (mean_c−0.5)/0.5``. No clamping (as in the repo)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images (B,3,H,W) in [-1,1], got shape {tuple(x.shape)}")
    u = (x.float() + 1) / 2
    if u.shape[-2:] != (size, size):
        u = F.interpolate(u, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    mean = torch.tensor(IMAGENET_MEAN, dtype=u.dtype, device=u.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=u.dtype, device=u.device).view(1, 3, 1, 1)
    return u * (std / 0.5) + (mean - 0.5) / 0.5


class TorchvisionInceptionPool(nn.Module):
    """torchvision ``inception_v3`` cut at the average pool, as DF-GAN's ``InceptionV3([3])``: blocks
    Conv2d_1a…2b + maxpool | 3b, 4a + maxpool | Mixed_5b…6e | Mixed_7a…7c + AdaptiveAvgPool(1) -> (B,2048).
    Built with random weights; load the ImageNet ones with :func:`load_official_inception`."""

    BLOCKS = (
        ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1"),
        ("Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2"),
        ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
        ("Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"),
    )

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        # aux_logits=True keeps the AuxLogits keys of the ImageNet checkpoint loadable with strict=True
        self.inception = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        self.inception.eval()

    def forward(self, x: Tensor) -> Tensor:
        for block in self.BLOCKS:
            for name in block:
                x = getattr(self.inception, name)(x)
        return x.flatten(1)


class OfficialInception(nn.Module):
    """Images in [-1,1] -> features: :func:`official_preprocess` then ``feature_net`` (any module mapping
    (B,3,299,299) to (B,D) or (B,D,1,1); a small stand-in network works for tests)."""

    def __init__(self, feature_net: nn.Module, size: int = 299) -> None:
        super().__init__()
        self.feature_net = feature_net.eval()
        self.size = size

    def train(self, mode: bool = True) -> "OfficialInception":  # a feature extractor never trains
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.feature_net(official_preprocess(x, self.size)).flatten(1)


def load_official_inception(weights_path: str | Path, device: str | torch.device = "cpu") -> OfficialInception:
    """The official-variant FID extractor with torchvision's ImageNet Inception-v3 weights read from
    ``weights_path`` (``torch.load(weights_only=True)``; never downloaded)."""
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception-v3 weights not found: {path}. Download torchvision's ImageNet checkpoint "
            "inception_v3_google-0cc3c7bd.pth once (e.g. from download.pytorch.org/models/) and pass its path; "
            "dflib never downloads weights."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    net = TorchvisionInceptionPool()
    try:
        net.inception.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"{path} is not a torchvision inception_v3 ImageNet state dict ({str(exc).splitlines()[0]}); note that "
            "pytorch-fid's pt_inception-2015-12-05 weights belong to a different network"
        ) from exc
    return OfficialInception(net.requires_grad_(False)).to(device)
