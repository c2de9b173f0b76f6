"""The course site's demo page (book/demo.md) in headless Chromium with the network off: the shipped generator runs
in the page (ONNX Runtime Web, WebAssembly, one thread), and what it draws is checked against PyTorch on the same
noise and caption. The screenshot is saved under ``outputs/e2e/`` and its path printed, with the page's time for
a grid of eight images."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
import torch

from .conftest import ROOT

N = 8

_STATE_JS = """
const d = window.dfganDemo;
if (!d) return null;
return {ready: d.ready, error: d.error, renders: d.renders, timings: d.timings,
        grid: d.grid, strip: d.strip, z_dim: d.model ? d.model.z_dim : null,
        status: document.getElementById('dfgan-status').textContent,
        message: document.getElementById('dfgan-caption-message').hidden ? '' :
                 document.getElementById('dfgan-caption-message').textContent};
"""

_PIXELS_JS = """
return Array.from(document.querySelectorAll(arguments[0] + ' canvas')).map(
  (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data));
"""


def _wait(pred, timeout, what):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = pred()
        if last:
            return last
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _state(driver) -> dict:
    s = driver.execute_script(_STATE_JS)
    if s and s["error"]:
        raise AssertionError(f"the demo page failed: {s['error']}")
    return s


def _after(driver, renders: int, what: str, timeout: float = 60) -> dict:
    """The page's state once it has drawn again (more than ``renders`` renders) and is idle."""
    def drawn():
        s = _state(driver)
        return s if s and s["renders"] > renders else None

    _wait(drawn, timeout, what)
    time.sleep(0.4)  # a render queued behind this one (typing) would still change the state
    return _state(driver)


def _type(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)


def _click(driver, element_id: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    el.click()


def _screenshot(driver, path, element_id: str):
    """A screenshot with ``element_id`` near the top of the window (under the theme's header)."""
    driver.execute_script(f"const b = document.getElementById('{element_id}').getBoundingClientRect();"
                          "window.scrollTo(0, b.top + window.scrollY - 90);")
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    return path


def _pixels(images: torch.Tensor) -> np.ndarray:
    """uint8 RGB as torchvision's save_image makes them from [-1, 1] (and demo.js's toPixels)."""
    x = ((images.clamp(-1, 1) + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def model():
    from dflib.config import config_from_dict
    from dflib.pretrained import load_pretrained
    from dflib.text import build_encoder

    netG, info = load_pretrained("shapes-32")
    return netG, build_encoder(config_from_dict(info["config"]), None, "cpu")


def _check_images(driver, selector: str, page_images: list[float], noise, sent, netG) -> tuple[float, int]:
    """Max |page - PyTorch| of the raw outputs, and max pixel difference of what the canvases show."""
    with torch.no_grad():
        ref = netG(noise, sent)
    got = torch.tensor(page_images, dtype=torch.float32).view_as(ref)
    diff = float((got - ref).abs().max())
    canvases = driver.execute_script(_PIXELS_JS, selector)
    assert len(canvases) == N, f"{selector}: {len(canvases)} canvases"
    shown = np.asarray(canvases, np.int16).reshape(N, ref.shape[2], ref.shape[3], 4)
    assert (shown[..., 3] == 255).all()
    px = np.abs(shown[..., :3] - _pixels(ref).astype(np.int16))
    mean_colour = np.abs(shown[..., :3].mean(axis=(1, 2)) - _pixels(ref).mean(axis=(1, 2))).max()
    assert mean_colour < 0.5, f"{selector}: mean colour of an image off by {mean_colour:.2f} levels"
    return diff, int(px.max())


def test_demo_page_runs_the_generator_offline_and_matches_pytorch(offline_browser, site, artifacts, model):
    from dfexport.export import page_noise

    netG, encoder = model
    driver = offline_browser
    url, out = site
    driver.set_script_timeout(60)
    t0 = time.time()
    driver.get(f"{url}/demo.html")
    s = _wait(lambda: (x := _state(driver)) and x["ready"] and x["renders"] >= 1 and x, 120,
              "the demo to load its model and draw the first grid")
    print(f"\ndemo ready and first grid drawn {time.time() - t0:.1f} s after opening the page; status: {s['status']!r}")

    # a caption typed into the box
    caption = "a big green triangle on the right"
    _type(driver, "dfgan-caption", caption)
    s = _after(driver, s["renders"], "the grid for the typed caption")
    grid = s["grid"]
    assert grid["caption"] == caption and grid["seed"] == 0 and abs(grid["truncation"] - 0.88) < 1e-9
    assert s["message"] == "", s["message"]
    noise = page_noise(0, N, s["z_dim"], truncation=0.88)
    page_noise_diff = float(np.abs(np.asarray(grid["noise"], np.float32).reshape(N, -1) - noise.numpy()).max())
    assert page_noise_diff <= 1e-6, "the page's noise is not dfexport.export.page_noise"
    sent = encoder.encode([caption]).sent.float()
    sent_diff = float(np.abs(np.asarray(grid["sentence"], np.float32) - sent[0].numpy()).max())
    assert sent_diff <= 1e-6, "the page's sentence vector is not the encoder's"
    diff, px = _check_images(driver, "#dfgan-grid", grid["images"], noise, sent.repeat(N, 1), netG)
    print(f"grid vs PyTorch: noise {page_noise_diff:.1e}, sentence {sent_diff:.1e}, images max {diff:.1e}, "
          f"pixels max {px} level(s)")
    assert diff < 1e-4 and px <= 1
    # the picture: a green object on gray in every image (green (30, 160, 40) leads red and blue somewhere)
    rgb = np.asarray(grid["images"], np.float32).reshape(N, 3, -1)
    assert ((rgb[:, 1] - np.maximum(rgb[:, 0], rgb[:, 2])).max(axis=1) > 0.5).all()
    shot = _screenshot(driver, artifacts / "demo.png", "dfgan-caption")
    print(f"screenshot: {shot}")

    # interpolation strip: caption -> second caption, the first noise draw held
    strip = s["strip"]
    caption_b = driver.execute_script("return document.getElementById('dfgan-caption-b').value;")
    path = torch.tensor(strip["sentences"], dtype=torch.float32).view(N, -1)
    sb = encoder.encode([caption_b]).sent.float()[0]
    assert torch.allclose(path[0], sent[0], atol=1e-6) and torch.allclose(path[-1], sb, atol=1e-6)
    assert torch.allclose(path[3], sent[0] + (sb - sent[0]) * 3 / 7, atol=1e-5)
    diff_strip, px_strip = _check_images(driver, "#dfgan-strip", strip["images"], noise[:1].repeat(N, 1), path, netG)
    print(f"interpolation strip vs PyTorch: images max {diff_strip:.1e}, pixels max {px_strip}")
    assert diff_strip < 1e-4 and px_strip <= 1

    # same noise, second caption
    _click(driver, "dfgan-swap")
    s = _after(driver, s["renders"], "the grid for the second caption")
    assert s["grid"]["caption"] == caption_b and s["grid"]["noise"] == grid["noise"]
    diff_b, _ = _check_images(driver, "#dfgan-grid", s["grid"]["images"], noise, sb.repeat(N, 1), netG)
    assert diff_b < 1e-4
    _click(driver, "dfgan-swap")
    s = _after(driver, s["renders"], "the grid back on the first caption")
    assert s["grid"]["caption"] == caption

    # truncation 0: one image eight times
    from selenium.webdriver.common.keys import Keys

    slider = driver.find_element("id", "dfgan-truncation")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", slider)
    slider.send_keys(Keys.HOME)
    s = _after(driver, s["renders"], "the grid at truncation 0")
    assert s["grid"]["truncation"] == 0
    imgs = np.asarray(s["grid"]["images"], np.float32).reshape(N, -1)
    assert np.abs(imgs - imgs[0]).max() < 1e-6
    driver.execute_script("const r = document.getElementById('dfgan-truncation'); r.value = '0.88';"
                          "r.dispatchEvent(new Event('input'));")
    s = _after(driver, s["renders"], "the grid back at truncation 0.88")

    # unknown words are named
    _type(driver, "dfgan-caption", "a red dog on the left")
    s = _after(driver, s["renders"], "the grid for a caption with an unknown word")
    assert "“dog”" in s["message"] and "left out" in s["message"], s["message"]
    print(f"screenshots: {_screenshot(driver, artifacts / 'demo_unknown_word.png', 'dfgan-caption')}, "
          f"{_screenshot(driver, artifacts / 'demo_interpolation.png', 'dfgan-caption-b')}")
    assert np.allclose(s["grid"]["sentence"], encoder.encode(["a red on the left"]).sent[0].numpy(), atol=1e-6)

    # time for a grid of eight, the model warm: new noise, ten times
    before = len(s["timings"])
    for _ in range(10):
        r = s["renders"]
        _click(driver, "dfgan-new-noise")
        s = _after(driver, r, "a grid with new noise")
    times = s["timings"][before:]
    assert s["grid"]["seed"] >= 10 and len(times) >= 10
    print(f"time for a grid of {N} in the page (session.run, warm): median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms over {len(times)} grids")
    assert statistics.median(times) < 3000

    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert any(r.endswith("/_static/ort/ort-wasm-simd-threaded.wasm") for r in resources)
    assert any(r.endswith("/generator.onnx") for r in resources)
    foreign = [r for r in resources if not r.startswith((url, "data:", "blob:"))]
    assert foreign == [], f"the demo fetched from outside the site: {foreign[:3]}"


def test_demo_controls_link_the_notebook_sections_that_explain_them(site):
    url, out = site
    page = (out / "demo.html").read_text()
    for anchor in ("07_text_encoder.html#why-the-make-train-preset-uses-a-bag-of-words",
                   "09_sampling_and_evaluation.html#prompts-to-images",
                   "09_sampling_and_evaluation.html#interpolation"):
        assert f'href="notebooks/{anchor}"' in page, anchor
    for control in ("dfgan-caption", "dfgan-seed", "dfgan-truncation", "dfgan-swap", "dfgan-strip", "dfgan-grid"):
        assert f'id="{control}"' in page
    index = (out / "index.html").read_text()
    assert 'href="demo.html"' in index
    assert "_images/" in index.split('href="demo.html"')[0]  # the picture, then the link
    assert (ROOT / "book" / "npm" / "package-lock.json").is_file()
    assert "MIT" in (out / "_static" / "ort" / "LICENSE.txt").read_text()
