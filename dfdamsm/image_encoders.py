"""The DAMSM image encoders that pretraining pairs with the text encoder: the Inception-v3 trunk of
AttnGAN (Xu et al. 2018, Sec. 3.2) and a small CNN for 32-64 px data (this project's)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Self

import torch.nn.functional as F
from torch import Tensor, nn

from dflib.text.rnn import load_state_dict_file
from dflib.weights import CheckpointMismatchError, load_state_dict_strict

__all__ = ["InceptionImageEncoder", "SmallImageEncoder", "INCEPTION_TRUNK"]


INCEPTION_TRUNK = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c",
)  # fmt: skip


def _init_projection(*modules: nn.Module) -> None:
    """U(-0.1, 0.1) on the trainable projection weights, as the DAMSM image encoder does
    (docs/official_behaviour.md §14)."""
    for module in modules:
        nn.init.uniform_(module.weight, -0.1, 0.1)


class _ImageEncoder(nn.Module):
    """What both image encoders share: ``load_weights``."""

    def load_weights(self, path: str | Path) -> Self:
        """Load a whole DAMSM image encoder (official ``image_encoder*.pth`` or ours) strictly."""
        load_state_dict_strict(self, load_state_dict_file(path, "image encoder"), "image encoder", hint="")
        return self


class InceptionImageEncoder(_ImageEncoder):
    """DAMSM image encoder (docs/official_behaviour.md §13–§14; AttnGAN Sec. 3.2 "image encoder").

    A torchvision Inception-v3 trunk (``Conv2d_1a_3x3`` ... ``Mixed_7c``, attribute names as in the
    official ``image_encoder*.pth``), frozen; ``emb_features`` = Conv2d(768, dim, 1) on the 17x17
    ``Mixed_6e`` map gives 289 region features, ``emb_cnn_code`` = Linear(2048, dim) on the average-pooled
    ``Mixed_7c`` map gives the global code. Inputs in [-1, 1] are resized bilinearly to 299x299.

    Weights are read only from local files: ``trunk_weights`` = torchvision's ImageNet Inception-v3
    state dict (``inception_v3_google-*.pth``, downloaded by the user), or ``load_weights`` for a whole
    DAMSM ``image_encoder*.pth``. Nothing is ever downloaded. As in the official pretraining the trunk's
    BatchNorm statistics still update in train mode; ``trunk_bn_eval=True`` keeps them fixed instead.
    """

    def __init__(self, dim: int = 256, trunk_weights: str | Path | None = None, trunk_bn_eval: bool = False) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=False, init_weights=False)
        for name in INCEPTION_TRUNK:
            setattr(self, name, getattr(net, name))
        self.dim = int(dim)
        self.trunk_bn_eval = trunk_bn_eval
        self.emb_features = nn.Conv2d(768, dim, kernel_size=1, bias=False)
        self.emb_cnn_code = nn.Linear(2048, dim)
        _init_projection(self.emb_features, self.emb_cnn_code)
        if trunk_weights is not None:
            self.load_trunk(trunk_weights)
        for name in INCEPTION_TRUNK:
            getattr(self, name).requires_grad_(False)

    def load_trunk(self, path: str | Path) -> "InceptionImageEncoder":
        """Load the trunk from torchvision's ImageNet Inception-v3 state dict (fc / AuxLogits ignored)."""
        state = load_state_dict_file(path, "Inception-v3")
        trunk = {k: v for k, v in state.items() if k.split(".")[0] in INCEPTION_TRUNK}
        own = {k: v for k, v in self.state_dict().items() if k.split(".")[0] in INCEPTION_TRUNK}
        missing = [k for k in own if k not in trunk]
        misshaped = [k for k in own if k in trunk and trunk[k].shape != own[k].shape]
        if missing or misshaped:
            raise CheckpointMismatchError(
                f"{path} is not a torchvision Inception-v3 state dict: {len(missing)} trunk keys missing "
                f"(e.g. {missing[:3]}), mis-shaped: {misshaped[:3]}. Download torchvision's "
                "inception_v3_google-*.pth yourself and pass its path."
            )
        self.load_state_dict(trunk, strict=False)
        return self

    def train(self, mode: bool = True) -> "InceptionImageEncoder":
        super().train(mode)
        if self.trunk_bn_eval:
            for name in INCEPTION_TRUNK:
                getattr(self, name).eval()
        return self

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, 3, H, W)`` in [-1, 1] -> ``regions (B, dim, 17, 17)``, ``code (B, dim)``."""
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # 147x147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 73x73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # 71x71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 35x35
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        regions = self.emb_features(x)  # (B, dim, 17, 17)
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # (B, 2048, 8, 8)
        code = self.emb_cnn_code(x.mean(dim=(2, 3)))
        return regions, code


class SmallImageEncoder(_ImageEncoder):
    """A small CNN image encoder trained from scratch, for the bundled low-resolution datasets.

    Same outputs as the Inception encoder (region features + global code, named ``emb_features`` /
    ``emb_cnn_code``), but light enough for CPU training: stride-2 4x4 convolutions with LeakyReLU(0.2)
    take ``imsize`` down to a ``regions x regions`` grid (channels ``ch, 2ch, ...`` capped at 256); one more
    stride-2 stage and global average pooling give the code. Inputs of another size are resized.
    """

    def __init__(self, dim: int = 256, imsize: int = 64, ch: int = 32, regions: int = 8) -> None:
        super().__init__()
        n_down = math.log2(imsize / regions) if imsize >= regions > 0 else -1
        if n_down < 1 or n_down != int(n_down):
            raise ValueError(
                f"imsize / regions must be a power of two >= 2; got imsize={imsize}, regions={regions} "
                "(e.g. imsize 64 with regions 8, or imsize 32 with regions 4)"
            )
        self.dim, self.imsize, self.regions, self.ch = int(dim), int(imsize), int(regions), int(ch)
        chs = [min(ch * 2**i, 256) for i in range(int(n_down) + 2)]
        layers: list[nn.Module] = [nn.Conv2d(3, chs[0], 3, 1, 1), nn.LeakyReLU(0.2)]
        for cin, cout in zip(chs[: int(n_down)], chs[1 : int(n_down) + 1]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.global_branch = nn.Sequential(nn.Conv2d(chs[int(n_down)], chs[-1], 4, 2, 1), nn.LeakyReLU(0.2))
        self.emb_features = nn.Conv2d(chs[int(n_down)], dim, kernel_size=1, bias=False)
        self.emb_cnn_code = nn.Linear(chs[-1], dim)
        _init_projection(self.emb_features, self.emb_cnn_code)

    def config(self) -> dict[str, int]:
        """Constructor arguments, saved in ``damsm.json`` so that ``load_damsm_run`` can rebuild it."""
        return {"dim": self.dim, "imsize": self.imsize, "ch": self.ch, "regions": self.regions}

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, 3, H, W)`` in [-1, 1] -> ``regions (B, dim, r, r)``, ``code (B, dim)``."""
        if images.shape[-2:] != (self.imsize, self.imsize):
            images = F.interpolate(images, size=(self.imsize, self.imsize), mode="bilinear", align_corners=False)
        x = self.features(images)
        regions = self.emb_features(x)
        code = self.emb_cnn_code(self.global_branch(x).mean(dim=(2, 3)))
        return regions, code
