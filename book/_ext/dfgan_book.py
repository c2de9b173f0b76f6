"""A Kaggle entry in sphinx-book-theme's launch menu, beside Colab's (the theme has no Kaggle provider).

Kaggle opens a notebook from GitHub with ``https://www.kaggle.com/kernels/welcome?src=<github blob URL>``.
Runs after the theme's own ``add_launch_buttons`` (priority 501) on every notebook page.
"""

from __future__ import annotations

from urllib.parse import quote


def _add_kaggle_button(app, pagename, templatename, context, doctree):
    options = app.config.html_theme_options
    kaggle = app.config.dfgan_kaggle_url.rstrip("/")
    repo = options.get("repository_url", "").rstrip("/")
    if not (kaggle and repo and "github.com/" in repo):
        return
    if not str(app.env.doc2path(pagename)).endswith(".ipynb"):
        return
    group = next((b for b in context.get("header_buttons", []) if b.get("label") == "launch-buttons"), None)
    if group is None:
        return
    branch = options.get("repository_branch") or "main"
    docs = options.get("path_to_docs", "").strip("/")
    path = (docs + "/" if docs else "") + pagename + ".ipynb"
    src = f"{repo}/blob/{branch}/{path}"
    group["buttons"].append({
        "type": "link",
        "text": "Kaggle",
        "tooltip": "Open in Kaggle",
        "icon": "fab fa-kaggle",
        "url": f"{kaggle}/kernels/welcome?src={quote(src, safe=':/')}",
    })


def setup(app):
    app.add_config_value("dfgan_kaggle_url", "", "html")
    app.connect("html-page-context", _add_kaggle_button, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
