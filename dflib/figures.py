"""Figures of generated images that the notebooks and the tools share.

:func:`plot_caption_rows` draws one row of images per caption, the caption written left of its row: the
README's sample figure (``tools/sample_figure.py``) and notebooks 05 and 09 (through
``dflib.teach.image_grids``) use it. matplotlib is imported when a figure is drawn, not with this module;
nothing here changes matplotlib's or IPython's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_caption_rows"]


def plot_caption_rows(images: Tensor, captions: Sequence[str], size: float = 1.0, max_chars: int = 40) -> "Figure":
    """``images`` ``(R, N, 3, H, W)`` in [-1, 1], one row per caption (caption written left of the row)."""
    import matplotlib.pyplot as plt

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
