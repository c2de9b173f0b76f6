"""A training run seen from a notebook: find its folder or the official checkpoint, compare its settings
with another configuration, and plot its losses next to its current samples.

Introduced in ``notebooks/06_generator_and_discriminator.ipynb`` (the official checkpoint) and
``notebooks/08_training.ipynb`` (runs, and D's gradient norms at real pairs over training); used again in
``09``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dflib.checkpoint import latest_checkpoint

from .image_grids import images_to_array
from .plots import COLORS

__all__ = ["find_run", "find_official_checkpoint", "config_diff", "plot_training_progress",
           "real_pair_gradients", "plot_gradient_norms"]


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
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    ax.set_title("losses (means over logging intervals)", fontsize=9)
    ax_img.imshow(images_to_array(samples, nrow), interpolation="nearest")
    ax_img.axis("off")
    ax_img.set_title(title or "fixed noise (columns) x captions (rows)", fontsize=9)
    fig.tight_layout()
    return fig


def real_pair_gradients(netD: nn.Module, netC: nn.Module, images: Tensor, sent: Tensor, k: float = 2.0,
                        p: float = 6.0) -> dict[str, Tensor | float]:
    """D's gradients at real matched pairs, per sample: what MA-GP (paper Sec. 3.3.1, Eq. 2) penalises.

    Returns ``grad_x`` = ||d D(x, e) / d x||, ``grad_e`` = ||d D(x, e) / d e|| and ``joint`` =
    ||[grad_x; grad_e]|| (the official code's norm, docs/official_behaviour.md §7), each a ``(B,)`` tensor on
    the CPU, and ``magp`` = k * mean(joint ** p), the penalty term of the D loss on this batch, as a float.
    The networks' parameters get no gradient and their mode is left as it was.
    """
    x = images.detach().clone().requires_grad_()
    e = sent.detach().clone().requires_grad_()
    with torch.enable_grad():
        out = netC(netD(x), e)
        gx, ge = torch.autograd.grad(out.sum(), (x, e))
    grad_x = gx.flatten(1).double().norm(dim=1).cpu()
    grad_e = ge.flatten(1).double().norm(dim=1).cpu()
    joint = (grad_x.pow(2) + grad_e.pow(2)).sqrt()
    return {"grad_x": grad_x, "grad_e": grad_e, "joint": joint, "magp": float(k * joint.pow(p).mean())}


def plot_gradient_norms(records: Sequence[Mapping], history: Sequence[Mapping[str, float]] = (),
                        title: str = "") -> Figure:
    """Three panels over training: MA-GP (left: on the fixed real batch of ``records``, and the logged
    ``errD_magp`` of the training batches in ``history``), the median ||grad_x D|| and ||grad_e D|| with
    their quartiles (middle), and every sample's ||grad_e D|| against ||grad_x D|| coloured by step
    (right). ``records`` are ``{"step": int, **real_pair_gradients(...)}``."""
    if not records:
        raise ValueError("no gradient records to plot: record real_pair_gradients during training first")
    steps = np.array([r["step"] for r in records])
    fig, (ax_gp, ax_n, ax_s) = plt.subplots(1, 3, figsize=(11.5, 3.3))
    ax_gp.plot(steps, [r["magp"] for r in records], color=COLORS["discriminator"], lw=1.2, marker=".",
               label="fixed real batch")
    logged = [(h["step"], h["errD_magp"]) for h in history if "errD_magp" in h]
    if logged:
        ax_gp.plot(*zip(*logged), color="0.6", lw=0.8, label="training batches (logged means)", zorder=0)
    ax_gp.set_yscale("log")
    ax_gp.set_xlabel("step")
    ax_gp.set_ylabel("MA-GP = k mean ||[grad_x; grad_e]||^p")
    ax_gp.set_title("MA-GP at real pairs", fontsize=9)
    ax_gp.legend(fontsize=7)
    for key, label, colour in (("grad_x", "||grad_x D|| (image)", COLORS["discriminator"]),
                               ("grad_e", "||grad_e D|| (sentence)", COLORS["mismatch"])):
        q = np.array([np.quantile(r[key].numpy(), [0.25, 0.5, 0.75]) for r in records])
        ax_n.plot(steps, q[:, 1], color=colour, lw=1.2, label=f"{label}, median")
        ax_n.fill_between(steps, q[:, 0], q[:, 2], color=colour, alpha=0.2, lw=0)
    ax_n.set_yscale("log")
    ax_n.set_xlabel("step")
    ax_n.set_ylabel("gradient norm at a real pair")
    ax_n.set_title("median and quartiles over the batch", fontsize=9)
    ax_n.legend(fontsize=7)
    gx = np.concatenate([r["grad_x"].numpy() for r in records])
    ge = np.concatenate([r["grad_e"].numpy() for r in records])
    st = np.concatenate([np.full(len(r["grad_x"]), r["step"]) for r in records])
    sc = ax_s.scatter(ge, gx, c=st, s=6, cmap="viridis")
    lo = max(min(gx.min(), ge.min()), 1e-12)
    hi = max(gx.max(), ge.max(), lo * 10)
    ax_s.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--", label="equal norms")
    ax_s.set_xscale("log")
    ax_s.set_yscale("log")
    ax_s.set_xlabel("||grad_e D|| (sentence)")
    ax_s.set_ylabel("||grad_x D|| (image)")
    ax_s.set_title("each real pair of the fixed batch", fontsize=9)
    ax_s.legend(fontsize=7)
    fig.colorbar(sc, ax=ax_s, label="step")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
