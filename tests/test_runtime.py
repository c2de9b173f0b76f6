"""Run-time switches and the start-up diagnosis shown in the first cell of notebook 00."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from dflib import runtime

ROOT = Path(__file__).resolve().parents[1]


def test_fast_switch_and_pick(monkeypatch):
    monkeypatch.setenv("DFGAN_FAST", "1")
    assert runtime.is_fast() and runtime.pick(full=100, fast=2) == 2
    monkeypatch.setenv("DFGAN_FAST", "0")
    assert not runtime.is_fast() and runtime.pick(full=100, fast=2) == 100
    monkeypatch.delenv("DFGAN_FAST")
    assert not runtime.is_fast()


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
