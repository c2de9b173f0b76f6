"""Atomic training checkpoints, keep-last-k, weights-only loading and RNG state round trips."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dflib import checkpoint as ck
from dflib.config import ModelConfig, build_models
from dflib.step import Nets, build_optimizers

torch.set_num_threads(1)


def _nets_opts():
    torch.manual_seed(0)
    nets = Nets(*build_models(ModelConfig(imsize=32, ngf=2, ndf=2, z_dim=4, cond_dim=6)))
    return nets, build_optimizers(nets)


def _save(folder, nets, opts, step, keep_last=3):
    return ck.save_training_checkpoint(
        folder, netG=nets.netG, netD=nets.netD, netC=nets.netC, optimizer_G=opts.optimizer_G,
        optimizer_D=opts.optimizer_D, epoch=1, step=step, config={"preset": "t", "lr": 1e-4},
        vocab={"<end>": 0, "red": 1}, data_state={"epoch": 1, "batch": 2, "seed": 3}, rng=ck.rng_state(),
        keep_last=keep_last)


def test_official_layout_and_weights_only(tmp_path):
    nets, opts = _nets_opts()
    path = _save(tmp_path, nets, opts, step=7)
    assert path.name == "state_step_00000007.pth"
    raw = torch.load(path, weights_only=True)  # everything is plain data
    assert set(raw["model"]) == {"netG", "netD", "netC"}
    assert set(raw["optimizers"]) == {"optimizer_G", "optimizer_D"}
    assert raw["epoch"] == 1 and raw["step"] == 7 and raw["vocab"]["red"] == 1
    assert not any(k.startswith("module.") for k in raw["model"]["netG"])
    # it also loads through the official loader (same layout)
    off = ck.load_official_checkpoint(path)
    torch.testing.assert_close(off["netG"].fc.weight, nets.netG.fc.weight)


def test_crash_while_saving_keeps_previous_checkpoint(tmp_path, monkeypatch):
    nets, opts = _nets_opts()
    good = _save(tmp_path, nets, opts, step=1)
    before = good.read_bytes()
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"partial garbage")  # half-written file, then the process "dies"
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crashing_save)
    with torch.no_grad():
        nets.netG.fc.weight.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        _save(tmp_path, nets, opts, step=2)
    monkeypatch.setattr(torch, "save", real_save)
    assert good.read_bytes() == before
    # no temp file, no half checkpoint: the good file and its checksum only
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.name, good.name + ".sha256"]
    assert ck.latest_checkpoint(tmp_path) == good
    loaded = ck.load_training_checkpoint(tmp_path)
    assert loaded["step"] == 1
    # overwrite in place is atomic too: the same step again replaces the file whole
    with pytest.raises(OSError):
        monkeypatch.setattr(torch, "save", crashing_save)
        _save(tmp_path, nets, opts, step=1)
    monkeypatch.setattr(torch, "save", real_save)
    assert good.read_bytes() == before


def test_keep_last_k(tmp_path):
    nets, opts = _nets_opts()
    for s in (5, 10, 15, 20, 25):
        _save(tmp_path, nets, opts, step=s, keep_last=2)
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["state_step_00000020.pth", "state_step_00000025.pth"]
    for s in (30, 35):
        _save(tmp_path, nets, opts, step=s, keep_last=0)  # 0 keeps everything
    assert len(ck.list_checkpoints(tmp_path)) == 4


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1); np.random.seed(2); torch.manual_seed(3)  # noqa: E702
    state = ck.rng_state({"noise": gen})
    torch.save(state, tmp_path / "rng.pth")
    expect = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    random.seed(9); np.random.seed(9); torch.manual_seed(9); gen.manual_seed(9)  # noqa: E702
    ck.set_rng_state(torch.load(tmp_path / "rng.pth", weights_only=True), {"noise": gen})
    got = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    assert got == expect


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no state_step"):
        ck.load_training_checkpoint(tmp_path)
    torch.save({"a": torch.zeros(1)}, tmp_path / "x.pth")
    with pytest.raises(ck.CheckpointMismatchError, match="not a DF-GAN training checkpoint"):
        ck.load_training_checkpoint(tmp_path / "x.pth")
