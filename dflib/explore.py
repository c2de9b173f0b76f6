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
    "randomize_affines",
    "channel_response_curves",
    "count_kinks",
    "plot_channel_curves",
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
    "cosine_similarities",
    "nearest_neighbours",
    "plot_similarity_matrices",
    "plot_word_features",
    "plot_retrieval",
    "plot_caption_rows",
    "config_diff",
    "images_to_array",
    "plot_training_progress",
    "find_run",
    "render_samples",
    "make_sampling_widget",
    "plot_interpolation",
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


@torch.no_grad()
def randomize_affines(net: nn.Module, std: float = 0.5, seed: int = 0) -> nn.Module:
    """Give every :class:`Affine` of ``net`` random second layers (in place; returns ``net``).

    A fresh Affine is the identity (gamma = 1, beta = 0 for every condition); a trained one is not. This
    stands in for training when a figure needs condition-dependent responses: the ``linear2`` weights get
    N(0, std^2 / C) entries and the biases N(1, std^2) (gamma) and N(0, std^2) (beta)."""
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
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("fused output")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Fusion variants for the ablation (notebook 05; paper Sec. 4.3 "Ablation study")
# --------------------------------------------------------------------------------------------------

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


@torch.no_grad()
def caption_effect(netG: nn.Module, sents: Tensor, noise: Tensor) -> dict[str, float]:
    """How much the text and the noise move the image: ``caption`` = mean |G(z, s_a) - G(z, s_b)| over
    caption pairs (same noise), ``noise`` = mean |G(z_a, s) - G(z_b, s)| over noise pairs (same caption).

    A fresh DF-GAN generator gives ``caption == 0`` exactly: its Affines are the identity, and the text
    enters nowhere else."""
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
    (:func:`dflib.train.train_step`: hinge + mismatched pairs + MA-GP) against a fresh NetD/NetC.

    ``model`` is a :class:`~dflib.config.ModelConfig` (its ``cond_dim`` must equal ``encoder.dim``). The
    data order, noise and initial D/C weights depend only on ``seed``, so variants see the same batches.
    Sentence vectors are cached per caption (the encoder must be frozen and deterministic)."""
    import time

    from .data import collate
    from .models import NetC, NetD
    from .train import Nets, ResumableBatches, SentenceCache, build_optimizers, losses_to_floats, train_step

    if int(encoder.dim) != int(model.cond_dim):
        raise ValueError(f"encoder gives {encoder.dim}-d sentences but model.cond_dim = {model.cond_dim}")
    from tqdm.auto import tqdm

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
            ax.hlines(ceiling[a], j - 0.45, j + 0.45, colors=_COLORS["real"], linestyles="--",
                      label="real images" if j == 0 else None)
    ax.set_xticks(range(len(attrs)), attrs)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("attribute accuracy")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Text features (notebook 07)
# --------------------------------------------------------------------------------------------------


def cosine_similarities(sent: Tensor) -> Tensor:
    """``(B, B)`` cosine similarities between the rows of ``sent`` (sentence vectors)."""
    x = F.normalize(sent.detach().double(), dim=1)
    return (x @ x.T).float()


def nearest_neighbours(sim: Tensor) -> list[int]:
    """For each row of a square similarity matrix, the index of the most similar *other* row."""
    if sim.dim() != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] < 2:
        raise ValueError(f"nearest_neighbours needs a square (N, N) matrix with N >= 2, got {tuple(sim.shape)}")
    masked = sim.clone().float()
    masked.fill_diagonal_(float("-inf"))
    return masked.argmax(dim=1).tolist()


def plot_similarity_matrices(mats: Mapping[str, Tensor], labels: Sequence[str], max_chars: int = 28) -> Figure:
    """Side-by-side heat maps of :func:`cosine_similarities` (one per encoder), values written in the cells."""
    fig, axes = plt.subplots(1, len(mats), figsize=(2.2 + 2.6 * len(mats), 0.9 + 0.42 * len(labels)), squeeze=False)
    short = [lab if len(lab) <= max_chars else lab[: max_chars - 3] + "..." for lab in labels]
    for k, (ax, (name, m)) in enumerate(zip(axes[0], mats.items())):
        m = m.cpu().numpy()
        ax.imshow(m, cmap="viridis", vmin=-1 if m.min() < 0 else 0, vmax=1)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if m[i, j] > 0.6 else "white")
        ax.set_yticks(range(len(labels)), short if k == 0 else [""] * len(labels), fontsize=7)
        ax.set_xticks(range(len(labels)), [str(i) for i in range(len(labels))], fontsize=7)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def plot_word_features(words: Tensor, tokens: Sequence[str], dims: int = 32, title: str = "") -> Figure:
    """Heat map of one caption's word features ``words (D, T)``: first ``dims`` feature dimensions x tokens."""
    w = words[:dims, : len(tokens)].detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(tokens), 2.6))
    lim = max(float(np.abs(w).max()), 1e-6)
    ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"feature (first {dims})")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_retrieval(images: Tensor, ranked: Sequence[Sequence[str]], truth: Sequence[str], size: float = 1.1) -> Figure:
    """One row per image: the image, then its top captions (green when it is the image's own caption)."""
    n = images.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(6.5, size * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 5]})
    imgs = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        axes[i, 0].imshow(imgs[i], interpolation="nearest")
        axes[i, 0].axis("off")
        ax = axes[i, 1]
        ax.axis("off")
        for r, cap in enumerate(ranked[i]):
            ax.text(0, 1 - (r + 0.5) / max(len(ranked[i]), 1), f"{r + 1}. {cap}", fontsize=7, va="center",
                    color=_COLORS["real"] if cap == truth[i] else "black", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Sampling helpers (notebooks 08, 09)
# --------------------------------------------------------------------------------------------------


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and v and k != "options":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_diff(a, b) -> dict[str, tuple]:
    """Settings that differ between two configurations (dataclasses with ``to_dict`` or dicts), as
    ``{dotted name: (value in a, value in b)}``."""
    da = _flatten(a.to_dict() if hasattr(a, "to_dict") else a)
    db = _flatten(b.to_dict() if hasattr(b, "to_dict") else b)
    return {k: (da.get(k), db.get(k)) for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)}


def images_to_array(images: Tensor, nrow: int, pad: int = 1) -> np.ndarray:
    """``(N, C, H, W)`` in [-1, 1] -> one ``(rows*(H+pad)+pad, nrow*(W+pad)+pad, 3)`` array in [0, 1] (white gaps)."""
    if images.dim() != 4 or nrow < 1:
        raise ValueError(f"images_to_array needs (N, C, H, W) images and nrow >= 1, got {tuple(images.shape)}, {nrow}")
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h, w = x.shape
    rows = -(-n // nrow)
    out = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top : top + h, left : left + w] = x[i].permute(1, 2, 0).numpy()
    return out


def plot_training_progress(history: Sequence[Mapping[str, float]], samples: Tensor, nrow: int,
                           keys: Sequence[str] = ("errD", "errG"), title: str = "") -> Figure:
    """Loss curves (left) next to the current fixed-noise sample grid (right, ``nrow`` images per row)."""
    fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(8.5, 3.2), gridspec_kw={"width_ratios": [1.1, 1]})
    colours = {"errD": _COLORS["d"], "errG": _COLORS["g"]}
    steps = [h["step"] for h in history]
    for key in keys:
        ax.plot(steps, [h[key] for h in history], label=key, color=colours.get(key), lw=1)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    ax.set_title("losses (means over logging intervals)", fontsize=9)
    ax_img.imshow(images_to_array(samples, nrow), interpolation="nearest")
    ax_img.axis("off")
    ax_img.set_title(title or "fixed noise (columns) x captions (rows)", fontsize=9)
    fig.tight_layout()
    return fig


def find_run(env_var: str = "DFGAN_RUN", patterns: Sequence[str] = ("../runs/shapes-32-cpu-*", "runs/shapes-32-cpu-*",
             "runs/nb08/shapes-32-cpu", "../notebooks/runs/nb08/shapes-32-cpu")) -> Path | None:
    """A training run folder with a checkpoint, or ``None``: ``$DFGAN_RUN`` first, then the newest folder
    matching each pattern in turn (``make train`` runs before notebook 08's run)."""
    import glob

    from .checkpoint import latest_checkpoint

    env = os.environ.get(env_var, "").strip()
    if env:
        p = Path(env)
        if not p.exists():
            raise FileNotFoundError(f"${env_var}={env} does not exist: point it at a run folder or a checkpoint file")
        return p
    for pattern in patterns:
        found = [Path(f) for f in glob.glob(pattern) if Path(f).is_dir() and latest_checkpoint(f) is not None]
        if found:
            return max(found, key=lambda f: f.stat().st_mtime)
    return None


def render_samples(netG: nn.Module, encoder: nn.Module, caption: str, seed: int = 0, truncation: float = 0.88,
                   n: int = 8, size: float = 1.0) -> Figure:
    """The sampling widget's pure function: ``n`` images for one caption from seeded truncated noise."""
    from .sample import generate

    caption = caption.strip()
    if not caption:
        raise ValueError("type a caption (it is empty)")
    images = generate(netG, encoder, [caption], n=n, truncation=truncation, seed=int(seed))
    fig = plot_caption_rows(images.view(1, n, *images.shape[1:]), [caption], size=size)
    fig.suptitle(f"seed {seed}, truncation {truncation:.2f}", fontsize=8, y=1.02)
    return fig


def make_sampling_widget(netG: nn.Module, encoder: nn.Module, caption: str = "a red circle", seed: int = 0,
                         truncation: float = 0.88, n: int = 8):
    """A caption text box, a seed slider and a truncation slider around :func:`render_samples`
    (a :class:`dflib.widgets.FigureApp`; renders once with the defaults when built)."""
    import functools

    import ipywidgets as W

    from .widgets import FigureApp

    style = {"description_width": "initial"}
    controls = {
        "caption": W.Text(value=caption, description="caption", continuous_update=False, style=style,
                          layout=W.Layout(width="320px")),
        "seed": W.IntSlider(value=seed, min=0, max=99, description="seed", continuous_update=False, style=style),
        "truncation": W.FloatSlider(value=truncation, min=0.0, max=2.0, step=0.04, description="truncation",
                                    continuous_update=False, style=style),
    }
    return FigureApp(controls, functools.partial(render_samples, netG, encoder, n=n), title="prompt -> images")


def plot_interpolation(images: Tensor, steps: int, left: str, right: str, size: float = 0.9) -> Figure:
    """Rows of an interpolation ``(rows * steps, C, H, W)`` from ``left`` (t = 0) to ``right`` (t = 1)."""
    rows = images.shape[0] // steps
    if rows * steps != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images do not split into rows of {steps}")
    fig, ax = plt.subplots(figsize=(size * steps, size * rows + 0.5))
    ax.imshow(images_to_array(images, steps), interpolation="nearest")
    ax.set_xticks([(i + 0.5) * (images.shape[-1] + 1) for i in (0, steps - 1)], [left, right], fontsize=7)
    ax.set_yticks([])
    ax.set_title("linear path between the two sentence vectors (same noise along each row)", fontsize=8)
    fig.tight_layout()
    return fig



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
