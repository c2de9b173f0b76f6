"""The optimal discriminator of a loss, and the distance between distributions it makes G minimise.

On a grid over the plane with two known densities, ``p_data`` (real) and ``p_g`` (generated):

* the minimax GAN (Goodfellow et al. 2014): ``V(D, G) = E_data log D(x) + E_g log(1 - D(x))`` with ``D`` a
  probability; for fixed G it is largest at ``D*(x) = p_data / (p_data + p_g)`` (:func:`optimal_d_bce`),
  where ``V(D*, G) = -log 4 + 2 JS(p_data || p_g)`` (:func:`value_bce`, :func:`js_divergence`). D's BCE
  loss on logits (``dflib.losses.bce_d_loss``) is ``-V`` with ``D = sigmoid(logit)``.
* the hinge loss (Lim & Ye 2017; DF-GAN's Eq. 1 without its mismatched term): D minimises
  ``E_data relu(1 - t) + E_g relu(1 + t)``; point by point the best logit is ``t* = sign(p_data - p_g)``
  (:func:`optimal_d_hinge`), at which the loss is ``2 (1 - TV(p_data, p_g))`` with the total variation
  ``TV = 1/2 int |p_data - p_g|`` (:func:`hinge_loss_on_grid`, :func:`total_variation`).

Densities are arrays of values on the grid of :func:`density_grid` (cell area ``area``); integrals are sums
times ``area``. :func:`gaussian_mixture_density` gives the toys' mixtures (``dfcourse.toys``).

Introduced in ``notebooks/01_gan_basics.ipynb`` (BCE, JS) and used in ``02_hinge_loss.ipynb`` (hinge, TV).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from dflib import losses as L

__all__ = ["density_grid", "gaussian_mixture_density", "optimal_d_bce", "optimal_logit_bce", "value_bce",
           "kl_divergence", "js_divergence", "optimal_d_hinge", "hinge_loss_on_grid", "total_variation",
           "best_hinge_logit_by_search", "divergence_table", "sample_mixture", "expected_value_bce",
           "expected_hinge_loss", "mode_logits"]


def density_grid(lim: float = 3.5, res: int = 701) -> tuple[np.ndarray, np.ndarray, float]:
    """``(axis, points, area)``: the axis values ``(res,)``, the ``(res * res, 2)`` grid points over
    ``[-lim, lim]^2`` (row i is y, column j is x, as :func:`dfcourse.toys.discriminator_grid`) and the
    area of one cell."""
    v = np.linspace(-lim, lim, res)
    yy, xx = np.meshgrid(v, v, indexing="ij")
    return v, np.stack([xx.ravel(), yy.ravel()], axis=1), float((v[1] - v[0]) ** 2)


def gaussian_mixture_density(points: np.ndarray, centres: np.ndarray, std: float,
                             weights: np.ndarray | None = None) -> np.ndarray:
    """Density at ``points (N, 2)`` of isotropic Gaussians of width ``std`` at ``centres (M, 2)``, with
    ``weights`` (summing to 1; equal when omitted)."""
    points, centres = np.asarray(points, dtype=np.float64), np.asarray(centres, dtype=np.float64)
    w = np.full(len(centres), 1.0 / len(centres)) if weights is None else np.asarray(weights, dtype=np.float64)
    d2 = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return (w[None, :] * np.exp(-d2 / (2 * std**2))).sum(1) / (2 * math.pi * std**2)


def sample_mixture(n: int, centres: np.ndarray, std: float, generator: torch.Generator,
                   weights: np.ndarray | None = None) -> Tensor:
    """``n`` points drawn from :func:`gaussian_mixture_density`'s mixture."""
    c = torch.as_tensor(np.asarray(centres), dtype=torch.float32)
    w = torch.full((len(c),), 1.0 / len(c)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
    idx = torch.multinomial(w, n, replacement=True, generator=generator)
    return c[idx] + std * torch.randn(n, 2, generator=generator)


def optimal_d_bce(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """``D*(x) = p_data / (p_data + p_g)``, the probability of "real" that maximises ``V(D, G)`` point by
    point; ``1/2`` where both densities vanish (no sample ever lands there, so any value is optimal)."""
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    s = p + q
    return np.divide(p, s, out=np.full_like(s, 0.5), where=s > 0)


def optimal_logit_bce(p_data: np.ndarray, p_g: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """The logit of :func:`optimal_d_bce`, ``log p_data - log p_g`` (a trained D's logit estimates this log
    density ratio); NaN where ``p_data + p_g < floor`` (no sample lands there: D* is not defined by the
    data), ``+-inf`` where only one density is positive."""
    p, q = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(p) - np.log(q)
    return np.where(p + q < floor, np.nan, out)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x log y`` with ``0 log 0 = 0``."""
    y = np.maximum(np.asarray(y, dtype=np.float64), np.finfo(np.float64).tiny)  # densities that underflow
    return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


def value_bce(p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray, area: float) -> float:
    """``V(D, G) = int p_data log D + p_g log(1 - D)`` for a probability ``D`` given on the grid."""
    return float((_xlogy(p_data, d) + _xlogy(p_g, 1.0 - d)).sum() * area)


def kl_divergence(p: np.ndarray, q: np.ndarray, area: float) -> float:
    """``KL(p || q) = int p log(p / q)`` (infinite where ``p > 0 = q``)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if np.any((p > 0) & (q <= 0)):
        return math.inf
    return float((_xlogy(p, p) - _xlogy(p, q)).sum() * area)


def js_divergence(p: np.ndarray, q: np.ndarray, area: float) -> float:
    """Jensen-Shannon divergence ``1/2 KL(p || m) + 1/2 KL(q || m)`` with ``m = (p + q) / 2``; between 0
    (equal) and ``log 2`` (disjoint supports)."""
    m = (np.asarray(p, dtype=np.float64) + np.asarray(q, dtype=np.float64)) / 2
    return 0.5 * kl_divergence(p, m, area) + 0.5 * kl_divergence(q, m, area)


def optimal_d_hinge(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """The logit ``t*`` that minimises ``p_data relu(1 - t) + p_g relu(1 + t)`` at each point:
    ``+1`` where ``p_data > p_g``, ``-1`` where ``p_g > p_data``, 0 where they are equal (there every
    ``t`` in ``[-1, 1]`` is optimal). Where one density is 0 every ``t`` beyond the margin is optimal too;
    ``sign`` returns the one closest to 0."""
    return np.sign(np.asarray(p_data, dtype=np.float64) - np.asarray(p_g, dtype=np.float64))


def hinge_loss_on_grid(p_data: np.ndarray, p_g: np.ndarray, t: np.ndarray, area: float) -> float:
    """D's hinge loss ``int p_data relu(1 - t) + p_g relu(1 + t)`` for logits ``t`` on the grid."""
    t = np.asarray(t, dtype=np.float64)
    return float((p_data * np.maximum(1 - t, 0) + p_g * np.maximum(1 + t, 0)).sum() * area)


def total_variation(p: np.ndarray, q: np.ndarray, area: float) -> float:
    """``TV(p, q) = 1/2 int |p - q|``: 0 for equal distributions, 1 for disjoint supports."""
    return float(0.5 * np.abs(np.asarray(p, dtype=np.float64) - np.asarray(q, dtype=np.float64)).sum() * area)


def best_hinge_logit_by_search(p_data: float, p_g: float, ts: np.ndarray | None = None) -> float:
    """The logit minimising ``p_data relu(1 - t) + p_g relu(1 + t)``, found by trying every ``t`` in ``ts``
    (default -3..3 in steps of 0.01) with ``dflib.losses.hinge_real`` / ``hinge_fake``: an independent check
    of :func:`optimal_d_hinge`. Ties go to the ``t`` closest to 0."""
    ts = np.round(np.arange(-300, 301) * 0.01, 10) if ts is None else np.asarray(ts, dtype=np.float64)
    t = torch.tensor(ts, dtype=torch.float64)
    loss = np.array([p_data * float(L.hinge_real(v)) + p_g * float(L.hinge_fake(v)) for v in t])
    best = np.flatnonzero(loss <= loss.min() + 1e-12)
    return float(ts[best[np.argmin(np.abs(ts[best]))]])


def divergence_table(p_data: np.ndarray, p_gs: dict[str, np.ndarray], area: float) -> dict[str, dict[str, float]]:
    """For each generator density in ``p_gs``, both sides of the two identities, computed independently:
    ``V*`` = V(D*, G) (BCE, :func:`value_bce` at :func:`optimal_d_bce`) and ``-log4+2JS``; ``hinge*`` = D's
    hinge loss at :func:`optimal_d_hinge` and ``2(1-TV)``; with ``JS`` and ``TV``."""
    rows = {}
    for name, q in p_gs.items():
        js, tv = js_divergence(p_data, q, area), total_variation(p_data, q, area)
        rows[name] = {"V*": value_bce(p_data, q, optimal_d_bce(p_data, q), area), "-log4+2JS": -math.log(4) + 2 * js,
                      "JS": js, "hinge*": hinge_loss_on_grid(p_data, q, optimal_d_hinge(p_data, q), area),
                      "2(1-TV)": 2 * (1 - tv), "TV": tv}
    return rows


def expected_value_bce(D, real: Tensor, fake: Tensor) -> float:
    """``V(D, G)`` estimated on samples for a network ``D`` that returns logits: ``-bce_d_loss``."""
    with torch.no_grad():
        return -float(L.bce_d_loss(D(real), D(fake)))


def expected_hinge_loss(D, real: Tensor, fake: Tensor) -> float:
    """D's hinge loss ``E_data relu(1 - D) + E_g relu(1 + D)`` estimated on samples (``hinge_d_loss``)."""
    with torch.no_grad():
        return float(L.hinge_d_loss(D(real), D(fake)))


def mode_logits(D, centres: np.ndarray, std: float, generator: torch.Generator, n: int = 256) -> np.ndarray:
    """D's mean logit on ``n`` points drawn from each mode (a Gaussian of width ``std`` at each centre)."""
    c = torch.as_tensor(np.asarray(centres), dtype=torch.float32)
    with torch.no_grad():
        return np.array([float(D(ci + std * torch.randn(n, 2, generator=generator)).mean()) for ci in c])
