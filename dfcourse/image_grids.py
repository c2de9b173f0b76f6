"""Images on a page: tensors in [-1, 1] as arrays, grids with titles, caption rows, interpolation strips.

All take image tensors ``(..., C, H, W)`` in [-1, 1] (DF-GAN's generator output range; values outside are
clipped), return a :class:`matplotlib.figure.Figure` (or an array) and never call ``plt.show()``.

Introduced in ``notebooks/00_setup_and_tour.ipynb`` and used in ``05``, ``08`` and ``09``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from dflib.figures import plot_caption_rows  # the library's; the README's figure uses it too

from .plots import new_figure

__all__ = ["tensor_to_image", "image_grid", "images_to_array", "plot_caption_rows", "plot_interpolation"]


def tensor_to_image(img) -> np.ndarray:
    """``(3, H, W)`` or ``(1, H, W)`` tensor in [-1, 1] -> ``(H, W, 3)`` float array in [0, 1]."""
    if not isinstance(img, torch.Tensor) or img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) tensor with C in (1, 3), got {getattr(img, 'shape', type(img))}")
    x = img.detach().float().cpu()
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return ((x.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


def image_grid(images, nrow: int = 8, titles: Sequence[str] | None = None, size: float = 1.0,
               suptitle: str | None = None) -> Figure:
    """A grid of images from a ``(B, C, H, W)`` tensor in [-1, 1] (values outside are clipped),
    one axes per image so that ``titles`` (e.g. captions) can go on top."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"image_grid needs a (B, C, H, W) tensor in [-1, 1], got {getattr(images, 'shape', type(images))}")
    b = images.shape[0]
    ncols = min(nrow, b)
    nrows = -(-b // ncols)
    fig, axes = new_figure(ncols, nrows, size=size)
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < b:
            ax.imshow(tensor_to_image(images[i]), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=6)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig


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


SENTENCE_WALK = "linear path between the two sentence vectors (same noise along each row)"


def plot_interpolation(images: Tensor, steps: int, left: str, right: str, size: float = 0.9,
                       title: str = SENTENCE_WALK) -> Figure:
    """Rows of an interpolation ``(rows * steps, C, H, W)`` from ``left`` (t = 0) to ``right`` (t = 1);
    ``title`` says what was walked (the default: sentence vectors; pass another for a noise walk)."""
    rows = images.shape[0] // steps
    if rows * steps != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images do not split into rows of {steps}")
    fig, ax = plt.subplots(figsize=(size * steps, size * rows + 0.5))
    ax.imshow(images_to_array(images, steps), interpolation="nearest")
    ax.set_xticks([(i + 0.5) * (images.shape[-1] + 1) for i in (0, steps - 1)], [left, right], fontsize=7)
    ax.set_xlabel(f"t = 0 to 1 in {steps} steps", fontsize=7)
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
