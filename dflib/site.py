"""Render the executed notebooks into a small static HTML site (``make site``).

Each notebook becomes ``NN_name.html`` through nbconvert's HTML exporter (figures embedded as data URIs),
with a navigation line (index, previous, next) added as a markdown cell; ``index.html`` holds the
curriculum table read from the notebooks themselves (title and goal). No HTML is written by hand.

Usage: ``python -m dflib.site [--notebooks notebooks] [--out site]``.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NotebookInfo", "notebook_info", "curriculum_markdown", "build_site", "check_site", "export_figures", "main"]

_NB_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")


@dataclass(frozen=True)
class NotebookInfo:
    """What the index needs to know about one notebook."""

    path: Path
    title: str
    goal: str

    @property
    def html_name(self) -> str:
        return self.path.with_suffix(".html").name


def _first_paragraph_after(text: str, heading: str) -> str:
    """The paragraph under a markdown heading, on one line (list markers removed)."""
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if ln.strip().startswith("#") and ln.strip().lstrip("#").strip().lower() == heading.lower():
            para: list[str] = []
            for nxt in lines[i + 1 :]:
                if not nxt.strip():
                    if para:
                        break
                    continue
                if nxt.strip().startswith("#"):
                    break
                para.append(re.sub(r"^\s*([*\-]|\d+\.)\s+", "", nxt).strip())
            return " ".join(para)
    return ""


def notebook_info(path: Path) -> NotebookInfo:
    """Title (first ``#`` heading) and goal (first line under ``## Goal``) of a notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    title, goal = path.stem, ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        src = cell.source
        if title == path.stem:
            m = re.search(r"^#\s+(.+)$", src, re.M)
            if m:
                title = m.group(1).strip()
        if not goal:
            goal = _first_paragraph_after(src, "Goal")
        if title != path.stem and goal:
            break
    return NotebookInfo(path=path, title=title, goal=goal)


def _find_notebooks(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.glob("*.ipynb") if _NB_RE.match(p.name))
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder}: run from the project root")
    return found


def curriculum_markdown(infos: list[NotebookInfo]) -> str:
    """The index page's markdown: a table with a link to every notebook and its goal."""
    rows = ["| # | notebook | goal |", "|---|---|---|"]
    for info in infos:
        num = info.path.name[:2]
        goal = info.goal.replace("|", "\\|")
        rows.append(f"| {num} | [{info.title}]({info.html_name}) | {goal} |")
    return (
        "# dfgan-notebooks\n\nLearn DF-GAN (Tao et al., CVPR 2022) from first principles. "
        "Each page is an executed notebook of the series; read them in order.\n\n" + "\n".join(rows) + "\n"
    )


def _nav_markdown(infos: list[NotebookInfo], i: int) -> str:
    parts = ["[Index](index.html)"]
    if i > 0:
        parts.append(f"Previous: [{infos[i - 1].title}]({infos[i - 1].html_name})")
    if i + 1 < len(infos):
        parts.append(f"Next: [{infos[i + 1].title}]({infos[i + 1].html_name})")
    return " · ".join(parts)


def build_site(notebooks: Path | str = "notebooks", out: Path | str = "site") -> list[Path]:
    """Write ``index.html`` and one page per notebook into ``out``; returns the written paths."""
    import nbformat
    from nbconvert import HTMLExporter

    notebooks, out = Path(notebooks), Path(out)
    infos = [notebook_info(p) for p in _find_notebooks(notebooks)]
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    written = []
    for i, info in enumerate(infos):
        nb = nbformat.read(info.path, as_version=4)
        nav = _nav_markdown(infos, i)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(nav))
        nb.cells.append(nbformat.v4.new_markdown_cell(nav))
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": info.title}})
        target = out / info.html_name
        target.write_text(body, encoding="utf-8")
        written.append(target)
    index = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(curriculum_markdown(infos))])
    body, _ = exporter.from_notebook_node(index, resources={"metadata": {"name": "dfgan-notebooks"}})
    (out / "index.html").write_text(body, encoding="utf-8")
    written.insert(0, out / "index.html")
    return written


def export_figures(notebooks: Path | str = "notebooks", out: Path | str = "notebooks/figures") -> list[Path]:
    """Write the PNG output of every code cell tagged ``figure:<name>`` to ``out/<name>.png`` (for the README)."""
    import base64

    import nbformat

    notebooks, out = Path(notebooks), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in _find_notebooks(notebooks):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            names = [t.split(":", 1)[1] for t in cell.get("metadata", {}).get("tags", []) if t.startswith("figure:")]
            if not names:
                continue
            pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if not pngs:
                raise ValueError(f"{path.name}: the cell tagged figure:{names[0]} has no PNG output; run `make execute`")
            target = out / f"{names[0]}.png"
            target.write_bytes(base64.b64decode(pngs[0]))
            written.append(target)
    return written


def _links_and_images(html: str) -> tuple[list[str], list[str]]:
    from html.parser import HTMLParser

    class _P(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.links: list[str] = []
            self.images: list[str] = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "a" and a.get("href"):
                self.links.append(a["href"])
            if tag == "img":
                self.images.append(a.get("src") or "")

    p = _P()
    p.feed(html)
    return p.links, p.images


def check_site(out: Path | str = "site") -> list[str]:
    """Problems in a built site: broken internal links, missing or empty images. ``[]`` when all is well."""
    import base64

    out = Path(out)
    problems = []
    pages = sorted(out.glob("*.html"))
    if not (out / "index.html").is_file():
        problems.append(f"{out}/index.html is missing")
    for page in pages:
        links, images = _links_and_images(page.read_text(encoding="utf-8"))
        for href in links:
            if re.match(r"^[a-z]+:", href) or href.startswith("#"):
                continue  # external or in-page anchor
            target = out / href.split("#")[0]
            if not target.is_file():
                problems.append(f"{page.name}: broken link to {href}")
        for src in images:
            if src.startswith("data:image/"):
                payload = src.split(",", 1)[1] if "," in src else ""
                if len(base64.b64decode(payload or "", validate=False)) < 64:
                    problems.append(f"{page.name}: empty embedded image")
            elif not src or not (out / src).is_file():
                problems.append(f"{page.name}: missing image {src!r}")
    return problems


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", default="notebooks", help="folder of executed NN_name.ipynb notebooks")
    ap.add_argument("--out", default="site", help="output folder (created)")
    ap.add_argument("--figures", metavar="DIR", help="only export the cells tagged figure:<name> as DIR/<name>.png")
    args = ap.parse_args(argv)
    if args.figures:
        figs = export_figures(args.notebooks, args.figures)
        print(f"wrote {len(figs)} figures to {args.figures}/: " + ", ".join(f.name for f in figs))
        return
    pages = build_site(args.notebooks, args.out)
    problems = check_site(args.out)
    for msg in problems:
        print("problem:", msg)
    print(f"wrote {len(pages)} pages to {args.out}/ (open {args.out}/index.html)")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
