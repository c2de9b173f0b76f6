"""Looking inside the DF-GAN networks: per-block tables, parameter budgets by role, unused parameters.

Pure measurements of the modules of :mod:`dflib.models` (paper Sec. 3.1-3.3: the generator of Fig. 2, the
discriminator and its one-way conditional head); none is needed to train or sample.

Introduced in ``notebooks/06_generator_and_discriminator.ipynb``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dflib.models import channel_pairs, count_parameters, g_channel_pairs

from .plots import COLORS

__all__ = [
    "LayerRow",
    "layer_table",
    "format_table",
    "parameter_groups",
    "unused_parameters",
    "linearity_gap",
    "plot_channel_schedule",
    "plot_parameter_groups",
]


# --------------------------------------------------------------------------------------------------
# Per-block tables
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
    change: the official code builds them in every block (docs/official_behaviour.md §5; the paper does not
    mention them) and ``dflib.models`` keeps them only so that the released checkpoints load strictly.
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
    d = channel_pairs(nf, imsize)
    g_res = [4 * 2**i for i in range(len(g) + 1)]
    g_ch = [g[0][0]] + [o for _, o in g]
    d_res = [imsize // 2**i for i in range(len(d) + 1)]
    d_ch = [d[0][0]] + [o for _, o in d]
    fig, axes = plt.subplots(1, 2, figsize=(7, 2.4), sharey=True)
    for ax, res, ch, color, title in ((axes[0], g_res, g_ch, COLORS["generator"], "NetG: 4x4 -> image"),
                                      (axes[1], d_res, d_ch, COLORS["discriminator"], "NetD: image -> 4x4")):
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
