"""Structure of every notebook in notebooks/ (not its execution: that is the nbval gate).

Valid JSON, skeleton (markdown headings Goal, Summary, Exercises), execution counts 1..N in order (committed
with outputs of a full run), size < 3 MB, no cell installs packages, and every ``dflib`` docstring
back-reference "Introduced in notebooks/NN_x.ipynb" (or an appendix, A1_x.ipynb) names a notebook that exists.
The notebooks are the numbered series and the appendices, in tools/readme_rows.py's order.
"""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import notebook_paths  # noqa: E402

NB_DIR = ROOT / "notebooks"
NOTEBOOKS = notebook_paths(ROOT)  # the numbered series, then the appendices (A1, ...)
MAX_BYTES = 3 * 1024 * 1024
INSTALL = re.compile(r"(^|\s|!|%)(pip3?|conda|mamba|apt(-get)?)\s+install\b|pip\.main\(|ensurepip", re.M)
HEADING = re.compile(r"^\s*#{1,6}\s*(?:\d+[.)]?\s*)?(Goal|Summary|Exercises)\b", re.M | re.I)


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no NN_name.ipynb notebooks found in {NB_DIR}"
    names = [p.name for p in NOTEBOOKS]
    assert "A1_fast_path.ipynb" in names and names[-1].startswith("A"), f"the appendix is not listed last: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_valid_json_and_small(path):
    nb = _load(path)
    assert nb.get("nbformat") == 4, f"{path.name}: not an nbformat-4 notebook"
    assert isinstance(nb.get("cells"), list) and nb["cells"], f"{path.name}: no cells"
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 1e6:.1f} MB; shrink figures (dpi 80) or outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_skeleton(path):
    nb = _load(path)
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            found += [m.group(1).lower() for m in HEADING.finditer(_source(cell))]
    for want in ("goal", "summary", "exercises"):
        assert want in found, f"{path.name}: missing a markdown heading '{want.title()}'"
    assert found.index("goal") < found.index("summary") < found.index("exercises"), (
        f"{path.name}: headings must come in the order Goal -> Summary -> Exercises, got {found}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_execution_counts_in_order(path):
    nb = _load(path)
    counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..N; re-run the notebook top to bottom "
        "(make execute) before committing"
    )
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                pytest.fail(f"{path.name}: committed with an error output: {out.get('ename')}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_installs_packages(path):
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not INSTALL.search(_source(cell)), f"{path.name} cell {i} installs packages; use requirements.txt"


def _backrefs():
    refs = []
    for py in sorted([*(ROOT / "dflib").rglob("*.py"), *(ROOT / "dfcourse").rglob("*.py")]):
        text = py.read_text(encoding="utf-8")
        for m in re.finditer(r"Introduced in(.*?)(?:\n\s*\n|\"\"\"|$)", text, re.S):
            for name in re.findall(r"((?:\d\d|A\d)_[A-Za-z0-9_]+\.ipynb)", m.group(1)):
                refs.append((py.relative_to(ROOT).as_posix(), name))
    return refs


def test_backrefs_are_found():
    assert any(mod == "dfcourse/toys.py" for mod, _ in _backrefs())


@pytest.mark.parametrize("module,name", _backrefs(), ids=lambda v: v)
def test_backref_points_at_existing_notebook(module, name):
    assert (NB_DIR / name).exists(), f"{module} says 'Introduced in notebooks/{name}' but that notebook is missing"
