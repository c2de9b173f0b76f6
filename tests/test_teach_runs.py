"""dflib.teach.runs: finding runs and checkpoints, config diffs, the progress figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from dflib.teach import runs


def test_find_official_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("DFGAN_CHECKPOINT", raising=False)
    assert runs.find_official_checkpoint(candidates=[tmp_path / "none.pth"]) is None
    f = tmp_path / "ckpt.pth"
    f.write_bytes(b"x")
    monkeypatch.setenv("DFGAN_CHECKPOINT", str(f))
    assert runs.find_official_checkpoint(candidates=[]) == f
    monkeypatch.setenv("DFGAN_CHECKPOINT", str(tmp_path / "missing.pth"))
    assert runs.find_official_checkpoint(candidates=[f]) == f


def test_find_run(tmp_path, monkeypatch):
    monkeypatch.delenv("DFGAN_RUN", raising=False)
    assert runs.find_run(patterns=[str(tmp_path / "run-*")]) is None
    old, new = tmp_path / "run-a", tmp_path / "run-b"
    for d in (old, new):
        d.mkdir()
        (d / "state_step_00000010.pth").write_bytes(b"x")
    (tmp_path / "run-c").mkdir()  # no checkpoint: ignored
    import os as _os

    _os.utime(old, (1, 1))
    assert runs.find_run(patterns=[str(tmp_path / "run-*")]) == new
    monkeypatch.setenv("DFGAN_RUN", str(old))
    assert runs.find_run() == old
    monkeypatch.setenv("DFGAN_RUN", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="DFGAN_RUN"):
        runs.find_run()


def test_training_progress_figure():
    hist = [{"step": s, "errD": 1.0 / s, "errG": 0.5} for s in (10, 20, 30)]
    plt.close(runs.plot_training_progress(hist, torch.zeros(6, 3, 8, 8), nrow=3))


def test_config_diff():
    from dflib.config import apply_overrides, get_preset

    a = get_preset("shapes-32-cpu")
    b = apply_overrides(a, {"batch_size": 3, "model.ngf": 8, "data.options.length": 10})
    diff = runs.config_diff(a, b)
    assert diff["batch_size"] == (a.batch_size, 3) and diff["model.ngf"] == (16, 8)
    assert diff["data.options"][1]["length"] == 10
    assert runs.config_diff(a, a) == {}
    assert runs.config_diff({"x": {"y": 1}}, {"x": {"y": 2}, "z": 0}) == {"x.y": (1, 2), "z": (None, 0)}
