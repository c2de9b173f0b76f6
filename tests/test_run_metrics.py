"""Every evaluated run writes metrics.json with accuracy per stated attribute, the classifier's ceiling,
diversity over noise draws, and FID beside its real-vs-real floor (issue 12)."""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from test_train_resume import TINY  # noqa: E402

torch.set_num_threads(1)


def test_metrics_json_holds_every_field(tmp_path):
    from dflib.cli.train import main

    sets = [x for s in TINY if not s.startswith(("eval_samples", "eval_fid", "data.options")) for x in ("--set", s)]
    opts = ("data.options={max_objects: 1, length: 40, layout: spread, positions: [left, center, right], "
            "object_scale: 1.75, background: gray, jitter: 0, state_size: 0.5, state_position: 0.5}")
    rc = main(["--preset", "shapes-32-cpu", "--out", str(tmp_path / "run"), "--threads", "1", *sets,
               "--set", opts, "--set", "eval_samples=32", "--set", "eval_fid=16", "--max-steps", "2"])
    assert rc == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    shapes = m["shapes"]
    for attr in ("color", "shape", "size", "position"):
        assert attr in shapes["accuracy"] and attr in shapes["real_accuracy"]
    assert set(shapes["diversity"]) >= {"size", "position"} and 0.0 <= shapes["diversity_mean"] <= 2.0
    assert m["fid"]["n"] == 16 and m["fid"]["fid"] >= 0 and m["fid"]["fid_floor"] >= 0
