"""A training run seen from a notebook: find its folder or the official checkpoint, compare its settings
with another configuration, and plot its losses next to its current samples.

Introduced in ``notebooks/06_generator_and_discriminator.ipynb`` (the official checkpoint) and
``notebooks/08_training.ipynb`` (runs, and D's gradient norms at real pairs over training); used again in
``09`` and ``10_capstone_full_training.ipynb`` (a whole run, resumed and evaluated).
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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
           "real_pair_gradients", "plot_gradient_norms", "notebook_config", "open_trainer", "fixed_batch",
           "assert_on_device", "train_in_chunks", "time_report", "thin", "plot_snapshots",
           "checkpoint_samples", "format_metrics"]


def find_run(env_var: str = "DFGAN_RUN", patterns: Sequence[str] = (
        "../runs/shapes-32-cpu-*", "runs/shapes-32-cpu-*", "runs/capstone/shapes-32-cpu",
        "../notebooks/runs/capstone/shapes-32-cpu", "runs/nb08/shapes-32-cpu",
        "../notebooks/runs/nb08/shapes-32-cpu")) -> Path | None:
    """A training run folder with a checkpoint, or ``None``: ``$DFGAN_RUN`` first, then the newest folder
    matching each pattern in turn (``make train`` runs, then notebook 10's full run, then notebook 08's)."""
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
    device = next(netD.parameters()).device  # the networks' device, whatever the inputs' (a GPU run)
    x = images.detach().to(device).clone().requires_grad_()
    e = sent.detach().to(device).clone().requires_grad_()
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


# ---------------------------------------------------------------------------------------------------------
# Notebook 08's run: one configuration for the CPU demonstration and for a full (GPU) run, the same code path


def notebook_config(cfg, full_run: bool, demo_steps: int, log_every: int = 25):
    """The configuration notebook 08 trains. ``full_run=False``: a short demonstration that stops at
    ``demo_steps``. ``full_run=True``: the preset's own schedule, nothing capped (``make train``'s
    4,000 steps for ``shapes-32-cpu``; the paper's 1,300 epochs for ``birds-256``). Both: no progress bar,
    no TensorBoard and no sample files (the notebook draws its own), at most the last 3 checkpoints kept
    (the notebook saves one per chunk; ``python -m dflib train`` keeps the preset's own schedule)."""
    from dflib.config import apply_overrides

    keep = 3 if cfg.keep_last == 0 else min(cfg.keep_last, 3)
    changes = {"time_limit_min": 0.0, "sample_every": 0, "sample_every_epochs": 0, "save_every": 0,
               "save_every_epochs": 0, "keep_last": keep, "progress": False, "tensorboard": False}
    if not full_run:
        changes.update({"max_steps": int(demo_steps), "log_every": int(log_every)})
    return apply_overrides(cfg, changes)


def open_trainer(cfg, out_dir: str | Path, resume: bool, **kwargs):
    """A :class:`dflib.train.Trainer` for ``out_dir``: it continues the run saved there when ``resume`` is
    true and the folder holds a checkpoint; otherwise it starts a new run there, after removing this
    notebook's own previous run from the folder (a run folder belongs to one run)."""
    from dflib.train import Trainer

    out_dir = Path(out_dir)
    if resume and latest_checkpoint(out_dir) is not None:
        return Trainer(cfg, out_dir=out_dir, resume=out_dir, **kwargs)
    shutil.rmtree(out_dir, ignore_errors=True)
    return Trainer(cfg, out_dir=out_dir, **kwargs)


def assert_on_device(device: torch.device | str, **tensors: Tensor) -> None:
    """``AssertionError`` naming every tensor that is not on ``device`` (e.g. built on the CPU for a GPU run)."""
    device = torch.device(device)
    wrong = {k: str(t.device) for k, t in tensors.items() if t.device.type != device.type
             or (device.index is not None and t.device.index != device.index)}
    assert not wrong, f"not on the training device {device}: {wrong}"


def fixed_batch(trainer, n: int | None = None, seed: int = 1) -> dict[str, Tensor | list[str]]:
    """A fixed real batch from the start of the trainer's data: ``image`` ``x``, frozen sentence vectors
    ``e`` and seeded noise ``z``, all on ``trainer.device`` (asserted), and the ``captions``. The noise is
    drawn on the CPU from ``seed`` and then moved, so it is the same numbers on every device."""
    from dflib.data import collate

    n = int(n or trainer.cfg.batch_size)
    batch = collate([trainer.dataset[i] for i in range(n)])
    x = batch["image"].to(trainer.device)
    e = trainer.sentences(batch).to(trainer.device)
    z = torch.randn(n, trainer.cfg.model.z_dim, generator=torch.Generator().manual_seed(seed)).to(trainer.device)
    assert_on_device(trainer.device, x=x, e=e, z=z)
    return {"x": x, "e": e, "z": z, "captions": list(batch["caption"])}


def train_in_chunks(trainer, until: int, chunk: int, after_chunk: Callable[[], None] | None = None) -> dict:
    """Train to step ``until`` in chunks of ``chunk`` steps (``Trainer.run``, which saves a checkpoint at
    the end of each), calling ``after_chunk()`` after each. Returns ``steps`` trained here, ``train_s`` (time
    in the training steps), ``other_s`` (time in ``after_chunk``) and ``step_s`` (seconds per step)."""
    start, train_s, other_s = trainer.step, 0.0, 0.0
    while trainer.step < until:
        t0 = time.perf_counter()
        trainer.run(max_steps=min(until, trainer.step + chunk))
        t1 = time.perf_counter()
        if after_chunk is not None:
            after_chunk()
        train_s, other_s = train_s + t1 - t0, other_s + time.perf_counter() - t1
    steps = trainer.step - start
    return {"steps": steps, "train_s": train_s, "other_s": other_s, "step_s": train_s / steps if steps else None}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} days"


def time_report(step_s: float, done: int, total: int, device: str = "") -> str:
    """'0.31 s/step measured on cpu; 3,200 steps left of 4,000: about 17 min more' (the expected time of the
    rest of a run at the measured rate)."""
    left = max(0, int(total) - int(done))
    where = f" on {device}" if device else ""
    return (f"{step_s:.3g} s/step measured{where}; step {done:,} of {total:,}, {left:,} left: "
            f"about {_duration(left * step_s)} more at this rate (the whole schedule: {_duration(total * step_s)})")


def thin(items: Sequence, keep: int, by: Callable | None = None) -> list:
    """At most ``keep`` of ``items``, always the first and the last. Without ``by``: halve the list (every other
    item) until it fits, which keeps an evenly spaced list evenly spaced when it is thinned again and again (the
    snapshots of a long run). With ``by`` (e.g. the step): the items nearest ``keep`` evenly spaced values of it."""
    items = list(items)
    if keep < 2 or len(items) <= keep:
        return items
    if by is None:
        while len(items) > keep:
            items = items[:-1:2] + [items[-1]]
        return items
    keys = [by(x) for x in items]
    chosen: list[int] = []
    for j in range(keep):
        target = keys[0] + (keys[-1] - keys[0]) * j / (keep - 1)
        best = min(range(len(items)), key=lambda i: abs(keys[i] - target))
        if best not in chosen:
            chosen.append(best)
    return [items[i] for i in sorted(chosen)]


def plot_snapshots(snapshots: Sequence[tuple[int, Tensor]], captions: Sequence[str], ncols: int,
                   max_chars: int = 34) -> Figure:
    """Sample grids over training side by side (``snapshots`` = ``[(step, images)]``, images ``(rows*ncols,
    C, H, W)`` in [-1, 1]), each titled with its step, the rows labelled with their ``captions`` on the left."""
    if not snapshots:
        raise ValueError("no snapshots to plot")
    fig, axes = plt.subplots(1, len(snapshots), figsize=(2.6 * len(snapshots) + 2.4, 3.2), squeeze=False)
    for j, (ax, (step, grid)) in enumerate(zip(axes[0], snapshots)):
        arr = images_to_array(grid, ncols)
        ax.imshow(arr, interpolation="nearest")
        ax.set_title(f"after {step:,} steps", fontsize=9)
        ax.set_xticks([])
        h = grid.shape[-2] + 1
        if j == 0:
            ax.set_yticks([1 + (r + 0.5) * h for r in range(len(captions))],
                          [c if len(c) <= max_chars else c[: max_chars - 3] + "..." for c in captions], fontsize=6)
            ax.set_ylabel("caption of each row", fontsize=8)
        else:
            ax.set_yticks([])
    fig.suptitle("fixed noise (columns) x fixed captions (rows) over training", fontsize=10)
    fig.tight_layout()
    return fig


def checkpoint_samples(run_dir: str | Path, noise: Tensor, sent: Tensor) -> list[tuple[int, Tensor]]:
    """``[(step, images)]`` for every checkpoint kept in ``run_dir``: the saved generator (its EMA copy if the
    run kept one) on fixed ``noise`` (columns) and sentence vectors ``sent`` (rows), images on the CPU."""
    from dflib.checkpoint import list_checkpoints
    from dflib.sample import generate_images, load_generator

    out = []
    rows, cols = sent.shape[0], noise.shape[0]
    for path in list_checkpoints(run_dir):
        netG, info = load_generator(path)
        out.append((int(info["step"]), generate_images(netG, noise.repeat(rows, 1), sent.repeat_interleave(cols, 0))))
    return out


def format_metrics(sh: Mapping | None, fid: Mapping | None = None, label: str = "") -> str:
    """The lines notebook 09 prints for a generator's ``shapes`` metrics (accuracy per stated attribute with the
    real-image ceiling and chance, diversity) and its FID with the real-vs-real floor."""
    lines = []
    if sh:
        lines.append(f"{label} (n = {sh['n']} test captions, truncation {sh['truncation']}):")
        for a, acc in sh["accuracy"].items():
            if acc is not None and sh["chance"][a] < 1:
                lines.append(f"  {a:9s} accuracy {acc:.3f} on {sh['n_stated'][a]:3d} captions  "
                             f"(real {sh['real_accuracy'][a]:.3f}, chance {sh['chance'][a]:.3f})")
        div = ", ".join(f"{a} {v:.2f}" for a, v in sh["diversity"].items() if v is not None)
        mean = "n/a" if sh.get("diversity_mean") is None else f"{sh['diversity_mean']:.2f}"
        lines.append(f"  diversity {div or 'n/a'}; mean {mean}")
    if fid:
        lines.append(f"  FID {fid['fid']:.1f} against the real test split, real-vs-real floor "
                     f"{fid['fid_floor']:.1f} (n = {fid['n']})")
    return "\n".join(lines)
