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


def test_grid_tiles_read_back_what_the_trainer_wrote(tmp_path):
    from torchvision.utils import save_image

    imgs = torch.rand(6, 3, 32, 32) * 2 - 1
    save_image(imgs, tmp_path / "g.png", nrow=3, normalize=True, value_range=(-1, 1))
    tiles = _tool().grid_tiles(tmp_path / "g.png", rows=2, cols=3, size=32)
    assert tiles.shape == imgs.shape
    assert (tiles - imgs).abs().max() <= 1 / 127.5 + 1e-6  # 8-bit rounding only
    with __import__("pytest").raises(ValueError, match="not a 3x2 grid"):
        _tool().grid_tiles(tmp_path / "g.png", rows=3, cols=2, size=32)


EMOJI_TINY = ["model.ngf=2", "model.ndf=2", "model.z_dim=4", "batch_size=4", "log_every=2", "sample_every=2",
              "save_every=2", "keep_last=0", "eval_samples=0", "eval_fid=0", "progress=false", "tensorboard=false"]


def test_emoji_run_curve_scores_checkpoints_and_grids(tmp_path):
    run = tmp_path / "run"
    Trainer(apply_overrides(get_preset("emoji-32"), EMOJI_TINY), out_dir=run).run(max_steps=4)
    tool = _tool()
    res = tool.curve(run, n=8, classifier_steps=5)
    assert res["data"] == "emoji" and [p["step"] for p in res["points"]] == [2, 4]
    for p in res["points"]:
        assert set(tool.EMOJI_ATTRS) <= set(p["accuracy"]) and 0 < p["chance"]["group"] <= 1
        assert all(v is None or 0 <= v <= 1 for v in p["accuracy"].values())
    grid = res["grid"]
    assert [p["step"] for p in grid["points"]] == [2, 4] and grid["tiles"] == 8 * 8
    assert all(0 <= p["accuracy"][k] <= 1 for p in grid["points"] for k in ("group", "subgroup"))
    # every tile is scored against its row's caption: the dataset's first eight, as the Trainer drew them
    from dflib.data.emoji import EmojiDataset, emoji_captions

    ds = EmojiDataset(split="train", imsize=32)
    assert all(c in emoji_captions(ds.entries[i]) for i, c in enumerate(grid["captions"]))
    assert grid["subgroups"] == sorted({ds.entries[i].subgroup for i in range(8)})
    tool.plot(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
