"""The paper's ablation (DF-GAN, CVPR 2022 = arXiv 2008.05865v4, Sec. 4.3) re-run on the bundled shapes.

Every variant is a setting of the one training path (:class:`dflib.train.Trainer` and
:func:`dflib.step.train_step`), not a second step or loop:

* ``dfgan``        DF-GAN as published: hinge loss with mismatched pairs (Eq. 1), MA-GP k=2 p=6 (Eq. 2),
                   stacked DF-Blocks (Sec. 3.4);
* ``no_gp``        no gradient penalty (``penalty=none``);
* ``zero_gp``      an image-only zero-centred penalty instead of MA-GP (``penalty=zero_gp``);
* ``no_mismatch``  no mismatched-pair term, ``L_D = real + fake`` (``mismatch=false``);
* ``affine``       one Affine instead of each DF-Block (``model.fusion=affine``);
* ``concat``       concatenation + 1x1 conv instead of each DF-Block (``model.fusion=concat``).

:func:`run_variant` trains one (variant, seed) to a fixed step count, resumable, and scores it;
:func:`summarise` gives mean, std, a 95% confidence interval and Welch's t-test against DF-GAN;
``bench/ablation.py`` runs the grid and writes ``results/ablation.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import latest_checkpoint
from .config import TrainConfig, apply_overrides
from .metrics.shapes_eval import evaluate_shapes_generator
from .step import real_pair_gradients
from .train import Trainer

__all__ = ["Variant", "VARIANTS", "variant_config", "run_variant", "flatten_metrics", "summarise", "welch",
           "load_ablation", "plot_ablation", "PLOT_METRICS"]


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: its name, a label for tables, and the settings it changes."""

    name: str
    label: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "overrides": dict(self.overrides)}


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("dfgan", "(a) DF-GAN as published"),
    Variant("no_gp", "(b) no penalty", {"penalty": "none"}),
    Variant("zero_gp", "(c) image-only 0-GP", {"penalty": "zero_gp"}),
    Variant("no_mismatch", "(d) no mismatched pairs", {"mismatch": False}),
    Variant("affine", "(e) one Affine per block", {"model.fusion": "affine"}),
    Variant("concat", "(f) concatenation fusion", {"model.fusion": "concat"}),
)}


def variant_config(base: TrainConfig, variant: Variant, seed: int, steps: int) -> TrainConfig:
    """``base`` with the variant's settings, the seed, a fixed step count (no time limit) and the logging
    the ablation reads: D's gradient norms at real pairs on every log step."""
    return apply_overrides(base, {**variant.overrides, "seed": seed, "max_steps": steps, "time_limit_min": 0.0,
                                  "log_grad_norms": True, "tensorboard": False, "eval_samples": 0,
                                  "eval_fid": 0, "preset": f"ablation-{variant.name}"})


def run_variant(base: TrainConfig, variant: Variant, seed: int, steps: int, out_dir: str | Path,
                n_eval: int = 512, progress: bool = False) -> dict[str, Any]:
    """Train ``variant`` with ``seed`` for ``steps`` steps in ``out_dir`` (continuing from its newest
    checkpoint if there is one), then score it with :func:`evaluate_shapes_generator` on ``n_eval`` test
    images with evaluation seed 0 for every run (the same items and the same classifier recipe).
    Returns a JSON-ready record: variant, seed, steps, train seconds, metrics and the logged history."""
    cfg = apply_overrides(variant_config(base, variant, seed, steps), {"progress": progress})
    out_dir = Path(out_dir)
    resume = latest_checkpoint(out_dir) if out_dir.is_dir() else None
    trainer = Trainer(cfg, out_dir=out_dir, resume=resume)
    summary = trainer.run()
    encode = trainer.cache if trainer.cache is not None else trainer.encoder
    metrics = evaluate_shapes_generator(trainer.generator(), encode, cfg.data.options, n=n_eval,
                                        device=trainer.device, seed=0, truncation=cfg.truncation,
                                        imsize=cfg.model.imsize)
    trainer.close()
    return {"variant": variant.name, "seed": seed, "steps": summary["steps"], "train_seconds": summary["seconds"],
            "resumed": resume is not None, "metrics": flatten_metrics({"shapes": metrics}), "chance": metrics["chance"],
            "history": trainer.history}


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a ``metrics.json`` as one flat dict: ``acc_<attr>``, ``real_acc_<attr>``,
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


def welch(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Welch's two-sample t-test of mean(a) - mean(b): the difference, t, degrees of freedom, two-sided p."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "t": math.nan, "p": math.nan}
    res = ttest_ind(a, b, equal_var=False)
    return {"diff": diff, "t": float(res.statistic), "p": float(res.pvalue)}


def summarise(runs: Sequence[Mapping[str, Any]], reference: str = "dfgan") -> dict[str, dict[str, dict[str, float]]]:
    """Per variant and metric over seeds: ``mean``, ``std`` (ddof=1), ``n``, the 95% t-interval of the
    mean (``ci_low``, ``ci_high``) and, against ``reference``, Welch's test (``diff``, ``t``, ``p``)."""
    from scipy.stats import t

    by: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        row = {**r["metrics"], "train_seconds": r["train_seconds"]}
        for k, v in row.items():
            by.setdefault(r["variant"], {}).setdefault(k, []).append(float(v))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, metrics in by.items():
        out[name] = {}
        for k, vals in metrics.items():
            a = np.asarray(vals, float)
            std = float(a.std(ddof=1)) if len(a) > 1 else 0.0
            half = float(t.ppf(0.975, len(a) - 1)) * std / math.sqrt(len(a)) if len(a) > 1 else math.nan
            entry = {"mean": float(a.mean()), "std": std, "n": int(len(a)),
                     "ci_low": float(a.mean() - half), "ci_high": float(a.mean() + half)}
            if name != reference and k in by.get(reference, {}):
                entry.update({f"vs_{reference}_{key}": v for key, v in welch(vals, by[reference][k]).items()})
            out[name][k] = entry
    return out


def load_ablation(path: str | Path = "results/ablation.json") -> dict[str, Any]:
    """The committed ablation results (``bench/ablation.py`` writes them)."""
    return json.loads(Path(path).read_text())


PLOT_METRICS = ("acc_color", "acc_shape", "acc_size", "acc_position", "diversity_mean")


def plot_ablation(data: Mapping[str, Any] | str | Path = "results/ablation.json",
                  metrics: Sequence[str] | None = None, path: str | Path | None = None):
    """Grouped bars (mean over seeds, error bars = 95% interval), one group per metric, one bar per
    variant; dotted: the classifier on real images (accuracy ceiling); dashed: chance."""
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
        s = [summary[name].get(m, {}) for m in metrics]
        mean = [e.get("mean", np.nan) for e in s]
        err = [0.0 if not math.isfinite(e.get("ci_high", math.nan)) else e["ci_high"] - e["mean"] for e in s]
        ax.bar(x - 0.4 + width * (i + 0.5), mean, width, yerr=err, capsize=2, label=labels.get(name, name))
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
    ax.set_xticks(x, [m.replace("acc_", "accuracy: ").replace("diversity_mean", "diversity") for m in metrics], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (mean, 95% interval)")
    ax.set_xlabel("metric")
    n_seeds = max((summary[n][metrics[0]]["n"] for n in names), default=0) if metrics else 0
    ax.set_title(f"DF-GAN ablation on bundled shapes ({data.get('steps')} steps, up to {n_seeds} seeds per variant)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


GRAD_KEYS = ("grad_image", "grad_text")


def load_runs(folder: str | Path = "results/ablation") -> list[dict[str, Any]]:
    """Every per-run file ``<variant>-seed<k>.json`` that ``bench/ablation.py`` wrote (with its history)."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*-seed*.json"))]


def grad_norm_curves(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """D's gradient norms at real matched pairs over training, per variant: ``{variant: {"step": [...],
    "grad_image": [...], "grad_text": [...], "seeds": n}}``, the mean over the variant's seeds at the steps
    every seed logged (``log_grad_norms``: the image part and the sentence part of Eq. 2's gradient)."""
    by: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        if r.get("history") and all(k in r["history"][0] for k in GRAD_KEYS):
            by.setdefault(r["variant"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for name, rs in by.items():
        tables = [{h["step"]: h for h in r["history"]} for r in rs]
        steps = sorted(set.intersection(*(set(t) for t in tables)))
        out[name] = {"step": steps, "seeds": len(rs),
                     **{k: [float(np.mean([t[s][k] for t in tables])) for s in steps] for k in GRAD_KEYS}}
    return out


def late_grad_norms(runs: Sequence[Mapping[str, Any]], after: int) -> dict[str, dict[int, dict[str, float]]]:
    """``{variant: {seed: {"grad_image": mean, "grad_text": mean}}}``: each run's gradient norms averaged over
    the logged steps after ``after`` (where training has settled), one number per seed."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for r in runs:
        late = [h for h in r.get("history", []) if h["step"] > after and all(k in h for k in GRAD_KEYS)]
        if late:
            out.setdefault(r["variant"], {})[int(r["seed"])] = {
                k: float(np.mean([h[k] for h in late])) for k in GRAD_KEYS}
    return out


def plot_grad_norms(curves: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str] | None = None):
    """Two panels (image part, sentence part of D's gradient at real pairs) against the step, log scale,
    one line per variant (mean over its seeds)."""
    import matplotlib.pyplot as plt

    labels = labels or {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharex=True)
    for ax, key, what in zip(axes, GRAD_KEYS, ("image", "sentence")):
        for name, c in curves.items():
            ax.plot(c["step"], c[key], label=f"{labels.get(name, name)} ({c['seeds']} seed{'s' * (c['seeds'] > 1)})")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(f"|grad of D wrt the {what}|")
        ax.set_title(f"D's gradient along the {what} at real matched pairs", fontsize=9)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def pair_surface(netD: Any, netC: Any, images: Any, sent: Any, radius: float = 1.0, points: int = 21) -> dict:
    """G's loss surface ``-D(x + a u, e + b v)`` around real matched pairs, averaged over the pairs: ``u`` is
    the unit direction of D's image gradient at each pair, ``v`` that of its sentence gradient (so the
    surface is steepest along its axes), ``a, b`` in ``[-radius, radius]`` on ``points`` steps each.

    Returns ``{"a": [...], "b": [...], "surface": [[...] per b] , "grad_image": mean |d D/dx|, "grad_text":
    mean |d D/de|, "pairs": n}`` (the centre of the surface is ``-mean D(x, e)``; its slopes there along a and
    b are the two gradient norms)."""
    import torch

    x, e = images.detach().float(), sent.detach().float()
    gx, ge = real_pair_gradients(netD, netC, x, e)
    nx, ne = gx.flatten(1).norm(dim=1), ge.flatten(1).norm(dim=1)
    u = gx / nx.clamp_min(1e-12).view(-1, *[1] * (gx.dim() - 1))
    v = ge / ne.clamp_min(1e-12).view(-1, 1)
    t = torch.linspace(-radius, radius, points)
    surface = torch.empty(points, points)
    with torch.no_grad():
        for i, b in enumerate(t):          # rows: the sentence direction
            for j, a in enumerate(t):      # columns: the image direction
                surface[i, j] = -netC(netD(x + a * u), e + b * v).mean()
    return {"a": t.tolist(), "b": t.tolist(), "surface": surface.tolist(), "grad_image": float(nx.mean()),
            "grad_text": float(ne.mean()), "pairs": int(x.shape[0])}


def plot_pair_surfaces(surfaces: Mapping[str, Mapping[str, Any]], labels: Mapping[str, str] | None = None):
    """One panel per variant: the surface of :func:`pair_surface` (one shared colour scale, colour bar), with
    an arrow at the centre for G's descent direction there, scaled by the gradient's two parts."""
    import matplotlib.pyplot as plt

    labels = labels or {}
    names = list(surfaces)
    lo = min(min(map(min, s["surface"])) for s in surfaces.values())
    hi = max(max(map(max, s["surface"])) for s in surfaces.values())
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 0.8, 3.2), squeeze=False,
                             gridspec_kw={"wspace": 0.45})
    for ax, name in zip(axes[0], names):
        s = surfaces[name]
        a, b = np.asarray(s["a"]), np.asarray(s["b"])
        im = ax.imshow(np.asarray(s["surface"]), origin="lower", extent=(a[0], a[-1], b[0], b[-1]), cmap="gray",
                       vmin=lo, vmax=hi, aspect="auto")
        ax.contour(a, b, np.asarray(s["surface"]), levels=10, colors="tab:orange", linewidths=0.6)
        # G descends -D: along +u and +v (the gradient of D), drawn to scale of its two parts
        g = np.array([s["grad_image"], s["grad_text"]])
        g = g / max(np.abs(g).max(), 1e-12) * 0.8 * a[-1]
        ax.annotate("", xy=(g[0], g[1]), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.5))
        ax.set_title(f"{labels.get(name, name)}\n|dD/dx| {s['grad_image']:.2f}, |dD/de| {s['grad_text']:.2f}",
                     fontsize=8)
        ax.set_xlabel("step along D's image gradient")
        ax.set_ylabel("step along D's sentence gradient")
    fig.colorbar(im, ax=axes[0].tolist(), label="G's loss -D(x, e), mean over real pairs", shrink=0.9)
    return fig
