"""How the text modulates the image features: the responses of DF-GAN's Affine layers.

An Affine layer (paper Sec. 3.4) predicts channel-wise scales and shifts from the condition,
``gamma = MLP1(e)``, ``beta = MLP2(e)`` (Eq. 3), and applies ``AFF(x | e) = gamma * x + beta`` (Eq. 4).
These helpers read ``(gamma, beta)`` for every Affine of a network, measure how much they vary with the
caption, give fresh Affines random (condition-dependent) weights, and trace the per-channel transfer curve
``x -> fusion(x, e)`` that a fusion module applies for a given condition (a DF-Block stacks two
Affine + LeakyReLU, so its curve can bend twice).

Introduced in ``notebooks/05_df_block_fusion.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dflib.models import Affine

__all__ = [
    "affine_responses",
    "response_spread",
    "plot_affine_responses",
    "randomize_affines",
    "channel_response_curves",
    "count_kinks",
    "plot_channel_curves",
]


@torch.no_grad()
def affine_responses(net: nn.Module, cond: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
    """``{affine name: (gamma, beta)}``, each ``(B, C)`` (Eq. 3), for every :class:`Affine` of ``net`` given the
    condition ``cond`` (for NetG: ``net.condition(noise, sentence)``, the same vector for every Affine)."""
    out = {name: m.gamma_beta(cond) for name, m in net.named_modules() if isinstance(m, Affine)}  # Eq. 3
    if not out:
        raise ValueError(f"{type(net).__name__} has no Affine layers (is this a fusion variant without them?)")
    return out


def response_spread(gamma: Tensor) -> float:
    """How much a layer's response depends on its condition: the standard deviation over the batch
    (captions), averaged over channels. Zero for an Affine at its identity initialisation."""
    if gamma.dim() != 2:
        raise ValueError(f"response_spread expects (B, C) responses, got {tuple(gamma.shape)}")
    return float(gamma.std(dim=0, unbiased=False).mean())


def plot_affine_responses(gamma: Tensor, beta: Tensor, labels: Sequence[str], channels: int = 32,
                          title: str = "") -> Figure:
    """Two heat maps (captions x first ``channels`` channels): gamma - 1 and beta."""
    g = (gamma[:, :channels] - 1).cpu().numpy()
    b = beta[:, :channels].cpu().numpy()
    fig, axes = plt.subplots(1, 2, figsize=(8, 0.8 + 0.3 * len(labels)))
    for ax, m, name in zip(axes, (g, b), (r"$\gamma - 1$", r"$\beta$")):
        lim = max(float(np.abs(m).max()), 1e-6)
        im = ax.imshow(m, cmap="PuOr", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_yticks(range(len(labels)), labels if ax is axes[0] else [""] * len(labels), fontsize=7)
        if ax is axes[0]:
            ax.set_ylabel("caption")
        ax.set_xlabel("channel")
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


@torch.no_grad()
def randomize_affines(net: nn.Module, std: float = 0.5, seed: int = 0) -> nn.Module:
    """Give every :class:`Affine` of ``net`` random second layers (in place; returns ``net``).

    A fresh Affine is the identity (gamma = 1, beta = 0 for every condition; docs/official_behaviour.md §4);
    a trained one is not. This stands in for training when a figure needs condition-dependent responses:
    the ``linear2`` weights get N(0, std^2 / C) entries and the biases N(1, std^2) (gamma) and N(0, std^2)
    (beta)."""
    gen = torch.Generator().manual_seed(seed)
    found = False
    for m in net.modules():
        if isinstance(m, Affine):
            found = True
            for mlp, centre in ((m.fc_gamma, 1.0), (m.fc_beta, 0.0)):
                w = mlp.linear2.weight
                w.copy_(torch.randn(w.shape, generator=gen) * std / w.shape[1] ** 0.5)
                mlp.linear2.bias.copy_(centre + std * torch.randn(mlp.linear2.bias.shape, generator=gen))
    if not found:
        raise ValueError(f"{type(net).__name__} has no Affine layers to randomize")
    return net


@torch.no_grad()
def channel_response_curves(fusion: nn.Module, conds: Tensor, xs: Tensor, channels: int, channel: int = 0) -> Tensor:
    """``(len(conds), len(xs))``: output channel ``channel`` of ``fusion(x, y)`` when every input channel
    holds the scalar ``x`` (one 1x1 "image" per value of ``xs``), for each condition row ``y``.

    For a channel-wise fusion (Affine, DF-Block) this is the per-channel transfer function the text selects."""
    xs = xs.flatten().float()
    x = xs.view(-1, 1, 1, 1).expand(-1, channels, 1, 1)
    rows = [fusion(x, y.view(1, -1).expand(len(xs), -1))[:, channel, 0, 0] for y in conds]
    return torch.stack(rows)


def count_kinks(curve: Tensor, xs: Tensor, rel_tol: float = 0.05) -> int:
    """Number of slope changes of a sampled piecewise-linear curve: jumps between neighbouring slopes larger
    than ``rel_tol`` times the largest slope (ignores float rounding); adjacent flagged samples count once."""
    slopes = torch.diff(curve.flatten().double()) / torch.diff(xs.flatten().double())
    tol = rel_tol * float(slopes.abs().max()) + 1e-12
    flags = (torch.diff(slopes).abs() > tol).tolist()
    return sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))


def plot_channel_curves(xs: Tensor, curves: Mapping[str, Tensor], labels: Sequence[str]) -> Figure:
    """One panel per fusion module: the transfer curves of :func:`channel_response_curves`, one per condition."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 2.6), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items()):
        for i, row in enumerate(c):
            ax.plot(xs.numpy(), row.numpy(), label=labels[i] if i < len(labels) else None)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("input feature x")
        ax.set_ylabel("fused output")
        ax.set_title(name, fontsize=9)
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig
