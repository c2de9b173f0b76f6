"""The course site (``make site``, tools/build_site.py with book/conf.py) and the README figure export
(tools/export_figures.py), on small notebooks made here: pages, curriculum, navigation, launch links, offline
maths, and the checker that the build and the browser test rely on."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def _make_notebooks(folder: Path, n: int = 3) -> Path:
    folder.mkdir()
    png = _png_b64()
    for i in range(n):
        code = nbformat.v4.new_code_cell("plot()", execution_count=7)
        code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell(f"# 0{i} · Lesson {i}"),
            nbformat.v4.new_markdown_cell(f"## Goal\n\n* Learn thing {i} | with a pipe.\n* And more.\n\nNot this."),
            nbformat.v4.new_markdown_cell("The penalty is $k\\,\\|\\nabla D\\|^p$ and\n\n$$\\gamma = \\mathrm{MLP}_1(e)$$"),
            code,
            nbformat.v4.new_markdown_cell("## Summary\n\nDone; see [the reference](../docs/ref.md) and "
                                          "[the models](../dflib/models.py)."),
        ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
        nbformat.write(nb, folder / f"0{i}_lesson_{i}.ipynb")
    (folder / "scratch.ipynb").write_text("{}")  # not numbered: not part of the site
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("book")
    nbs = _make_notebooks(tmp / "nb")
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
            "notebooks/02_lesson_2.html"} <= set(pages)
    assert not any("scratch" in p for p in pages)
    index = (built / "index.html").read_text()
    table = index[index.index("<table"):index.index("</table>")]
    hrefs = re.findall(r'href="(notebooks/0\d_lesson_\d\.html)"', table)
    assert hrefs == [f"notebooks/0{i}_lesson_{i}.html" for i in range(3)]
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
        "00_lesson_0.html", "#", "02_lesson_2.html", "../docs/ref.html"]  # every page, this one as current
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
