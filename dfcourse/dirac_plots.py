"""Figures of the Dirac-GAN (notebook 03): its vector field with a trajectory, the Jacobian's eigenvalues against
the penalty strength, one step's ``max |mu|`` against the friction, and the ``p = 6`` limit cycle's radius.

Same colour language as :mod:`dfcourse.plots`; the computations are :mod:`dfcourse.dirac`'s.

Introduced in ``notebooks/03_zero_centred_gp.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .dirac import DiracConfig, dirac_field, dirac_field_autograd, dirac_trajectory
from .plots import COLORS, _axes, new_figure

__all__ = ["plot_vector_field", "plot_dirac", "plot_eigenvalues", "plot_step_modulus", "plot_cycle_radius"]

# arrows of a vector field: light grey (slow) to black (fast), never white on the white background
_ARROW_CMAP = LinearSegmentedColormap.from_list("dflib_speed", ["#c8c8c8", "#000000"])


def plot_vector_field(theta: np.ndarray, psi: np.ndarray, v_theta: np.ndarray, v_psi: np.ndarray,
                      trajectories: Sequence[np.ndarray] = (), ax=None, title: str | None = None,
                      lim: float = 2.0, compress: float = 0.3, colorbar: bool = True) -> Figure:
    """A quiver field over ``(theta, psi)`` with trajectories in pink (start marked red).

    Arrow lengths are ``|v| ** compress`` (directions exact), so that steep regions such as
    ``-12 psi^5`` do not hide the rest; ``compress=1`` draws the raw field. The arrows' colour is the
    true speed ``|v|`` (log scale where it spans decades), read off the colour bar
    (``colorbar=False`` leaves it out).
    """
    fig, ax = _axes(ax)
    mag = np.hypot(v_theta, v_psi)
    scale = np.where(mag > 0, (mag / max(float(mag.max()), 1e-12)) ** compress / np.maximum(mag, 1e-12), 0.0)
    pos = mag[mag > 0]
    lo = float(pos.min()) if pos.size else 1e-3
    hi = max(float(mag.max()), lo * 10)
    log = hi / lo > 100  # a log scale only where the speeds span decades (e.g. -12 psi^5)
    norm = LogNorm(vmin=lo, vmax=hi) if log else Normalize(vmin=0.0, vmax=hi)
    q = ax.quiver(theta, psi, v_theta * scale, v_psi * scale, np.maximum(mag, lo), cmap=_ARROW_CMAP,
                  norm=norm, angles="xy", width=0.004)
    if colorbar:
        cb = fig.colorbar(q, ax=ax, shrink=0.75, aspect=25, pad=0.02)
        cb.set_label(r"speed $|v|$" + (" (log)" if log else ""), fontsize=7)
        cb.ax.tick_params(labelsize=6)
        cb.ax.yaxis.set_minor_formatter(NullFormatter())
    for tr in trajectories:
        ax.plot(tr[:, 0], tr[:, 1], color=COLORS["gradient"], lw=1)
        ax.plot(tr[0, 0], tr[0, 1], "o", color=COLORS["start"], ms=4)
    ax.plot(0, 0, "*", color=COLORS["real"], ms=8)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel(r"$\theta$ (G)")
    ax.set_ylabel(r"$\psi$ (D)")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_dirac(cfg=None, method: str = "simultaneous", steps: int = 500, h: float = 0.05,
               start: tuple[float, float] = (1.0, 1.0), d_steps: int = 1, field: str = "autograd",
               ax=None, title: str | None = None, lim: float = 2.0, grid: int = 10,
               colorbar: bool = True) -> Figure:
    """Dirac-GAN field (by autograd through ``dflib.losses`` by default) on a ``grid x grid`` lattice
    over ``[-lim, lim]^2`` with the gradient-descent trajectory from ``start``; arrows coloured by the
    speed ``|v|`` with a colour bar."""
    cfg = cfg or DiracConfig()
    v = np.linspace(-lim, lim, grid)
    th, ps = np.meshgrid(v, v)
    f = dirac_field_autograd if field == "autograd" else dirac_field
    vt, vp = f(th, ps, cfg)
    tr = dirac_trajectory(cfg, start, steps, h, method, d_steps, field="closed")
    if title is None:
        pen = {"none": "", "r1": f" + R1 $\\gamma$={cfg.gamma:g}",
               "zero_gp": f" + {cfg.k:g}|$\\nabla$D|^{cfg.p:g}"}[cfg.penalty]
        title = f"{cfg.loss}{pen}, {method[:3]}GD"
    return plot_vector_field(th, ps, vt, vp, [tr], ax=ax, title=title, lim=lim, colorbar=colorbar)


def plot_eigenvalues(gammas: np.ndarray, eigs: np.ndarray, gamma_crit: float | None = None,
                     title: str | None = None) -> Figure:
    """Real and imaginary parts of the Jacobian eigenvalues against gamma (two panels).

    With ``gamma_crit`` (``2 f'(0)``) a dashed vertical line marks it and a dotted line draws
    ``-gamma/2``: the real part of the complex pair below ``gamma_crit``, the midpoint of the two real
    eigenvalues above it (they split to ``-gamma/2 +- sqrt(gamma^2/4 - f'(0)^2)``).
    """
    fig, (a, b) = new_figure(2, size=3.4)
    for j in range(eigs.shape[1]):
        a.plot(gammas, eigs[:, j].real, color=COLORS["discriminator"], lw=1.2,
               label=r"Re $\lambda_{1,2}$" if j == 0 else None)
        b.plot(gammas, eigs[:, j].imag, color=COLORS["gradient"], lw=1.2,
               label=r"Im $\lambda_{1,2}$" if j == 0 else None)
    a.set_title("Re($\\lambda$): < 0 means convergence", fontsize=9)
    b.set_title("Im($\\lambda$): rotation", fontsize=9)
    a.set_ylabel(r"Re $\lambda$")
    b.set_ylabel(r"Im $\lambda$")
    for ax in (a, b):
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel(r"$\gamma$")
        if gamma_crit is not None:
            ax.axvline(gamma_crit, color=COLORS["start"], ls="--", lw=0.8,
                       label=rf"critical $\gamma = 2f'(0) = {gamma_crit:g}$")
    if gamma_crit is not None:
        a.plot(gammas, -np.asarray(gammas) / 2, ":", color="k", lw=1.0, label=r"$-\gamma/2$")
    a.legend(fontsize=7, loc="lower left")
    b.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_step_modulus(cs: np.ndarray, mods: Mapping[str, np.ndarray], bounds: Mapping[str, tuple[float, float]],
                      title: str | None = None, ax=None) -> Figure:
    """``max |mu|`` of one gradient-descent step against the linear friction ``c`` (log axis), one curve per
    label of ``mods``; the line ``|mu| = 1`` and, dotted in each curve's colour, the ends of its stable
    interval from ``bounds`` (e.g. :func:`dfcourse.dirac.stable_friction`)."""
    fig, ax = _axes(ax, size=4.0)
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]
    for i, (colour, (label, m)) in enumerate(zip(palette, mods.items())):
        ax.plot(cs, m, ls="-" if i % 2 == 0 else "--", color=colour, lw=2.2 if i % 2 == 0 else 1.2, label=label)
        for b in bounds.get(label, ()):
            if b > 0:
                ax.axvline(b, color=colour, ls=":", lw=0.9)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(0.6, 1.4)
    ax.set_xlabel("linear friction c (R1: c = γ)")
    ax.set_ylabel(r"max $|\mu|$ of one step")
    ax.set_title(title or r"one step contracts where max $|\mu| < 1$", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_cycle_radius(hs: np.ndarray, radii: np.ndarray, closed: np.ndarray, times: Mapping[str, np.ndarray],
                      curves: Mapping[str, np.ndarray]) -> Figure:
    """Two log-log panels. Left: the measured limit-cycle radius against the step size ``h`` (dots) and a
    prediction (line). Right: distance to the equilibrium against time ``t = step * h`` for several runs
    (``times[label]``, ``curves[label]``), e.g. simultaneous and alternating steps and the continuous flow."""
    fig, (a, b) = new_figure(2, size=3.3)
    a.loglog(hs, closed, color=COLORS["discriminator"], lw=1.2, label=r"$(2h/15)^{1/4}$")
    a.loglog(hs, radii, "o", color=COLORS["gradient"], ms=5, label="measured (simultaneous)")
    a.set_xticks(hs, [f"{v:g}" for v in hs])
    a.set_yticks(radii, [f"{v:.3f}" for v in radii])
    for axis in (a.xaxis, a.yaxis):
        axis.set_minor_formatter(NullFormatter())
    a.set_xlabel("step size h")
    a.set_ylabel("limit-cycle radius")
    a.set_title("p = 6: the cycle shrinks as h^(1/4)", fontsize=9)
    a.legend(fontsize=7)
    palette = ["#e7298a", "#1b9e77", "#000000", "#7570b3"]
    for colour, (label, r) in zip(palette, curves.items()):
        b.loglog(times[label], r, color=colour, lw=1.2, label=label)
    b.set_xlabel("time t = steps · h")
    b.set_ylabel(r"distance to the equilibrium $\sqrt{\theta^2 + \psi^2}$")
    b.set_title("the flow converges, slowly; simGD stalls", fontsize=9)
    b.legend(fontsize=7, loc="lower left")
    return fig
