"""Fixtures for the browser tests: a JupyterLab server and a static-site server on loopback, and headless
Debian Chromium driven through Selenium with the system chromedriver (no test tool downloads a browser).

Screenshots go to ``outputs/e2e/`` (git-ignored) as test artefacts. Without Chromium the tests are skipped
with the install command, except under CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "outputs" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 90.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def strip_outputs(path: Path) -> None:
    """Clear the outputs and execution counts that the committed notebooks carry, so that a cell counts as
    run only once this session ran it (and no untrusted committed output shows a widget's text fallback)."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path.write_text(json.dumps(nb, indent=1))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _chromium(tmp_path_factory, profile: str, extra: tuple[str, ...] = ()):
    """A headless Chromium driver (skipped locally, failed in CI, when Chromium is missing)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        msg = "headless Chromium missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
        "--window-size=1400,1000", f"--user-data-dir={tmp_path_factory.mktemp(profile)}", *extra,
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(120)
    return driver


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    driver = _chromium(tmp_path_factory, "chromium-profile")
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab from this venv on a free loopback port, no token, serving a *copy* of the notebooks
    (running them through the UI must not rewrite the committed files)."""
    work = tmp_path_factory.mktemp("lab")
    nb_dir = work / "notebooks"
    shutil.copytree(ROOT / "notebooks", nb_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for path in nb_dir.glob("*.ipynb"):
        strip_outputs(path)
    settings = work / "settings"
    for rel, content in {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        # Every cell in the DOM from the start: with windowed rendering a widget further down the page
        # renders only when scrolled to, and the live-control check would race it.
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(content))
    port = free_port()
    env = dict(os.environ, DFGAN_QUICK="1", HF_HUB_OFFLINE="1", JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.token=", "--ServerApp.password=", "--expose-app-in-browser",
         "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={nb_dir}",
         f"--LabApp.workspaces_dir={work / 'workspaces'}"],  # no tabs restored from a user's own sessions
        cwd=nb_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/lab")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def offline_browser(tmp_path_factory):
    """A second headless Chromium that cannot reach any host but loopback (every host name fails to resolve,
    as with the network off), for the static site: maths and figures must come from the site itself."""
    driver = _chromium(tmp_path_factory, "chromium-offline-profile", (
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
    ))
    yield driver
    driver.quit()


def _build_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tools_build_site", ROOT / "tools" / "build_site.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def site_tool():
    """tools/build_site.py (the builder behind ``make site``) as a module."""
    return _build_tool()


@pytest.fixture(scope="session")
def site(tmp_path_factory, site_tool):
    """The course site built from the committed notebooks (as ``make site`` does), served by http.server on
    loopback."""
    out = tmp_path_factory.mktemp("site") / "site"
    site_tool.build_site(ROOT / "notebooks", out)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                            cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/index.html", timeout=30)
        yield url, out
    finally:
        proc.terminate()
        proc.wait(timeout=10)
