"""Sphinx configuration of the course site (``make site``): the executed notebooks as a book.

The stack is Jupyter Book 1's own (Sphinx + MyST-NB + sphinx-book-theme), configured here directly: the
``jupyter-book`` 1.x command itself pins myst-parser 3, which would downgrade markdown-it-py in the pinned set.
``tools/build_site.py`` stages ``book/index.md`` and the notebooks (the numbered series, then the appendices, which
index.md's toctrees list in a section of their own) and runs ``sphinx-build -c book``.
Nothing is executed: the pages show the outputs committed in the notebooks. MathJax comes from the
``sphinx-mathjax-offline`` package and is copied into the site, so maths renders with no network.

Launch buttons need the repository's GitHub address: ``DFGAN_REPOSITORY_URL`` (the Pages workflow sets it from
the repository it runs in), else ``[project.urls] Repository`` in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
sys.path.insert(0, str(BOOK / "_ext"))

_urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("urls", {})
REPOSITORY_URL = os.environ.get("DFGAN_REPOSITORY_URL") or _urls.get("Repository", "")
BRANCH = os.environ.get("DFGAN_REPOSITORY_BRANCH") or "main"

project = "dfgan-notebooks"
author = "dfgan-notebooks contributors"
copyright = "dfgan-notebooks contributors"
html_title = "DF-GAN from first principles"

extensions = [
    "myst_nb",  # .ipynb and MyST markdown (also registers myst_parser)
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # sets mathjax_path to the bundled MathJax 3 and copies it into _static/
    "dfgan_book",  # book/_ext/dfgan_book.py: the Kaggle launch button beside Colab's
]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "notebooks/figures"]
language = "en"

# --- MyST-NB: render the committed outputs, never execute ---
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # widget views are not loaded from a CDN (their static figures stand beside them)
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "smartquotes"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebooks may skip a heading level inside a cell

# --- HTML: sphinx-book-theme (the Jupyter Book theme) ---
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["dfgan.css"]
html_last_updated_fmt = None  # the build date is not when a notebook last changed
html_show_sourcelink = False
html_copy_source = True  # the download button offers the .ipynb
html_theme_options = {
    "repository_url": REPOSITORY_URL,
    "repository_branch": BRANCH,
    "path_to_docs": "",  # the staged tree mirrors the repository: notebooks/NN_name.ipynb, notebooks/A1_name.ipynb
    "use_repository_button": bool(REPOSITORY_URL),
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "show_navbar_depth": 1,
    "launch_buttons": {
        "notebook_interface": "jupyterlab",
        "colab_url": "https://colab.research.google.com" if REPOSITORY_URL else "",
    },
}
dfgan_kaggle_url = "https://www.kaggle.com" if REPOSITORY_URL else ""  # dfgan_book's Kaggle launch button
