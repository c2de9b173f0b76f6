"""dfcourse.plots and image_grids: every plotting function returns a Figure with the expected axes and never shows it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dfcourse import dirac, dirac_plots, image_grids, loss_shapes, plots, toys  # noqa: E402


@pytest.fixture(autouse=True)
def _close_all(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plotting functions must not call plt.show"))
    yield
    plt.close("all")


def _n_axes(fig):
    return len([ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"])


def _snapshot(step=0):
    run = toys.train_toy(toys.ToyConfig(steps=2, batch=8, snapshot_every=1, eval_every=1))
    return run.snapshots


def test_colors_follow_gan_lab_semantics():
    for key in ("real", "fake", "gradient", "mismatch", "discriminator"):
        assert key in plots.COLORS
    r, g, b = matplotlib.colors.to_rgb(plots.COLORS["real"])
    assert g > r and g > b  # green
    r, g, b = matplotlib.colors.to_rgb(plots.COLORS["fake"])
    assert r > g and b > g  # purple
    r, g, b = matplotlib.colors.to_rgb(plots.COLORS["gradient"])
    assert r > 0.8 and b > 0.4 and g < 0.4  # pink
    assert plots.D_CMAP(0.0)[1] < plots.D_CMAP(1.0)[1]  # low D purple-ish, high D green-ish


def test_toy_plots():
    snaps = _snapshot()
    fig = plots.plot_toy_state(snaps[0])
    assert isinstance(fig, Figure) and _n_axes(fig) == 1
    fig = plots.plot_toy_snapshots(snaps, ncols=2)
    assert isinstance(fig, Figure) and _n_axes(fig) == 3
    with pytest.raises(ValueError, match="snapshot_every"):
        plots.plot_toy_snapshots([])


def test_loss_curves_and_logit_curves():
    fig = plots.plot_loss_curves({"d_loss": [1.0, 0.5, 0.4], "g_loss": [0.1, 0.3, 0.2]}, smooth=2)
    assert _n_axes(fig) == 1 and len(fig.axes[0].lines) == 2
    with pytest.raises(KeyError, match="available"):
        plots.plot_loss_curves({"d_loss": [1.0]}, keys=("x",))
    t = np.linspace(-2, 2, 9)
    curves = {n: loss_shapes.logit_curves(n, torch.tensor(t, dtype=torch.float32)) for n in ("bce", "hinge")}
    fig = plots.plot_logit_curves(curves, t)
    assert _n_axes(fig) == 4 and len(fig.axes[0].lines) >= 4 and len(fig.axes[2].lines) >= 2
    widths = [line.get_linewidth() for line in fig.axes[2].lines if line.get_label().endswith(" g")]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]  # coinciding curves stay visible


def test_dirac_and_eigen_plots():
    fig = dirac_plots.plot_dirac(dirac.DiracConfig("hinge", "r1", 1.0), steps=20)
    assert isinstance(fig, Figure) and _n_axes(fig) == 1
    fig, axes = plots.new_figure(3, 2)
    assert len(axes) == 6
    for ax, m in zip(axes, ["simultaneous", "alternating"]):
        assert dirac_plots.plot_dirac(method=m, steps=10, ax=ax) is fig
    g = np.linspace(0, 4, 5)
    fig = dirac_plots.plot_eigenvalues(g, dirac.eigenvalues_vs_gamma(g, field="closed"), dirac.critical_gamma("hinge"))
    assert _n_axes(fig) == 2
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert any("gamma/2" in lab for lab in labels) and any("critical" in lab for lab in labels)


def test_field_and_surface_colour_bars():
    fig = dirac_plots.plot_dirac(dirac.DiracConfig("hinge", "zero_gp"), steps=10)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and "speed" in bars[0].get_ylabel() and "log" in bars[0].get_ylabel()
    fig = dirac_plots.plot_dirac(dirac.DiracConfig("hinge"), steps=10, colorbar=False)
    assert len(fig.axes) == 1
    xs = np.linspace(-1, 1, 5)
    fig = plots.plot_surface(xs, xs, np.outer(xs, xs), colorbar="D logit")
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"] == ["D logit"]


def test_surface_and_penalty_plots():
    xs = np.linspace(-1, 1, 5)
    z = np.outer(xs, xs)
    fig = plots.plot_surface(xs, xs, z, points={"real": np.zeros((3, 2)), "mismatch": np.ones((2, 2))}, vmax=2)
    assert _n_axes(fig) == 1
    fig = plots.plot_surface(xs, xs, np.abs(z), diverging=False)
    assert _n_axes(fig) == 1
    fig = plots.plot_penalty_curves(2.0, (2, 6))
    assert len(fig.axes[0].lines) == 3  # two curves + the n = 1 guide


def test_image_grid():
    imgs = torch.linspace(-1.5, 1.5, 5 * 3 * 4 * 4).reshape(5, 3, 4, 4)
    fig = image_grids.image_grid(imgs, nrow=3, titles=list("abcde"))
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert sum(len(ax.images) for ax in fig.axes) == 5
    arr = image_grids.tensor_to_image(imgs[0])
    assert arr.shape == (4, 4, 3) and arr.min() == 0.0 and arr.max() <= 1.0
    assert image_grids.tensor_to_image(torch.ones(1, 2, 2)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        image_grids.image_grid(torch.zeros(3, 4, 4))


def test_points_and_curves():
    fig = plots.plot_points({"real": np.zeros((4, 2)), "fake": np.ones((3, 2)), "other": -np.ones((2, 2))})
    assert _n_axes(fig) == 1 and len(fig.axes[0].collections) == 3
    fig = plots.plot_curves(np.arange(3), {"real": [1, 2, 3], "x": [3, 2, 1]}, logy=True)
    assert len(fig.axes[0].lines) == 2


def test_caption_rows_and_interpolation():
    fig = image_grids.plot_caption_rows(torch.zeros(2, 3, 3, 8, 8), ["one", "a very long caption " * 4])
    assert fig.axes
    with pytest.raises(ValueError, match="len\\(captions\\)"):
        image_grids.plot_caption_rows(torch.zeros(2, 3, 3, 8, 8), ["only one"])
    fig = image_grids.plot_interpolation(torch.zeros(8, 3, 8, 8), steps=4, left="a", right="b")
    assert fig.axes[0].get_title() == image_grids.SENTENCE_WALK
    fig = image_grids.plot_interpolation(torch.zeros(4, 3, 8, 8), steps=4, left="a", right="b", title="noise walk")
    assert fig.axes[0].get_title() == "noise walk"
    with pytest.raises(ValueError, match="rows of 3"):
        image_grids.plot_interpolation(torch.zeros(8, 3, 8, 8), steps=3, left="a", right="b")


def test_images_to_array_layout():
    imgs = torch.stack([torch.full((3, 2, 2), v) for v in (-1.0, 1.0, 0.0)])
    arr = image_grids.images_to_array(imgs, nrow=2, pad=1)
    assert arr.shape == (2 * 3 + 1, 2 * 3 + 1, 3)
    assert (arr[1:3, 1:3] == 0).all() and (arr[1:3, 4:6] == 1).all() and np.allclose(arr[4:6, 1:3], 0.5)
    assert (arr[0] == 1).all() and (arr[4:6, 4:6] == 1).all()  # padding and the empty slot stay white
    with pytest.raises(ValueError):
        image_grids.images_to_array(torch.zeros(3, 2, 2), nrow=2)


def test_penalty_value_and_pull_figure():
    from dfcourse import loss_shapes, plots

    assert loss_shapes.penalty_pull(0.5, 2, 6) == pytest.approx(12 * 0.5**5)
    assert loss_shapes.penalty_pull(np.array([1.0]), 2, 2)[0] == pytest.approx(4.0)
    fig = plots.plot_penalty_value_and_pull(k=2.0, ps=(2, 6), marks=[0.5])
    assert len(fig.axes) == 2 and all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)
    fig2, ax = plots.new_figure(1)
    plots.plot_gradient_arrows(ax[0], np.zeros(3), np.zeros(3), np.ones(3), np.ones(3), 0.1)
    assert ax[0].collections


def test_toy_panels_share_one_colour_scale_with_one_colour_bar():
    snaps = _snapshot()
    fig, axes = plots.new_figure(3)
    vmax = plots.plot_toy_panels(snaps, axes)
    assert vmax == pytest.approx(plots.toy_heat_scale(snaps))
    assert {tuple(ax.images[0].norm.vmax for _ in [0]) for ax in axes} == {(vmax,)}
    assert len([ax for ax in fig.axes if ax.get_label() == "<colorbar>"]) == 1
    fig = plots.plot_toy_state(snaps[0], colorbar=True, vmax=2.0)
    assert fig.axes[0].images[0].norm.vmax == 2.0 and len(fig.axes) == 2


def test_dfgan_d_loss_and_dirac_stability_figures():
    t = np.linspace(-2, 2, 9)
    fig = plots.plot_dfgan_d_loss(t, loss_shapes.dfgan_d_loss_terms(t), t + 2, loss_shapes.penalty_curve(t + 2))
    assert _n_axes(fig) == 2 and len(fig.axes[0].lines) == 3 + 2
    cs = np.logspace(-2, 2, 50)
    mods = {"simGD": np.array([np.abs(dirac.step_mu(1.0, c, 0.3)).max() for c in cs])}
    fig = dirac_plots.plot_step_modulus(cs, mods, {"simGD": dirac.stable_friction(1.0, 0.3)})
    assert _n_axes(fig) == 1
    hs = np.array([0.1, 0.05])
    r = np.array([dirac.cycle_radius_closed(h) for h in hs])
    fig = dirac_plots.plot_cycle_radius(hs, r, r, {"flow": np.array([1.0, 2.0])}, {"flow": np.array([0.5, 0.4])})
    assert _n_axes(fig) == 2
