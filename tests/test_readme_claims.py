"""The README's numbers come from files in the repository: the curriculum times from the notebooks'
execution records, the shipped model's row from its card."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import readme_rows  # noqa: E402

README = (ROOT / "README.md").read_text()


def _text() -> str:
    """The README with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(README.split())


def test_curriculum_rows_are_the_measured_ones():
    for row in readme_rows.rows():
        assert row in README, f"README curriculum row out of date (python tools/readme_rows.py): {row}"


def test_the_shipped_models_row_is_its_card():
    card = json.loads((ROOT / "dflib/pretrained_models/shapes-32/card.json").read_text())
    a, d, f = card["metrics"]["shapes"]["accuracy"], card["metrics"]["shapes"]["diversity"], card["metrics"]["fid"]
    row = next(line for line in README.splitlines() if line.startswith("| the shipped `shapes-32`"))
    for value in (f"{card['steps']:,}", f"{a['color']:.1%}", f"{a['shape']:.1%}", f"{a['size']:.1%}",
                  f"{a['position']:.1%}", f"{d['size']:.2f} / {d['position']:.2f}", f"{f['fid']:.0f} ({f['fid_floor']:.0f})"):
        assert value in row, (value, row)
    # "The shipped model meets every target of this version: ... given three times the steps."
    assert "The shipped model meets every target of this version" in _text()
    assert a["color"] >= 0.95 and a["shape"] >= 0.8 and a["position"] >= 0.8 and min(d.values()) >= 0.5
    steps = json.loads((ROOT / "results/make_train_metrics.json").read_text())["steps"]
    assert 2.8 < card["steps"] / steps < 3.3


import pytest  # noqa: E402


@pytest.mark.parametrize("name, start", [("make_train_metrics.json", "| `make train` (this preset"),
                                         ("make_train_metrics_bow_lr4.json", "| `make train`, bag of words ×1"),
                                         ("make_train_metrics_minilm.json", "| `make train`, MiniLM")])
def test_the_make_train_rows_are_their_metrics_json(name, start):
    m = json.loads((ROOT / "results" / name).read_text())
    a, d, f = m["shapes"]["accuracy"], m["shapes"]["diversity"], m["fid"]
    row = next(line for line in README.splitlines() if line.startswith(start))
    for value in (f"{m['steps']:,}", f"{a['color']:.1%}", f"{a['shape']:.1%}", f"{a['size']:.1%}",
                  f"{a['position']:.1%}", f"{d['size']:.2f} / {d['position']:.2f}", f"{f['fid']:.0f} ({f['fid_floor']:.0f})",
                  f"{round(m['wall_seconds']):,} s"):
        assert value in row, (value, row)


def test_the_learning_curve_account_is_the_committed_curve():
    curve = {p["step"]: p for p in json.loads((ROOT / "results/shapes_learning_curve.json").read_text())["points"]}
    text = _text()
    shape = {s: curve[s]["accuracy"]["shape"] for s in (5000, 7000, 9000, 13000)}
    assert f"Shape accuracy is {shape[5000]:.2f} at 5,000 steps" in text
    assert f"({shape[7000]:.2f} at 7,000, {shape[9000]:.2f} at 9,000, {shape[13000]:.2f} at 13,000)" in text
    assert shape[7000] < 0.8 < shape[9000]  # "passes 80% between 7,000 and 9,000 steps"
    size = {s: curve[s]["diversity"]["size"] for s in (5000, 9000)}
    assert f"({size[5000]:.2f} at 5,000 steps, {size[9000]:.2f} at 9,000)" in text and size[9000] >= 0.5
    pos = [p["diversity"]["position"] for s, p in curve.items() if s >= 3000]
    assert f"open position stays between {min(pos):.2f} and {max(pos):.2f} from 3,000 steps on" in text
    m = json.loads((ROOT / "results/make_train_metrics.json").read_text())
    assert f"`make train` stops ({m['steps']:,} steps on the idle build machine, {m['threads']} threads" in text
    assert abs(m["steps"] - 5000) < 500 and 9000 / m["steps"] > 1.6  # "about where", "nearly twice"


def test_the_targets_account_is_the_metrics_json():
    m = json.loads((ROOT / "results/make_train_metrics.json").read_text())["shapes"]
    a, d = m["accuracy"], m["diversity"]
    text = _text()
    assert f"**colour ({a['color']:.1%}) and stated position ({a['position']:.1%})**" in text
    assert f"misses **shape ({a['shape']:.1%})** and **diversity ({d['size']:.2f} / {d['position']:.2f}, mean {m['diversity_mean']:.2f})**" in text
    assert a["color"] >= 0.95 and a["position"] >= 0.8 and a["shape"] < 0.8 and m["diversity_mean"] < 0.5  # met / missed
    assert min(d.values()) >= 0.3 and a["shape"] < 0.6  # the milestone: diversity met, shape short
    se = (0.6 * 0.4 / m["n_stated"]["shape"]) ** 0.5
    assert f"{a['shape']:.1%} of {m['n_stated']['shape']} images, within one standard error ({100 * se:.1f} points) of 60%" in text
    assert 0.6 - a["shape"] < se


def test_the_tuning_account_is_the_tuning_json():
    runs = {r["name"]: r for r in json.loads((ROOT / "results/make_train_tuning.json").read_text())["runs"]}
    text = _text()
    assert "six runs of 11.5 minutes" in text and len(runs) == 6
    tuned = [r for r in runs.values() if (r["lr_g"], r["text_scale"]) == (8e-4, 0.3)]
    lo, hi = sorted(r["accuracy"]["shape"] for r in tuned)
    assert f"shape accuracy rose from {runs['base']['accuracy']['shape']:.2f} to {lo:.2f}–{hi:.2f} (two seeds" in text
    lo, hi = sorted(r["diversity"]["size"] for r in tuned)
    assert f"open-size diversity from {runs['base']['diversity']['size']:.2f} to {lo:.2f}–{hi:.2f}" in text
    faded = next(r for r in runs.values() if r["text_scale"] == 0.1)
    assert f"(colour {faded['accuracy']['color']:.0%})" in text


def test_the_condition_norms_quoted_for_the_text_scale():
    import dataclasses

    import torch

    from dflib.config import get_preset
    from dflib.data import build_dataset
    from dflib.text.factory import build_encoder

    cfg = get_preset("shapes-32-cpu")
    assert cfg.text_scale == 0.3 and cfg.lr_g == cfg.lr_d == 8e-4
    ds = build_dataset("shapes", split="train", imsize=32, seed=0, **{**cfg.data.options, "length": 64})
    caps = [ds[i]["caption"] for i in range(64)]
    raw = build_encoder(dataclasses.replace(cfg, text_scale=1.0)).encode(caps).sent.norm(dim=1).mean()
    noise = torch.randn(4096, cfg.model.z_dim, generator=torch.Generator().manual_seed(0)).norm(dim=1).mean()
    print(f"sentence norm {raw:.1f}, noise norm {noise:.2f}, scaled sentence {0.3 * raw:.1f}")
    assert abs(raw - 384 ** 0.5) < 0.1 * 384 ** 0.5 and abs(noise - 32 ** 0.5) < 0.05 * 32 ** 0.5
    assert "about √384 ≈ 19.6 against √32 ≈ 5.7 for the noise" in _text()
    assert abs(0.3 * raw - noise) < 0.15 * noise  # "scaled by 0.3 the two are level"
