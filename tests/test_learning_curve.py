"""tools/learning_curve.py: one evaluation per checkpoint of a run, written as JSON and a figure."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from dflib.config import apply_overrides, get_preset
from dflib.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)

TINY = ["text_encoder=bow", "text_cache=true", "model.ngf=2", "model.ndf=2", "model.z_dim=4", "model.cond_dim=8",
        "batch_size=4", "data.options={max_objects: 1, length: 20}", "log_every=2", "sample_every=0",
        "save_every=2", "keep_last=0", "eval_samples=0", "eval_fid=0", "progress=false", "tensorboard=false"]


def _tool():
    spec = importlib.util.spec_from_file_location("learning_curve", ROOT / "tools" / "learning_curve.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_one_point_per_checkpoint_with_every_attribute(tmp_path):
    run = tmp_path / "run"
    Trainer(apply_overrides(get_preset("shapes-32-cpu"), TINY), out_dir=run).run(max_steps=6)
    tool = _tool()
    out = tmp_path / "curve.json"
    assert tool.main([str(run), "--out", str(out), "--n", "8", "--classifier-steps", "5"]) == 0
    res = json.loads(out.read_text())
    assert [p["step"] for p in res["points"]] == [2, 4, 6]
    for p in res["points"]:
        assert set(tool.ATTRS) <= set(p["accuracy"]) and all(0 <= p["accuracy"][a] <= 1 for a in tool.ATTRS)
        assert p["chance"]["color"] == 1 / 8
    assert out.with_suffix(".png").stat().st_size > 1000
    # --every 2 keeps every second checkpoint, the first included
    assert [p["step"] for p in tool.curve(run, n=8, every=2, classifier_steps=5)["points"]] == [2, 6]
