"""The course site (``make site``, tools/build_site.py with book/conf.py) and the README figure export
(tools/export_figures.py), on small notebooks made here: pages, curriculum, navigation (the appendix after the
numbered series, in a section of its own), launch links, offline maths, collapsed exercise solutions, and the
checker that the build and the browser test rely on; and on the repository's own notebooks: every solution
collapsed in the copies the site is built from, the index's description of the series."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import is_appendix, notebook_paths  # noqa: E402


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f"_tools_{name}", ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look the module up while the class is built
    spec.loader.exec_module(mod)
    return mod


site = _tool("build_site")
figures = _tool("export_figures")


def _png_b64() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _code(source: str, count: int, text: str, tags: list[str] | None = None):
    cell = nbformat.v4.new_code_cell(source, execution_count=count)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    if tags:
        cell.metadata["tags"] = tags
    return cell


def _make_notebooks(folder: Path, n: int = 3, appendix: bool = False) -> Path:
    """``n`` numbered lessons (the last one with exercises whose solution cell is not tagged, as the early
    notebooks of the series have them) and, with ``appendix``, an appendix A1 whose solution cell is tagged."""
    folder.mkdir()
    png = _png_b64()
    for i in range(n):
        code = nbformat.v4.new_code_cell("plot()", execution_count=7)
        code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
        cells = [
            nbformat.v4.new_markdown_cell(f"# 0{i} · Lesson {i}"),
            nbformat.v4.new_markdown_cell(f"## Goal\n\n* Learn thing {i} | with a pipe.\n* And more.\n\nNot this."),
            nbformat.v4.new_markdown_cell("The penalty is $k\\,\\|\\nabla D\\|^p$ and\n\n$$\\gamma = \\mathrm{MLP}_1(e)$$"),
            code,
            nbformat.v4.new_markdown_cell("## Summary\n\nDone; see [the reference](../docs/ref.md) and "
                                          "[the models](../dflib/models.py)."),
        ]
        if i == n - 1 and n > 1:
            cells += [
                nbformat.v4.new_markdown_cell("## Exercises\n\n1. Multiply six by seven.\n\n"
                                              "The cell below is one solution."),
                _code("lesson_answer = 6 * 7\nprint(lesson_answer)", 8, "42\n"),
                nbformat.v4.new_markdown_cell("## Questions\n\n1. Why?"),
                _code("print('after the questions')", 9, "after the questions\n"),
            ]
        nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=KERNEL), folder / f"0{i}_lesson_{i}.ipynb")
    if appendix:
        nbformat.write(nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell("# A1 · Appendix: going faster"),
            nbformat.v4.new_markdown_cell("## Goal\n\nTime a step."),
            nbformat.v4.new_markdown_cell("## Summary\n\nDone.\n\n## Exercises\n\n**1.** Add two and two."),
            _code("def my_sum():\n    raise NotImplementedError  # your code\nprint('stub ready')", 1, "stub ready\n"),
            _code("appendix_answer = 2 + 2\nprint(appendix_answer)", 2, "4\n", tags=["solution"]),
        ], metadata=KERNEL), folder / "A1_appendix.ipynb")
    (folder / "scratch.ipynb").write_text("{}")  # neither numbered nor an appendix: not part of the site
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book")
    nbs = _make_notebooks(tmp / "nb", appendix=True)
    (tmp / "docs").mkdir()
    (tmp / "docs" / "ref.md").write_text("# Reference\n\n## §1 One section\n\nText.\n")
    index = site.build_site(nbs, tmp / "site", docs=tmp / "docs")
    return index.parent


def test_notebook_info_and_curriculum_table(tmp_path):
    _make_notebooks(tmp_path / "nb", n=1)
    info = site.notebook_info(tmp_path / "nb" / "00_lesson_0.ipynb")
    assert info.title == "00 · Lesson 0" and info.goal == "Learn thing 0 | with a pipe. And more."
    table = site.curriculum_table([info])
    assert "[00 · Lesson 0](notebooks/00_lesson_0.ipynb)" in table and "with a pipe" in table and "\\|" in table
    assert table.count("00") == 2  # the number once in the title and once in the link target, not in a column


def test_site_has_a_page_per_notebook_and_the_index_links_them_in_order(built):
    pages = sorted(p.relative_to(built).as_posix() for p in built.glob("**/*.html") if "_static" not in p.parts)
    assert {"index.html", "search.html", "notebooks/00_lesson_0.html", "notebooks/01_lesson_1.html",
            "notebooks/02_lesson_2.html", "notebooks/A1_appendix.html"} <= set(pages)
    assert not any("scratch" in p for p in pages)
    index = (built / "index.html").read_text()
    table = index[index.index("<table"):index.index("</table>")]
    hrefs = re.findall(r'href="(notebooks/[0-9A][0-9]_[a-z_0-9]+\.html)"', table)
    assert hrefs == [f"notebooks/0{i}_lesson_{i}.html" for i in range(3)] + ["notebooks/A1_appendix.html"]
    assert (built / "searchindex.js").is_file()  # the search page's index
    assert (built / "docs" / "ref.html").is_file()  # docs/*.md become reference pages


def test_links_to_docs_become_page_links_and_links_to_code_point_at_github(built, monkeypatch):
    page = (built / "notebooks" / "02_lesson_2.html").read_text()
    assert 'href="../docs/ref.html"' in page
    assert 'href="https://github.com/' in page and '/blob/main/dflib/models.py"' in page
    monkeypatch.delenv("DFGAN_REPOSITORY_URL", raising=False)
    text = "[m](../dflib/models.py#L3) [d](../docs/x.md) [n](00_x.ipynb) [w](https://a.org/b) [a](#top) [g](../gone.py)"
    out = site.link_outside_pages(text, "notebooks/01_x.ipynb", {"docs/x.md", "notebooks/00_x.ipynb"},
                                  "https://github.com/o/r", "dev")
    assert out == ("[m](https://github.com/o/r/blob/dev/dflib/models.py#L3) [d](../docs/x.md) [n](00_x.ipynb) "
                   "[w](https://a.org/b) [a](#top) [g](../gone.py)")
    assert site.link_outside_pages("[t](../tools)", "notebooks/a.ipynb", set(), "https://github.com/o/r", "main") \
        == "[t](https://github.com/o/r/tree/main/tools)"


def test_pages_have_sidebar_previous_next_launch_links_and_no_prompts(built):
    middle = (built / "notebooks" / "01_lesson_1.html").read_text()
    flat = " ".join(middle.split())
    nav = flat[flat.index('<nav class="bd-links bd-docs-nav"'):]
    nav = nav[:nav.index("</nav>")]
    assert re.findall(r'<li class="toctree-l1[^"]*"><a class="[^"]*" href="([^"]+)">', nav) == [
        "00_lesson_0.html", "#", "02_lesson_2.html", "A1_appendix.html", "../docs/ref.html"]  # this one as current
    assert '<a class="left-prev" href="00_lesson_0.html"' in flat, "no 'previous' link to lesson 0"
    assert '<a class="right-next" href="02_lesson_2.html"' in flat, "no 'next' link to lesson 2"
    assert "colab.research.google.com/github/" in middle and "/blob/main/notebooks/01_lesson_1.ipynb" in middle
    assert "kaggle.com/kernels/welcome?src=https://github.com/" in middle
    assert "In [" not in middle and "[7]:" not in middle  # no execution prompts
    assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', middle)  # the committed figure


def test_maths_uses_the_bundled_mathjax_and_nothing_comes_from_a_cdn(built):
    page = (built / "notebooks" / "00_lesson_0.html").read_text()
    assert 'src="../_static/mathjax/tex-chtml.js"' in page
    assert (built / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    assert (built / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert '<span class="math notranslate nohighlight">' in page and '<div class="math notranslate nohighlight">' in page
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page) + re.findall(r'<link[^>]+href="([^"]+\.css[^"]*)"', page)
    assert scripts and not [s for s in scripts if re.match(r"^(https?:)?//", s)]
    assert site.check_site(built) == []


def test_check_site_reports_broken_links_missing_images_and_cdn_scripts(tmp_path):
    out = tmp_path / "site"
    (out / "_static" / "mathjax").mkdir(parents=True)
    (out / "notebooks").mkdir()
    (out / "index.html").write_text('<a href="notebooks/a.html#top">a</a> <a href="https://example.org/">e</a>')
    (out / "notebooks" / "a.html").write_text(
        '<a href="../nowhere.html">x</a><img src="../gone.png"><script src="https://cdn.example/x.js"></script>'
        '<a href="#top">t</a><a href="../index.html">i</a><a href="../index.html#nope">n</a><p id="top"></p>')
    problems = site.check_site(out)
    assert any("tex-chtml.js is missing" in p for p in problems)
    assert any("notebooks/a.html: broken link to ../nowhere.html" in p for p in problems)
    assert any("missing image '../gone.png'" in p for p in problems)
    assert any("loads https://cdn.example/x.js from the network" in p for p in problems)
    assert any("link to ../index.html#nope: no anchor #nope there" in p for p in problems)
    assert len(problems) == 5, problems


def test_no_notebooks_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        site.build_site(tmp_path / "empty", tmp_path / "site")


def test_export_figures_writes_tagged_pngs(tmp_path):
    _make_notebooks(tmp_path / "nb", n=2)
    nb = nbformat.read(tmp_path / "nb" / "01_lesson_1.ipynb", as_version=4)
    nb.cells[3].metadata["tags"] = ["figure:lesson-one"]
    nbformat.write(nb, tmp_path / "nb" / "01_lesson_1.ipynb")
    (out,) = figures.export_figures(tmp_path / "nb", tmp_path / "figs")
    assert out.name == "lesson-one.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb.cells[3].outputs = []
    nbformat.write(nb, tmp_path / "nb" / "01_lesson_1.ipynb")
    with pytest.raises(ValueError, match="figure:lesson-one has no PNG output"):
        figures.export_figures(tmp_path / "nb", tmp_path / "figs")


def test_the_site_builder_is_not_part_of_the_library():
    assert not (ROOT / "dflib" / "site.py").exists()
    make = (ROOT / "Makefile").read_text()
    assert "tools/build_site.py" in make and "tools/export_figures.py" in make and "dflib.site" not in make


def test_committed_readme_figures_are_the_notebooks_outputs(tmp_path):
    """notebooks/figures/<name>.png must be the current output of its tagged cell: re-executing a notebook
    without `make figures` leaves a stale figure (it happened to prompt-rows.png once)."""
    root = Path(__file__).resolve().parents[1]
    for path in figures.export_figures(root / "notebooks", tmp_path):
        committed = root / "notebooks" / "figures" / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: run `make figures`"


def test_the_appendix_follows_the_series_in_a_toc_section_of_its_own(built):
    last = " ".join((built / "notebooks" / "02_lesson_2.html").read_text().split())
    assert '<a class="right-next" href="A1_appendix.html"' in last, "no 'next' link from the last lesson to A1"
    page = " ".join((built / "notebooks" / "A1_appendix.html").read_text().split())
    nav = page[page.index('<nav class="bd-links bd-docs-nav"'):]
    nav = nav[:nav.index("</nav>")]
    captions = re.findall(r'<p aria-level="2" class="caption" role="heading"><span class="caption-text">([^<]+)', nav)
    assert captions == ["The course", "Appendix", "Reference"], captions
    course, appendix = nav.index(">The course<"), nav.index(">Appendix<")
    assert course < nav.index('href="02_lesson_2.html"') < appendix < nav.index('href="#"') < nav.index(">Reference<")


def _cells(page: str) -> list[str]:
    """The HTML of each notebook cell of a page, in order."""
    parts = re.split(r'(?=<div class="cell[ "])', page)
    return [p for p in parts if p.startswith('<div class="cell')]


def _collapsed(cell_html: str) -> bool:
    """True when the cell's code sits in a closed <details> behind a "Show solution" summary."""
    m = re.search(r"<details([^>]*)>\s*<summary[^>]*>(.*?)</summary>", cell_html, re.S)
    return bool(m) and " open" not in m.group(1) and "Show solution" in m.group(2)


def test_exercise_solutions_are_collapsed_in_the_built_pages(built):
    """A solution is collapsed on its page whether its cell is tagged ``solution`` (A1) or sits untagged in the
    Exercises section of a notebook that tags none (lesson 2, as notebooks 00-03 have them); the exercise, its
    stub and the cells of other sections stay open."""
    lesson = _cells((built / "notebooks" / "02_lesson_2.html").read_text())
    answer = [c for c in lesson if "lesson_answer" in c]
    assert len(answer) == 1 and _collapsed(answer[0]) and "42" in answer[0], "lesson 2's solution is not collapsed"
    for c in lesson:
        if "lesson_answer" not in c:
            assert "<details" not in c, "a cell outside the Exercises section is collapsed"
    appendix = _cells((built / "notebooks" / "A1_appendix.html").read_text())
    (solved,) = [c for c in appendix if "appendix_answer" in c]
    (stub,) = [c for c in appendix if "my_sum" in c]
    assert _collapsed(solved) and "<details" not in stub


def _section_of(nb: dict, index: int) -> str:
    """The last markdown heading before cell ``index``."""
    heading = ""
    for cell in nb["cells"][:index]:
        if cell["cell_type"] == "markdown":
            found = re.findall(r"^#{1,6}\s+(.+)$", "".join(cell["source"]), re.M)
            heading = found[-1].strip() if found else heading
    return heading


def test_every_solution_of_the_repositorys_notebooks_is_collapsed_on_the_site(tmp_path):
    """The copies the site is built from (tools/build_site.py stage(), no Sphinx run): in every notebook with
    exercises, every solution cell (tagged ``solution``, or defining or naming a solution, or in a notebook that
    tags none any code cell of its Exercises section) is hidden behind "Show solution"; every stub (``your
    code``, ``NotImplementedError``) stays visible; the notebook files are unchanged."""
    paths = notebook_paths(ROOT)
    before = {p: p.read_bytes() for p in paths}
    site.stage(ROOT / "notebooks", tmp_path / "src", docs=None, demo=False)
    assert {p.name for p in (tmp_path / "src" / "notebooks").glob("*.ipynb")} == {p.name for p in paths}
    for path in paths:
        nb = json.loads((tmp_path / "src" / "notebooks" / path.name).read_text(encoding="utf-8"))
        tagged_any = any("solution" in c.get("metadata", {}).get("tags", []) for c in nb["cells"])
        hidden = 0
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            src, tags = "".join(cell["source"]), cell.get("metadata", {}).get("tags", [])
            is_hidden = "hide-cell" in tags and cell["metadata"]["mystnb"]["code_prompt_show"] == "Show solution"
            hidden += is_hidden
            exercise = re.match(r"(\d+[.)]?\s*)?Exercises\b", _section_of(nb, i), re.I)
            solution = ("solution" in tags or re.search(r"\w_solution\b|\(solution\)", src)
                        or (exercise and not tagged_any))
            stub = "your code" in src or "NotImplementedError" in src or "your answers" in src
            assert not (solution and stub), f"{path.name} cell {i}: a stub that is also a solution?"
            if solution:
                assert is_hidden, f"{path.name} cell {i}: an exercise solution is shown open on the site"
            else:
                assert not is_hidden, f"{path.name} cell {i}: a cell that is no solution is hidden"
        has_exercises = any(re.search(r"^#{1,6}\s+Exercises", "".join(c["source"]), re.M)
                            for c in nb["cells"] if c["cell_type"] == "markdown")
        assert hidden or not has_exercises, f"{path.name} has exercises but no solution is collapsed on the site"
    assert {p: p.read_bytes() for p in paths} == before, "staging the site changed a notebook file"


NUMBER_WORDS = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                              "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()))


def test_the_index_describes_the_notebooks_of_the_repository():
    """book/index.md's prose names the series as it is: how many notebooks, the numbered range, the capstone
    (the last numbered one) and each appendix."""
    text = " ".join((ROOT / "book" / "index.md").read_text(encoding="utf-8").split())
    paths = notebook_paths(ROOT)
    numbered = [p.name[:2] for p in paths if not is_appendix(p)]
    appendices = [p.name.split("_")[0] for p in paths if is_appendix(p)]
    assert f"in {NUMBER_WORDS[len(paths)]} short notebooks" in text, f"the index does not say {len(paths)} notebooks"
    assert f"numbered series {numbered[0]}–{numbered[-1]}" in text
    assert f"capstone, notebook {numbered[-1]}" in text
    for name in appendices:
        assert f"appendix {name}" in text, f"the index does not name the appendix {name}"


def test_the_pages_workflow_installs_what_the_build_it_runs_needs():
    """.github/workflows/pages.yml builds the site as `make site` does: with the demo, which exports the shipped
    models (dflib's packages, requirements.txt) and installs ONNX Runtime Web with npm (Node.js); or it says
    --no-demo."""
    import yaml

    workflow = ROOT / ".github" / "workflows" / "pages.yml"
    if not workflow.is_file():
        pytest.skip("no Pages workflow")
    spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    steps = spec["jobs"]["build"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "tools/build_site.py" in runs, "the workflow does not build the site"
    if "--no-demo" not in runs:
        assert re.search(r"pip install (.* )?-r requirements\.txt", runs), "the demo needs dflib's packages"
        assert any(str(s.get("uses", "")).startswith("actions/setup-node") for s in steps), "the demo needs npm"
    paths = (spec.get("on") or spec[True])["push"]["paths"]  # YAML 1.1 reads the key `on` as True
    for needed in ("notebooks/**", "book/**", "docs/**", "tools/build_site.py", "tools/readme_rows.py"):
        assert needed in paths, f"a change to {needed} does not rebuild the site"
