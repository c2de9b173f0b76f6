"""A training run seen from a notebook: find its folder or the official checkpoint, compare its settings
with another configuration, and plot its losses next to its current samples.

Introduced in ``notebooks/06_generator_and_discriminator.ipynb`` (the official checkpoint) and
``notebooks/08_training.ipynb`` (runs); used again in ``09``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor

from dflib.checkpoint import latest_checkpoint

from .image_grids import images_to_array
from .plots import COLORS

__all__ = ["find_run", "find_official_checkpoint", "config_diff", "plot_training_progress"]


def find_run(env_var: str = "DFGAN_RUN", patterns: Sequence[str] = ("../runs/shapes-32-cpu-*", "runs/shapes-32-cpu-*",
             "runs/nb08/shapes-32-cpu", "../notebooks/runs/nb08/shapes-32-cpu")) -> Path | None:
    """A training run folder with a checkpoint, or ``None``: ``$DFGAN_RUN`` first, then the newest folder
    matching each pattern in turn (``make train`` runs before notebook 08's run)."""
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


def plot_training_progress(history: Sequence[Mapping[str, float]], samples: Tensor, nrow: int,
                           keys: Sequence[str] = ("errD", "errG"), title: str = "") -> Figure:
    """Loss curves (left) next to the current fixed-noise sample grid (right, ``nrow`` images per row)."""
    fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(8.5, 3.2), gridspec_kw={"width_ratios": [1.1, 1]})
    colours = {"errD": COLORS["discriminator"], "errG": COLORS["generator"]}
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
