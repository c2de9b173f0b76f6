"""The hosted set-up cell at the top of every notebook, run with Colab's and Kaggle's environment markers
simulated (the hosted services themselves cannot be reached from the build machines)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import hosted_cell  # noqa: E402

NOTEBOOKS = hosted_cell.notebook_paths(ROOT)  # the numbered series, then the appendices (A1, ...)


def _hosted_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    src = "".join(code[0]["source"])
    assert src.startswith(hosted_cell.MARKER), f"{path.name}: the first code cell is not the hosted set-up"
    assert "Open in Colab" in "".join(cells[0]["source"]) and "Open in Kaggle" in "".join(cells[0]["source"])
    return src


def _run(src: str, env: dict, monkeypatch, tmp_path, torch_after: str = "2.9.0+cu126"):
    calls, chdirs = [], []
    monkeypatch.chdir(tmp_path)  # not inside the repository: ../dflib does not exist

    def fake_run(cmd, check=False, capture_output=False, text=False):
        calls.append(cmd)
        return types.SimpleNamespace(stdout=torch_after + "\n", returncode=0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr("os.chdir", lambda p: chdirs.append(p))
    monkeypatch.setattr("os.path.isdir", lambda p: False)
    for k in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(__version__="2.9.0+cu126"))
    exec(compile(src, "hosted", "exec"), {})
    return calls, chdirs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_locally_the_cell_does_nothing(path, monkeypatch, tmp_path):
    calls, chdirs = _run(_hosted_source(path), {}, monkeypatch, tmp_path)
    assert calls == [] and chdirs == []


@pytest.mark.parametrize("marker, home", [("COLAB_RELEASE_TAG", "/content"), ("KAGGLE_KERNEL_RUN_TYPE", "/kaggle/working")])
def test_hosted_the_cell_clones_installs_beside_torch_and_enters_notebooks(marker, home, monkeypatch, tmp_path):
    calls, chdirs = _run(_hosted_source(NOTEBOOKS[0]), {marker: "1"}, monkeypatch, tmp_path)
    clone, pip, check = calls
    assert clone[:4] == ["git", "clone", "--depth", "1"] and clone[-1] == f"{home}/dfgan-notebooks"
    assert clone[4] == hosted_cell.repository()
    assert pip[1:5] == ["-m", "pip", "install", "-q"] and pip[-1] == f"{home}/dfgan-notebooks[notebooks,assets]"
    assert not any("torch" in a for a in pip)  # PyTorch itself is never named: the hosted build stays
    assert chdirs == [f"{home}/dfgan-notebooks/notebooks"]


def test_hosted_the_cell_stops_if_pip_replaced_torch(monkeypatch, tmp_path):
    with pytest.raises(AssertionError, match="replaced the hosted PyTorch"):
        _run(_hosted_source(NOTEBOOKS[0]), {"COLAB_RELEASE_TAG": "1"}, monkeypatch, tmp_path, torch_after="2.14.1")
