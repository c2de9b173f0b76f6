"""Looking inside the DF-GAN networks: per-block tables, parameter budgets, Affine responses, fusion ablations.

Small pure helpers (and figures) used by the second half of the notebook series; none of them is needed to
train or sample, they only *measure* or *vary* the modules of :mod:`dflib.models`.

Introduced in ``notebooks/05_df_block_fusion.ipynb`` and ``notebooks/06_generator_and_discriminator.ipynb``
(tables, budgets, fusion variants) and used again in ``07``-``09``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from .models import Affine, DFBlock, GBlock, NetG, count_parameters, d_channel_pairs, g_channel_pairs

__all__ = [
    "LayerRow",
    "layer_table",
    "format_table",
    "parameter_groups",
    "unused_parameters",
    "linearity_gap",
    "plot_channel_schedule",
    "plot_parameter_groups",
    "find_official_checkpoint",
    "affine_responses",
    "response_spread",
    "plot_affine_responses",
    "FUSION_KINDS",
    "ConcatFusion",
    "SingleAffineFusion",
    "build_fusion_generator",
    "fusion_kind",
    "plot_caption_rows",
    "truncated_noise",
]

# Colours shared with the first half of the series (real = green, fake = purple, mismatch = orange).
_COLORS = {"real": "#2ca02c", "fake": "#7b3294", "mismatch": "#ff7f0e", "g": "#7b3294", "d": "#1f4e79"}


# --------------------------------------------------------------------------------------------------
# Per-block tables (notebook 06)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRow:
    """One row of :func:`layer_table`: a sub-module, what went in, what came out, its parameter count."""

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    params: int


def _default_names(net: nn.Module) -> list[str]:
    """Direct children, with ``ModuleList`` / ``Sequential`` containers opened one level."""
    names = []
    for name, child in net.named_children():
        if isinstance(child, (nn.ModuleList, nn.Sequential)):
            names += [f"{name}.{sub}" for sub, _ in child.named_children()]
        else:
            names.append(name)
    return names


def _first_tensor(obj) -> Tensor | None:
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


@torch.no_grad()
def layer_table(net: nn.Module, *inputs: Tensor, names: Sequence[str] | None = None) -> list[LayerRow]:
    """Run ``net(*inputs)`` once and record, for each named sub-module, its input/output shapes and size.

    ``names`` default: the direct children, with ``ModuleList`` and ``Sequential`` opened (``GBlocks.0``,
    ``to_rgb.1``, ...). Rows come in call order; a module that is never called raises ``ValueError``.
    """
    modules = dict(net.named_modules())
    names = list(names) if names is not None else _default_names(net)
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"layer_table: {unknown} are not sub-modules of {type(net).__name__}; pick from {_default_names(net)}")
    seen: dict[str, LayerRow] = {}
    order: list[str] = []

    def hook_for(name: str):
        def hook(mod, args, out):
            if name in seen:  # a module called twice keeps its first call
                return
            x, y = _first_tensor(args), _first_tensor(out)
            seen[name] = LayerRow(name, type(mod).__name__, tuple(x.shape) if x is not None else (),
                                  tuple(y.shape) if y is not None else (), count_parameters(mod))
            order.append(name)

        return hook

    handles = [modules[n].register_forward_hook(hook_for(n)) for n in names]
    try:
        net(*inputs)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in names if n not in seen]
    if missing:
        raise ValueError(f"layer_table: {missing} were never called in {type(net).__name__}.forward")
    return [seen[n] for n in order]


def format_table(rows: Sequence[LayerRow], total: bool = True) -> str:
    """A fixed-width text table of :func:`layer_table` rows (batch dimension dropped from the shapes)."""

    def shp(s):
        return "x".join(str(d) for d in s[1:]) if len(s) > 1 else str(s)

    lines = [f"{'module':<12} {'type':<10} {'input':>12} {'output':>12} {'params':>11}"]
    lines += [f"{r.name:<12} {r.kind:<10} {shp(r.in_shape):>12} {shp(r.out_shape):>12} {r.params:>11,}" for r in rows]
    if total:
        lines.append(f"{'total':<12} {'':<10} {'':>12} {'':>12} {sum(r.params for r in rows):>11,}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Parameter budgets
# --------------------------------------------------------------------------------------------------


def _group_of(name: str) -> str:
    parts = name.split(".")
    if any(p.startswith("fuse") for p in parts):
        return "fusion (Affine MLPs)"
    if parts[0] == "fc":
        return "fc (noise -> 4x4)"
    if parts[0] == "to_rgb":
        return "to_rgb"
    if parts[0] == "conv_img":
        return "conv_img"
    if "c_sc" in parts or "conv_s" in parts:
        return "shortcut convs"
    if "c1" in parts or "c2" in parts or "conv_r" in parts:
        return "residual convs"
    if parts[-1] == "gamma":
        return "residual scales (gamma)"
    if parts[0] == "joint_conv":
        return "joint convs"
    return "other"


def parameter_groups(net: nn.Module) -> dict[str, int]:
    """Parameter count per role (fusion MLPs, residual convs, shortcuts, ...); the values sum to the total."""
    out: dict[str, int] = {}
    for name, p in net.named_parameters():
        g = _group_of(name)
        out[g] = out.get(g, 0) + p.numel()
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def unused_parameters(net: nn.Module, *inputs: Tensor) -> dict[str, int]:
    """Parameters that receive no gradient from ``net(*inputs).sum()`` (name -> size).

    For the official NetD these are the ``conv_s`` shortcuts of the blocks whose channel count does not
    change (spec Sec. 2.2): they exist only so that checkpoints load strictly.
    """
    net.zero_grad(set_to_none=True)
    _first_tensor(net(*inputs)).sum().backward()
    unused = {n: p.numel() for n, p in net.named_parameters() if p.grad is None}
    net.zero_grad(set_to_none=True)
    return unused


@torch.no_grad()
def linearity_gap(f: Callable[[Tensor], Tensor], x1: Tensor, x2: Tensor) -> float:
    """``max |f(x1 + x2) - f(x1) - f(x2) + f(0)|``: zero (up to rounding) exactly when f is affine on these inputs."""
    zero = torch.zeros_like(x1)
    return float((f(x1 + x2) - f(x1) - f(x2) + f(zero)).abs().max())


def plot_channel_schedule(nf: int = 32, imsize: int = 256) -> Figure:
    """Two bar charts: channels per resolution for NetG (4x4 -> imsize) and NetD (imsize -> 4x4)."""
    g = g_channel_pairs(nf, imsize)
    d = d_channel_pairs(nf, imsize)
    g_res = [4 * 2**i for i in range(len(g) + 1)]
    g_ch = [g[0][0]] + [o for _, o in g]
    d_res = [imsize // 2**i for i in range(len(d) + 1)]
    d_ch = [d[0][0]] + [o for _, o in d]
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.4), sharey=True)
    for ax, res, ch, color, title in ((axes[0], g_res, g_ch, _COLORS["g"], "NetG: 4x4 -> image"),
                                      (axes[1], d_res, d_ch, _COLORS["d"], "NetD: image -> 4x4")):
        ax.bar(range(len(res)), ch, color=color)
        ax.set_xticks(range(len(res)), [str(r) for r in res])
        ax.set_xlabel("resolution (px)")
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("channels")
    fig.suptitle(f"channel schedule, nf = {nf}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_parameter_groups(groups: Mapping[str, Mapping[str, int]]) -> Figure:
    """Horizontal stacked bars: one bar per network, one segment per role (from :func:`parameter_groups`)."""
    nets = list(groups)
    roles = list(OrderedDict.fromkeys(r for g in groups.values() for r in g))
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.5 * len(nets)))
    left = np.zeros(len(nets))
    for i, role in enumerate(roles):
        vals = np.array([groups[n].get(role, 0) / 1e6 for n in nets])
        ax.barh(nets, vals, left=left, color=cmap(i % 10), label=role)
        left += vals
    ax.set_xlabel("parameters (millions)")
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def find_official_checkpoint(candidates: Iterable[str | Path] = ("data/birds/state_epoch_1220.pth",
                                                                 "../data/birds/state_epoch_1220.pth"),
                             env_var: str = "DFGAN_CHECKPOINT") -> Path | None:
    """The official checkpoint to use, or ``None``: ``$DFGAN_CHECKPOINT`` first, then the candidates."""
    env = os.environ.get(env_var, "").strip()
    paths = ([Path(env)] if env else []) + [Path(c) for c in candidates]
    for p in paths:
        if p.is_file():
            return p
    return None


# --------------------------------------------------------------------------------------------------
# Affine responses (notebook 05)
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def affine_responses(net: nn.Module, cond: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
    """``{affine name: (gamma, beta)}``, each ``(B, C)``, for every :class:`Affine` of ``net`` given the
    condition ``cond`` (for NetG: ``net.condition(noise, sentence)``, the same vector for every Affine)."""
    out = {name: m.gamma_beta(cond) for name, m in net.named_modules() if isinstance(m, Affine)}
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
        ax.set_xlabel("channel")
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Fusion variants for the ablation (notebook 05; paper Sec. 4.3 "Ablation study")
# --------------------------------------------------------------------------------------------------

FUSION_KINDS = ("concat", "affine", "dfblock")


class ConcatFusion(nn.Module):
    """Fusion by concatenation: tile the condition over H x W, concatenate it to the features, 1x1 conv
    back to ``C`` channels, LeakyReLU(0.2). The classic alternative to modulation (no multiplication)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels + cond_dim, channels, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        tiled = y[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return F.leaky_relu(self.conv(torch.cat([x, tiled], dim=1)), 0.2)


class SingleAffineFusion(nn.Module):
    """One Affine followed by LeakyReLU(0.2): half of a :class:`~dflib.models.DFBlock` (no stacking)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.affine0 = Affine(cond_dim, channels)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return F.leaky_relu(self.affine0(x, y), 0.2)


_FUSION_MODULES: dict[str, type[nn.Module]] = {"concat": ConcatFusion, "affine": SingleAffineFusion, "dfblock": DFBlock}


def build_fusion_generator(kind: str, ngf: int = 32, nz: int = 100, cond_dim: int = 256, imsize: int = 256,
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
    net = NetG(ngf, nz, cond_dim, imsize, ch_size)
    if kind == "dfblock":
        return net
    make = _FUSION_MODULES[kind]
    for block in net.GBlocks:
        assert isinstance(block, GBlock)
        block.fuse1 = make(nz + cond_dim, block.c1.in_channels)
        block.fuse2 = make(nz + cond_dim, block.c1.out_channels)
    return net


def fusion_kind(net: nn.Module) -> str:
    """Which of :data:`FUSION_KINDS` a generator built by :func:`build_fusion_generator` uses."""
    fuse = net.GBlocks[0].fuse1
    for kind, cls in _FUSION_MODULES.items():
        if type(fuse) is cls:
            return kind
    raise ValueError(f"unrecognised fusion module {type(fuse).__name__}")


# --------------------------------------------------------------------------------------------------
# Sampling helpers (notebooks 08, 09)
# --------------------------------------------------------------------------------------------------


def truncated_noise(n: int, nz: int, truncation: float = 0.88, seed: int = 0, bound: float = 2.0) -> Tensor:
    """``(n, nz)`` noise: a standard normal resampled into ``[-bound, bound]`` and scaled by ``truncation``
    (spec Sec. 6.1: ``truncnorm(-2, 2) * 0.88``). ``truncation = 0`` gives zeros. Deterministic in ``seed``."""
    if truncation < 0:
        raise ValueError(f"truncation must be >= 0, got {truncation}")
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, nz, generator=gen)
    bad = z.abs() > bound
    while bool(bad.any()):
        z[bad] = torch.randn(int(bad.sum()), generator=gen)
        bad = z.abs() > bound
    return z * truncation


def plot_caption_rows(images: Tensor, captions: Sequence[str], size: float = 1.0, max_chars: int = 40) -> Figure:
    """``images`` ``(R, N, 3, H, W)`` in [-1, 1], one row per caption (caption written left of the row)."""
    if images.dim() != 5 or images.shape[0] != len(captions):
        raise ValueError(f"plot_caption_rows needs (len(captions), N, C, H, W) images; got {tuple(images.shape)} "
                         f"for {len(captions)} captions")
    rows, n = images.shape[:2]
    fig, axes = plt.subplots(rows, n, figsize=(size * n + 2.2, size * rows), squeeze=False)
    imgs = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(0, 1, 3, 4, 2).numpy()
    for r in range(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(imgs[r, c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        text = captions[r] if len(captions[r]) <= max_chars else captions[r][: max_chars - 3] + "..."
        axes[r, 0].set_ylabel(text, rotation=0, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(left=2.2 / (size * n + 2.2), right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.05)
    return fig
