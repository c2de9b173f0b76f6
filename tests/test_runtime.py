"""Run-time switches and the start-up diagnosis shown in the first cell of notebook 00."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

import dflib
from dflib import runtime

ROOT = Path(__file__).resolve().parents[1]


def test_quick_switch_and_pick(monkeypatch):
    monkeypatch.delenv("DFGAN_FAST", raising=False)
    monkeypatch.setenv("DFGAN_QUICK", "1")
    assert runtime.is_quick() and runtime.pick(full=100, quick=2) == 2 and runtime.pick(100, 2) == 2
    monkeypatch.setenv("DFGAN_QUICK", "0")
    assert not runtime.is_quick() and runtime.pick(full=100, quick=2) == 100
    monkeypatch.delenv("DFGAN_QUICK")
    assert not runtime.is_quick()
    with pytest.raises(TypeError):
        runtime.pick(full=100)


def test_the_old_names_still_work(monkeypatch):
    """Notebooks written before the rename used ``pick(full=..., fast=...)`` and ``is_fast()``."""
    monkeypatch.delenv("DFGAN_FAST", raising=False)
    monkeypatch.setenv("DFGAN_QUICK", "1")
    assert runtime.pick(full=100, fast=2) == 2 and runtime.is_fast() and dflib.is_fast()
    monkeypatch.setenv("DFGAN_QUICK", "0")
    assert runtime.pick(full=100, fast=2) == 100 and not runtime.is_fast()
    with pytest.raises(TypeError, match="not both"):
        runtime.pick(100, quick=1, fast=2)
    assert "is_fast" not in dflib.__all__ and "is_quick" in dflib.__all__


@pytest.mark.parametrize("value, quick", [("1", True), ("0", False)])
def test_the_old_switch_still_works_with_a_one_line_note(monkeypatch, capsys, value, quick):
    monkeypatch.delenv("DFGAN_QUICK", raising=False)
    monkeypatch.setenv("DFGAN_FAST", value)
    runtime._note_once.cache_clear()
    with pytest.warns(DeprecationWarning, match=f"DFGAN_FAST is deprecated, set DFGAN_QUICK={value} instead"):
        assert runtime.is_quick() is quick
    with pytest.warns(DeprecationWarning):
        assert runtime.pick(full=100, quick=2) == (2 if quick else 100)
    err = capsys.readouterr().err
    assert err == f"dflib: DFGAN_FAST is deprecated, set DFGAN_QUICK={value} instead\n"  # one line, once
    monkeypatch.setenv("DFGAN_QUICK", "0" if quick else "1")  # the new name wins, silently
    assert runtime.is_quick() is not quick and capsys.readouterr().err == ""


def test_seed_everything_is_reproducible():
    g = runtime.seed_everything(3)
    a, b = torch.randn(3), torch.randn(3, generator=g)
    g = runtime.seed_everything(3)
    assert torch.equal(a, torch.randn(3)) and torch.equal(b, torch.randn(3, generator=g))


def _fake_prefix(tmp_path, with_extension=True):
    if with_extension:
        (tmp_path / "share/jupyter/labextensions/@jupyter-widgets/jupyterlab-manager").mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("python", [(3, 11), (3, 12), (3, 13)])
def test_diagnosis_all_good_from_the_notebooks_folder(tmp_path, python):
    ok, problems = runtime.diagnose_environment(cwd=ROOT / "notebooks", prefix=_fake_prefix(tmp_path), python=python)
    assert problems == [] and len(ok) == 3 and f"Python {python[0]}.{python[1]}" in ok[0]


@pytest.mark.parametrize("python", [(3, 10), (3, 14)])
def test_diagnosis_rejects_pythons_outside_3_11_to_3_13(tmp_path, python):
    ok, problems = runtime.diagnose_environment(cwd=ROOT / "notebooks", prefix=_fake_prefix(tmp_path), python=python)
    assert len(problems) == 1 and f"Python {python[0]}.{python[1]}" in problems[0] and "3.11, 3.12 or 3.13" in problems[0]


def test_diagnosis_names_each_problem_and_the_command_to_run(tmp_path):
    ok, problems = runtime.diagnose_environment(cwd=tmp_path, prefix=_fake_prefix(tmp_path / "p", False), python=(3, 14))
    assert len(problems) == 3 and ok == []
    assert "Python 3.14" in problems[0] and "make lab" in problems[0]
    assert str(tmp_path) in problems[1] and "notebooks/" in problems[1] and "make lab" in problems[1]
    assert "JupyterLab extension" in problems[2] and "reload" in problems[2]


def test_report_of_this_environment_mentions_every_check():
    report = runtime.check_environment()
    assert report.count("\n") >= 2 and sys.executable in report


def test_free_cores_subtracts_the_measured_load():
    from dflib.runtime import free_cores, physical_cores

    assert free_cores(load=0.0, cores=2) == 2 and free_cores(load=0.6, cores=8) == 7
    assert free_cores(load=1.6, cores=2) == 1 and free_cores(load=9.0, cores=2) == 1  # never below one
    assert free_cores(load=-1.0, cores=4) == 4  # never above the cores
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
