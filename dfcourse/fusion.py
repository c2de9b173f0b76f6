"""The fusion ablation of notebook 05: how the text enters the generator, three ways.

DF-GAN fuses text and image features with DF-Blocks, two stacked Affine + LeakyReLU (paper Sec. 3.4,
Fig. 4; Affine Eq. 3-4). The paper's ablation (Sec. 4.3) compares fusion designs; here the generator of
:mod:`dflib.models` is rebuilt with its ``fuse1`` / ``fuse2`` modules swapped (``concat``: concatenation +
1x1 conv; ``affine``: one Affine; ``dfblock``: DF-GAN itself), everything else identical, and each variant
is trained for a few steps with DF-GAN's own step against a fresh discriminator.

Introduced in ``notebooks/05_df_block_fusion.ipynb``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dflib.config import TrainConfig
from dflib.models import FUSIONS, ConcatFusion, NetG, SingleAffineFusion, count_parameters
from dflib.train import Trainer

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
    "FitRun",
    "fit_caption_targets",
    "no_text_floor",
    "plot_fit_curves",
]

_FUSION_MODULES: dict[str, type[nn.Module]] = FUSIONS
FUSION_KINDS = tuple(FUSIONS)


def build_fusion_generator(kind: str, ngf: int = 32, z_dim: int = 100, cond_dim: int = 256, imsize: int = 256,
                           ch_size: int = 3) -> NetG:
    """``NetG(..., fusion=kind)``: DF-GAN's generator with its fusion modules ``kind`` (``"dfblock"``: two
    stacked Affines; ``"affine"``: one Affine; ``"concat"``: concatenation + 1x1 conv), everything else equal."""
    if kind not in FUSIONS:
        raise ValueError(f"unknown fusion kind {kind!r}; choose one of {FUSION_KINDS}")
    return NetG(ngf, z_dim, cond_dim, imsize, ch_size, fusion=kind)


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
    """Train the generator variant ``kind`` with DF-GAN's own step through the one training path
    (:class:`dflib.train.Trainer` with ``model.fusion=kind``: hinge loss with mismatched pairs, Eq. 1, plus
    MA-GP, Eq. 2), logging every step, in a temporary folder. ``model`` is a
    :class:`~dflib.config.ModelConfig` (its ``cond_dim`` must equal ``encoder.dim``); data order, noise and
    initial weights depend only on ``seed``. Sentence vectors are cached per caption."""
    import tempfile

    if int(encoder.dim) != int(model.cond_dim):
        raise ValueError(f"encoder gives {encoder.dim}-d sentences but model.cond_dim = {model.cond_dim}")
    cfg = TrainConfig(preset=f"fusion-{kind}", model=dataclasses.replace(model, fusion=kind), batch_size=batch_size,
                      lr_g=lr_g, lr_d=lr_d, seed=seed, fast="off", text_cache=True, log_every=1, sample_every=0,
                      save_every=0, tensorboard=False, progress=progress, max_steps=steps)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, dataset=dataset, encoder=encoder, out_dir=tmp, device=device)
        trainer.run()
    netG = trainer.nets.netG
    return FusionRun(kind, netG.eval(), trainer.history, time.time() - t0, count_parameters(netG))


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


@dataclass
class FitRun:
    """:func:`fit_caption_targets`'s result: the fitted generator, its error per step, the final images."""

    kind: str
    seed: int
    netG: NetG
    mse: list[float]
    images: Tensor
    params: int


def no_text_floor(targets: Tensor) -> float:
    """The smallest mean squared error a generator that ignores the caption can reach with one noise
    vector: every output the same image, at best the targets' mean image."""
    return float((targets - targets.mean(0, keepdim=True)).pow(2).mean())


def fit_caption_targets(kind: str, sents: Tensor, targets: Tensor, steps: int = 300, lr: float = 1e-3,
                        seed: int = 0, ngf: int = 8, z_dim: int = 32) -> FitRun:
    """How well the text alone can steer ``NetG(..., fusion=kind)``: one fixed noise vector for every
    caption, so the sentence is the only input that differs, and Adam (betas 0, 0.9 as DF-GAN) lowers the
    mean squared error to each caption's target image. No discriminator: a capacity test of the fusion,
    not a GAN. Weights and noise depend only on ``seed``."""
    if kind not in FUSIONS:
        raise ValueError(f"unknown fusion kind {kind!r}; choose one of {FUSION_KINDS}")
    if sents.shape[0] != targets.shape[0]:
        raise ValueError(f"{sents.shape[0]} sentences but {targets.shape[0]} target images")
    torch.manual_seed(seed)
    netG = NetG(ngf, z_dim, sents.shape[1], targets.shape[-1], targets.shape[1], fusion=kind)
    z = torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed)).expand(len(sents), -1)
    opt = torch.optim.Adam(netG.parameters(), lr, betas=(0.0, 0.9))
    mse = []
    for _ in range(steps):
        loss = (netG(z, sents) - targets).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        mse.append(float(loss.detach()))
    with torch.no_grad():
        images = netG(z, sents)
    mse.append(float((images - targets).pow(2).mean()))
    return FitRun(kind, seed, netG.eval(), mse, images, count_parameters(netG))


def plot_fit_curves(runs: Sequence[FitRun], floor: float, ax=None) -> Figure:
    """Error per step of every :class:`FitRun` (one line per seed, one colour per fusion) against the
    no-text floor (:func:`no_text_floor`), on a log scale."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 3.0))
    fig = ax.figure
    colours = {"concat": "tab:orange", "affine": "tab:blue", "dfblock": COLORS["real"]}
    for i, run in enumerate(runs):
        first = all(r.kind != run.kind for r in runs[:i])
        ax.plot(run.mse, color=colours.get(run.kind), lw=1.0, alpha=0.8, label=run.kind if first else None)
    ax.axhline(floor, color="grey", ls="--", lw=1.0, label="no text: best single image")
    ax.set_yscale("log")
    ax.set(xlabel="Adam step", ylabel="mean squared error to the targets",
           title="fitting caption-dependent targets (one line per seed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
