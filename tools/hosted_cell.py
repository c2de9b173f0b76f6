"""Put the hosted-notebook set-up cell and the "Open in Colab / Kaggle" links at the top of every notebook.

The cell does nothing unless the kernel runs on Colab or Kaggle (their environment markers): there it
clones the course, installs ``dflib`` into the hosted Python *without replacing its PyTorch* (the project's
PyTorch range accepts the hosted build, so pip keeps it; the cell checks that the version did not change)
and moves into ``notebooks/`` so that relative paths work. Usage: python tools/hosted_cell.py
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import notebook_paths  # noqa: E402  (the series' order: numbered notebooks, then appendices)

MARKER = "# hosted set-up (Colab / Kaggle only)"


def repository() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"].rstrip("/")


def cell_source(repo: str) -> str:
    return f'''{MARKER}: fetch the course, install dflib beside the hosted PyTorch.
# Elsewhere (your own Jupyter) this cell does nothing.
import os, subprocess, sys
HOSTED = "COLAB_RELEASE_TAG" in os.environ or "KAGGLE_KERNEL_RUN_TYPE" in os.environ
if HOSTED and not os.path.isfile("../dflib/__init__.py"):
    home = "/kaggle/working" if "KAGGLE_KERNEL_RUN_TYPE" in os.environ else "/content"
    course = os.path.join(home, "dfgan-notebooks")
    if not os.path.isdir(course):
        repo = "{repo}"
        subprocess.run(["git", "clone", "--depth", "1", repo, course], check=True)
    import torch; before = torch.__version__
    pip = [sys.executable, "-m", "pip", "install", "-q", "-e", course + "[notebooks,assets]"]
    subprocess.run(pip, check=True)
    after = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert after == before, f"pip replaced the hosted PyTorch {{before}} with {{after}}"
    os.chdir(os.path.join(course, "notebooks")); sys.path.insert(0, course)'''


def badges(repo: str, name: str) -> str:
    path = repo.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{name}"
    kaggle = f"https://kaggle.com/kernels/welcome?src={repo}/blob/main/notebooks/{name}"
    return f"[Open in Colab]({colab}) · [Open in Kaggle]({kaggle})"


def update(path: Path, repo: str) -> bool:
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    changed = False
    first = cells[0]
    text = "".join(first["source"])
    line = badges(repo, path.name)
    if "Open in Colab" not in text:
        head, _, rest = text.partition("\n")
        first["source"] = (head + "\n\n" + line + "\n" + ("\n" + rest if rest else "")).splitlines(keepends=True)
        changed = True
    src = cell_source(repo)
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    if code and "".join(cells[code[0]]["source"]).startswith(MARKER):
        if "id" not in cells[code[0]] and nb.get("nbformat_minor", 0) >= 5:
            cells[code[0]]["id"] = "hosted-setup"
            changed = True
        if "".join(cells[code[0]]["source"]) != src:
            cells[code[0]]["source"] = src.splitlines(keepends=True)
            changed = True
    else:
        new = {"cell_type": "code", "execution_count": 1, "id": "hosted-setup", "metadata": {"tags": ["hosted-setup"]},
               "outputs": [], "source": src.splitlines(keepends=True)}
        cells.insert(code[0] if code else 1, new)
        for c in [c for c in cells if c["cell_type"] == "code"][1:]:
            if c.get("execution_count") is not None:
                c["execution_count"] += 1
        changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main() -> int:
    repo = repository()
    paths = [Path(a) for a in sys.argv[1:]] or notebook_paths(ROOT)
    for path in paths:
        print(f"{path.name}: {'updated' if update(path, repo) else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
