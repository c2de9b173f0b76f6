"""dfcourse: the notebook helpers sit on top of the core, one concept per module."""

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEACH = ROOT / "dfcourse"
MODULES = sorted(p.stem for p in TEACH.glob("*.py") if p.stem != "__init__")


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (top-level and function-local)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def test_the_core_never_imports_teach():
    offenders = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "dflib").rglob("*.py"))
                 if any(m == "dfcourse" or m.startswith("dfcourse.")
                                                   for m in _imported_modules(p))]
    assert not offenders, f"core modules import dfcourse: {offenders}"


def test_modules_are_small():
    sizes = {m: len((TEACH / f"{m}.py").read_text(encoding="utf-8").splitlines()) for m in MODULES}
    assert max(sizes.values()) <= 450, sizes


def test_package_import_loads_no_submodule_and_from_import_works():
    code = ("import sys, dfcourse as t; assert not [m for m in sys.modules if m.startswith('dfcourse.')]; "
            "from dfcourse import toys, plots, widgets; print(sorted(t.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr
    assert sorted(MODULES) == eval(out.stdout)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports_and_exports_what_it_lists(name):
    mod = importlib.import_module(f"dfcourse.{name}")
    assert mod.__doc__ and all(hasattr(mod, n) for n in mod.__all__)
