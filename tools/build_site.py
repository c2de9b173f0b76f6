"""Build the course site (``make site``): ``book/`` + the executed notebooks -> a static HTML site.

The notebooks are rendered by Sphinx with MyST-NB and sphinx-book-theme (Jupyter Book 1's stack; the
configuration is ``book/conf.py``) from their committed outputs: nothing is executed. This script

1. stages a source tree in a temporary folder that mirrors the repository (``index.md`` from ``book/``, the
   notebooks under ``notebooks/``: the numbered series ``NN_name.ipynb``, then the appendices
   ``A1_name.ipynb``, which index.md's toctrees list in a section of their own; the reference pages
   ``docs/*.md``), with the curriculum table of the index read from each notebook's title (first ``#``
   heading) and goal (the paragraph under ``## Goal``);
   a markdown link to a repository file that is no page of the site (``../dflib/models.py``) is pointed at
   that file on GitHub;
   the page ``demo.md`` (the shipped generator in the browser) and the index's picture are staged too, and
   every exercise's solution is rendered collapsed behind a "Show solution" button (:func:`hide_solutions`:
   the cells tagged ``solution``, or in a notebook that tags none, the code cells of its Exercises section;
   the notebook files are not changed);
2. runs ``sphinx-build -b html -c book`` on it into the output folder (``site/``);
3. adds what the demo page runs (:func:`build_demo_assets`): every shipped generator exported by
   ``python -m dflib export NAME --onnx`` into ``_static/demo/models/NAME/``, and ONNX Runtime Web's
   WebAssembly build from its npm package (``book/npm/``: pinned version and lock file, installed with
   ``npm ci`` into ``outputs/site-npm/`` once) into ``_static/ort/`` with its licence. This needs npm and
   dflib's own packages (PyTorch, onnx); ``--no-demo`` builds without it (the demo page then says so);
4. checks the result (:func:`check_site`: every internal link, anchor, image and local script resolves,
   nothing loads from another host, MathJax is bundled, the demo's files are there) and exits non-zero on a
   problem.

Usage: ``python tools/build_site.py [--notebooks notebooks] [--out site] [--no-demo]``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
import os
import posixpath
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import notebooks_in  # noqa: E402  (the series' order: numbered notebooks, then appendices)

BOOK = ROOT / "book"
MARKER = re.compile(r"^<!-- curriculum:.*-->$", re.M)
MATHJAX = "_static/mathjax/tex-chtml.js"
DEMO_PAGE = BOOK / "demo.md"
FRONT_FIGURE = ROOT / "notebooks" / "figures" / "prompt-rows.png"  # the README's figure, from notebook 09
NPM_PROJECT = BOOK / "npm"  # package.json + package-lock.json: onnxruntime-web, pinned
NPM_CACHE = ROOT / "outputs" / "site-npm"  # where `npm ci` installs it (git-ignored, reused while the lock holds)
ORT_PACKAGE = "onnxruntime-web"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
SHIPPED = ROOT / "dflib" / "pretrained_models"
DEMO_FIRST = "shapes-32"  # the model the demo page opens with (its text describes it)
SOLUTION_TAG = "solution"
NO_DEMO_PAGE = """---
orphan: true
---

# Try the generator in your browser

This copy of the site was built without the in-browser demo (`tools/build_site.py --no-demo`). Build the site with
`make site` (it needs npm and dflib's packages) to run the shipped generator in the page.
"""


@dataclass(frozen=True)
class NotebookInfo:
    """What the index needs to know about one notebook."""

    path: Path
    title: str
    goal: str


def find_notebooks(folder: Path | str) -> list[Path]:
    """The notebooks of a folder in the series' order: numbered (``NN_name.ipynb``), then the appendices
    (``A1_name.ipynb``, ...); :func:`readme_rows.notebooks_in`."""
    found = notebooks_in(folder)
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) or appendices (A1_name.ipynb) in {folder}")
    return found


def _paragraph_under(text: str, heading: str) -> str:
    """The first paragraph under a markdown heading, on one line (list markers removed)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("#") and s.lstrip("#").strip().lower() == heading.lower():
            para: list[str] = []
            for nxt in lines[i + 1:]:
                if not nxt.strip():
                    if para:
                        break
                    continue
                if nxt.strip().startswith("#"):
                    break
                para.append(re.sub(r"^\s*([*\-]|\d+\.)\s+", "", nxt).strip())
            return " ".join(para)
    return ""


def notebook_info(path: Path | str) -> NotebookInfo:
    """Title (first ``#`` heading) and goal (first paragraph under ``## Goal``) of a notebook."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    title, goal = path.stem, ""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if title == path.stem and (m := re.search(r"^#\s+(.+)$", src, re.M)):
            title = m.group(1).strip()
        if not goal:
            goal = _paragraph_under(src, "Goal")
        if title != path.stem and goal:
            break
    return NotebookInfo(path=path, title=title, goal=goal)


def curriculum_table(infos: list[NotebookInfo]) -> str:
    """The index's curriculum: one row per notebook, linking its page (the title carries its number)."""
    rows = ["| notebook | what you will do |", "|---|---|"]
    for info in infos:
        goal = info.goal.replace("|", "\\|")
        rows.append(f"| [{info.title}](notebooks/{info.path.name}) | {goal} |")
    return "\n".join(rows)


def repository() -> tuple[str, str]:
    """The GitHub address and branch the site links to, as book/conf.py reads them."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("urls", {})
    url = os.environ.get("DFGAN_REPOSITORY_URL") or urls.get("Repository", "")
    return url.rstrip("/"), os.environ.get("DFGAN_REPOSITORY_BRANCH") or "main"


_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def link_outside_pages(text: str, where: str, pages: set[str], repo_url: str, branch: str) -> str:
    """Point markdown links to repository files that are no page of the site at the file on GitHub.

    ``where`` is the file's path in the repository (``notebooks/05_x.ipynb``), ``pages`` the repository paths
    that become pages; links to those, anchors, absolute URLs and paths that do not exist stay as written."""

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if not repo_url or re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return m.group(0)
        path, _, frag = target.partition("#")
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(where), unquote(path)))
        if rel.startswith("..") or rel in pages or not (ROOT / rel).exists():
            return m.group(0)
        kind = "tree" if (ROOT / rel).is_dir() else "blob"
        return f"{m.group(1)}{repo_url}/{kind}/{branch}/{rel}{'#' + frag if frag else ''}{m.group(3)}"

    return _LINK.sub(fix, text)


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def solution_cells(nb: dict) -> list[int]:
    """The indices of a notebook's exercise solutions: the cells tagged ``solution``; in a notebook that tags
    none (the early notebooks: "The cell below is one solution"), every code cell of its Exercises section,
    from the heading ``Exercises`` to the next heading."""
    cells = nb.get("cells", [])
    tagged = [i for i, c in enumerate(cells) if SOLUTION_TAG in ((c.get("metadata") or {}).get("tags") or [])]
    if tagged:
        return tagged
    found, inside = [], False
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "markdown":
            headings = _HEADING.findall(_source(cell))
            if headings:  # the last heading of the cell says which section the next cells are in
                inside = bool(re.match(r"(\d+[.)]?\s*)?exercises\b", headings[-1], re.I))
        elif inside and cell.get("cell_type") == "code":
            found.append(i)
    return found


def hide_solutions(nb: dict) -> int:
    """Render every exercise solution (:func:`solution_cells`) collapsed: a code cell gets MyST-NB's
    ``hide-cell`` tag, its button labelled "Show solution", a markdown answer becomes a closed dropdown; the
    exercise stays visible, its answer opens on a click. Returns how many cells are hidden."""
    marked = 0
    for i in solution_cells(nb):
        cell = nb["cells"][i]
        meta = cell.setdefault("metadata", {})
        tags = list(meta.get("tags") or [])
        if cell.get("cell_type") == "code":
            meta["tags"] = tags if "hide-cell" in tags else [*tags, "hide-cell"]
            meta.setdefault("mystnb", {}).update(code_prompt_show="Show solution", code_prompt_hide="Hide solution")
        elif 'class="dfgan-solution"' not in _source(cell):  # a markdown answer: a closed dropdown
            cell["source"] = (f'<details class="dfgan-solution">\n<summary>Show solution</summary>\n\n'
                              f"{_source(cell)}\n\n</details>")
        marked += 1
    return marked


def stage(notebooks: Path | str, dest: Path, docs: Path | str | None = ROOT / "docs",
          demo: bool = True) -> list[NotebookInfo]:
    """Write the Sphinx source tree into ``dest``: index.md (with the curriculum), the notebooks (NN_*.ipynb, then
    the appendices A1_*.ipynb; their solutions collapsed), docs/*.md (the reference pages), demo.md (a short
    note instead if not ``demo``) and the index's picture."""
    infos = [notebook_info(p) for p in find_notebooks(notebooks)]
    doc_pages = sorted(Path(docs).glob("*.md")) if docs and Path(docs).is_dir() else []
    pages = {f"notebooks/{i.path.name}" for i in infos} | {f"docs/{d.name}" for d in doc_pages}
    repo_url, branch = repository()
    (dest / "notebooks").mkdir(parents=True, exist_ok=True)
    index = (BOOK / "index.md").read_text(encoding="utf-8")
    if not MARKER.search(index):
        raise ValueError("book/index.md lost its '<!-- curriculum: ... -->' line")
    index = MARKER.sub(lambda _: curriculum_table(infos), index)
    (dest / "index.md").write_text(link_outside_pages(index, "index.md", pages, repo_url, branch), encoding="utf-8")
    page = DEMO_PAGE.read_text(encoding="utf-8") if demo else NO_DEMO_PAGE
    (dest / "demo.md").write_text(link_outside_pages(page, "demo.md", pages, repo_url, branch), encoding="utf-8")
    (dest / "figures").mkdir(exist_ok=True)
    shutil.copyfile(FRONT_FIGURE, dest / "figures" / FRONT_FIGURE.name)
    for info in infos:
        where = f"notebooks/{info.path.name}"
        nb = json.loads(info.path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                cell["source"] = link_outside_pages(src, where, pages, repo_url, branch)
        hide_solutions(nb)
        (dest / where).write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    if doc_pages:
        (dest / "docs").mkdir(exist_ok=True)
    for doc in doc_pages:
        text = link_outside_pages(doc.read_text(encoding="utf-8"), f"docs/{doc.name}", pages, repo_url, branch)
        (dest / "docs" / doc.name).write_text(text, encoding="utf-8")
    return infos


def build_site(notebooks: Path | str = ROOT / "notebooks", out: Path | str = ROOT / "site",
               quiet: bool = True, docs: Path | str | None = ROOT / "docs", demo: bool = True) -> Path:
    """Build the site into ``out`` (replaced); returns the path of its ``index.html``. ``docs=None`` leaves
    the reference pages out; ``demo=False`` builds without the demo's generator and runtime."""
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="dfgan-book-") as tmp:
        src = Path(tmp) / "src"
        stage(notebooks, src, docs, demo=demo)
        if out.exists():
            shutil.rmtree(out)
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(BOOK), "-d", str(Path(tmp) / "doctrees"),
               "-j", "1", "--keep-going", str(src), str(out)]
        if quiet:
            cmd.insert(cmd.index("-b"), "-q")
        proc = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr.replace(str(src) + "/", ""))
        if proc.returncode != 0:
            raise RuntimeError(f"sphinx-build failed (exit {proc.returncode})")
    if demo:
        build_demo_assets(out / "_static")
    return out / "index.html"


# --------------------------------------------------------------------------------------------------
# The demo page's files: the shipped generators as ONNX + JSON, and ONNX Runtime Web
# --------------------------------------------------------------------------------------------------


def shipped_models(root: Path = SHIPPED) -> list[str]:
    """The shipped generators (folders with generator.pt and card.json), :data:`DEMO_FIRST` first."""
    names = sorted(p.name for p in root.iterdir() if (p / "generator.pt").is_file() and (p / "card.json").is_file())
    return sorted(names, key=lambda n: n != DEMO_FIRST)


def npm_install(project: Path = NPM_PROJECT, cache: Path = NPM_CACHE) -> Path:
    """``npm ci`` of ``project``'s package.json and lock file into ``cache`` (skipped while the installed copy
    matches the lock; a file lock keeps two builds from installing at once); returns its node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the demo page needs npm (Node.js) to install onnxruntime-web: apt-get install nodejs npm, "
                           "or build without the demo (tools/build_site.py --no-demo)")
    cache.mkdir(parents=True, exist_ok=True)
    files = ("package.json", "package-lock.json")
    digest = hashlib.sha256(b"".join((project / f).read_bytes() for f in files)).hexdigest()
    stamp = cache / ".installed"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == digest and (cache / "node_modules" / ORT_PACKAGE).is_dir()):
            stamp.unlink(missing_ok=True)
            for f in files:
                shutil.copyfile(project / f, cache / f)
            proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                                  cwd=cache, text=True, capture_output=True)
            if proc.returncode != 0:
                raise RuntimeError(f"npm ci in {cache} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
            stamp.write_text(digest)
    return cache / "node_modules"


MIT_LICENCE = """MIT License

Copyright (c) Microsoft Corporation. All rights reserved.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def copy_runtime(node_modules: Path, dest: Path) -> list[Path]:
    """ONNX Runtime Web's single-file WebAssembly build (:data:`ORT_FILES`) into ``dest``, with a licence
    file naming the package, its version and its MIT licence (the package itself ships none)."""
    pkg = node_modules / ORT_PACKAGE
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    if meta.get("license") != "MIT":
        raise RuntimeError(f"{ORT_PACKAGE} {meta.get('version')} is no longer MIT-licensed ({meta.get('license')}): "
                           "review the licence before bundling it")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in ORT_FILES:
        copied.append(Path(shutil.copyfile(pkg / "dist" / name, dest / name)))
    head = (f"{ORT_PACKAGE} {meta['version']} (npm package, {meta.get('homepage', 'onnxruntime.ai')}), "
            f"files {', '.join(ORT_FILES)}:\n\n")
    (dest / "LICENSE.txt").write_text(head + MIT_LICENCE, encoding="utf-8")
    return copied


def export_models(dest: Path, names: list[str] | None = None) -> list[str]:
    """``python -m dflib export NAME --onnx dest/NAME`` for each shipped model, and ``dest/index.json``
    (the models, the demo's first model first)."""
    names = shipped_models() if names is None else names
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), HF_HUB_OFFLINE="1")
    for name in names:
        proc = subprocess.run([sys.executable, "-m", "dflib", "export", name, "--onnx", str(dest / name)],
                              cwd=ROOT, env=env, text=True, capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"python -m dflib export {name} failed (exit {proc.returncode}); the demo needs dflib "
                               f"and its packages (pip install -r requirements.txt):\n{proc.stderr[-2000:]}")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "index.json").write_text(json.dumps({"models": names}, indent=1) + "\n", encoding="utf-8")
    return names


def build_demo_assets(static: Path) -> None:
    """What demo.html loads: ``static/demo/models/`` (every shipped generator) and ``static/ort/``."""
    export_models(static / "demo" / "models")
    copy_runtime(npm_install(), static / "ort")


def demo_problems(out: Path) -> list[str]:
    """What the built demo page would miss: the runtime's files and each listed model's ONNX and JSON."""
    problems = [f"_static/ort/{f} is missing: the demo page cannot run" for f in ORT_FILES + ("LICENSE.txt",)
                if not (out / "_static" / "ort" / f).is_file()]
    index = out / "_static" / "demo" / "models" / "index.json"
    if not index.is_file():
        return problems + ["_static/demo/models/index.json is missing: the demo page has no model"]
    names = json.loads(index.read_text(encoding="utf-8")).get("models") or []
    if not names:
        problems.append("_static/demo/models/index.json lists no model")
    for name in names:
        for f in ("generator.onnx", "model.json"):
            if not (index.parent / name / f).is_file():
                problems.append(f"_static/demo/models/{name}/{f} is missing")
    return problems


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""):
            self.styles.append(a["href"])


def _is_external(url: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", url)) or url.startswith("//")


def check_site(out: Path | str = ROOT / "site") -> list[str]:
    """Problems in a built site; ``[]`` when all is well. Checks every HTML page for internal links and images
    that do not resolve to a file, links to an anchor that the target page lacks, empty embedded images, and
    scripts or stylesheets loaded from another host (the site must work offline); and that the bundled MathJax
    is there, and so are the demo page's runtime and models when it loads them."""
    import base64

    out = Path(out)
    problems = []
    if not (out / "index.html").is_file():
        problems.append(f"{out}/index.html is missing")
    if not (out / MATHJAX).is_file():
        problems.append(f"{MATHJAX} is missing: maths would not render offline")
    parsed: dict[Path, _Refs] = {}

    def refs_of(page: Path) -> _Refs:
        if page not in parsed:
            parsed[page] = _Refs()
            parsed[page].feed(page.read_text(encoding="utf-8"))
        return parsed[page]

    for page in sorted(out.rglob("*.html")):
        rel = page.relative_to(out)
        if rel.parts[0] in ("_static", "_sources"):
            continue
        refs = refs_of(page)
        for url in refs.scripts + refs.styles:
            if _is_external(url):
                problems.append(f"{rel}: loads {url} from the network")
            elif not (page.parent / unquote(urlsplit(url).path)).is_file():
                problems.append(f"{rel}: loads {url}, which is not in the site")
        for href in refs.links:
            if _is_external(href):
                continue
            parts = urlsplit(href)
            path, frag = unquote(parts.path), unquote(parts.fragment)
            target = (page.parent / path) if path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{rel}: broken link to {href}")
            elif frag and target.suffix == ".html" and frag not in refs_of(target).ids:
                problems.append(f"{rel}: link to {href}: no anchor #{frag} there")
        for src in refs.images:
            if src.startswith("data:image/"):
                payload = src.split(",", 1)[1] if "," in src else ""
                if len(base64.b64decode(payload, validate=False)) < 64:
                    problems.append(f"{rel}: empty embedded image")
            elif _is_external(src):
                problems.append(f"{rel}: image {src} comes from the network")
            elif not src or not (page.parent / unquote(urlsplit(src).path)).is_file():
                problems.append(f"{rel}: missing image {src!r}")
    demo = out / "demo.html"
    if demo.is_file() and "_static/demo/demo.js" in demo.read_text(encoding="utf-8"):
        problems += demo_problems(out)
    return problems


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"),
                    help="folder of the executed notebooks (NN_name.ipynb, A1_name.ipynb)")
    ap.add_argument("--out", default=str(ROOT / "site"), help="output folder (replaced)")
    ap.add_argument("--verbose", action="store_true", help="show sphinx-build's progress")
    ap.add_argument("--no-demo", action="store_true",
                    help="leave out the in-browser demo (which needs npm, PyTorch and onnx to build)")
    args = ap.parse_args(argv)
    index = build_site(args.notebooks, args.out, quiet=not args.verbose, demo=not args.no_demo)
    problems = check_site(args.out)
    for msg in problems:
        print("problem:", msg)
    pages = [p for p in Path(args.out).rglob("*.html") if p.relative_to(args.out).parts[0] not in ("_static",)]
    print(f"wrote {len(pages)} pages to {args.out}/ (open {index})")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
