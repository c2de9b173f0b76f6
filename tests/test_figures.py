"""The figure audit (tools/figure_audit.py): which panels a reader could not read without the notebook's
code, attached to every figure `make execute` renders; and the library itself patches nothing."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("figure_audit", ROOT / "tools" / "figure_audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)
figure_problems, install_figure_audit = audit.figure_problems, audit.install_figure_audit


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


def test_the_library_caption_rows_pass_the_audit_and_check_their_input():
    import torch

    from dflib.figures import plot_caption_rows

    fig = plot_caption_rows(torch.zeros(2, 3, 3, 8, 8), ["one", "a very long caption " * 4])
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["one", ("a very long caption " * 4)[:37] + "..."]
    assert figure_problems(fig) == []
    plt.close(fig)
    with pytest.raises(ValueError, match="len\\(captions\\)"):
        plot_caption_rows(torch.zeros(2, 3, 3, 8, 8), ["only one"])


def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    ip = InteractiveShell.instance()
    select_figure_formats(ip, {"png"})  # what the inline backend registers in a kernel
    return ip


def test_the_audit_attaches_its_findings_to_every_png_the_shell_renders():
    ip = _shell()
    assert install_figure_audit(ip) is True
    assert install_figure_audit(ip) is True  # a second install neither wraps twice nor adds a second hook
    assert sum(getattr(cb, "_dflib_audit", False) for cb in ip.events.callbacks["pre_run_cell"]) == 1
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    _, meta = ip.display_formatter.format(fig)
    assert meta["image/png"]["dflib"]["figure_problems"][0].startswith("panel 0: no title")
    ax.set(title="t", xlabel="x", ylabel="y")
    _, meta = ip.display_formatter.format(fig)
    assert meta["image/png"]["dflib"] == {"figure_problems": []}
    plt.close(fig)
    for cb in [cb for cb in ip.events.callbacks["pre_run_cell"] if getattr(cb, "_dflib_audit", False)]:
        ip.events.unregister("pre_run_cell", cb)


def test_setup_notebook_patches_nothing():
    import dflib

    ip = _shell()
    from matplotlib.figure import Figure

    png = ip.display_formatter.formatters["image/png"]
    before, hooks = png.lookup_by_type(Figure), list(ip.events.callbacks["pre_run_cell"])
    dflib.setup_notebook(seed=0, threads=1)
    assert png.lookup_by_type(Figure) is before and ip.events.callbacks["pre_run_cell"] == hooks


def _execute_command(notebook: Path) -> str:
    """The nbconvert line of `make execute`, as `make -n` prints it, for one notebook."""
    out = subprocess.run(["make", "-n", "execute", f"NOTEBOOKS={notebook}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    lines = out.replace("\\\n", " ").splitlines()
    (line,) = [ln for ln in lines if "nbconvert" in ln]
    return line


def test_make_execute_runs_every_kernel_with_the_audit(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1]);"),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nax.plot([0, 1])\n"
                                  "ax.set(title='t', xlabel='x', ylabel='y');"),
    ]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    command = _execute_command(path)
    assert re.search(r"\bDFGAN_QUICK=0\b", command)
    subprocess.run(command, shell=True, cwd=ROOT, check=True, capture_output=True, timeout=300)
    cells = json.loads(path.read_text())["cells"]
    audits = [o["metadata"]["image/png"]["dflib"]["figure_problems"]
              for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert len(audits) == 2 and audits[0][0].startswith("panel 0: no title") and audits[1] == []
