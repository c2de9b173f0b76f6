"""Interactive explorers for the notebooks, thin ipywidgets shells over the pure functions of ``dfcourse``.

Every ``make_*_widget()`` returns a :class:`FigureApp` (an ``ipywidgets.VBox``) that renders once with its
defaults when built, and re-renders when a control changes (sliders use ``continuous_update=False``).
The figure is stored as PNG in an ``Output`` widget's ``outputs``, so the app also works headless (tests,
nbconvert) and never needs ``%matplotlib widget``. Under ``DFGAN_QUICK=1`` the default work is tiny.
Each ``render_*`` function is the pure function behind one widget and can be called on its own.

Introduced in ``notebooks/01_gan_basics.ipynb``; the sampling widget in ``notebooks/09_sampling_and_evaluation.ipynb``.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable, Mapping

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
import torch
from torch import nn

from dflib.figures import plot_caption_rows
from dflib.runtime import pick

from . import conditional, dirac, dirac_plots, loss_shapes, plots, toys
from .common import PENALTIES

__all__ = [
    "FigureApp",
    "figure_to_png",
    "make_toy_gan_widget",
    "make_loss_widget",
    "make_dirac_widget",
    "make_penalty_widget",
    "make_ma_gp_widget",
    "render_samples",
    "make_sampling_widget",
]


def figure_to_png(fig: Figure) -> bytes:
    """PNG bytes of a figure (dpi of the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


WIDGET_TEXT = "[interactive controls: run this notebook in Jupyter to use them; the figure shows the defaults]"


class FigureApp(W.VBox):
    """Controls + an output area; ``render_fn(**values) -> Figure`` is called on every change.

    ``renders`` counts completed renders and ``last_png`` holds the latest image, for tests.
    """

    def __init__(self, controls: Mapping[str, W.ValueWidget], render_fn: Callable[..., Figure],
                 title: str | None = None):
        self.controls = dict(controls)
        self.render_fn = render_fn
        self.output = W.Output()
        self.status = W.HTML()
        self.renders = 0
        self.last_png: bytes = b""
        box = W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap"))
        children = ([W.HTML(f"<b>{title}</b>")] if title else []) + [box, self.status, self.output]
        super().__init__(children)
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.render()

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def __repr__(self) -> str:
        """What a page without a kernel (GitHub, the course site) shows in place of the controls."""
        return WIDGET_TEXT

    def _on_change(self, _change) -> None:
        self.render()

    def render(self) -> None:
        """Call the pure function with the current values and show its figure (errors are shown too)."""
        self.status.value = "<i>working...</i>"
        try:
            fig = self.render_fn(**self.values)
        except Exception as exc:  # show the message in the app instead of losing it in a callback
            self.status.value = f"<span style='color:#b00'>{type(exc).__name__}: {exc}</span>"
            return
        png = figure_to_png(fig)
        plt.close(fig)
        self.last_png = png
        self.renders += 1
        self.output.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "<Figure>"},
                "metadata": {},
            },
        )
        self.status.value = ""


def _slider(cls, value, min, max, step, desc, **kw):
    return cls(value=value, min=min, max=max, step=step, description=desc, continuous_update=False,
               style={"description_width": "initial"}, **kw)


def _dropdown(options, value, desc):
    return W.Dropdown(options=list(options), value=value, description=desc, style={"description_width": "initial"})


# --------------------------------------------------------------------------------------------------


def render_toy_gan(dist: str, loss: str, lr_g: float, lr_d: float, steps: int, seed: int = 0) -> Figure:
    """Train the 2D toy for ``steps`` and show 4 snapshots plus the losses (the widget's pure function)."""
    every = max(1, steps // 3)
    run = toys.train_toy(toys.ToyConfig(dist=dist, loss=loss, lr_g=lr_g, lr_d=lr_d, steps=steps,
                                        snapshot_every=every, seed=seed, eval_every=every))
    snaps = run.snapshots[:3] + [run.snapshots[-1]] if len(run.snapshots) > 4 else run.snapshots
    fig, axes = plots.new_figure(len(snaps) + 1, size=2.4)
    plots.plot_toy_panels(snaps, axes[:-1])        # one colour scale and one colour bar for D's heat maps
    plots.plot_loss_curves(run.history, ax=axes[-1], smooth=max(1, steps // 50))
    return fig


def make_toy_gan_widget(steps: int | None = None) -> FigureApp:
    """Toy GAN explorer: distribution, loss, learning rates of G and D, number of steps."""
    steps = steps if steps is not None else pick(full=600, quick=20)
    controls = {
        "dist": _dropdown(toys.TOY_DISTRIBUTIONS, "ring8", "data"),
        "loss": _dropdown(["bce", "hinge", "wgan"], "hinge", "loss"),
        "lr_g": W.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1.5, description="lr G",
                                 continuous_update=False),
        "lr_d": W.FloatLogSlider(value=1e-3, base=10, min=-5, max=-1.5, description="lr D",
                                 continuous_update=False),
        "steps": _slider(W.IntSlider, steps, 0, max(steps * 5, 20), max(1, steps // 20), "steps"),
    }
    return FigureApp(controls, render_toy_gan, "2D toy GAN (real green, fake purple, G's gradients pink)")


def render_losses(loss: str, lim: float) -> Figure:
    """Per-sample loss terms and their derivatives against the logit over ``[-lim, lim]``."""
    t = np.linspace(-lim, lim, 121)
    return plots.plot_logit_curves({loss: loss_shapes.logit_curves(loss, torch.as_tensor(t, dtype=torch.float32))}, t)


def make_loss_widget() -> FigureApp:
    """One loss at a time: its per-sample terms and their derivatives against the logit."""
    controls = {
        "loss": _dropdown(["bce", "hinge", "wgan"], "hinge", "loss"),
        "lim": _slider(W.FloatSlider, 3.0, 1.0, 8.0, 0.5, "logit range"),
    }
    return FigureApp(controls, render_losses, "Losses against the logit")


def render_dirac(loss: str, penalty: str, gamma: float, k: float, p: float, method: str, d_steps: int,
                 steps: int, h: float) -> Figure:
    """The Dirac-GAN field and one gradient-descent trajectory for these settings."""
    cfg = dirac.DiracConfig(loss, penalty, gamma, k, p)
    return dirac_plots.plot_dirac(cfg, method=method, steps=steps, h=h, d_steps=d_steps)


def make_dirac_widget(steps: int | None = None) -> FigureApp:
    """Dirac-GAN explorer: loss, penalty (R1 gamma, or k and p), simultaneous/alternating, step size."""
    steps = steps if steps is not None else pick(full=2000, quick=50)
    controls = {
        "loss": _dropdown(["hinge", "bce", "wgan"], "hinge", "loss"),
        "penalty": _dropdown(PENALTIES, "zero_gp", "penalty"),
        "gamma": _slider(W.FloatSlider, 1.0, 0.0, 4.0, 0.1, "R1 gamma"),
        "k": _slider(W.FloatSlider, 2.0, 0.0, 10.0, 0.5, "k"),
        "p": _slider(W.FloatSlider, 6.0, 1.0, 8.0, 1.0, "p"),
        "method": _dropdown(["simultaneous", "alternating"], "simultaneous", "updates"),
        "d_steps": _slider(W.IntSlider, 1, 1, 5, 1, "D steps"),
        "steps": _slider(W.IntSlider, steps, 10, max(steps * 5, 100), 10, "steps"),
        "h": _slider(W.FloatSlider, 0.05, 0.01, 0.3, 0.01, "step size h"),
    }
    return FigureApp(controls, render_dirac, "Dirac-GAN: D(x) = psi x, G = Dirac at theta")


def render_penalty(k: float, p: float) -> Figure:
    """Left: ``k n^p`` against the norm; right: the Dirac-GAN with that penalty (hinge, simGD)."""
    fig, (a, b) = plots.new_figure(2, size=3.2)
    plots.plot_penalty_curves(k, sorted({2.0, float(p)}), ax=a)
    dirac_plots.plot_dirac(dirac.DiracConfig("hinge", "zero_gp", k=k, p=p), steps=pick(full=3000, quick=50), ax=b)
    return fig


def make_penalty_widget() -> FigureApp:
    """k and p of the zero-centred penalty ``k |grad D|^p``: its curve and its Dirac-GAN dynamics."""
    controls = {
        "k": _slider(W.FloatSlider, 2.0, 0.0, 10.0, 0.5, "k"),
        "p": _slider(W.FloatSlider, 6.0, 1.0, 8.0, 1.0, "p"),
    }
    return FigureApp(controls, render_penalty, "Zero-centred penalty k |grad D|^p")


def render_ma_gp(penalty: str, k: float, p: float, steps: int, kind: str = "logit") -> Figure:
    """Train the conditional toy critic with ``penalty`` and draw D over (x, e) with the data."""
    run = conditional.train_conditional_critic(conditional.CondToyConfig(penalty=penalty, k=k, p=p, steps=steps))
    xs, es, z = conditional.conditional_surface(run.D, kind=kind)
    gen = torch.Generator().manual_seed(1)
    x, e = conditional.sample_conditional(64, gen, slope=run.cfg.slope)
    pts = {"real": torch.cat([x, e], 1).numpy(), "mismatch": torch.cat([x.roll(-1, 0), e], 1).numpy()}
    return plots.plot_surface(xs, es, z, title=f"D(x, e), {penalty} (k={k:g}, p={p:g})", points=pts,
                              xlabel="x (image)", ylabel="e (text)", diverging=kind == "logit", vmax=2.0)


def make_ma_gp_widget(steps: int | None = None) -> FigureApp:
    """Conditional toy: which penalty (none / 0-GP on x / MA-GP on x and e), k, p, training steps."""
    steps = steps if steps is not None else pick(full=600, quick=20)
    controls = {
        "penalty": _dropdown(conditional.COND_PENALTIES, "ma_gp", "penalty"),
        "k": _slider(W.FloatSlider, 2.0, 0.0, 10.0, 0.5, "k"),
        "p": _slider(W.FloatSlider, 6.0, 1.0, 8.0, 1.0, "p"),
        "steps": _slider(W.IntSlider, steps, 0, max(steps * 5, 20), max(1, steps // 20), "steps"),
        "kind": _dropdown(["logit", "real_loss", "fake_loss"], "logit", "surface"),
    }
    return FigureApp(controls, render_ma_gp, "MA-GP on the conditional toy")


# --------------------------------------------------------------------------------------------------
# Sampling a trained generator (notebook 09)
# --------------------------------------------------------------------------------------------------


def render_samples(netG: nn.Module, encoder: nn.Module, caption: str, seed: int = 0, truncation: float = 0.88,
                   n: int = 8, size: float = 1.0) -> Figure:
    """The sampling widget's pure function: ``n`` images for one caption from seeded truncated noise."""
    from dflib.sample import generate  # here, not at the top: the toy widgets need nothing of the sampler

    caption = caption.strip()
    if not caption:
        raise ValueError("type a caption (it is empty)")
    images = generate(netG, encoder, [caption], n=n, truncation=truncation, seed=int(seed))
    fig = plot_caption_rows(images.view(1, n, *images.shape[1:]), [caption], size=size)
    # above the images (bottom-aligned at the top edge; saved with bbox_inches="tight"), not over them
    fig.suptitle(f"seed {seed}, truncation {truncation:.2f}", fontsize=8, y=1.0, va="bottom")
    return fig


def make_sampling_widget(netG: nn.Module, encoder: nn.Module, caption: str = "a red circle", seed: int = 0,
                         truncation: float = 0.88, n: int = 8):
    """A caption text box, a seed slider and a truncation slider around :func:`render_samples`
    (a :class:`FigureApp`; renders once with the defaults when built)."""
    style = {"description_width": "initial"}
    controls = {
        "caption": W.Text(value=caption, description="caption", continuous_update=False, style=style,
                          layout=W.Layout(width="320px")),
        "seed": W.IntSlider(value=seed, min=0, max=99, description="seed", continuous_update=False, style=style),
        "truncation": W.FloatSlider(value=truncation, min=0.0, max=2.0, step=0.04, description="truncation",
                                    continuous_update=False, style=style),
    }
    return FigureApp(controls, functools.partial(render_samples, netG, encoder, n=n), title="prompt -> images")
