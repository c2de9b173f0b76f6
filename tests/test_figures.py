"""dflib.figures: which panels a reader could not read without the notebook's code."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dflib.figures import figure_problems, install_figure_audit  # noqa: E402


def test_a_plot_without_title_or_labels_is_reported_per_axis():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [2, 3])
    assert figure_problems(fig) == [
        "panel 0: no title (set_title, or a suptitle for the figure)", "panel 0: no x-axis label",
        "panel 0: no y-axis label"]
    ax.set_xlabel("step")
    ax.set_title("loss")
    assert figure_problems(fig) == ["panel 0 ('loss'): no y-axis label"]
    ax.set_ylabel("value")
    assert figure_problems(fig) == []
    plt.close(fig)


def test_suptitle_counts_and_image_panels_colour_bars_and_hidden_ticks_are_exempt():
    fig, (a, b, c) = plt.subplots(1, 3)
    fig.suptitle("three panels")
    a.imshow([[0, 1], [1, 0]])
    a.axis("off")  # an image grid cell
    im = b.imshow([[0, 1], [1, 0]])
    b.set_xticks([])
    b.set_yticks([])  # a heat map without ticks needs no axis label
    fig.colorbar(im, ax=b)  # the colour bar is its own axes: exempt
    c.plot([0, 1], [0, 1])
    c.set_xlabel("x")
    assert figure_problems(fig) == ["panel 2: no y-axis label"]
    plt.close(fig)


def test_install_outside_ipython_is_a_no_op():
    assert install_figure_audit() is False


def test_a_grid_of_images_needs_text_somewhere_but_not_a_title_per_cell():
    fig, axes = plt.subplots(2, 2)
    for ax in axes.flat:
        ax.imshow([[0, 1], [1, 0]])
        ax.set_xticks([])
        ax.set_yticks([])
    problems = figure_problems(fig)
    assert len(problems) == 4 and all("no title" in p for p in problems)  # nothing says what the grid is
    axes[0, 0].set_ylabel("a red circle")  # a caption beside the first row (plot_caption_rows)
    assert figure_problems(fig) == []
    plt.close(fig)
