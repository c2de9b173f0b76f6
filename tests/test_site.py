"""The static site: pages for every notebook, curriculum index, navigation links, embedded figures."""

from __future__ import annotations

import base64
import io

import nbformat
import pytest

from dflib.site import build_site, check_site, curriculum_markdown, notebook_info


def _png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _make_notebooks(folder, n=3):
    folder.mkdir()
    png = base64.b64encode(_png_bytes()).decode()
    for i in range(n):
        code = nbformat.v4.new_code_cell("plot()", execution_count=1)
        code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})]
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell(f"# Lesson {i}: thing {i}"),
            nbformat.v4.new_markdown_cell(f"## Goal\n\n* Learn thing {i} | with a pipe.\n* And more.\n\nNot this."),
            code,
            nbformat.v4.new_markdown_cell("## Summary\n\nDone."),
        ])
        nbformat.write(nb, folder / f"0{i}_lesson_{i}.ipynb")
    (folder / "scratch.ipynb").write_text("{}")  # not numbered: ignored


def test_notebook_info_reads_title_and_goal(tmp_path):
    _make_notebooks(tmp_path / "nb", n=1)
    info = notebook_info(tmp_path / "nb" / "00_lesson_0.ipynb")
    assert info.title == "Lesson 0: thing 0" and info.goal == "Learn thing 0 | with a pipe. And more."
    md = curriculum_markdown([info])
    assert "[Lesson 0: thing 0](00_lesson_0.html)" in md and "with a pipe" in md and "\\|" in md


def test_build_site_pages_links_and_images(tmp_path):
    _make_notebooks(tmp_path / "nb")
    pages = build_site(tmp_path / "nb", tmp_path / "site")
    names = [p.name for p in pages]
    assert names == ["index.html", "00_lesson_0.html", "01_lesson_1.html", "02_lesson_2.html"]
    index = (tmp_path / "site" / "index.html").read_text()
    assert all(f'href="0{i}_lesson_{i}.html"' in index for i in range(3))
    middle = (tmp_path / "site" / "01_lesson_1.html").read_text()
    assert 'href="02_lesson_2.html"' in middle and 'href="00_lesson_0.html"' in middle
    assert "data:image/png;base64," in middle
    assert check_site(tmp_path / "site") == []


def test_check_site_reports_broken_links_and_missing_images(tmp_path):
    _make_notebooks(tmp_path / "nb", n=2)
    build_site(tmp_path / "nb", tmp_path / "site")
    (tmp_path / "site" / "01_lesson_1.html").unlink()
    (tmp_path / "site" / "extra.html").write_text('<a href="nowhere.html">x</a><img src="gone.png">')
    problems = check_site(tmp_path / "site")
    assert any("broken link to 01_lesson_1.html" in p for p in problems)
    assert any("broken link to nowhere.html" in p for p in problems)
    assert any("missing image 'gone.png'" in p for p in problems)


def test_no_notebooks_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        build_site(tmp_path / "empty", tmp_path / "site")


def test_export_figures_writes_tagged_pngs(tmp_path):
    _make_notebooks(tmp_path / "nb", n=2)
    nb = nbformat.read(tmp_path / "nb" / "01_lesson_1.ipynb", as_version=4)
    nb.cells[2].metadata["tags"] = ["figure:lesson-one"]
    nbformat.write(nb, tmp_path / "nb" / "01_lesson_1.ipynb")
    from dflib.site import export_figures

    (out,) = export_figures(tmp_path / "nb", tmp_path / "figs")
    assert out.name == "lesson-one.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb.cells[2].outputs = []
    nbformat.write(nb, tmp_path / "nb" / "01_lesson_1.ipynb")
    with pytest.raises(ValueError, match="figure:lesson-one has no PNG output"):
        export_figures(tmp_path / "nb", tmp_path / "figs")
