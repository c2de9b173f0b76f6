"""Figures of generated images that the notebooks and the tools share.

:func:`plot_caption_rows` draws one row of images per caption, the caption written left of its row: the
README's sample figure (``tools/sample_figure.py``) and notebooks 05 and 09 (through
``dfcourse.image_grids``) use it. :func:`plot_emoji_curve` draws an emoji run's learning curve as
``tools/learning_curve.py`` writes it (the tool's PNG and notebook 09). matplotlib is imported when a figure is drawn, not with this module;
nothing here changes matplotlib's or IPython's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_caption_rows", "plot_emoji_curve"]


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


EMOJI_CURVE_LABELS = ("group", "subgroup", "skin_tone", "colour")


def plot_emoji_curve(res: dict) -> "Figure":
    """An emoji run's learning curve (``tools/learning_curve.py``'s JSON): accuracy per label at each kept
    checkpoint (chance dotted), open skin-tone diversity, and, if the JSON has them, the sample grids' tiles
    read as their row's caption at every grid."""
    import matplotlib.pyplot as plt

    colours = ("#1f77b4", "#d62728", "#8c564b", "#9467bd")
    grid = res.get("grid")
    fig, axes = plt.subplots(1, 3 if grid else 2, figsize=(13 if grid else 9, 3.4), dpi=100, layout="constrained")
    a, b = axes[0], axes[1]
    steps = [p["step"] for p in res["points"]]
    for label, colour in zip(EMOJI_CURVE_LABELS, colours):
        a.plot(steps, [p["accuracy"][label] for p in res["points"]], "o-", color=colour, label=label, ms=3)
        a.axhline(res["points"][-1]["chance"][label], color=colour, ls=":", lw=0.8)
    a.set(xlabel="training step", ylabel="accuracy for the caption", ylim=(0, 1.02),
          title=f"{res['preset']}: trained captions, n={res['n']} (chance dotted)")
    a.legend(fontsize=7, ncol=4, loc="upper center")
    b.plot(steps, [p["diversity"]["skin_tone"] for p in res["points"]], "o-", color="#2ca02c", ms=3)
    b.set(xlabel="training step", ylabel="skin-tone diversity (1 = as the data)", ylim=(0, 1.1),
          title="open skin tone: diversity")
    if grid:
        c = axes[2]
        gsteps = [p["step"] for p in grid["points"]]
        for label, colour in zip(("group", "subgroup"), colours):
            c.plot(gsteps, [p["accuracy"][label] for p in grid["points"]], ".-", color=colour, label=label)
        c.set(xlabel="training step", ylabel="tiles read as their caption", ylim=(0, 1.02),
              title=f"sample grids: {grid['tiles']} tiles ({', '.join(grid['subgroups'])})")
        c.legend(fontsize=8)
    return fig
