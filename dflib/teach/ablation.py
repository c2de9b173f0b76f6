"""The paper's ablation (DF-GAN, CVPR 2022 = arXiv 2008.05865v4, Sec. 4.3) re-run on the bundled shapes.

Six variants, one budget (the same steps, data, batch size and learning rates; the same initial D/C weights,
batch order and noise per seed):

* ``dfgan``:       DF-GAN as published: hinge loss with mismatched pairs (Eq. 1) + MA-GP k=2 p=6 (Eq. 2) +
                   stacked DF-Blocks (Sec. 3.4),
* ``no_gp``:       no gradient penalty at all,
* ``zero_gp``:     an image-only zero-centred GP (``dflib.losses.zero_centred_gp``, k=2 p=6) instead of MA-GP,
* ``no_mismatch``: no mismatched-pair term: ``L_D = real + fake`` (still with MA-GP),
* ``concat``:      concatenation + 1x1 conv instead of each DF-Block (``dflib.teach.fusion``),
* ``affine``:      a single Affine instead of each DF-Block (``dflib.teach.fusion``).

:func:`ablation_step` is one step with switches (``penalty`` in ``magp / zero_gp / none``, ``mismatch``
on/off); with the defaults it is :func:`dflib.step.train_step` operation for operation. :func:`run_variant`
trains one variant, :func:`evaluate_variant` scores it with ``dflib.metrics.shapes_eval``, and
:func:`plot_ablation` draws the committed ``results/ablation.json`` (``bench/ablation.py`` writes it).

Introduced in ``notebooks/04_ma_gp.ipynb`` (penalty and mismatch variants) and
``notebooks/05_df_block_fusion.ipynb`` (fusion variants).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dflib.losses import hinge_fake, hinge_real, ma_gp, roll_mismatch, zero_centred_gp
from dflib.step import draw_noise

__all__ = [
    "PENALTIES",
    "Variant",
    "VARIANTS",
    "ablation_step",
    "build_variant_nets",
    "run_variant",
    "evaluate_variant",
    "flatten_metrics",
    "summarise_runs",
    "load_ablation",
    "plot_ablation",
    "PLOT_METRICS",
]

PENALTIES = ("magp", "zero_gp", "none")


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: which penalty, whether mismatched pairs enter L_D, which fusion in G."""

    name: str
    label: str
    penalty: str = "magp"
    mismatch: bool = True
    fusion: str = "dfblock"  # dflib.teach.fusion.FUSION_KINDS

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "penalty": self.penalty, "mismatch": self.mismatch,
                "fusion": self.fusion}


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("dfgan", "(a) DF-GAN as published"),
    Variant("no_gp", "(b) no penalty", penalty="none"),
    Variant("zero_gp", "(c) image-only 0-GP", penalty="zero_gp"),
    Variant("no_mismatch", "(d) no mismatched pairs", mismatch=False),
    Variant("concat", "(e) concatenation fusion", fusion="concat"),
    Variant("affine", "(e') single Affine fusion", fusion="affine"),
)}


def ablation_step(
    nets: Sequence[nn.Module],
    opts: Sequence[torch.optim.Optimizer],
    images: Tensor,
    sent: Tensor,
    noise: Tensor | None = None,
    penalty: str = "magp",
    mismatch: bool = True,
    k: float = 2.0,
    p: float = 6.0,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """One DF-GAN iteration with two switches, built from :mod:`dflib.losses` like
    :func:`dflib.step.train_step` (which it equals exactly with the defaults):

    * ``penalty="magp"``: ``k E[||[grad_x D; grad_e D]||^p]`` (Eq. 2); ``"zero_gp"``: ``k E[||grad_x D||^p]``
      (the image only); ``"none"``: no penalty (``errD_gp`` is 0);
    * ``mismatch=True``: ``L_D = real + (fake + mis) / 2`` (Eq. 1); ``False``: ``L_D = real + fake``, the
      mismatched pairs are never formed and ``errD_mis`` is absent from the result.

    The G step is the same in every variant: ``L_G = -E[D(G(z, e), e)]`` against the just-updated D.
    Returns detached 0-d tensors ``errD, errD_real, errD_fake, [errD_mis,] errD_gp, errG`` (plus
    ``errD_magp`` when ``penalty="magp"``, the name ``train_step`` uses).
    """
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r}; choose one of {PENALTIES}")
    netG, netD, netC = nets
    opt_g, opt_d = opts
    images = images.detach().requires_grad_()
    sent = sent.detach().requires_grad_()
    real_features = netD(images)
    pred_real = netC(real_features, sent)
    err_real = hinge_real(pred_real)  # E[relu(1 - D(x, e))]
    err_mis = hinge_fake(netC(roll_mismatch(real_features), sent)) if mismatch else None  # E[relu(1 + D(x_mis, e))]
    if noise is None:
        noise = draw_noise(netG, sent, generator)
    fake = netG(noise, sent)
    err_fake = hinge_fake(netC(netD(fake.detach()), sent))  # E[relu(1 + D(G(z, e), e))]
    if penalty == "magp":
        err_gp = ma_gp(pred_real, images, sent, k=k, p=p)  # Eq. 2
    elif penalty == "zero_gp":
        err_gp = zero_centred_gp(pred_real, images, k=k, p=p)  # image gradient only
    else:
        err_gp = torch.zeros((), device=pred_real.device, dtype=pred_real.dtype)
    if err_mis is not None:
        err_d = err_real + (err_fake + err_mis) / 2.0 + err_gp  # Eq. 1 (+ Eq. 2)
    else:
        err_d = err_real + err_fake + err_gp  # the unconditional hinge loss: real + fake
    opt_d.zero_grad(set_to_none=True)
    err_d.backward()
    opt_d.step()
    err_g = -netC(netD(fake), sent).mean()
    opt_g.zero_grad(set_to_none=True)
    err_g.backward()
    opt_g.step()
    out = {"errD": err_d.detach(), "errD_real": err_real.detach(), "errD_fake": err_fake.detach()}
    if err_mis is not None:
        out["errD_mis"] = err_mis.detach()
    out["errD_gp"] = err_gp.detach()
    if penalty == "magp":
        out["errD_magp"] = err_gp.detach()
    out["errG"] = err_g.detach()
    return out


def build_variant_nets(variant: Variant, model_cfg: Any, seed: int):
    """``(netG, netD, netC)`` for ``variant``: NetD and NetC (and the DF-GAN generator) from
    :func:`dflib.config.build_models` after ``torch.manual_seed(seed)``, so every variant starts from the same
    discriminator for a given seed; a fusion variant's generator is rebuilt by
    :func:`dflib.teach.fusion.build_fusion_generator` after the same seed."""
    from dflib.config import build_models

    from .fusion import build_fusion_generator

    torch.manual_seed(seed)
    netG, netD, netC = build_models(model_cfg)
    if variant.fusion != "dfblock":
        torch.manual_seed(seed)
        m = model_cfg
        netG = build_fusion_generator(variant.fusion, m.ngf, m.z_dim, m.cond_dim, m.imsize, m.ch_size)
    return netG, netD, netC


@dataclass
class VariantRun:
    """One trained variant: the generator (eval mode), the loss history, the training wall time."""

    variant: Variant
    seed: int
    steps: int
    netG: nn.Module
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def run_variant(variant: Variant, cfg: Any, dataset, cache, steps: int, seed: int,
                device: str | torch.device = "cpu", log_every: int = 50, progress: bool = False) -> VariantRun:
    """Train ``variant`` for ``steps`` steps with the preset ``cfg``'s batch size, learning rates and Adam
    betas (:func:`dflib.step.build_optimizers`), on ``dataset`` in the order of
    :class:`dflib.data.order.ResumableBatches` (seed ``seed``), sentence vectors from ``cache``
    (a :class:`dflib.text.SentenceCache`), noise from a generator seeded with ``seed``."""
    from dflib.data import collate
    from dflib.data.order import ResumableBatches
    from dflib.step import Nets, build_optimizers, losses_to_floats

    device = torch.device(device)
    nets = Nets(*(n.to(device).train() for n in build_variant_nets(variant, cfg.model, seed)))
    opts = build_optimizers(nets, cfg.lr_g, cfg.lr_d, (cfg.beta1, cfg.beta2))
    batches = iter(ResumableBatches(dataset, cfg.batch_size, collate, seed=seed))
    gen = torch.Generator(device=device).manual_seed(seed * 1000 + 1)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        batch = next(batches)
        losses = ablation_step(nets, opts, batch["image"].to(device), cache(batch).to(device),
                               penalty=variant.penalty, mismatch=variant.mismatch, k=cfg.magp_k, p=cfg.magp_p,
                               generator=gen)
        if step % log_every == 0 or step == steps:
            row = losses_to_floats(losses)
            if not all(math.isfinite(v) for v in row.values()):
                history.append({"step": step, **row})
                break
            history.append({"step": step, **row})
            if progress:
                print(f"  {variant.name} seed {seed} step {step}: "
                      + " ".join(f"{k}={v:.3f}" for k, v in row.items()), flush=True)
    seconds = time.perf_counter() - t0
    return VariantRun(variant, seed, steps, nets.netG.eval(), seconds, history)


def evaluate_variant(run: VariantRun, cfg: Any, cache, classifier: nn.Module, n: int = 256,
                     device: str | torch.device = "cpu", fid_n: int = 0) -> dict[str, Any]:
    """``dflib.metrics.shapes_eval.evaluate_shapes_generator`` on ``n`` images (evaluation seed 0 and one
    shared ``classifier`` for every run, so all variants are scored on the same test items), plus
    ``dflib.metrics.run_fid.fid_with_floor`` on ``fid_n`` images when ``fid_n > 0``."""
    from dflib.metrics.shapes_eval import evaluate_shapes_generator

    out: dict[str, Any] = {"shapes": evaluate_shapes_generator(
        run.netG, cache, cfg.data.options, n=n, device=device, seed=0, truncation=cfg.truncation,
        imsize=cfg.model.imsize, classifier=classifier)}
    if fid_n > 0:
        from dflib.metrics.run_fid import fid_with_floor

        out["fid"] = fid_with_floor(run.netG, cache, cfg.data.name, cfg.data.options, n=fid_n,
                                    imsize=cfg.model.imsize, device=device, seed=0, truncation=cfg.truncation)
    return out


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of :func:`evaluate_variant` as one flat dict: ``acc_<attr>``, ``real_acc_<attr>``,
    ``div_<attr>``, ``diversity_mean``, ``diversity_pixels``, ``fid``, ``fid_floor`` (those present)."""
    s = metrics.get("shapes", {})
    flat: dict[str, float] = {}
    for key, prefix in (("accuracy", "acc_"), ("real_accuracy", "real_acc_"), ("diversity", "div_")):
        for attr, v in (s.get(key) or {}).items():
            if v is not None:
                flat[prefix + attr] = float(v)
    for key in ("diversity_mean", "diversity_pixels"):
        if s.get(key) is not None:
            flat[key] = float(s[key])
    for key in ("fid", "fid_floor"):
        if key in (metrics.get("fid") or {}):
            flat[key] = float(metrics["fid"][key])
    return flat


def summarise_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant and metric: ``mean``, ``std`` (sample std, ddof=1; 0 for one seed) and ``n`` seeds,
    over the ``runs`` entries of ``results/ablation.json`` (each with ``variant`` and ``metrics``, flat)."""
    by: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        for k, v in r["metrics"].items():
            by.setdefault(r["variant"], {}).setdefault(k, []).append(float(v))
        by.setdefault(r["variant"], {}).setdefault("train_seconds", []).append(float(r["train_seconds"]))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, metrics in by.items():
        out[name] = {}
        for k, vals in metrics.items():
            a = np.asarray(vals, dtype=float)
            out[name][k] = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                            "n": int(len(a))}
    return out


def load_ablation(path: str | Path = "results/ablation.json") -> dict[str, Any]:
    """The committed ablation results (``bench/ablation.py`` writes them)."""
    return json.loads(Path(path).read_text())


PLOT_METRICS = ("acc_color", "acc_shape", "acc_size", "acc_position", "diversity_mean")


def plot_ablation(data: Mapping[str, Any] | str | Path = "results/ablation.json",
                  metrics: Sequence[str] | None = None, path: str | Path | None = None):
    """Grouped bars (mean over seeds, error bars = std over seeds), one group per metric, one bar per
    variant, from the JSON of ``bench/ablation.py``; dotted lines: the classifier on real images (accuracy
    ceiling), dashed: chance (1 / number of values, the JSON's ``chance``). Saves to ``path`` if given; returns the figure."""
    import matplotlib.pyplot as plt

    if not isinstance(data, Mapping):
        data = load_ablation(data)
    summary = data["summary"]
    names = [n for n in data.get("variant_order", list(summary)) if n in summary]
    metrics = [m for m in (metrics or PLOT_METRICS) if any(m in summary[n] for n in names)]
    labels = {v["name"]: v["label"] for v in data.get("variants", [])}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(metrics) + 2.5), 3.4))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(metrics))
    for i, name in enumerate(names):
        mean = [summary[name].get(m, {}).get("mean", np.nan) for m in metrics]
        std = [summary[name].get(m, {}).get("std", 0.0) for m in metrics]
        ax.bar(x - 0.4 + width * (i + 0.5), mean, width, yerr=std, capsize=2, label=labels.get(name, name))
    chance = data.get("chance") or {}
    for j, m in enumerate(metrics):
        if m.startswith("acc_"):
            ceil = [summary[n].get("real_" + m, {}).get("mean") for n in names]
            ceil = [c for c in ceil if c is not None]
            if ceil:
                ax.hlines(float(np.mean(ceil)), j - 0.45, j + 0.45, colors="k", linestyles=":",
                          label="real images (classifier ceiling)" if j == 0 else None)
            if m[4:] in chance:
                ax.hlines(float(chance[m[4:]]), j - 0.45, j + 0.45, colors="grey", linestyles="--",
                          label="chance" if j == 0 else None)
    ax.set_xticks(x, [m.replace("acc_", "accuracy: ").replace("diversity_mean", "diversity") for m in metrics],
                  fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (mean ± std over seeds)")
    ax.set_xlabel("metric")
    steps = data.get("steps")
    seeds = data.get("seeds")
    ax.set_title(f"DF-GAN ablation on bundled shapes ({steps} steps, {len(seeds) if seeds else '?'} seeds per variant)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig
