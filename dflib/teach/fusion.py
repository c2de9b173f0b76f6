"""The fusion ablation of notebook 05: how the text enters the generator, three ways.

DF-GAN fuses text and image features with DF-Blocks, two stacked Affine + LeakyReLU (paper Sec. 3.4,
Fig. 4; Affine Eq. 3-4). The paper's ablation (Sec. 4.3) compares fusion designs; here the generator of
:mod:`dflib.models` is rebuilt with its ``fuse1`` / ``fuse2`` modules swapped (``concat``: concatenation +
1x1 conv; ``affine``: one Affine; ``dfblock``: DF-GAN itself), everything else identical, and each variant
is trained for a few steps with DF-GAN's own step against a fresh discriminator.

Introduced in ``notebooks/05_df_block_fusion.ipynb``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm.auto import tqdm

from dflib.data import collate
from dflib.data.order import ResumableBatches
from dflib.models import Affine, DFBlock, GBlock, NetC, NetD, NetG, count_parameters
from dflib.step import Nets, build_optimizers, losses_to_floats, train_step
from dflib.text import SentenceCache

from .plots import COLORS

__all__ = [
    "FUSION_KINDS",
    "ConcatFusion",
    "SingleAffineFusion",
    "build_fusion_generator",
    "fusion_kind",
    "caption_effect",
    "FusionRun",
    "train_fusion_variant",
    "plot_fusion_losses",
    "plot_attribute_bars",
]

FUSION_KINDS = ("concat", "affine", "dfblock")


class ConcatFusion(nn.Module):
    """Fusion by concatenation: project the condition to ``C`` values (Linear), tile them over H x W,
    concatenate them to the features, 1x1 conv back to ``C`` channels, LeakyReLU(0.2). The classic
    alternative to modulation: the text adds channels, it never multiplies the features."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, channels)
        self.conv = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        tiled = self.proj(y)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return F.leaky_relu(self.conv(torch.cat([x, tiled], dim=1)), 0.2)


class SingleAffineFusion(nn.Module):
    """One Affine followed by LeakyReLU(0.2): half of a :class:`~dflib.models.DFBlock` (no stacking)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.affine0 = Affine(cond_dim, channels)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return F.leaky_relu(self.affine0(x, y), 0.2)


_FUSION_MODULES: dict[str, type[nn.Module]] = {"concat": ConcatFusion, "affine": SingleAffineFusion, "dfblock": DFBlock}


def build_fusion_generator(kind: str, ngf: int = 32, z_dim: int = 100, cond_dim: int = 256, imsize: int = 256,
                           ch_size: int = 3) -> NetG:
    """A :class:`~dflib.models.NetG` whose ``fuse1`` / ``fuse2`` modules are ``kind``:

    * ``"dfblock"``: the DF-GAN generator itself (two stacked Affines per fusion block),
    * ``"affine"``: one Affine per fusion block (:class:`SingleAffineFusion`),
    * ``"concat"``: concatenation + 1x1 conv (:class:`ConcatFusion`).

    Everything else (fc, convolutions, shortcuts, to_rgb) is identical, so the variants differ only in how
    the text enters the image features.
    """
    if kind not in _FUSION_MODULES:
        raise ValueError(f"unknown fusion kind {kind!r}; choose one of {FUSION_KINDS}")
    net = NetG(ngf, z_dim, cond_dim, imsize, ch_size)
    if kind == "dfblock":
        return net
    make = _FUSION_MODULES[kind]
    for block in net.GBlocks:
        assert isinstance(block, GBlock)
        block.fuse1 = make(z_dim + cond_dim, block.c1.in_channels)
        block.fuse2 = make(z_dim + cond_dim, block.c1.out_channels)
    return net


def fusion_kind(net: nn.Module) -> str:
    """Which of :data:`FUSION_KINDS` a generator built by :func:`build_fusion_generator` uses."""
    fuse = net.GBlocks[0].fuse1
    for kind, cls in _FUSION_MODULES.items():
        if type(fuse) is cls:
            return kind
    raise ValueError(f"unrecognised fusion module {type(fuse).__name__}")


@torch.no_grad()
def caption_effect(netG: nn.Module, sents: Tensor, noise: Tensor) -> dict[str, float]:
    """How much the text and the noise move the image: ``caption`` = mean |G(z, s_a) - G(z, s_b)| over
    caption pairs (same noise), ``noise`` = mean |G(z_a, s) - G(z_b, s)| over noise pairs (same caption).

    A fresh DF-GAN generator gives ``caption == 0`` exactly: its Affines are the identity at initialisation
    (docs/official_behaviour.md §4), and the text enters nowhere else."""
    if sents.shape[0] < 2 or noise.shape[0] < 2:
        raise ValueError("caption_effect needs at least 2 sentences and 2 noise vectors")
    was = netG.training
    netG.eval()
    r, n = sents.shape[0], noise.shape[0]
    imgs = netG(noise.repeat(r, 1), sents.repeat_interleave(n, 0)).view(r, n, -1)
    netG.train(was)

    def mean_pair_dist(x: Tensor) -> float:  # x: (k, m, P) -> mean over pairs along dim 0
        k = x.shape[0]
        d = [(x[i] - x[j]).abs().mean() for i in range(k) for j in range(i + 1, k)]
        return float(torch.stack(d).mean())

    return {"caption": mean_pair_dist(imgs), "noise": mean_pair_dist(imgs.transpose(0, 1))}


@dataclass
class FusionRun:
    """A short training run of one fusion variant (:func:`train_fusion_variant`)."""

    kind: str
    netG: NetG
    history: list[dict[str, float]]
    seconds: float
    params: int


def train_fusion_variant(kind: str, dataset, encoder: nn.Module, model, steps: int, batch_size: int = 16,
                         lr_g: float = 1e-4, lr_d: float = 4e-4, seed: int = 0, device: str | torch.device = "cpu",
                         progress: bool = True) -> FusionRun:
    """Train the generator variant ``kind`` (see :func:`build_fusion_generator`) with DF-GAN's own step
    (:func:`dflib.step.train_step`: hinge loss with mismatched pairs, paper Eq. 1, plus MA-GP, Eq. 2) against
    a fresh NetD/NetC.

    ``model`` is a :class:`~dflib.config.ModelConfig` (its ``cond_dim`` must equal ``encoder.dim``). The
    data order, noise and initial D/C weights depend only on ``seed``, so variants see the same batches.
    Sentence vectors are cached per caption (the encoder must be frozen and deterministic)."""
    if int(encoder.dim) != int(model.cond_dim):
        raise ValueError(f"encoder gives {encoder.dim}-d sentences but model.cond_dim = {model.cond_dim}")

    device = torch.device(device)
    torch.manual_seed(seed)
    netD, netC = NetD(model.ndf, model.imsize, model.ch_size), NetC(model.ndf, model.cond_dim)
    torch.manual_seed(seed + 1)
    netG = build_fusion_generator(kind, model.ngf, model.z_dim, model.cond_dim, model.imsize, model.ch_size)
    nets = Nets(netG.to(device), netD.to(device), netC.to(device))
    opts = build_optimizers(nets, lr_g, lr_d)
    cache = SentenceCache(encoder)
    batches = iter(ResumableBatches(dataset, batch_size, collate, seed=seed))
    gen = torch.Generator(device=device).manual_seed(seed)
    history: list[dict[str, float]] = []
    t0 = time.time()
    for step in tqdm(range(1, steps + 1), desc=f"train {kind}", disable=not progress, leave=False):
        batch = next(batches)
        losses = train_step(nets, opts, batch["image"].to(device), cache(batch).to(device), generator=gen)
        history.append({"step": step, **losses_to_floats(losses)})
    return FusionRun(kind, netG.eval(), history, time.time() - t0, count_parameters(netG))


def plot_fusion_losses(runs: Sequence[FusionRun], keys: Sequence[str] = ("errD", "errG"), smooth: int = 10) -> Figure:
    """Moving-average loss curves of several :class:`FusionRun`, one panel per loss."""
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 2.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for run in runs:
            y = np.array([h[key] for h in run.history], dtype=float)
            w = max(1, min(smooth, len(y)))
            ys = np.convolve(y, np.ones(w) / w, mode="valid")
            ax.plot(np.arange(len(ys)) + w, ys, label=run.kind)
        ax.set_xlabel("step")
        ax.set_ylabel(f"{key} (moving average of {smooth})")
        ax.set_title(key, fontsize=9)
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_attribute_bars(results: Mapping[str, Mapping[str, float]], chance: Mapping[str, float] | None = None,
                        ceiling: Mapping[str, float] | None = None) -> Figure:
    """Grouped bars: attribute accuracy (``color``, ``shape``) per variant, with chance and ceiling lines."""
    kinds = list(results)
    attrs = ("color", "shape")
    fig, ax = plt.subplots(figsize=(5, 2.6))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        ax.bar(np.arange(len(attrs)) + i * width - 0.4 + width / 2, [results[kind][a] for a in attrs],
               width=width, label=kind)
    for j, a in enumerate(attrs):
        if chance is not None:
            ax.hlines(chance[a], j - 0.45, j + 0.45, colors="grey", linestyles=":", label="chance" if j == 0 else None)
        if ceiling is not None:
            ax.hlines(ceiling[a], j - 0.45, j + 0.45, colors=COLORS["real"], linestyles="--",
                      label="real images" if j == 0 else None)
    ax.set_xticks(range(len(attrs)), attrs)
    ax.set_xlabel("attribute the caption states")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("attribute accuracy")
    ax.set_title("accuracy of generated images, per variant", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
