"""The series as a learner meets it: notebooks run through the JupyterLab UI in headless Chromium, and the
static site loaded page by page. Screenshots are saved under ``outputs/e2e/``."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

NOTEBOOKS = ["00_setup_and_tour.ipynb", "01_gan_basics.ipynb", "09_sampling_and_evaluation.ipynb"]
WIDGET_NOTEBOOKS = {"01_gan_basics.ipynb", "09_sampling_and_evaluation.ipynb"}

_STATE_JS = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.content || !w.content.model || !w.sessionContext.session) return null;
if (!w.context || w.context.path !== arguments[0]) return null;  // another (restored) tab is in front
const cells = w.content.model.cells; let n = 0, done = 0; const errors = [];
for (let i = 0; i < cells.length; i++) {
  const c = cells.get(i); if (c.type !== 'code') continue; n++;
  if (c.executionCount) done++;
  for (const o of c.outputs.toJSON()) if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
}
const k = w.sessionContext.session.kernel;
return {n: n, done: done, errors: errors, status: k ? k.status : 'none'};
"""


_WIDGET_OUTPUTS_JS = """
const w = window.jupyterapp.shell.currentWidget; const out = [];
w.content.widgets.forEach((cell, i) => {
  if (cell.model.type !== 'code') return;
  const has = cell.model.outputs.toJSON().some(o => o.data && o.data['application/vnd.jupyter.widget-view+json']);
  if (has) out.push(`cell ${i}: ` + (cell.outputArea ? cell.outputArea.node.innerText.slice(0, 120) : '<no output area>'));
});
return out;
"""


def _wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        val = pred()
        if val:
            return val
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _open_notebook(driver, lab, name):
    driver.get(f"{lab}/lab/tree/{name}?reset")  # ?reset: open only this notebook, restore no other tab
    state = lambda: driver.execute_script(_STATE_JS, name)  # noqa: E731
    _wait(lambda: (s := state()) and s["status"] == "idle", 120, f"{name} to open with an idle kernel")
    return state


def _run_all_from_menu(driver):
    from selenium.webdriver.common.by import By

    menu = [m for m in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if m.text == "Run"]
    assert menu, "JupyterLab's Run menu is not there"
    menu[0].click()
    item = _wait(
        lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, "li.lm-Menu-item")
                 if e.get_attribute("data-command") == "runmenu:run-all"],
        10, "the 'Run All Cells' menu item",
    )
    item[0].click()


def _widget_signature(driver) -> str:
    """What the widgets currently display (their output areas' HTML, images included)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-output, "
        ".jp-OutputArea-output .jupyter-widgets-output-area')).map(e => e.innerHTML).join('|');"
    )


def _poke_a_widget(driver) -> str:
    """Change the first text box (a prompt) or else the first slider; returns which one was changed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    boxes = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-text input[type='text']")
    if boxes:
        box = boxes[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys("a big red heart in the center", Keys.ENTER)
        return "text box"
    handles = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-slider .noUi-handle")
    assert handles, "no text box or slider found among the rendered widgets"
    handle = handles[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    handle.click()
    for _ in range(3):
        handle.send_keys(Keys.ARROW_RIGHT)
    return "slider"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(browser, lab, artifacts, name):
    if not (ROOT / "notebooks" / name).exists():
        pytest.skip(f"{name} does not exist yet")
    driver = browser
    state = _open_notebook(driver, lab, name)
    # before Run All (the first cell, the hosted set-up, is a no-op here and finishes at once)
    assert state()["done"] == 0, f"{name}: cells show execution counts before running (outputs not stripped)"
    _run_all_from_menu(driver)
    _wait(lambda: (s := state()) and (s["status"] != "idle" or s["done"] > 0), 60, "the kernel to start running")

    def finished():
        s = state()
        return s if s and s["status"] == "idle" and (s["done"] == s["n"] or s["errors"]) else None

    s = _wait(finished, 600, f"all cells of {name} to run")
    time.sleep(1.0)
    stem = Path(name).stem
    driver.save_screenshot(str(artifacts / f"{stem}.png"))
    assert s["errors"] == [], f"{name}: cells raised errors: {s['errors']}"
    assert s["done"] == s["n"], f"{name}: only {s['done']} of {s['n']} code cells ran"
    imgs = driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
        ".filter(i => i.complete && i.naturalWidth > 0).length;"
    )
    assert imgs >= 1, f"{name}: no figure was rendered as an image"
    text = driver.execute_script("return document.querySelector('.jp-Notebook').innerText;")
    assert "Error displaying widget" not in text, f"{name}: a widget failed to render (see {stem}.png)"
    if name in WIDGET_NOTEBOOKS:
        count_live = lambda: driver.execute_script(  # noqa: E731
            "return document.querySelectorAll('.jp-OutputArea-output .jupyter-widgets.widget-slider, "
            ".jp-OutputArea-output .widget-text, .jp-OutputArea-output .widget-hslider').length;"
        )
        try:  # the widget manager renders views asynchronously after the kernel goes idle
            _wait(count_live, 60, f"the ipywidgets of {name} to render as live controls")
        except TimeoutError:
            driver.save_screenshot(str(artifacts / f"{stem}_no_widgets.png"))
            seen = driver.execute_script(_WIDGET_OUTPUTS_JS)
            raise AssertionError(f"{name}: ipywidgets did not render as live controls within 60 s; widget "
                                 f"outputs and what they show: {seen} (see {stem}_no_widgets.png)") from None
        before = _widget_signature(driver)
        which = _poke_a_widget(driver)
        _wait(lambda: _widget_signature(driver) != before and state()["status"] == "idle", 180,
              f"the widget output of {name} to change after moving a {which}")
        driver.save_screenshot(str(artifacts / f"{stem}_after_{which.replace(' ', '_')}.png"))


_MATH_JS = """
const done = arguments[arguments.length - 1];
const report = () => {
  const math = Array.from(document.querySelectorAll('.math'));
  done({
    mathjax: !!(window.MathJax && window.MathJax.version), version: window.MathJax ? window.MathJax.version : null,
    math: math.length,
    rendered: math.filter(e => e.querySelector('mjx-container')).length,
    errors: document.querySelectorAll('mjx-merror').length,
    raw: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60)).slice(0, 5),
  });
};
if (!document.querySelector('.math')) { report(); }
else {
  const t0 = Date.now();
  (function poll() {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(report, report); }
    else if (Date.now() - t0 > 30000) { report(); }
    else { setTimeout(poll, 100); }
  })();
}
"""

_PAGE_JS = """
return {
  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  images: Array.from(document.querySelectorAll('.cell_output img')).length,
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  resources: performance.getEntriesByType('resource').map(e => e.name),
  prompts: (document.querySelector('main') || document.body).innerText.match(/In \\[[ 0-9]*\\]:/g),
  sidebar: document.querySelectorAll('nav.bd-docs-nav a.reference').length,
  prev: !!document.querySelector('a.left-prev'), next: !!document.querySelector('a.right-next'),
  launch: Array.from(document.querySelectorAll('.dropdown-launch-buttons a')).map(a => a.href),
};
"""


def test_static_site_offline_pages_images_links_and_maths(offline_browser, site, site_tool, artifacts):
    """Every page of the course site in a browser with no network: figures load, internal links answer, the
    maths is typeset by the bundled MathJax, nothing is fetched from another host; the search page finds."""
    browser = offline_browser
    url, out = site
    assert site_tool.check_site(out) == []
    notebooks = [p.stem for p in site_tool.find_notebooks(ROOT / "notebooks")]  # numbered, then the appendices
    pages = ["index.html"] + [f"notebooks/{stem}.html" for stem in notebooks]
    assert all((Path(out) / p).is_file() for p in pages), "a notebook has no page"
    pages += sorted(p.relative_to(out).as_posix() for p in (Path(out) / "docs").glob("*.html"))
    checked: set[str] = set()
    maths = {}
    for page in pages:
        browser.get(f"{url}/{page}")
        _wait(lambda: browser.execute_script("return document.readyState") == "complete", 60, f"{page} to load")
        browser.set_script_timeout(60)
        math = browser.execute_async_script(_MATH_JS)
        info = browser.execute_script(_PAGE_JS)
        assert info["broken"] == [], f"{page}: images did not load: {info['broken'][:3]}"
        foreign = [r for r in info["resources"] if not r.startswith((url, "data:", "blob:"))]
        assert foreign == [], f"{page}: fetched from outside the site: {foreign[:3]}"
        assert not info["prompts"], f"{page}: shows execution prompts {info['prompts'][:3]}"
        assert info["sidebar"] >= len(notebooks), f"{page}: the sidebar lists {info['sidebar']} pages"
        if math["math"]:
            assert math["mathjax"], f"{page}: MathJax did not load (offline)"
            assert math["errors"] == 0, f"{page}: {math['errors']} TeX errors"
            assert math["rendered"] == math["math"], f"{page}: maths left as source: {math['raw']}"
        maths[page] = math["rendered"]
        if page.startswith("notebooks/"):
            assert info["prev"] or page.endswith(f"{notebooks[0]}.html"), f"{page}: no 'previous' link"
            assert info["next"] or page.endswith(f"{notebooks[-1]}.html"), f"{page}: no 'next' link"
            stem = Path(page).stem
            assert any("colab.research.google.com" in h and h.endswith(f"/notebooks/{stem}.ipynb")
                       for h in info["launch"]), f"{page}: no Colab launch link"
            assert any("kaggle.com/kernels/welcome" in h for h in info["launch"]), f"{page}: no Kaggle launch link"
            nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
            pngs = sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
            assert info["images"] >= pngs, f"{page}: {info['images']} figures shown, the notebook has {pngs}"
        for href in info["links"]:
            target = href.split("#")[0]
            if not target.startswith(url) or target in checked:
                continue
            checked.add(target)
            with urllib.request.urlopen(target, timeout=10) as r:
                assert r.status == 200, f"{page}: link {href} answers {r.status}"
        if page == "index.html" or "04_" in page:
            browser.save_screenshot(str(artifacts / f"site_{Path(page).stem}.png"))
    assert sum(maths.values()) >= 50, f"only {sum(maths.values())} formulas typeset in the whole site: {maths}"
    index = (Path(out) / "index.html").read_text()
    for stem in notebooks:
        assert f'href="notebooks/{stem}.html"' in index, f"the index does not link {stem}"
    browser.get(f"{url}/search.html?q=hinge")
    hits = _wait(lambda: browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.getAttribute('href'));"),
        60, "search results for 'hinge'")
    assert any("02_hinge_loss" in h for h in hits), f"searching 'hinge' did not find notebook 02: {hits[:5]}"
