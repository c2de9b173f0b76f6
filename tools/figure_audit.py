"""Is a figure readable without its notebook? Titles and axis labels, checked where a figure is shown.

``figure_problems(fig)`` lists, for every visible panel that draws axes (image grids and diagrams switch
their axes off and are exempt), a missing title (the figure's suptitle counts for every panel) and a missing
x or y label where that axis shows tick labels. Colour bars are exempt; their label is the colour bar's own.

``make execute`` loads this file into every notebook's kernel as an IPython extension
(``PYTHONPATH=tools`` and ``--ext=figure_audit``): every figure the kernel renders as PNG then carries
``{"dflib": {"figure_problems": [...]}}`` in the output's metadata, so a test over the *committed* notebooks
(``tests/test_notebook_outputs.py``) can fail on an unlabelled figure without running anything. The library
(``dflib``) patches nothing; a learner's own kernel runs without the audit.
"""

from __future__ import annotations

from typing import Any

__all__ = ["figure_problems", "install_figure_audit", "load_ipython_extension", "METADATA_KEY"]

METADATA_KEY = "dflib"  # the key the committed notebooks carry


def _shows_tick_labels(axis: Any) -> bool:
    if not axis.get_visible():
        return False
    return any(t.get_visible() and t.get_text() for t in axis.get_ticklabels())


def figure_problems(fig: Any) -> list[str]:
    """What a reader would miss in ``fig``: panels without a title, axes without a label (empty = fine)."""
    suptitle = getattr(fig, "_suptitle", None)
    has_suptitle = bool(suptitle is not None and suptitle.get_text().strip())
    try:  # tick labels are only known after a draw
        fig.canvas.draw()
    except Exception:  # noqa: BLE001 - a backend that cannot draw: judge from what is set
        pass
    problems = []
    # some panel or the figure says what is shown: image-only panels (a grid of samples) may then go untitled
    fig_text = has_suptitle or any(a.get_title().strip() or a.get_ylabel().strip() for a in fig.axes)
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison or ax.get_label() == "<colorbar>":
            continue
        name = f"panel {i}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
        image_only = bool(ax.images) and not ax.lines and not ax.collections and not ax.patches
        if image_only and fig_text and not _shows_tick_labels(ax.xaxis):
            continue
        if not (ax.get_title().strip() or has_suptitle or ax.get_title("left").strip()):
            problems.append(f"{name}: no title (set_title, or a suptitle for the figure)")
        if _shows_tick_labels(ax.xaxis) and not ax.get_xlabel().strip():
            problems.append(f"{name}: no x-axis label")
        if _shows_tick_labels(ax.yaxis) and not ax.get_ylabel().strip():
            problems.append(f"{name}: no y-axis label")
    return problems


def install_figure_audit(ip: Any = None) -> bool:
    """Make the IPython kernel attach :func:`figure_problems` to every figure it renders as PNG.

    The inline backend (re)registers its own PNG formatter when pyplot first loads, so the wrapper is put
    back in front of whatever is registered before every cell. Returns False outside IPython.
    """
    if ip is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython comes with Jupyter
            return False
        ip = get_ipython()
    if ip is None:
        return False
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.close(plt.figure())  # loads the inline backend now, which registers its PNG formatter to wrap
    png = ip.display_formatter.formatters["image/png"]

    def wrap(*_args: Any) -> None:
        current = png.lookup_by_type(Figure) if Figure in png.type_printers else None
        if current is None or getattr(current, "_dflib_audit", False):
            return

        def audited(fig: Figure) -> Any:
            out = current(fig)
            data, meta = (out if isinstance(out, tuple) else (out, {}))
            if data is None:
                return None
            meta = dict(meta or {})
            meta[METADATA_KEY] = {"figure_problems": figure_problems(fig)}
            return data, meta

        audited._dflib_audit = True  # type: ignore[attr-defined]
        png.for_type(Figure, audited)

    wrap()
    callbacks = ip.events.callbacks.get("pre_run_cell", [])
    if not any(getattr(cb, "_dflib_audit", False) for cb in callbacks):
        wrap._dflib_audit = True  # type: ignore[attr-defined]
        ip.events.register("pre_run_cell", wrap)
    return True


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext figure_audit`` / ``--ext=figure_audit``: :func:`install_figure_audit` in this kernel."""
    install_figure_audit(ip)

