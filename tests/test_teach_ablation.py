"""dflib.teach.ablation: the switchable step equals dflib.step.train_step when published, and each switch
changes what it should (checked on the D gradient that reaches the optimiser); summary and figure."""

from __future__ import annotations

import copy
import json

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from dflib.config import ModelConfig, build_models
from dflib.losses import hinge_fake, hinge_real, ma_gp, roll_mismatch, zero_centred_gp
from dflib.step import Nets, Optimizers, build_optimizers, train_step
from dflib.teach.ablation import (
    VARIANTS,
    ablation_step,
    build_variant_nets,
    flatten_metrics,
    plot_ablation,
    summarise_runs,
)
from dflib.teach.fusion import fusion_kind

MODEL = ModelConfig(imsize=32, ngf=8, ndf=8, z_dim=16, cond_dim=24)


class RecordingSGD(torch.optim.SGD):
    """Records the gradients it is asked to apply, and applies nothing (so weights stay put)."""

    def step(self, closure=None):  # noqa: D401
        self.recorded = [None if p.grad is None else p.grad.detach().clone()
                         for g in self.param_groups for p in g["params"]]


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    nets = Nets(*build_models(MODEL))
    gen = torch.Generator().manual_seed(seed + 10)
    x = torch.randn(4, 3, 32, 32, generator=gen)
    s = torch.randn(4, MODEL.cond_dim, generator=gen)
    z = torch.randn(4, MODEL.z_dim, generator=gen)
    return nets, x, s, z


def _d_params(nets):
    return list(nets.netD.parameters()) + list(nets.netC.parameters())


def _recorded_d_grad(nets, x, s, z, **switches):
    nets = copy.deepcopy(nets)
    opts = Optimizers(RecordingSGD(nets.netG.parameters(), lr=0.0), RecordingSGD(_d_params(nets), lr=0.0))
    losses = ablation_step(nets, opts, x, s, noise=z, **switches)
    return opts.optimizer_D.recorded, losses


def _manual_d_grad(nets, x, s, z, mismatch=True, penalty="none"):
    nets = copy.deepcopy(nets)
    x, s = x.clone().requires_grad_(), s.clone().requires_grad_()
    feats = nets.netD(x)
    pred_real = nets.netC(feats, s)
    fake = nets.netG(z, s)
    pred_fake = nets.netC(nets.netD(fake.detach()), s)
    if mismatch:
        loss = hinge_real(pred_real) + (hinge_fake(pred_fake) + hinge_fake(nets.netC(roll_mismatch(feats), s))) / 2
    else:
        loss = hinge_real(pred_real) + hinge_fake(pred_fake)
    if penalty == "magp":
        loss = loss + ma_gp(pred_real, x, s)
    elif penalty == "zero_gp":
        loss = loss + zero_centred_gp(pred_real, x)
    return list(torch.autograd.grad(loss, _d_params(nets), allow_unused=True))


def _assert_same_grads(a, b, exact=False):
    assert len(a) == len(b)
    for ga, gb in zip(a, b):
        if ga is None or gb is None:
            assert (ga is None or not ga.any()) and (gb is None or not gb.any())
            continue
        if exact:
            assert torch.equal(ga, gb)
        else:
            torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-7)


def test_published_variant_equals_train_step_exactly():
    nets, x, s, z = _setup()
    nets2 = copy.deepcopy(nets)
    ref = train_step(nets, build_optimizers(nets), x, s, noise=z)
    got = ablation_step(nets2, build_optimizers(nets2), x, s, noise=z)  # defaults: magp, mismatch on
    for key, value in ref.items():
        assert torch.equal(value, got[key]), key
    for n1, n2 in zip(nets, nets2):
        for p1, p2 in zip(n1.parameters(), n2.parameters()):
            assert torch.equal(p1, p2)


def test_published_gradient_is_hinge_plus_magp():
    nets, x, s, z = _setup(1)
    got, _ = _recorded_d_grad(nets, x, s, z)
    _assert_same_grads(got, _manual_d_grad(nets, x, s, z, penalty="magp"))


def test_no_penalty_gradient_is_the_hinge_terms_alone():
    nets, x, s, z = _setup(2)
    got, losses = _recorded_d_grad(nets, x, s, z, penalty="none")
    assert float(losses["errD_gp"]) == 0.0 and "errD_magp" not in losses
    _assert_same_grads(got, _manual_d_grad(nets, x, s, z, penalty="none"))
    # and it differs from the published gradient (MA-GP contributes)
    published, _ = _recorded_d_grad(nets, x, s, z)
    assert any(a is not None and not torch.equal(a, b) for a, b in zip(got, published))


def test_zero_gp_penalises_the_image_gradient_only():
    nets, x, s, z = _setup(3)
    got, losses = _recorded_d_grad(nets, x, s, z, penalty="zero_gp")
    _assert_same_grads(got, _manual_d_grad(nets, x, s, z, penalty="zero_gp"))
    xs, ss = x.clone().requires_grad_(), s.clone().requires_grad_()
    out = nets.netC(nets.netD(xs), ss)
    assert torch.allclose(losses["errD_gp"], zero_centred_gp(out, xs))
    assert float(losses["errD_gp"]) < float(ma_gp(out, xs, ss).detach())  # the sentence gradient is left out


def test_without_mismatch_no_mismatched_term_and_no_extra_netC_pass():
    nets, x, s, z = _setup(4)
    got, losses = _recorded_d_grad(nets, x, s, z, mismatch=False, penalty="none")
    assert "errD_mis" not in losses
    assert torch.allclose(losses["errD"], losses["errD_real"] + losses["errD_fake"])
    _assert_same_grads(got, _manual_d_grad(nets, x, s, z, mismatch=False, penalty="none"))
    # NetC runs on real, fake (D step) and fake (G step): the mismatched pairs are never formed
    calls = {"n": 0}
    for mismatch, expected in ((False, 3), (True, 4)):
        net2 = copy.deepcopy(nets)
        calls["n"] = 0
        net2.netC.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
        ablation_step(net2, build_optimizers(net2), x, s, noise=z, mismatch=mismatch)
        assert calls["n"] == expected


def test_unknown_penalty_is_refused():
    nets, x, s, z = _setup()
    with pytest.raises(ValueError, match="penalty"):
        ablation_step(nets, build_optimizers(nets), x, s, noise=z, penalty="r1")


def test_variant_nets_share_the_discriminator_and_swap_fusion():
    base = build_variant_nets(VARIANTS["dfgan"], MODEL, seed=5)
    for name, kind in (("dfgan", "dfblock"), ("concat", "concat"), ("affine", "affine")):
        g, d, c = build_variant_nets(VARIANTS[name], MODEL, seed=5)
        assert fusion_kind(g) == kind
        assert all(torch.equal(p, q) for p, q in zip(d.parameters(), base[1].parameters()))
        assert all(torch.equal(p, q) for p, q in zip(c.parameters(), base[2].parameters()))


def test_summary_flatten_and_figure(tmp_path):
    runs = []
    for seed, acc in enumerate((0.5, 0.7)):
        metrics = flatten_metrics({"shapes": {"accuracy": {"color": acc, "shape": None},
                                              "real_accuracy": {"color": 1.0}, "diversity": {"size": 0.2},
                                              "diversity_mean": 0.2, "diversity_pixels": 0.3}})
        runs.append({"variant": "dfgan", "seed": seed, "train_seconds": 10.0, "metrics": metrics})
    assert "acc_shape" not in runs[0]["metrics"]
    summary = summarise_runs(runs)
    assert summary["dfgan"]["acc_color"]["mean"] == pytest.approx(0.6)
    assert summary["dfgan"]["acc_color"]["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert summary["dfgan"]["acc_color"]["n"] == 2
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"steps": 3, "seeds": [0, 1], "variant_order": ["dfgan"],
                                "variants": [VARIANTS["dfgan"].to_dict()], "summary": summary}))
    fig = plot_ablation(path, path=tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_ylabel() and ax.get_xlabel()
