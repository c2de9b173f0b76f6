"""The committed notebooks read well without a kernel (GitHub, the site, Lab before running): no error
outputs, no warnings or other stderr, every widget leaves a static picture, no frozen progress bars, no
paths of the machine that ran them, and code lines of at most 100 characters."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import notebook_paths  # noqa: E402

NOTEBOOKS = notebook_paths(ROOT)  # the numbered series, then the appendices (A1, ...)
MACHINE_PATHS = re.compile(r"(/work/|/root/|/home/\w+|/tmp/|\.venv/|site-packages|/usr/lib/python)")
FROZEN_BAR = re.compile(r"(?<!\d)(\d{1,2})%\|")  # tqdm's "  0%|" ... " 99%|": a bar that never finished
MAX_LINE = 100


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _text(out) -> str:
    if "text" in out:
        return "".join(out["text"])
    data = out.get("data", {})
    return "".join(data.get("text/plain", ""))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_errors_warnings_or_stderr(path):
    for i, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path.name} cell {i}: error output {out.get('ename')}"
            if out.get("output_type") == "stream":
                assert out.get("name") != "stderr", f"{path.name} cell {i}: stderr output {_text(out)[:120]!r}"
            assert "Warning:" not in _text(out), f"{path.name} cell {i}: a warning in the output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_widgets_leave_a_static_picture(path):
    for i, cell in enumerate(_cells(path)):
        outs = cell.get("outputs", [])
        widget = [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        as_text = [o for o in outs if re.search(r"\b(FigureApp|VBox|HBox|IntSlider|FloatSlider)\(", _text(o))]
        assert not as_text, f"{path.name} cell {i}: a widget committed as its repr text"
        if widget:
            assert any("image/png" in o.get("data", {}) for o in outs), f"{path.name} cell {i}: widget without a PNG"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_frozen_progress_bars(path):
    for i, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and "progress" in _text(out).lower():
                pytest.fail(f"{path.name} cell {i}: a progress-bar widget (frozen without a kernel)")
            for m in FROZEN_BAR.finditer(_text(out)):
                pytest.fail(f"{path.name} cell {i}: a progress bar frozen at {m.group(1)}%")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_machine_paths_in_outputs(path):
    for i, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []):
            m = MACHINE_PATHS.search(_text(out))
            assert not m, f"{path.name} cell {i}: the build machine's path {m.group(0)!r} in an output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            for line in "".join(cell["source"]).splitlines():
                assert len(line) <= MAX_LINE, f"{path.name} cell {i}: {len(line)} characters: {line[:60]}..."


def _figure_audits(path):
    """(cell index, audit or None) for every PNG output: the audit is what tools/figure_audit.py attached when
    `make execute` ran the notebook (titles and axis labels a reader would miss)."""
    for i, cell in enumerate(_cells(path)):
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                meta = out.get("metadata", {}).get("image/png", {})
                yield i, meta.get("dflib") if isinstance(meta, dict) else None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_have_titles_and_axis_labels(path):
    """Every committed figure was audited when it was rendered (`make execute` loads the audit into the
    kernel), and the audit found no panel without a title and no axis with ticks but no label."""
    audits = list(_figure_audits(path))
    for i, audit in audits:
        assert audit is not None, (f"{path.name} cell {i}: a figure rendered without the figure audit: re-execute "
                                   f"the notebook with `make execute NOTEBOOKS=notebooks/{path.name}`")
        assert not audit["figure_problems"], f"{path.name} cell {i}: {'; '.join(audit['figure_problems'])}"
