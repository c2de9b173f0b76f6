"""dflib's layering, read from the source (AST, nothing imported): no import cycles, function-local imports
included, and every module imports only from the layers below it (see the layer list in dflib/__init__.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "dflib"

# (prefix, rank): a module may import modules of a lower rank, or of its own package (data/, text/, ...).
LAYERS = [
    ("dflib.runtime", 0),
    ("dflib.figures", -1),  # matplotlib only: the figure audit setup_notebook installs
    ("dflib.weights", 0),
    ("dflib.models", 1),
    ("dflib.losses", 1),
    ("dflib.noise", 1),
    ("dflib.config", 2),
    ("dflib", 2.5),  # the package itself: its public API re-exports the layers below
    ("dflib.data", 3),
    ("dflib.text", 3.5),
    ("dflib.step", 4),
    ("dflib.distributed", 4),
    ("dflib.fast", 5),
    ("dflib.checkpoint", 5),
    ("dflib.run_folder", 5.5),
    ("dflib.pretrained", 5.5),
    ("dflib.interrupts", 0),
    ("dflib.sample", 6),
    ("dflib.export", 6),  # a shipped generator for a web page (ONNX + text tables)
    ("dflib.metrics", 6.5),
    ("dflib.train", 7),
    ("dflib.ablation", 7.5),
    ("dflib.cli", 8),
    ("dflib.__main__", 8.5),
    ("dflib.teach", 9),
]
GROUPS = ("dflib.data", "dflib.text", "dflib.fast", "dflib.metrics", "dflib.cli", "dflib.teach")


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
                if t and t != name and t.split(".")[0] == "dflib":
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


def rank(module: str) -> float:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def group(module: str) -> str | None:
    return next((g for g in GROUPS if module == g or module.startswith(g + ".")), None)


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


def test_no_import_cycles_inside_dflib():
    found = cycles(import_graph())
    assert not found, "import cycles (function-local imports count): " + "; ".join(" <-> ".join(c) for c in found)


def test_every_module_has_a_layer():
    assert len(modules()) > 40
    for m in modules():
        assert any(m == p or m.startswith(p + ".") for p, _ in LAYERS), m


def test_modules_import_only_downwards():
    bad = []
    for m, deps in import_graph().items():
        for d in deps:
            same_group = group(m) is not None and group(m) == group(d)
            if not same_group and rank(d) >= rank(m):
                bad.append(f"{m} (layer {rank(m)}) imports {d} (layer {rank(d)})")
    assert not bad, "\n".join(bad)


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
        ("dflib", "dflib.teach"),  # the core never imports the notebook helpers
    ],
)
def test_named_rules(lower, upper):
    graph = import_graph()
    for m, deps in graph.items():
        if m == lower or (m.startswith(lower + ".") and not m.startswith("dflib.teach") and lower != "dflib"):
            assert not any(d == upper or d.startswith(upper + ".") for d in deps), (m, sorted(deps))
        if lower == "dflib" and not m.startswith("dflib.teach"):
            assert not any(d.startswith("dflib.teach") for d in deps), (m, sorted(deps))


def test_no_module_over_about_500_lines():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > 520}
    assert not long, long


def test_console_scripts_point_at_functions_that_exist():
    import importlib
    import tomllib

    scripts = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"dflib", "dflib-train", "dflib-sample", "dflib-evaluate", "dflib-pretrain"} <= set(scripts)
    for target in scripts.values():
        module, _, func = target.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), target
