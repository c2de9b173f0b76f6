"""dfcourse.runs: finding runs and checkpoints, config diffs, the progress figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from dfcourse import runs


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
    fig = runs.plot_training_progress(hist, torch.zeros(6, 3, 8, 8), nrow=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss" and ax.get_title()
    plt.close(fig)


def test_config_diff():
    from dflib.config import apply_overrides, get_preset

    a = get_preset("shapes-32-cpu")
    b = apply_overrides(a, {"batch_size": 3, "model.ngf": 8, "data.options.length": 10})
    diff = runs.config_diff(a, b)
    assert diff["batch_size"] == (a.batch_size, 3) and diff["model.ngf"] == (16, 8)
    assert diff["data.options"][1]["length"] == 10
    assert runs.config_diff(a, a) == {}
    assert runs.config_diff({"x": {"y": 1}}, {"x": {"y": 2}, "z": 0}) == {"x.y": (1, 2), "z": (None, 0)}


def _tiny_nets():
    from dflib.config import ModelConfig, build_models

    torch.manual_seed(0)
    _, netD, netC = build_models(ModelConfig(imsize=32, ngf=8, ndf=8, z_dim=8, cond_dim=12))
    return netD.double(), netC.double()


def test_real_pair_gradients_match_ma_gp_and_a_per_sample_autograd():
    from dflib.losses import ma_gp

    netD, netC = _tiny_nets()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    e = torch.randn(3, 12, dtype=torch.float64)
    g = runs.real_pair_gradients(netD, netC, x, e, k=2.0, p=6.0)
    assert g["grad_x"].shape == g["grad_e"].shape == g["joint"].shape == (3,)
    # the penalty term of dflib.step.train_step on the same batch
    xl, el = x.clone().requires_grad_(), e.clone().requires_grad_()
    want = ma_gp(netC(netD(xl), el), xl, el, k=2.0, p=6.0).item()
    assert g["magp"] == pytest.approx(want, rel=1e-10)
    # each sample's norms from its own backward pass (the samples do not interact inside D)
    for i in range(3):
        xi, ei = x[i:i + 1].clone().requires_grad_(), e[i:i + 1].clone().requires_grad_()
        gx, ge = torch.autograd.grad(netC(netD(xi), ei).sum(), (xi, ei))
        assert g["grad_x"][i].item() == pytest.approx(gx.norm().item(), rel=1e-10)
        assert g["grad_e"][i].item() == pytest.approx(ge.norm().item(), rel=1e-10)
    assert torch.allclose(g["joint"] ** 2, g["grad_x"] ** 2 + g["grad_e"] ** 2)
    # p = 2 is the plain squared norm; no parameter gets a gradient
    assert runs.real_pair_gradients(netD, netC, x, e, k=1.0, p=2.0)["magp"] == pytest.approx(
        (g["joint"] ** 2).mean().item(), rel=1e-10)
    assert all(q.grad is None for q in list(netD.parameters()) + list(netC.parameters()))


def test_real_pair_gradients_under_no_grad_and_the_figure():
    netD, netC = _tiny_nets()
    x, e = torch.randn(4, 3, 32, 32, dtype=torch.float64), torch.randn(4, 12, dtype=torch.float64)
    with torch.no_grad():
        rec = runs.real_pair_gradients(netD, netC, x, e)
    assert torch.all(rec["grad_x"] > 0) and torch.all(rec["grad_e"] > 0)
    records = [{"step": s, **rec} for s in (0, 10, 20)]
    history = [{"step": 10, "errD_magp": 0.1}, {"step": 20, "errD_magp": 0.05}]
    fig = runs.plot_gradient_norms(records, history, title="t")
    axes = fig.axes
    assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_title() for ax in axes[:3])
    plt.close(fig)
    with pytest.raises(ValueError, match="no gradient records"):
        runs.plot_gradient_norms([])


def test_notebook_run_helpers(tmp_path):
    from dflib.config import get_preset

    steps = list(range(0, 1050, 50))
    kept = list(steps)
    for _ in range(3):
        kept = runs.thin(kept + [kept[-1] + 50], 12)
    assert len(kept) <= 12 and kept[0] == 0
    assert runs.thin(steps, 4, by=lambda s: s) == [0, 350, 650, 1000]
    assert runs.thin([1, 2], 4) == [1, 2]
    report = runs.time_report(0.25, 1000, 4000, "cpu")
    assert "0.25 s/step" in report and "3,000 left" in report and "12 min more" in report
    cfg = runs.notebook_config(get_preset("shapes-32-cpu"), full_run=False, demo_steps=7)
    assert cfg.max_steps == 7 and not cfg.progress and cfg.sample_every == 0
    assert runs.notebook_config(get_preset("shapes-32-cpu"), full_run=True, demo_steps=7).max_steps == 4000
    with pytest.raises(AssertionError, match="not on the training device"):
        runs.assert_on_device("meta", x=torch.zeros(1))
    runs.assert_on_device("cpu", x=torch.zeros(1))
    snaps = [(0, torch.zeros(4, 3, 8, 8)), (10, torch.ones(4, 3, 8, 8))]
    fig = runs.plot_snapshots(snaps, ["a", "b"], ncols=2)
    assert fig.axes[0].get_ylabel() and fig.axes[1].get_title() == "after 10 steps"
    plt.close(fig)
    sh = {"n": 4, "truncation": 0.88, "accuracy": {"color": 1.0}, "chance": {"color": 0.125},
          "n_stated": {"color": 4}, "real_accuracy": {"color": 1.0}, "diversity": {"size": 0.5},
          "diversity_mean": 0.5}
    text = runs.format_metrics(sh, {"fid": 90.0, "fid_floor": 11.0, "n": 300}, label="x")
    assert "color     accuracy 1.000" in text and "FID 90.0" in text
