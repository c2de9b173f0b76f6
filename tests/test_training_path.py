"""The one training path as a user runs it: `python -m dflib train` stops on steps, the same seed and threads
give the same weights, the end of a run is one line for a person and metrics.json for a program."""

from __future__ import annotations

import json

import pytest
import torch

from dflib.checkpoint import latest_checkpoint, load_training_checkpoint
from dflib.cli.train import main
from dflib.config import get_preset
from test_train_resume import TINY

torch.set_num_threads(1)


def _cli(*args: str) -> list[str]:
    sets = [x for s in TINY for x in ("--set", s)]
    return ["--preset", "shapes-32-cpu", "--threads", "1", *sets, *args]


def _generator(folder) -> dict[str, torch.Tensor]:
    return load_training_checkpoint(latest_checkpoint(folder))["model"]["netG"]


def test_make_train_preset_stops_on_steps_not_minutes():
    cfg = get_preset("shapes-32-cpu")
    assert cfg.max_steps == 4000 and cfg.time_limit_min == 0.0 and cfg.epochs * 125 > cfg.max_steps


def test_same_seed_and_threads_give_the_same_generator(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(_cli("--out", str(tmp_path / name), "--max-steps", "6")) == 0
    assert main(_cli("--out", str(tmp_path / "c"), "--max-steps", "6", "--seed", "1")) == 0
    a, b, c = (_generator(tmp_path / n) for n in "abc")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)  # another seed, other weights: the check can fail
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["stopped_by_time_limit"] is False and metrics["threads"] == 1


def test_the_end_of_a_run_is_one_line_for_a_person(tmp_path, capsys):
    assert main(_cli("--out", str(tmp_path / "run"), "--max-steps", "4")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("[dflib train] done: 4 steps in ")
    assert str(tmp_path / "run") in out[0] and (tmp_path / "run" / "metrics.json").is_file()


def test_a_time_limit_is_still_an_option(tmp_path):
    assert main(_cli("--out", str(tmp_path / "run"), "--max-steps", "100000", "--time-limit-min", "1e-9")) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["stopped_by_time_limit"] is True and metrics["steps"] == 2  # the first log step (log_every=2)


@pytest.mark.parametrize("setting", ["penalty=zero_gp", "mismatch=false", "model.fusion=concat", "penalty=none"])
def test_every_ablation_variant_trains_through_the_cli(tmp_path, setting):
    assert main(_cli("--out", str(tmp_path / "run"), "--max-steps", "2", "--set", setting)) == 0
    saved = load_training_checkpoint(latest_checkpoint(tmp_path / "run"))["config"]
    key, value = setting.split("=")
    got = saved["model"]["fusion"] if key == "model.fusion" else saved[key]
    assert str(got).lower() == value


def test_an_unknown_variant_is_one_line(tmp_path, capsys):
    assert main(_cli("--out", str(tmp_path / "run"), "--set", "penalty=r1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "penalty" in err[0] and not (tmp_path / "run").exists()
