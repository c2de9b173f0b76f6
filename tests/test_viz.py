"""dflib.viz: every plotting function returns a Figure with the expected axes and never shows it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dflib import toy, viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_all(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plotting functions must not call plt.show"))
    yield
    plt.close("all")


def _n_axes(fig):
    return len([ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"])


def _snapshot(step=0):
    run = toy.train_toy(toy.ToyConfig(steps=2, batch=8, snapshot_every=1, eval_every=1))
    return run.snapshots


def test_colors_follow_gan_lab_semantics():
    for key in ("real", "fake", "gradient", "mismatch", "discriminator"):
        assert key in viz.COLORS
    r, g, b = matplotlib.colors.to_rgb(viz.COLORS["real"])
    assert g > r and g > b  # green
    r, g, b = matplotlib.colors.to_rgb(viz.COLORS["fake"])
    assert r > g and b > g  # purple
    r, g, b = matplotlib.colors.to_rgb(viz.COLORS["gradient"])
    assert r > 0.8 and b > 0.4 and g < 0.4  # pink
    assert viz.D_CMAP(0.0)[1] < viz.D_CMAP(1.0)[1]  # low D purple-ish, high D green-ish


def test_toy_plots():
    snaps = _snapshot()
    fig = viz.plot_toy_state(snaps[0])
    assert isinstance(fig, Figure) and _n_axes(fig) == 1
    fig = viz.plot_toy_snapshots(snaps, ncols=2)
    assert isinstance(fig, Figure) and _n_axes(fig) == 3
    with pytest.raises(ValueError, match="snapshot_every"):
        viz.plot_toy_snapshots([])


def test_loss_curves_and_logit_curves():
    fig = viz.plot_loss_curves({"d_loss": [1.0, 0.5, 0.4], "g_loss": [0.1, 0.3, 0.2]}, smooth=2)
    assert _n_axes(fig) == 1 and len(fig.axes[0].lines) == 2
    with pytest.raises(KeyError, match="available"):
        viz.plot_loss_curves({"d_loss": [1.0]}, keys=("x",))
    t = np.linspace(-2, 2, 9)
    curves = {n: toy.logit_curves(n, torch.tensor(t, dtype=torch.float32)) for n in ("bce", "hinge")}
    fig = viz.plot_logit_curves(curves, t)
    assert _n_axes(fig) == 2 and len(fig.axes[0].lines) >= 6


def test_dirac_and_eigen_plots():
    fig = viz.plot_dirac(toy.DiracConfig("hinge", "r1", 1.0), steps=20)
    assert isinstance(fig, Figure) and _n_axes(fig) == 1
    fig, axes = viz.new_figure(3, 2)
    assert len(axes) == 6
    for ax, m in zip(axes, ["simultaneous", "alternating"]):
        assert viz.plot_dirac(method=m, steps=10, ax=ax) is fig
    g = np.linspace(0, 4, 5)
    fig = viz.plot_eigenvalues(g, toy.eigenvalues_vs_gamma(g, field="closed"), toy.critical_gamma("hinge"))
    assert _n_axes(fig) == 2


def test_surface_and_penalty_plots():
    xs = np.linspace(-1, 1, 5)
    z = np.outer(xs, xs)
    fig = viz.plot_surface(xs, xs, z, points={"real": np.zeros((3, 2)), "mismatch": np.ones((2, 2))}, vmax=2)
    assert _n_axes(fig) == 1
    fig = viz.plot_surface(xs, xs, np.abs(z), diverging=False)
    assert _n_axes(fig) == 1
    fig = viz.plot_penalty_curves(2.0, (2, 6))
    assert len(fig.axes[0].lines) == 3  # two curves + the n = 1 guide


def test_image_grid():
    imgs = torch.linspace(-1.5, 1.5, 5 * 3 * 4 * 4).reshape(5, 3, 4, 4)
    fig = viz.image_grid(imgs, nrow=3, titles=list("abcde"))
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert sum(len(ax.images) for ax in fig.axes) == 5
    arr = viz.tensor_to_image(imgs[0])
    assert arr.shape == (4, 4, 3) and arr.min() == 0.0 and arr.max() <= 1.0
    assert viz.tensor_to_image(torch.ones(1, 2, 2)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        viz.image_grid(torch.zeros(3, 4, 4))


def test_points_and_curves():
    fig = viz.plot_points({"real": np.zeros((4, 2)), "fake": np.ones((3, 2)), "other": -np.ones((2, 2))})
    assert _n_axes(fig) == 1 and len(fig.axes[0].collections) == 3
    fig = viz.plot_curves(np.arange(3), {"real": [1, 2, 3], "x": [3, 2, 1]}, logy=True)
    assert len(fig.axes[0].lines) == 2
