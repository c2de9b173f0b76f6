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


def test_emoji_runs_train_one_classifier_for_both_splits(monkeypatch):
    """evaluate_run scores the train and test captions with the same emoji classifier, trained once
    (it used to train one per split: ~50 s each on the build machine)."""
    from dflib.config import apply_overrides, get_preset
    from dflib.metrics import run_metrics

    trained, seen = [], []
    monkeypatch.setattr(run_metrics, "emoji_classifier", lambda **kw: trained.append(kw) or object())

    def fake_eval(netG, encode, **kw):
        seen.append((kw["split"], kw["classifier"]))
        return {"split": kw["split"]}

    monkeypatch.setattr(run_metrics, "evaluate_emoji_generator", fake_eval)
    cfg = apply_overrides(get_preset("emoji-32"), {"eval_samples": 8, "eval_fid": 0})
    out = run_metrics.evaluate_run(None, None, cfg)
    assert set(out) == {"emoji_train", "emoji_test"} and len(trained) == 1
    assert [s for s, _ in seen] == ["train", "test"] and seen[0][1] is seen[1][1]
