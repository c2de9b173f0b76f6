"""Probing a text encoder: which captions it finds similar, what its word features look like, and which
caption it retrieves for an image.

DF-GAN conditions the generator on the sentence vector of a pretrained text encoder (paper Sec. 3.1); these
helpers compare encoders (untrained bag of words, DAMSM-pretrained LSTM, MiniLM) by the cosine similarity of
their sentence vectors and show image-to-caption retrieval.

Introduced in ``notebooks/07_text_encoder.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from .plots import COLORS

__all__ = [
    "cosine_similarities",
    "nearest_neighbours",
    "plot_similarity_matrices",
    "plot_word_features",
    "plot_retrieval",
]


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
                    color=COLORS["real"] if cap == truth[i] else "black", transform=ax.transAxes)
    fig.tight_layout()
    return fig
