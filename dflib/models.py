"""The DF-GAN networks (Tao et al., CVPR 2022; arXiv 2008.05865v4), read in one sitting.

Read top to bottom: the generator is built from ``Affine`` -> ``DFBlock`` -> ``GBlock`` -> ``NetG``;
the discriminator from ``DBlock`` -> ``NetD`` plus the conditional head ``NetC``.
Paper: Sec. 3.2 (one-stage backbone, Fig. 2), Sec. 3.3.2 (one-way discriminator output), Sec. 3.4
(deep text-image fusion: Affine Eq. 3-4, DF-Block Fig. 4). Where the official code differs from the paper
(LeakyReLU in the DF-Block, initialisation) see docs/official_behaviour.md. Attribute names follow the
official naming so that the released checkpoints load strictly (``dflib.checkpoint``).

This module imports nothing from dflib: the networks know nothing of training, speed options or files.

Introduced in ``notebooks/05_df_block_fusion.ipynb`` and ``notebooks/06_generator_and_discriminator.ipynb``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Affine",
    "DFBlock",
    "SingleAffineFusion",
    "ConcatFusion",
    "FUSIONS",
    "GBlock",
    "NetG",
    "DBlock",
    "NetD",
    "NetC",
    "channel_pairs",
    "g_channel_pairs",
    "count_parameters",
]

SUPPORTED_SIZES = (32, 64, 128, 256, 512)


def _check_imsize(imsize: int) -> int:
    if imsize not in SUPPORTED_SIZES:
        raise ValueError(
            f"imsize={imsize!r} is not supported: DF-GAN needs a power of two between 32 and 512 "
            f"(one of {SUPPORTED_SIZES}) so that the discriminator ends at 4x4."
        )
    return int(math.log2(imsize)) - 1


def channel_pairs(nf: int, imsize: int) -> list[tuple[int, int]]:
    """Discriminator blocks (in, out) from ``imsize`` down to 4x4: ``nf * min(2**i, 8)``, i = 0..log2(imsize)-2."""
    n = _check_imsize(imsize)
    chs = [nf * min(2**i, 8) for i in range(n)]
    return list(zip(chs[:-1], chs[1:]))


def g_channel_pairs(ngf: int, imsize: int) -> list[tuple[int, int]]:
    """Generator blocks (in, out), from 4x4 up to ``imsize`` (the reversed channel list)."""
    n = _check_imsize(imsize)
    chs = [ngf * min(2**i, 8) for i in range(n)][::-1]
    return list(zip(chs[:-1], chs[1:]))


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (trainable or not)."""
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def _mlp(cond_dim: int, channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            [
                ("linear1", nn.Linear(cond_dim, channels)),
                ("relu1", nn.ReLU()),
                ("linear2", nn.Linear(channels, channels)),
            ]
        )
    )


class Affine(nn.Module):
    """Text-conditioned channel-wise affine transform (paper Sec. 3.4, Eq. 3-4).

    ``gamma = MLP1(y)``, ``beta = MLP2(y)`` (Eq. 3) and ``AFF(x | y) = gamma * x + beta`` per channel (Eq. 4).
    Each MLP is Linear -> ReLU -> Linear with hidden width equal to the channel count.
    They start as the identity: ``linear2`` weights are zero, the gamma bias is one and the beta bias zero.
    """

    def __init__(self, cond_dim: int, num_features: int) -> None:
        super().__init__()
        self.fc_gamma = _mlp(cond_dim, num_features)
        self.fc_beta = _mlp(cond_dim, num_features)
        self._initialize()

    def _initialize(self) -> None:
        nn.init.zeros_(self.fc_gamma.linear2.weight)
        nn.init.ones_(self.fc_gamma.linear2.bias)
        nn.init.zeros_(self.fc_beta.linear2.weight)
        nn.init.zeros_(self.fc_beta.linear2.bias)

    def gamma_beta(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """The per-sample, per-channel scale and shift, each ``(B, C)``."""
        return self.fc_gamma(y), self.fc_beta(y)

    def forward(self, x: Tensor, y: Tensor, params: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """``params``: this layer's ``(gamma, beta)`` if computed beforehand, else Eq. 3 from ``y``."""
        gamma, beta = self.gamma_beta(y) if params is None else params  # Eq. 3
        return gamma[:, :, None, None] * x + beta[:, :, None, None]  # Eq. 4: AFF(x|y) = gamma * x + beta


class DFBlock(nn.Module):
    """Deep text-image fusion block: Affine -> LeakyReLU(0.2) -> Affine -> LeakyReLU(0.2) (Sec. 3.4, Fig. 4).

    The paper's text and Fig. 4 say ReLU; the official code (and so this one) uses LeakyReLU with slope 0.2
    (docs/official_behaviour.md).
    """

    def __init__(self, cond_dim: int, in_ch: int) -> None:
        super().__init__()
        self.affine0 = Affine(cond_dim, in_ch)
        self.affine1 = Affine(cond_dim, in_ch)

    def forward(self, x: Tensor, y: Tensor, params: Sequence[tuple[Tensor, Tensor]] | None = None) -> Tensor:
        p0, p1 = (None, None) if params is None else params
        h = F.leaky_relu(self.affine0(x, y, p0), 0.2)
        return F.leaky_relu(self.affine1(h, y, p1), 0.2)


class SingleAffineFusion(nn.Module):
    """Ablation (Sec. 4.3): one Affine -> LeakyReLU(0.2), half a :class:`DFBlock` (no stacking)."""

    def __init__(self, cond_dim: int, in_ch: int) -> None:
        super().__init__()
        self.affine0 = Affine(cond_dim, in_ch)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return F.leaky_relu(self.affine0(x, y), 0.2)


class ConcatFusion(nn.Module):
    """Ablation (Sec. 4.3): fusion by concatenation, the classic alternative to modulation.

    The condition is projected to ``C`` values (Linear), tiled over H x W and concatenated to the features;
    a 1x1 convolution maps the ``2C`` channels back to ``C``; LeakyReLU(0.2). The text adds channels; it never
    multiplies the features as an Affine's ``gamma`` does.
    """

    def __init__(self, cond_dim: int, in_ch: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, in_ch)
        self.conv = nn.Conv2d(2 * in_ch, in_ch, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        tiled = self.proj(y)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return F.leaky_relu(self.conv(torch.cat([x, tiled], dim=1)), 0.2)


# How the text enters the image features: DF-GAN's stacked Affines, and the two designs its ablation
# compares them with (one Affine, concatenation). Everything else in NetG is the same for all three.
FUSIONS: dict[str, type[nn.Module]] = {"dfblock": DFBlock, "affine": SingleAffineFusion, "concat": ConcatFusion}


class GBlock(nn.Module):
    """Generator block (Sec. 3.2, Fig. 2): nearest x2 upsampling, then ``shortcut + c2(fuse2(c1(fuse1(x))))``.

    The shortcut is a 1x1 convolution only when the channel count changes. ``fusion`` picks the fusion
    modules (:data:`FUSIONS`; DF-GAN's is ``"dfblock"``).
    """

    def __init__(self, cond_dim: int, in_ch: int, out_ch: int, upsample: bool = True, fusion: str = "dfblock") -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {sorted(FUSIONS)}")
        self.upsample = upsample
        self.learnable_sc = in_ch != out_ch
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.fuse1 = FUSIONS[fusion](cond_dim, in_ch)
        self.fuse2 = FUSIONS[fusion](cond_dim, out_ch)
        if self.learnable_sc:
            self.c_sc = nn.Conv2d(in_ch, out_ch, 1, 1, 0)

    def shortcut(self, x: Tensor) -> Tensor:
        return self.c_sc(x) if self.learnable_sc else x

    def residual(self, x: Tensor, y: Tensor, params: Sequence[tuple[Tensor, Tensor]] | None = None) -> Tensor:
        if params is None:  # the reference path (fusion modules may be swapped for ablations)
            return self.c2(self.fuse2(self.c1(self.fuse1(x, y)), y))
        h = self.c1(self.fuse1(x, y, params[:2]))
        return self.c2(self.fuse2(h, y, params[2:]))

    def forward(self, x: Tensor, y: Tensor, params: Sequence[tuple[Tensor, Tensor]] | None = None) -> Tensor:
        """``params``: the four Affines' ``(gamma, beta)`` (fuse1.affine0/1, fuse2.affine0/1), if precomputed."""
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.shortcut(x) + self.residual(x, y, params)


class NetG(nn.Module):
    """DF-GAN generator (Sec. 3.2, Fig. 2): ``fc(z)`` at 4x4, then one ``GBlock`` per doubling up to ``imsize``.

    Every block sees the same condition ``cat([z, sentence])`` (noise first). Output in [-1, 1].
    ``fusion``: ``"dfblock"`` (DF-GAN) or one of the ablation's designs (:data:`FUSIONS`).
    """

    def __init__(
        self, ngf: int = 32, z_dim: int = 100, cond_dim: int = 256, imsize: int = 256, ch_size: int = 3,
        fusion: str = "dfblock",
    ) -> None:
        super().__init__()
        self.ngf, self.z_dim, self.cond_dim, self.imsize, self.fusion = ngf, z_dim, cond_dim, imsize, fusion
        self.fc = nn.Linear(z_dim, ngf * 8 * 4 * 4)
        pairs = g_channel_pairs(ngf, imsize)
        self.GBlocks = nn.ModuleList(GBlock(z_dim + cond_dim, i, o, upsample=True, fusion=fusion) for i, o in pairs)
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(pairs[-1][1], ch_size, 3, 1, 1), nn.Tanh())

    def affines(self) -> list[Affine]:
        """Every Affine in forward order: per block fuse1.affine0, fuse1.affine1, fuse2.affine0, fuse2.affine1."""
        if self.fusion != "dfblock":
            raise ValueError(f"affines() lists DF-Blocks' Affines; this NetG fuses by {self.fusion!r}")
        return [a for b in self.GBlocks for a in (b.fuse1.affine0, b.fuse1.affine1, b.fuse2.affine0, b.fuse2.affine1)]

    def condition(self, noise: Tensor, sentence: Tensor) -> Tensor:
        """The 356-d (by default) vector that every Affine reads: noise first, then the sentence."""
        return torch.cat([noise, sentence], dim=1)

    def forward(
        self, noise: Tensor, sentence: Tensor, affine_params: Sequence[tuple[Tensor, Tensor]] | None = None
    ) -> Tensor:
        """``affine_params``: every Affine's ``(gamma, beta)`` in :meth:`affines` order, if computed
        beforehand (a wrapper may compute them all at once); otherwise each Affine reads the condition."""
        if noise.shape[-1] != self.z_dim or sentence.shape[-1] != self.cond_dim:
            raise ValueError(
                f"NetG expects noise (B, {self.z_dim}) and sentence (B, {self.cond_dim}); got "
                f"{tuple(noise.shape)} and {tuple(sentence.shape)}"
            )
        h = self.fc(noise).view(noise.shape[0], 8 * self.ngf, 4, 4)
        y = self.condition(noise, sentence)
        for i, block in enumerate(self.GBlocks):
            h = block(h, y, None if affine_params is None else affine_params[4 * i : 4 * i + 4])
        return self.to_rgb(h)


# --------------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------------


class DBlock(nn.Module):
    """Residual down-sampling block: ``avgpool(shortcut(x)) + gamma * conv_r(x)`` with ``gamma`` init 0.

    ``conv_r`` = bias-free 4x4/stride-2 conv, LeakyReLU(0.2), bias-free 3x3 conv, LeakyReLU(0.2).
    ``conv_s`` (1x1 with bias) always exists, but is applied only when the channel count changes.
    """

    def __init__(self, fin: int, fout: int, downsample: bool = True) -> None:
        super().__init__()
        self.downsample = downsample
        self.learned_shortcut = fin != fout
        self.conv_r = nn.Sequential(
            nn.Conv2d(fin, fout, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(fout, fout, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2),
        )
        self.conv_s = nn.Conv2d(fin, fout, 1, 1, 0)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        res = self.conv_r(x)
        if self.learned_shortcut:
            x = self.conv_s(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return x + self.gamma * res


class NetD(nn.Module):
    """DF-GAN discriminator backbone: image -> (B, 8*ndf, 4, 4) features (no logit: see ``NetC``)."""

    def __init__(self, ndf: int = 32, imsize: int = 256, ch_size: int = 3) -> None:
        super().__init__()
        self.ndf, self.imsize = ndf, imsize
        self.conv_img = nn.Conv2d(ch_size, ndf, 3, 1, 1)
        self.DBlocks = nn.ModuleList(DBlock(i, o) for i, o in channel_pairs(ndf, imsize))

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_img(x)
        for block in self.DBlocks:
            h = block(h)
        return h


class NetC(nn.Module):
    """One-way conditional head (Sec. 3.3.2): logit of ``cat([features, sentence tiled 4x4])``."""

    def __init__(self, ndf: int = 32, cond_dim: int = 256) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.joint_conv = nn.Sequential(
            nn.Conv2d(ndf * 8 + cond_dim, ndf * 2, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
        )

    def forward(self, features: Tensor, sentence: Tensor) -> Tensor:
        y = sentence.view(-1, self.cond_dim, 1, 1).repeat(1, 1, 4, 4)
        return self.joint_conv(torch.cat([features, y], dim=1))
