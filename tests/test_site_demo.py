"""The course site's additions around the demo page (tools/build_site.py): exercise solutions collapsed without
touching the notebooks, the index's picture and demo link, the build without the demo, and the checker's demo
and local-script checks. The demo itself runs in tests/e2e/test_demo.py."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("_tools_build_site_demo", ROOT / "tools" / "build_site.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


site = _tool()


def _notebook(folder: Path) -> Path:
    folder.mkdir()
    solved = nbformat.v4.new_code_cell("answer = 6 * 7\nprint(answer)", execution_count=2)
    solved.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    solved.metadata["tags"] = ["solution"]
    prose = nbformat.v4.new_markdown_cell("Because **six times seven** is the answer.")
    prose.metadata["tags"] = ["solution"]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 00 · Exercises"),
        nbformat.v4.new_markdown_cell("## Goal\n\nPractise.\n\n## Exercises\n\n1. Compute the answer."),
        nbformat.v4.new_code_cell("visible = 1", execution_count=1),
        solved,
        prose,
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = folder / "00_exercises.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book")
    path = _notebook(tmp / "nb")
    before = path.read_bytes()
    index = site.build_site(tmp / "nb", tmp / "site", docs=None, demo=False)
    return index.parent, path, before


def _cells(page: str) -> list[str]:
    """The HTML of each notebook cell of a page, in order."""
    parts = re.split(r'(?=<div class="cell[ "])', page)
    return [p for p in parts if p.startswith('<div class="cell')]


def test_solution_cells_are_collapsed_behind_a_show_solution_button(built):
    out, path, before = built
    page = (out / "notebooks" / "00_exercises.html").read_text()
    cells = _cells(page)
    assert len(cells) == 2, cells
    visible, solved = cells
    assert "<details" not in visible and "visible" in visible
    details = re.search(r"<details[^>]*>(.*?)</details>", solved, re.S)
    assert details, "the solution cell is not inside a <details> element"
    assert " open" not in solved[: solved.index(">", solved.index("<details"))], "the solution starts open"
    assert "Show solution" in details.group(1) and "answer" in details.group(1) and "42" in solved
    prose = page[page.index('class="dfgan-solution"') - 10:]
    assert "<summary>Show solution</summary>" in prose[:200] and "six times seven" in prose[: prose.index("</details>")]
    assert path.read_bytes() == before, "the build changed the notebook file"


def test_hide_solutions_marks_only_tagged_cells():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["solution"]}, "source": "x"},
        {"cell_type": "code", "metadata": {"tags": ["nbval-ignore-output"]}, "source": "y"},
        {"cell_type": "code", "metadata": {}, "source": "z"},
    ]}
    assert site.hide_solutions(nb) == 1
    assert nb["cells"][0]["metadata"]["tags"] == ["solution", "hide-cell"]
    assert nb["cells"][0]["metadata"]["mystnb"]["code_prompt_show"] == "Show solution"
    assert nb["cells"][1]["metadata"] == {"tags": ["nbval-ignore-output"]} and nb["cells"][2]["metadata"] == {}
    assert site.hide_solutions(nb) == 1 and nb["cells"][0]["metadata"]["tags"] == ["solution", "hide-cell"]


def test_the_repositorys_solution_cells_are_tagged_and_would_be_hidden():
    found = 0
    for path in site.find_notebooks(ROOT / "notebooks"):  # the numbered series and the appendices
        nb = json.loads(path.read_text())
        found += site.hide_solutions(nb)
    assert found >= 4, f"only {found} cells tagged 'solution' in the notebooks"


def test_index_opens_with_the_picture_and_the_demo_link_and_without_demo_says_so(built):
    out, _, _ = built
    index = (out / "index.html").read_text()
    main = index[index.index("<main"):]
    first_img, link = main.index("<img"), main.index('href="demo.html"')
    assert first_img < link < main.index("<table"), "the picture and the demo link come before the curriculum"
    src = re.search(r'<img[^>]+src="([^"]+)"', main).group(1)
    assert (out / src).is_file() and (out / src).read_bytes() == site.FRONT_FIGURE.read_bytes()
    demo = (out / "demo.html").read_text()
    assert "built without the in-browser demo" in demo and "demo.js" not in demo
    assert not (out / "_static" / "ort").exists()
    assert site.check_site(out) == []


def test_check_site_reports_a_missing_local_script_and_a_demo_without_its_runtime(tmp_path):
    out = tmp_path / "site"
    (out / "_static" / "mathjax").mkdir(parents=True)
    (out / "_static" / "mathjax" / "tex-chtml.js").write_text("//")
    (out / "index.html").write_text('<a href="demo.html">demo</a>')
    (out / "demo.html").write_text('<script src="_static/demo/demo.js"></script>')
    problems = site.check_site(out)
    assert "demo.html: loads _static/demo/demo.js, which is not in the site" in problems
    assert "_static/ort/ort-wasm-simd-threaded.wasm is missing: the demo page cannot run" in problems
    assert "_static/demo/models/index.json is missing: the demo page has no model" in problems
    (out / "_static" / "demo" / "models" / "m").mkdir(parents=True)
    (out / "_static" / "demo" / "demo.js").write_text("//")
    (out / "_static" / "demo" / "models" / "index.json").write_text('{"models": ["m"]}')
    (out / "_static" / "demo" / "models" / "m" / "model.json").write_text("{}")
    for name in site.ORT_FILES + ("LICENSE.txt",):
        (out / "_static" / "ort").mkdir(exist_ok=True)
        (out / "_static" / "ort" / name).write_text("x")
    assert site.check_site(out) == ["_static/demo/models/m/generator.onnx is missing"]


def _fake_package(root: Path, licence: str = "MIT") -> Path:
    pkg = root / "node_modules" / site.ORT_PACKAGE
    (pkg / "dist").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": site.ORT_PACKAGE, "version": "9.9.9", "license": licence}))
    for name in site.ORT_FILES + ("ort.all.min.js",):
        (pkg / "dist" / name).write_text(f"// {name}")
    return root / "node_modules"


def test_copy_runtime_copies_the_wasm_build_with_its_licence(tmp_path):
    copied = site.copy_runtime(_fake_package(tmp_path / "a"), tmp_path / "ort")
    assert sorted(p.name for p in copied) == sorted(site.ORT_FILES)
    assert sorted(p.name for p in (tmp_path / "ort").iterdir()) == sorted(site.ORT_FILES + ("LICENSE.txt",))
    licence = (tmp_path / "ort" / "LICENSE.txt").read_text()
    assert "onnxruntime-web 9.9.9" in licence and "MIT License" in licence and "Microsoft Corporation" in licence
    with pytest.raises(RuntimeError, match="no longer MIT-licensed"):
        site.copy_runtime(_fake_package(tmp_path / "b", licence="BUSL-1.1"), tmp_path / "ort2")


def test_npm_install_needs_npm_and_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(site.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install nodejs npm.*--no-demo"):
        site.npm_install(cache=tmp_path / "cache")


def test_the_runtime_is_pinned_by_version_and_lock_file():
    pkg = json.loads((site.NPM_PROJECT / "package.json").read_text())
    version = pkg["dependencies"][site.ORT_PACKAGE]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{site.ORT_PACKAGE} is not pinned exactly: {version}"
    lock = json.loads((site.NPM_PROJECT / "package-lock.json").read_text())
    entry = lock["packages"][f"node_modules/{site.ORT_PACKAGE}"]
    assert entry["version"] == version and entry["integrity"].startswith("sha512-")
    assert lock["packages"][""]["dependencies"] == pkg["dependencies"]


def test_shipped_models_put_the_demos_model_first(tmp_path):
    for name in ("emoji-32", "shapes-32", "half-made"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "generator.pt").write_text("x")
        if name != "half-made":
            (tmp_path / name / "card.json").write_text("{}")
    assert site.shipped_models(tmp_path) == ["shapes-32", "emoji-32"]
