"""dfcourse.widgets: every make_*_widget() builds headless, renders with its defaults and reacts to changes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dfcourse import widgets  # noqa: E402

torch.set_num_threads(1)

CASES = [
    (lambda: widgets.make_toy_gan_widget(steps=4), "lr_d", 1e-2),
    (widgets.make_loss_widget, "loss", "bce"),
    (lambda: widgets.make_dirac_widget(steps=20), "penalty", "r1"),
    (widgets.make_penalty_widget, "p", 2.0),
    (lambda: widgets.make_ma_gp_widget(steps=4), "penalty", "zero_gp"),
]


@pytest.mark.parametrize("make,name,value", CASES)
def test_widget_renders_and_updates(make, name, value):
    app = make()
    assert app.renders == 1 and app.last_png.startswith(b"\x89PNG")
    assert len(app.output.outputs) == 1 and "image/png" in app.output.outputs[0]["data"]
    first = app.last_png
    app.controls[name].value = value
    assert app.renders == 2
    assert app.last_png != first
    assert app.status.value == ""


def test_widget_shows_errors_instead_of_raising():
    def boom(**_):
        raise ValueError("bad k")

    import ipywidgets as W

    app = widgets.FigureApp({"k": W.FloatSlider(value=1.0)}, boom)
    assert app.renders == 0 and "bad k" in app.status.value


def test_render_samples_and_sampling_widget():
    from dflib.models import NetG
    from dfcourse import affine_probe
    from dflib.text import BagOfWordsEncoder

    torch.manual_seed(0)
    g = affine_probe.randomize_affines(NetG(ngf=4, z_dim=8, cond_dim=16, imsize=32))
    enc = BagOfWordsEncoder(dim=16)
    fig = widgets.render_samples(g, enc, "a red circle", seed=1, truncation=0.5, n=3)
    assert len(fig.axes) == 3
    fig.canvas.draw()  # the title sits above the images, not over them
    title = fig._suptitle.get_window_extent()
    assert title.y0 >= max(ax.get_window_extent().y1 for ax in fig.axes) - 1e-6
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        widgets.render_samples(g, enc, "   ")
    app = widgets.make_sampling_widget(g, enc, n=2)
    assert app.renders == 1 and app.last_png.startswith(b"\x89PNG")
    app.controls["seed"].value = 5
    app.controls["caption"].value = "a blue star"
    assert app.renders == 3
    app.controls["caption"].value = ""  # error is shown in the app, not raised
    assert app.renders == 3 and "empty" in app.status.value


def test_a_widget_without_a_kernel_reads_as_a_sentence():
    import ipywidgets as W

    from dfcourse.widgets import WIDGET_TEXT, FigureApp
    from dfcourse.plots import new_figure

    app = FigureApp({"a": W.IntSlider(value=1)}, lambda a: new_figure(1, 1)[0], title="t")
    assert repr(app) == WIDGET_TEXT and "FigureApp(" not in repr(app)
