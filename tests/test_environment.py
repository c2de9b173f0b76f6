"""The set-up contract: pinned requirements, environment.yml in sync, Makefile and CI entry points."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def test_requirements_are_pinned_and_torch_pair_is_the_tested_one():
    reqs = _requirements()
    assert reqs, "requirements.txt is empty"
    for r in reqs:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][A-Za-z0-9_.+\-]*", r), f"not pinned exactly: {r}"
    assert "torch==2.14.1" in reqs and "torchvision==0.29.1" in reqs


def test_environment_yml_pip_section_is_identical_to_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [d for d in deps if isinstance(d, dict)]
    assert conda == ["python=3.11", "pip"]
    assert len(pip) == 1 and pip[0]["pip"] == _requirements()


def test_pyproject_pins_match_requirements():
    text = (ROOT / "pyproject.toml").read_text()
    pins = dict(r.split("==") for r in _requirements())
    found = re.findall(r'"([A-Za-z0-9_.\-]+)==([^"]+)"', text)
    assert found, "pyproject declares no pinned dependencies"
    for name, ver in found:
        assert pins.get(name) == ver, f"pyproject pins {name}=={ver} but requirements.txt has {pins.get(name)}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^\s*make test\b", ci, re.M), ".ci/run must call `make test`"
    make = (ROOT / "Makefile").read_text()
    for target in ("lab:", "test:", "train:", "execute:"):
        assert re.search(rf"^{target}", make, re.M), f"Makefile lacks the {target} target"
