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


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_pyproject_states_ranges_that_admit_the_pinned_set():
    """pyproject.toml says what the code supports (ranges, Python 3.11 to 3.13); requirements.txt pins the set
    that CI installs, and every pin lies inside its range."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name

    project = _pyproject()
    python = SpecifierSet(project["requires-python"])
    assert all(v in python for v in ("3.11", "3.12", "3.13")) and "3.10" not in python and "3.14" not in python
    pins = {canonicalize_name(r.split("==")[0]): r.split("==")[1] for r in _requirements()}
    declared = list(project["dependencies"]) + [d for group in project["optional-dependencies"].values() for d in group]
    assert declared, "pyproject declares no dependencies"
    for line in declared:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert not any(s.operator == "==" for s in req.specifier), f"pyproject pins {line}: state a range"
        assert req.specifier, f"pyproject gives no version range for {req.name}"
        assert name in pins, f"{req.name} is declared in pyproject but not pinned in requirements.txt"
        assert pins[name] in req.specifier, f"requirements.txt pins {req.name}=={pins[name]} outside {line}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^\s*make test\b", ci, re.M), ".ci/run must call `make test`"
    make = (ROOT / "Makefile").read_text()
    for target in ("lab:", "test:", "train:", "execute:"):
        assert re.search(rf"^{target}", make, re.M), f"Makefile lacks the {target} target"
