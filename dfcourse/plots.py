"""Figures of the notebook series, with one fixed colour language (after GAN Lab).

Real data is **green**, generated (fake) data is **purple**, gradients are **pink**, mismatched pairs are
**orange**; D is drawn as a heat map from purple ("fake") through white to green ("real").
Every function returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show()``; functions that
take ``ax`` draw into it and return its figure, so panels compose. The figures of the toys (2-D GAN,
losses against the logit, D's surface, penalty curves) live here; the Dirac-GAN's are in
:mod:`dfcourse.dirac_plots`, image grids in :mod:`dfcourse.image_grids`.

Introduced in ``notebooks/01_gan_basics.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
from matplotlib.figure import Figure

from .loss_shapes import penalty_curve, penalty_pull

__all__ = [
    "COLORS",
    "D_CMAP",
    "new_figure",
    "plot_points",
    "plot_curves",
    "toy_heat_scale",
    "plot_toy_state",
    "plot_toy_panels",
    "plot_toy_snapshots",
    "plot_loss_curves",
    "plot_logit_curves",
    "plot_dfgan_d_loss",
    "plot_surface",
    "plot_penalty_curves",
    "plot_penalty_value_and_pull",
    "plot_gradient_arrows",
]

COLORS: dict[str, str] = {
    "real": "#2ca02c",  # green: real data
    "fake": "#7b3294",  # purple: generated data
    "gradient": "#e7298a",  # pink: gradients (G's arrows, trajectories)
    "mismatch": "#ff7f0e",  # orange: real images with the wrong text
    "discriminator": "#1f4e79",  # D's curves / decision boundary
    "generator": "#7b3294",  # G's curves (same hue as its samples)
    "start": "#d62728",  # trajectory start point
    "d_low": "#c2a5cf",  # heat-map end for "fake" (D low)
    "d_high": "#a6dba0",  # heat-map end for "real" (D high)
}

D_CMAP = LinearSegmentedColormap.from_list("dflib_d", [COLORS["d_low"], "#f7f7f7", COLORS["d_high"]])

_DPI = 100  # the smallest panel text stays readable at the site's page width


def new_figure(ncols: int = 1, nrows: int = 1, size: float = 3.2, **kw) -> tuple[Figure, np.ndarray]:
    """A small figure (100 dpi) with a flat array of ``nrows * ncols`` axes; not registered with pyplot
    state beyond creation, so call ``plt.close(fig)`` when embedding it yourself."""
    kw.setdefault("layout", "constrained")
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), dpi=_DPI, squeeze=False, **kw)
    return fig, axes.reshape(-1)


def _axes(ax, size: float = 3.2):
    if ax is None:
        fig, axes = new_figure(size=size)
        return fig, axes[0]
    return ax.figure, ax


def _heat_norm(z: np.ndarray) -> TwoSlopeNorm:
    m = float(np.nanmax(np.abs(z))) or 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m)


def plot_points(points: Mapping[str, np.ndarray], ax=None, title: str | None = None, lim: float | None = 3.0,
                xlabel: str | None = "x₁", ylabel: str | None = "x₂", s: float = 4) -> Figure:
    """Scatter named 2D point sets; a key of :data:`COLORS` (``real``, ``fake``, ``mismatch``) picks the
    colour, any other key is used as its own label with matplotlib's next colour."""
    fig, ax = _axes(ax)
    for key, pts in points.items():
        pts = np.asarray(pts)
        ax.scatter(pts[:, 0], pts[:, 1], s=s, c=COLORS.get(key), label=key)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="upper left")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_curves(x: np.ndarray, curves: Mapping[str, np.ndarray], ax=None, title: str | None = None,
                xlabel: str = "", ylabel: str = "", logy: bool = False) -> Figure:
    """Several labelled curves over the same ``x`` (a key of :data:`COLORS` picks its colour)."""
    fig, ax = _axes(ax, size=3.4)
    for label, y in curves.items():
        ax.plot(x, np.asarray(y), label=label, color=COLORS.get(label), lw=1.3)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def toy_heat_scale(snapshots: Sequence) -> float:
    """One colour scale for D's heat maps of several toy snapshots: the largest ``|logit|`` among them."""
    return max(float(np.nanmax(np.abs(s.heat))) for s in snapshots) or 1.0


def _heat_colorbar(fig, mappable, axes, label: str = "D's logit") -> None:
    cb = fig.colorbar(mappable, ax=list(axes), shrink=0.8, aspect=25, pad=0.02)
    cb.set_label(label, fontsize=8)
    cb.ax.tick_params(labelsize=7)


def plot_toy_state(snap, ax=None, arrows: bool = True, title: str | None = None, arrow_scale: float | None = None,
                   vmax: float | None = None, colorbar: bool = False) -> Figure:
    """D's logit as a heat map (green = "real", purple = "fake"), real points, fakes and G's pink arrows.

    ``snap`` is a :class:`dfcourse.toys.ToySnapshot` (or anything with ``real``, ``fake``, ``arrows``,
    ``heat``, ``extent`` and ``step``). ``vmax``: the colour scale runs from ``-vmax`` to ``+vmax`` (pass the
    same value to several panels, e.g. :func:`toy_heat_scale`, so that one colour means one logit in all of
    them; default: this panel's largest ``|logit|``). ``colorbar=True`` adds a colour bar.
    """
    fig, ax = _axes(ax)
    norm = _heat_norm(snap.heat) if vmax is None else TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    im = ax.imshow(snap.heat, origin="lower", extent=snap.extent, cmap=D_CMAP, norm=norm, interpolation="bilinear")
    ax.contour(np.linspace(snap.extent[0], snap.extent[1], snap.heat.shape[1]),
               np.linspace(snap.extent[2], snap.extent[3], snap.heat.shape[0]), snap.heat, levels=[0.0],
               colors=COLORS["discriminator"], linewidths=0.8, linestyles="--")
    ax.scatter(snap.real[:, 0], snap.real[:, 1], s=4, c=COLORS["real"], label="real")
    ax.scatter(snap.fake[:, 0], snap.fake[:, 1], s=4, c=COLORS["fake"], label="fake")
    if arrows:
        a = snap.arrows[::4]
        f = snap.fake[::4]
        ax.quiver(f[:, 0], f[:, 1], a[:, 0], a[:, 1], color=COLORS["gradient"], angles="xy",
                  scale=arrow_scale, width=0.004)
    ax.set_xlim(snap.extent[:2])
    ax.set_ylim(snap.extent[2:])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else f"step {snap.step}", fontsize=9)
    if colorbar:
        _heat_colorbar(fig, im, [ax])
    return fig


def plot_toy_panels(snapshots: Sequence, axes, titles: Sequence[str] | None = None, arrows: bool = True,
                    colorbar: bool = True) -> float:
    """Draw ``snapshots`` into ``axes`` on **one** colour scale (:func:`toy_heat_scale`) with one colour bar
    for all of them; returns that scale (the largest ``|logit|``)."""
    axes = list(axes)[: len(snapshots)]
    vmax = toy_heat_scale(snapshots)
    for i, (ax, snap) in enumerate(zip(axes, snapshots)):
        plot_toy_state(snap, ax=ax, arrows=arrows, vmax=vmax, title=None if titles is None else titles[i])
    if colorbar and axes:
        _heat_colorbar(axes[0].figure, axes[0].images[0], axes)
    return vmax


def plot_toy_snapshots(snapshots: Sequence, ncols: int | None = None, suptitle: str | None = None,
                       arrows: bool = True, colorbar: bool = True) -> Figure:
    """A static strip of toy snapshots (one axes each), instead of an animation; every panel on one colour
    scale, with one colour bar (:func:`plot_toy_panels`)."""
    if not snapshots:
        raise ValueError("no snapshots to plot: train with ToyConfig(snapshot_every=...) > 0")
    n = len(snapshots)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = new_figure(ncols, nrows, size=2.3)
    plot_toy_panels(snapshots, axes, arrows=arrows, colorbar=colorbar)
    for ax in axes[n:]:
        ax.set_visible(False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def plot_loss_curves(history: Mapping[str, Sequence[float]], keys: Sequence[str] = ("d_loss", "g_loss"),
                     ax=None, title: str | None = None, smooth: int = 1) -> Figure:
    """Loss curves against the step; ``smooth`` > 1 applies a moving average."""
    fig, ax = _axes(ax, size=3.6)
    colours = {"d_loss": COLORS["discriminator"], "g_loss": COLORS["generator"]}
    for key in keys:
        if key not in history:
            raise KeyError(f"history has no {key!r}; available: {sorted(history)}")
        y = np.asarray(history[key], dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(1, len(y) + 1), y, label=key, color=colours.get(key), lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss" + (f" (moving average of {smooth})" if smooth > 1 else ""))
    ax.legend(fontsize=8)
    ax.set_title(title or "losses", fontsize=9)
    return fig


def plot_logit_curves(curves: Mapping[str, Mapping[str, np.ndarray]], t: np.ndarray) -> Figure:
    """Four panels: D's per-sample loss terms against the logit (solid = on a real logit, dashed = on a
    fake one) and their derivatives (top row); G's loss on a fake logit and its derivative (bottom row).

    ``curves[name]`` is the output of :func:`dfcourse.loss_shapes.logit_curves`. G has its own row
    because some curves are identical (bce's G loss is its D loss on a real logit, wgan's and hinge's G
    losses are both ``-f``); where curves coincide, the earlier loss is drawn wider and paler underneath,
    so every curve stays visible.
    """
    fig, axes = new_figure(2, 2, size=3.0)
    (a, b, c, d) = axes
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]
    n = len(curves)
    for i, (colour, (name, cv)) in enumerate(zip(palette, curves.items())):
        lw, alpha = 1.2 + 1.4 * (n - 1 - i), 1.0 if i == n - 1 else 0.55
        for key, ls in (("d_real", "-"), ("d_fake", "--")):
            a.plot(t, cv[key], ls, color=colour, lw=lw, alpha=alpha, label=f"{name} {key}")
            b.plot(t, cv["d" + key], ls, color=colour, lw=lw, alpha=alpha, label=f"{name} {key}")
        c.plot(t, cv["g"], "-", color=colour, lw=lw, alpha=alpha, label=f"{name} g")
        d.plot(t, cv["dg"], "-", color=colour, lw=lw, alpha=alpha, label=f"{name} g")
    a.set_title("D's loss per sample", fontsize=9)
    b.set_title("D: derivative w.r.t. the logit", fontsize=9)
    c.set_title("G's loss per fake sample", fontsize=9)
    d.set_title("G: derivative w.r.t. the logit", fontsize=9)
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("logit D(x)")
    a.set_ylabel("loss")
    c.set_ylabel("loss")
    b.set_ylabel("derivative")
    d.set_ylabel("derivative")
    a.set_ylim(-3, 4)
    c.set_ylim(-4, 4)
    a.legend(fontsize=6, ncol=2)
    c.legend(fontsize=6)
    return fig


def plot_dfgan_d_loss(t: np.ndarray, terms: Mapping[str, np.ndarray], norms: np.ndarray, magp: np.ndarray,
                      k: float = 2.0, p: float = 6.0) -> Figure:
    """DF-GAN's discriminator loss, its four terms (Eq. 1 and Eq. 2) in two panels. Left: what one pair adds
    against its logit, ``terms`` from :func:`dfcourse.loss_shapes.dfgan_d_loss_terms` (real matched pairs
    green, fakes purple, mismatched pairs orange dashed: the last two coincide); right: MA-GP against the
    joint gradient norm at real matched pairs (``magp``, e.g. from ``magp_on_linear_critic``)."""
    fig, (a, b) = new_figure(2, size=3.3)
    styles = {"real": ("real matched: relu(1 - t)", "-", 3.0, 1.0),
              "fake": ("fake: relu(1 + t) / 2", "-", 3.0, 1.0),
              "mismatch": ("mismatched: relu(1 + t) / 2", "--", 1.4, 1.0)}
    for key, (label, ls, lw, alpha) in styles.items():
        a.plot(t, terms[key], ls, color=COLORS[key], lw=lw, alpha=alpha, label=label)
    for v in (-1.0, 1.0):
        a.axvline(v, color="grey", ls=":", lw=0.8)
    a.set_xlabel("logit D(x, e) of one pair")
    a.set_ylabel("loss added by the pair")
    a.set_title("hinge terms (Eq. 1), margins at ±1", fontsize=9)
    a.legend(fontsize=7, loc="upper center")
    b.plot(norms, magp, color=COLORS["gradient"], lw=1.6, label=f"{k:g}·n^{p:g}")
    b.set_xlabel(r"$n = \|[\nabla_x D;\ \nabla_e D]\|$ at a real matched pair")
    b.set_ylabel("MA-GP (Eq. 2)")
    b.set_title(f"MA-GP: k = {k:g}, p = {p:g}", fontsize=9)
    b.legend(fontsize=8)
    return fig


def plot_surface(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, ax=None, title: str | None = None,
                 points: Mapping[str, np.ndarray] | None = None, xlabel: str = "x", ylabel: str = "y",
                 diverging: bool = True, levels: int = 12, vmax: float | None = None,
                 colorbar: str | None = None, vmin: float | None = None) -> Figure:
    """A 2D surface ``z[i, j]`` at ``(xs[j], ys[i])`` as a heat map with contours.

    ``points`` maps a colour key of :data:`COLORS` (``real``, ``fake``, ``mismatch``) to ``(N, 2)`` points.
    ``diverging`` uses the D colour map centred at 0 (for logits); otherwise a sequential map (losses).
    ``vmax`` clips the colour scale (e.g. 2 for hinge logits, whose margins are +-1; with ``diverging=False``
    ``vmin`` and ``vmax`` fix the sequential scale, so that several panels share it). ``colorbar``, a
    label such as ``"D logit"``, adds a colour bar with that label.
    """
    fig, ax = _axes(ax)
    extent = (xs[0], xs[-1], ys[0], ys[-1])
    if diverging:
        m = vmax if vmax is not None else (float(np.nanmax(np.abs(z))) or 1.0)
        im = ax.imshow(z, origin="lower", extent=extent, cmap=D_CMAP, norm=TwoSlopeNorm(0.0, -m, m),
                       aspect="auto")
    else:
        im = ax.imshow(z, origin="lower", extent=extent, cmap="Greys", aspect="auto", vmin=vmin, vmax=vmax)
    if colorbar:
        fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02).set_label(colorbar, fontsize=8)
    ax.contour(xs, ys, z, levels=levels, colors="k", linewidths=0.4, alpha=0.6)
    for key, pts in (points or {}).items():
        ax.scatter(pts[:, 0], pts[:, 1], s=5, c=COLORS.get(key, key), label=key)
    if points:
        ax.legend(fontsize=7, loc="upper left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_gradient_arrows(ax, x: np.ndarray, e: np.ndarray, gx: np.ndarray, ge: np.ndarray,
                         scale: float = 0.1, label: str | None = r"$\nabla D$ at real pairs") -> None:
    """Arrows ``scale * (dD/dx, dD/de)`` at the pairs ``(x, e)`` in data units (one scale for every panel
    that passes the same ``scale``, so arrow lengths compare across panels)."""
    ax.quiver(x, e, scale * np.asarray(gx), scale * np.asarray(ge), angles="xy", scale_units="xy", scale=1.0,
              color=COLORS["gradient"], width=0.006, label=label)


def plot_penalty_value_and_pull(k: float = 2.0, ps: Sequence[float] = (2, 6), lim: float = 1.6,
                                marks: Sequence[float] = ()) -> Figure:
    """Two panels against the gradient norm ``n``: the penalty's value ``k n^p`` (what it adds to D's
    loss) and its pull ``k p n^(p-1)`` (its derivative: how hard it drives ``n`` down). ``marks``: norms
    to draw as dotted vertical lines (e.g. where trained critics settled)."""
    fig, (a, b) = new_figure(2, size=3.2)
    n = np.linspace(0, lim, 200)
    for p, colour in zip(ps, ["#1b9e77", "#e7298a", "#7570b3", "#d95f02", "#666666"]):
        a.plot(n, penalty_curve(n, k, p), color=colour, lw=1.4, label=f"p = {p:g}")
        b.plot(n, penalty_pull(n, k, p), color=colour, lw=1.4, label=f"p = {p:g}")
    for ax, what in ((a, "value k·n^p"), (b, "pull d(k·n^p)/dn")):
        for m in marks:
            ax.axvline(m, color="grey", ls=":", lw=0.8)
        ax.set_ylim(0, 6)
        ax.set_xlabel(r"gradient norm $n = \|\nabla D\|$")
        ax.set_ylabel(what)
        ax.set_title(f"penalty {what}, k = {k:g}", fontsize=9)
        ax.legend(fontsize=8)
    return fig


def plot_penalty_curves(k: float = 2.0, ps: Sequence[float] = (2, 4, 6), ax=None, lim: float = 1.6) -> Figure:
    """``k * n**p`` against the gradient norm ``n`` for several ``p``: large p ignores small gradients
    and punishes large ones hard (the penalty term of MA-GP, paper Eq. 2)."""
    fig, ax = _axes(ax, size=3.6)
    n = np.linspace(0, lim, 200)
    for p, colour in zip(ps, ["#1b9e77", "#7570b3", "#e7298a", "#d95f02", "#666666"]):
        ax.plot(n, penalty_curve(n, k, p), color=colour, lw=1.4, label=f"p = {p:g}")
    ax.axvline(1.0, color="grey", lw=0.5)
    ax.set_ylim(0, 4)
    ax.set_xlabel(r"gradient norm $\|\nabla D\|$")
    ax.set_ylabel(f"penalty (k = {k:g})")
    ax.set_title(f"penalty k·‖∇D‖^p, k = {k:g}", fontsize=9)
    ax.legend(fontsize=8)
    return fig

