"""Looking inside the DF-GAN networks: per-block tables, parameter budgets by role, unused parameters, and
architecture diagrams whose tensor shapes come from a real forward pass.

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
    "Node",
    "shape_text",
    "generator_nodes",
    "discriminator_nodes",
    "plot_flow",
    "plot_stacked_vs_one_stage",
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
    ax.set_ylabel("network")
    ax.set_title("parameters per network, by role", fontsize=9)
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Architecture diagrams: boxes and arrows, every shape measured by a forward pass (layer_table's hooks)
# --------------------------------------------------------------------------------------------------

_ROLE_COLORS = {"generator": "#e7d4e8", "discriminator": "#c6dbef", "text": "#fdd0a2", "noise": "#eeeeee",
                "image": "#c7e9c0", "logit": "#fcbba1"}


@dataclass(frozen=True)
class Node:
    """One box of :func:`plot_flow`: a label, a detail line, the shape it outputs (no batch dimension)."""

    label: str
    detail: str = ""
    shape: tuple[int, ...] = ()
    role: str = "generator"
    side: bool = False  # the diagram's side input (the condition, the sentence) enters this box


def shape_text(shape: Sequence[int]) -> str:
    """``(256, 4, 4)`` -> ``'256×4×4'``."""
    return "×".join(str(d) for d in shape)


def generator_nodes(net: nn.Module, noise: Tensor, sentence: Tensor) -> tuple[list[Node], str]:
    """The boxes of ``NetG`` and the label of its side input, with the shapes of one real forward pass."""
    rows = {r.name: r for r in layer_table(net, noise, sentence)}
    cond = int(net.condition(noise, sentence).shape[1])
    first = rows["GBlocks.0"].in_shape[1:]
    nodes = [Node("noise z", "N(0, 1)", tuple(noise.shape[1:]), "noise"),
             Node("fc, reshape", f"Linear({noise.shape[1]} → {rows['fc'].out_shape[1]})", first)]
    for i, block in enumerate(net.GBlocks):
        cin, cout = block.c1.in_channels, block.c1.out_channels
        sc = " · shortcut 1×1 conv" if block.learnable_sc else ""
        nodes.append(Node(f"GBlock {i}", f"up ×2 · DF-Block({cin}) · conv3×3 · DF-Block({cout}) · conv3×3{sc}",
                          rows[f"GBlocks.{i}"].out_shape[1:], side=True))
    nodes.append(Node("to_rgb", "LeakyReLU(0.2) · conv3×3 · tanh", rows["to_rgb.2"].out_shape[1:], "image"))
    return nodes, f"condition [z; s]\n{noise.shape[1]} + {sentence.shape[1]} = {cond}\ninto every DF-Block"


def discriminator_nodes(net_d: nn.Module, net_c: nn.Module, image: Tensor,
                        sentence: Tensor) -> tuple[list[Node], str]:
    """The boxes of ``NetD`` followed by ``NetC`` (one-way output), shapes from one real forward pass."""
    rows = {r.name: r for r in layer_table(net_d, image)}
    with torch.no_grad():
        feats = net_d(image)
    c_rows = layer_table(net_c, feats, sentence, names=["joint_conv.0", "joint_conv.2"])
    nodes = [Node("image", "real or generated", tuple(image.shape[1:]), "image"),
             Node("conv_img", "conv3×3", rows["conv_img"].out_shape[1:], "discriminator")]
    for i, block in enumerate(net_d.DBlocks):
        sc = "1×1 conv, avgpool" if block.learned_shortcut else "avgpool"
        nodes.append(Node(f"DBlock {i}", f"shortcut ({sc}) + γ · [conv4×4/2 · LReLU · conv3×3 · LReLU]",
                          rows[f"DBlocks.{i}"].out_shape[1:], "discriminator"))
    s_dim, f_ch = sentence.shape[1], feats.shape[1]
    nodes.append(Node("NetC: tile s, concat", f"{f_ch} image + {s_dim} sentence channels",
                      c_rows[0].in_shape[1:], "text", side=True))
    nodes.append(Node("NetC: joint conv", "conv3×3 · LReLU · conv4×4: one logit, no unconditional head",
                      c_rows[-1].out_shape[1:], "logit"))
    return nodes, f"sentence s ({s_dim})\ntiled 4×4"


def plot_flow(nodes: Sequence[Node], title: str, side_label: str | None = None, ax=None) -> Figure:
    """Draw ``nodes`` top to bottom as boxes joined by arrows; each arrow carries the shape of the box above.

    Boxes with ``side=True`` also get an arrow from a side box on the left labelled ``side_label``.
    """
    if not nodes:
        raise ValueError("plot_flow needs at least one node")
    n = len(nodes)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.4, 0.62 * n + 0.7))
    fig = ax.figure
    x0, w, h = 3.2, 6.0, 0.62
    for i, nd in enumerate(nodes):
        y = -i
        ax.add_patch(plt.Rectangle((x0, y - h / 2), w, h, fc=_ROLE_COLORS.get(nd.role, "#ffffff"), ec="black",
                                   lw=0.8))
        ax.text(x0 + 0.1, y + 0.1, nd.label, fontsize=8, fontweight="bold", va="center")
        ax.text(x0 + 0.1, y - 0.16, nd.detail, fontsize=6, va="center")
        if nd.shape:
            ax.text(x0 + w - 0.08, y + 0.1, shape_text(nd.shape), fontsize=8, ha="right", va="center",
                    family="monospace", color="#08306b")
        if i + 1 < n:
            ax.annotate("", (x0 + w / 2, y - 1 + h / 2), (x0 + w / 2, y - h / 2),
                        arrowprops=dict(arrowstyle="->", lw=0.8))
    side = [i for i, nd in enumerate(nodes) if nd.side]
    if side and side_label:
        top, bot = -min(side) + h / 2, -max(side) - h / 2
        ax.add_patch(plt.Rectangle((0.1, bot), 2.2, top - bot, fc=_ROLE_COLORS["text"], ec="black", lw=0.8))
        ax.text(1.2, (top + bot) / 2, side_label, fontsize=7, ha="center", va="center")
        for i in side:
            ax.annotate("", (x0, -i), (2.3, -i), arrowprops=dict(arrowstyle="->", lw=0.7, color="#a63603"))
    ax.set_xlim(0, x0 + w + 0.1)
    ax.set_ylim(-n + 0.5, 0.5)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _box(ax, x, y, w, h, text, role, fs=7):
    ax.add_patch(plt.Rectangle((x, y), w, h, fc=_ROLE_COLORS[role], ec="black", lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, fontsize=fs, ha="center", va="center")


def _arrow(ax, a, b, text="", color="black"):
    ax.annotate("", b, a, arrowprops=dict(arrowstyle="->", lw=0.8, color=color))
    if text:
        ax.text((a[0] + b[0]) / 2 + 0.08, (a[1] + b[1]) / 2, text, fontsize=6, va="center")


def plot_stacked_vs_one_stage(image_size: int, n_gblocks: int, stages: int = 3) -> Figure:
    """Left: a stacked GAN (StackGAN++/AttnGAN style), ``stages`` generators at ``image_size / 2^k`` px,
    each image judged by its own discriminator, which also reads the sentence. Right: DF-GAN, one generator
    and one discriminator (NetD + NetC), the sentence entering NetC."""
    sizes = [image_size // 2 ** (stages - 1 - k) for k in range(stages)]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.6, 1.1 + 1.05 * stages))
    top = stages + 0.4
    _box(a, 0.2, top, 3.0, 0.45, "sentence (+ words), noise z", "text")
    for k, s in enumerate(sizes):
        y = stages - 1 - k
        _box(a, 0.2, y, 1.4, 0.6, f"G{k}\n(stage {k + 1})", "generator")
        _box(a, 2.1, y, 1.6, 0.6, f"image {s}×{s}", "image")
        _box(a, 4.2, y, 1.2, 0.6, f"D{k}", "discriminator")
        _arrow(a, (1.6, y + 0.3), (2.1, y + 0.3))
        _arrow(a, (3.7, y + 0.3), (4.2, y + 0.3))
        _box(a, 5.9, y + 0.1, 0.7, 0.4, "sentence", "text", fs=6)
        _arrow(a, (5.9, y + 0.3), (5.4, y + 0.3))
        _arrow(a, (0.9, y + 1.0 if k else top), (0.9, y + 0.6), f"h{k - 1}" if k else "", "#a63603" if k else "black")
    a.set_title(f"stacked: {stages} generators, {stages} discriminators, {stages} losses", fontsize=9)
    _box(b, 0.2, top, 3.0, 0.45, "sentence s, noise z", "text")
    _box(b, 0.2, 0, 1.6, stages - 0.4, f"one G\nfc + {n_gblocks} GBlocks\n4×4 → {image_size}×{image_size}",
         "generator")
    _box(b, 2.3, (stages - 1) / 2, 1.6, 0.6, f"image {image_size}×{image_size}", "image")
    _box(b, 4.4, (stages - 1) / 2, 1.2, 0.6, "one D\nNetD + NetC", "discriminator")
    _arrow(b, (0.9, top), (0.9, stages - 0.4))
    _arrow(b, (1.8, (stages - 1) / 2 + 0.3), (2.3, (stages - 1) / 2 + 0.3))
    _arrow(b, (3.9, (stages - 1) / 2 + 0.3), (4.4, (stages - 1) / 2 + 0.3))
    _box(b, 6.0, (stages - 1) / 2 + 0.1, 0.7, 0.4, "sentence", "text", fs=6)
    _arrow(b, (6.0, (stages - 1) / 2 + 0.3), (5.6, (stages - 1) / 2 + 0.3))
    b.set_title("DF-GAN: one stage, one generator, one discriminator", fontsize=9)
    for ax in (a, b):
        ax.set_xlim(0, 6.8)
        ax.set_ylim(-0.2, top + 0.6)
        ax.axis("off")
    fig.tight_layout()
    return fig
