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


import pytest  # noqa: E402


@pytest.mark.parametrize("name, start", [("make_train_metrics.json", "| `make train`, bag of words"),
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
    text = " ".join(README.split())
    shape = {s: curve[s]["accuracy"]["shape"] for s in (9000, 11000, 13000)}
    assert (f"({shape[9000]:.2f} at 9,000, {shape[11000]:.2f} at 11,000, {shape[13000]:.2f} at 13,000)") in text
    assert shape[9000] < 0.6 < shape[11000]  # "passes 60% only after about 11,000 steps"
    assert f"({curve[13000]['diversity']['position']:.2f} at 13,000 steps)" in text
    assert f"({max(p['diversity']['size'] for p in curve.values()):.2f} at most)" in text
    m = json.loads((ROOT / "results/make_train_metrics.json").read_text())
    assert f"far more than the {m['steps']:,} steps `make train` takes on the idle build machine ({m['threads']} threads" in text
    assert m["steps"] < 11000 and m["shapes"]["accuracy"]["shape"] < 0.6
