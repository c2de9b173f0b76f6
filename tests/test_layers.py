"""dflib's layering, read from the source (AST, nothing imported): no import cycles, function-local imports
included, and every module imports only from the layers below it. The layers are the table in
dflib/__init__.py's docstring, parsed here: there is no other copy of it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "dflib"
COURSE = REPO / "dfcourse"  # the notebooks' helpers: a package beside the library, not inside it
# packages beside dflib that build on it (dflib/__init__.py says what each is), and what each may import
SIBLINGS = {"dfdamsm": {"dflib"}, "dfexport": {"dflib"}, "dfeval": {"dflib", "dfdamsm"}, "dfcourse": {"dflib", "dfdamsm"}}


def layer_table(init: Path = ROOT / "__init__.py") -> list[list[str]]:
    """The layer table of ``dflib/__init__.py``'s docstring, lowest layer first, as module names: the indented
    block after the paragraph that says the package is layered; on each line the names before the first run
    of two spaces. ``figures`` -> ``dflib.figures``, ``data/`` -> the package ``dflib.data/``, ``__init__``
    -> ``dflib`` (the package's own file)."""
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    after = doc[doc.index("The package is layered"):]
    block = re.search(r"\n\n((?: {4}\S.*\n?)+)", after)
    assert block, f"no indented layer table after 'The package is layered' in {init}"
    table = []
    for line in block.group(1).splitlines():
        names = re.split(r"\s{2,}", line.strip())[0]
        table.append(["dflib" if n == "__init__" else f"dflib.{n}" for n in (x.strip() for x in names.split(","))])
    return table


def ranks(table: list[list[str]]) -> tuple[dict[str, int], tuple[str, ...]]:
    """``(module or package -> line, packages)``; packages (``dflib.data/``) are returned without the slash."""
    rank, packages = {}, []
    for i, names in enumerate(table):
        for n in names:
            if n.endswith("/"):
                n = n[:-1]
                packages.append(n)
            assert n not in rank, f"{n} is on two lines of the layer table"
            rank[n] = i
    return rank, tuple(packages)


RANK, GROUPS = ranks(layer_table())


def modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``module -> modules it imports`` inside the package, from every import statement at any depth."""
    mods = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name and t.split(".")[0] == root.name:
                    graph[name].add(t)
                    break  # `from pkg import sub` counts as an import of pkg.sub only
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def group(module: str, groups: tuple[str, ...] = GROUPS) -> str | None:
    """The package of the table (``dflib.data``, ...) ``module`` belongs to, if any."""
    return next((g for g in groups if module == g or module.startswith(g + ".")), None)


def rank(module: str, table_rank: dict[str, int] = RANK, groups: tuple[str, ...] = GROUPS) -> int | None:
    """The line of the table ``module`` is on: its package's line, else its own (None: not in the table)."""
    return table_rank.get(group(module, groups) or module)


def upward_imports(graph: dict[str, set[str]], table_rank: dict[str, int] = RANK,
                   groups: tuple[str, ...] = GROUPS) -> list[str]:
    """Every import of a module on the same line of the table or a higher one (inside a package: allowed)."""
    bad = []
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            rm, rd = rank(m, table_rank, groups), rank(d, table_rank, groups)
            if group(m, groups) is not None and group(m, groups) == group(d, groups):
                continue
            if rm is None or rd is None or rd >= rm:
                bad.append(f"{m} (line {rm}) imports {d} (line {rd})")
    return bad


def test_cycle_finder_finds_a_cycle_through_a_function_local_import(tmp_path):
    pkg = tmp_path / "dflib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def x():\n    from .a import y\n    return y\n")
    (pkg / "c.py").write_text("import dflib.a\n")
    graph = import_graph(pkg)
    assert graph["dflib.b"] == {"dflib.a"} and graph["dflib.c"] == {"dflib.a"}
    assert cycles(graph) == [["dflib.a", "dflib.b"]]


@pytest.mark.parametrize("package", [ROOT, *(REPO / s for s in SIBLINGS)], ids=["dflib", *SIBLINGS])
def test_no_import_cycles_inside_the_packages(package):
    found = cycles(import_graph(package))
    assert not found, "import cycles (function-local imports count): " + "; ".join(" <-> ".join(c) for c in found)


def test_the_table_is_read_from_the_package_docstring():
    table = layer_table()
    assert table[0][:2] == ["dflib.figures", "dflib.runtime"] and table[-1] == ["dflib.__main__"]
    assert RANK["dflib.models"] < RANK["dflib.config"] < RANK["dflib"] < RANK["dflib.data"] < RANK["dflib.text"]
    assert RANK["dflib.train"] < RANK["dflib.ablation"] < RANK["dflib.cli"]  # the ablation sits just above train
    assert "dflib.metrics" in GROUPS and "dflib.metrics.run_metrics" not in RANK


def test_every_name_in_the_table_is_a_module_and_every_module_has_a_line():
    mods = modules()
    assert len(mods) > 40
    for name in RANK:
        assert name in mods, f"the layer table in dflib/__init__.py names {name}, which does not exist"
    for m in mods:
        assert rank(m) is not None, f"{m} has no line in the layer table of dflib/__init__.py"


def test_the_checker_reports_an_upward_import_and_an_import_within_a_line(tmp_path):
    pkg = tmp_path / "dflib"
    (pkg / "data").mkdir(parents=True)
    table = "    low, side   a\n    data/       b\n    top   c\n"
    (pkg / "__init__.py").write_text(f'"""x.\n\nThe package is layered:\n\n{table}"""\n')
    (pkg / "low.py").write_text("def f():\n    from dflib.top import g\n")  # upward, function-local
    (pkg / "side.py").write_text("from .low import f\n")  # same line
    (pkg / "data" / "__init__.py").write_text("from .a import x\nfrom dflib.low import f\n")
    (pkg / "data" / "a.py").write_text("x = 1\n")
    (pkg / "top.py").write_text("import dflib.data.a\n")
    table_rank, groups = ranks(layer_table(pkg / "__init__.py"))
    assert table_rank == {"dflib.low": 0, "dflib.side": 0, "dflib.data": 1, "dflib.top": 2}
    assert groups == ("dflib.data",)
    bad = upward_imports(import_graph(pkg), table_rank, groups)
    assert bad == ["dflib.low (line 0) imports dflib.top (line 2)", "dflib.side (line 0) imports dflib.low (line 0)"]


def test_modules_import_only_downwards():
    bad = upward_imports(import_graph())
    assert not bad, "imports against the layer table of dflib/__init__.py:\n" + "\n".join(bad)


def test_the_engineering_page_points_to_the_table_instead_of_repeating_it():
    text = (REPO / "docs" / "engineering.md").read_text()
    assert "dflib/__init__.py" in text
    for names in layer_table()[1:]:
        shown = ", ".join(n.removeprefix("dflib.") for n in names)
        repeated = re.search(rf"^\s*{re.escape(shown)}\s", text, re.M)
        assert not repeated, f"docs/engineering.md repeats the layer line {shown!r}"


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a file imports by absolute imports, at any depth (none if it does not parse)."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    found = set()
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        found |= {n.split(".")[0] for n in names}
    return found


def python_files_importing_course(repo: Path = REPO) -> list[str]:
    """Python files of the repository, outside notebooks/, dfcourse/ and the tests of the notebooks' code
    (tests/test_teach_*.py, tests/test_notebook*.py), that import dfcourse (the library dflib/ included)."""
    skip = {".venv", ".git", "runs", "notebooks", "site", "build", "node_modules"}
    out = []
    for path in sorted(repo.rglob("*.py")):
        rel = path.relative_to(repo)
        tests_of_teach = rel.parts[0] == "tests" and rel.name.startswith(("test_teach_", "test_notebook"))
        if skip & set(rel.parts[:-1]) or rel.parts[0] == "dfcourse" or tests_of_teach:
            continue
        if "dfcourse" in imported_packages(path):
            out.append(str(rel))
    return out


def test_only_notebooks_import_the_course_helpers(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "a.py").write_text("def f():\n    from dfcourse.widgets import X\n")
    (tmp_path / "dflib").mkdir()
    (tmp_path / "dflib" / "b.py").write_text("from dfcourse import plots\n")
    (tmp_path / "dfcourse").mkdir()
    (tmp_path / "dfcourse" / "toys.py").write_text("from dfcourse import plots\n")  # the package itself
    (tmp_path / "tools" / "c.py").write_text("import dflib.metrics\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_teach_x.py").write_text("from dfcourse import toys\n")  # a test of teach
    (tmp_path / "tests" / "test_y.py").write_text("import dfcourse.toys\n")
    assert python_files_importing_course(tmp_path) == ["dflib/b.py", "tests/test_y.py", "tools/a.py"]
    found = python_files_importing_course()
    assert not found, f"dfcourse is for the notebooks only, but these import it: {found}"


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("dflib.models", "dflib.fast"),  # the networks never know the fast path exists
        ("dflib.models", "dflib.step"),
        ("dflib.losses", "dflib"),
        ("dflib.step", "dflib.fast"),  # the reference step never reaches into the fast path
        ("dflib.sample", "dflib.train"),  # sampling never imports the trainer
        ("dflib.metrics", "dflib.train"),
        ("dflib.metrics", "dflib.cli"),
        ("dflib.text", "dflib.checkpoint"),
    ],
)
def test_named_rules(lower, upper):
    graph = import_graph()
    for m, deps in graph.items():
        if m == lower or (m.startswith(lower + ".") and lower != "dflib"):
            assert not any(d == upper or d.startswith(upper + ".") for d in deps), (m, sorted(deps))


def test_no_module_over_about_500_lines():
    every = {k: v for root in [ROOT, *(REPO / s for s in SIBLINGS)] for k, v in modules(root).items()}
    long = {m: n for m, p in every.items() if (n := len(p.read_text().splitlines())) > 520}
    assert not long, long


def test_console_scripts_point_at_functions_that_exist():
    import importlib
    import tomllib

    scripts = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"dflib", "dflib-train", "dflib-sample", "dflib-evaluate", "dflib-pretrain"} <= set(scripts)
    for target in scripts.values():
        module, _, func = target.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def first_party_imports(package: Path) -> dict[str, set[str]]:
    """``module -> the repository's packages (dflib and its siblings) it imports``, at any depth, from the AST."""
    ours = {"dflib", *SIBLINGS} - {package.name}
    return {name: imported_packages(path) & ours for name, path in modules(package).items()}


def test_the_import_reader_sees_function_local_imports_of_siblings(tmp_path):
    files = {"__init__": "import torch\n", "a": "def f():\n    from dfeval.protocol import PROTOCOLS\n    import dfexport\n",
             "b": "from . import a\nfrom dflib.a import f\n"}
    (tmp_path / "dflib").mkdir()
    for name, text in files.items():
        (tmp_path / "dflib" / f"{name}.py").write_text(text)
    assert first_party_imports(tmp_path / "dflib") == {"dflib": set(), "dflib.a": {"dfeval", "dfexport"}, "dflib.b": set()}


@pytest.mark.parametrize("package", ["dflib", *SIBLINGS])
def test_dflib_never_imports_its_siblings_and_they_import_only_below_them(package):
    allowed = SIBLINGS.get(package, set())
    bad = {m: sorted(found - allowed) for m, found in first_party_imports(REPO / package).items() if found - allowed}
    assert not bad, f"{package} may import only {sorted(allowed) or 'none of the packages beside it'}: {bad}"
