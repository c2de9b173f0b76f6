"""The ablation's variants are switches of the one step (dflib.step.train_step: penalty, mismatch) and of the
one NetG (model.fusion): each switch changes what it should (checked on the D gradient that reaches the
optimiser); the variants train through the Trainer (dflib.ablation); summary, statistics and figure."""

from __future__ import annotations

import copy
import json

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from dflib.ablation import VARIANTS, flatten_metrics, plot_ablation, run_variant, summarise, variant_config, welch
from dflib.config import ModelConfig, apply_overrides, build_models, get_preset
from dflib.losses import hinge_fake, hinge_real, ma_gp, roll_mismatch, zero_centred_gp
from dflib.step import Nets, Optimizers, build_optimizers, train_step

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
    losses = train_step(nets, opts, x, s, noise=z, **switches)
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


def test_the_defaults_are_the_published_step():
    nets, x, s, z = _setup()
    nets2 = copy.deepcopy(nets)
    ref = train_step(nets, build_optimizers(nets), x, s, noise=z)
    got = train_step(nets2, build_optimizers(nets2), x, s, noise=z, penalty="magp", mismatch=True)
    assert set(ref) == {"errD", "errD_real", "errD_fake", "errD_mis", "errD_magp", "errG"}
    for key, value in ref.items():
        assert torch.equal(value, got[key]), key
    # L_D is the named hinge loss plus MA-GP: real + (fake + mis) / 2 + magp (Eq. 1-2)
    want = ref["errD_real"] + (ref["errD_fake"] + ref["errD_mis"]) / 2 + ref["errD_magp"]
    assert torch.allclose(ref["errD"], want, rtol=0, atol=1e-6)


def test_published_gradient_is_hinge_plus_magp():
    nets, x, s, z = _setup(1)
    got, _ = _recorded_d_grad(nets, x, s, z)
    _assert_same_grads(got, _manual_d_grad(nets, x, s, z, penalty="magp"))


def test_no_penalty_gradient_is_the_hinge_terms_alone():
    nets, x, s, z = _setup(2)
    got, losses = _recorded_d_grad(nets, x, s, z, penalty="none")
    assert "errD_gp" not in losses and "errD_magp" not in losses
    assert torch.allclose(losses["errD"], losses["errD_real"] + (losses["errD_fake"] + losses["errD_mis"]) / 2)
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
        train_step(net2, build_optimizers(net2), x, s, noise=z, mismatch=mismatch)
        assert calls["n"] == expected


def test_unknown_penalty_is_refused():
    nets, x, s, z = _setup()
    with pytest.raises(ValueError, match="penalty"):
        train_step(nets, build_optimizers(nets), x, s, noise=z, penalty="r1")


@pytest.mark.parametrize("fusion, module", [("dfblock", "DFBlock"), ("affine", "SingleAffineFusion"),
                                            ("concat", "ConcatFusion")])
def test_fusion_is_an_option_of_the_one_netg(fusion, module):
    torch.manual_seed(5)
    _, d0, c0 = build_models(MODEL)
    torch.manual_seed(5)
    g, d, c = build_models(ModelConfig(**{**MODEL.to_dict(), "fusion": fusion}))
    assert all(type(b.fuse1).__name__ == module and type(b.fuse2).__name__ == module for b in g.GBlocks)
    # the discriminator does not depend on the generator's fusion: same seed, same D and C
    assert all(torch.equal(p, q) for p, q in zip(d.parameters(), d0.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(c.parameters(), c0.parameters()))
    out = g(torch.randn(2, MODEL.z_dim), torch.randn(2, MODEL.cond_dim))
    assert out.shape == (2, 3, 32, 32)


def test_every_variant_is_a_config_of_the_one_trainer(tmp_path):
    base = apply_overrides(get_preset("shapes-32-cpu"), [
        "model.ngf=8", "model.ndf=8", "model.z_dim=8", "model.cond_dim=24", "batch_size=4", "save_every=0",
        "sample_every=0", "log_every=2", "data.options.length=20", "progress=false", "fast=off"])
    cfg = variant_config(base, VARIANTS["concat"], seed=3, steps=4)
    assert (cfg.model.fusion, cfg.seed, cfg.max_steps, cfg.time_limit_min) == ("concat", 3, 4, 0.0)
    assert variant_config(base, VARIANTS["zero_gp"], 0, 4).penalty == "zero_gp"
    assert variant_config(base, VARIANTS["no_mismatch"], 0, 4).mismatch is False
    rec = run_variant(base, VARIANTS["no_gp"], seed=1, steps=4, out_dir=tmp_path / "run", n_eval=16)
    assert rec["steps"] == 4 and rec["variant"] == "no_gp" and not rec["resumed"]
    # D's gradient norms at real pairs are logged on every log step
    assert [h["step"] for h in rec["history"]] == [2, 4]
    assert all(h["grad_text"] > 0 and h["grad_image"] > 0 and "errD_magp" not in h for h in rec["history"])
    assert 0 <= rec["metrics"]["acc_color"] <= 1 and rec["chance"]["color"] == pytest.approx(1 / 8)
    # run again with more steps: it continues from the saved checkpoint
    rec2 = run_variant(base, VARIANTS["no_gp"], seed=1, steps=6, out_dir=tmp_path / "run", n_eval=16)
    assert rec2["resumed"] and rec2["steps"] == 6 and [h["step"] for h in rec2["history"]] == [6]


def test_welch_matches_the_closed_form():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]
    va, vb = 1.0, 20.0 / 3.0  # sample variances
    t = (2.0 - 5.0) / (va / 3 + vb / 4) ** 0.5
    res = welch(a, b)
    assert res["diff"] == pytest.approx(-3.0) and res["t"] == pytest.approx(t)
    assert 0.05 < res["p"] < 0.2


def test_summary_flatten_and_figure(tmp_path):
    runs = []
    for seed, acc in enumerate((0.5, 0.7)):
        metrics = flatten_metrics({"shapes": {"accuracy": {"color": acc, "shape": None},
                                              "real_accuracy": {"color": 1.0}, "diversity": {"size": 0.2},
                                              "diversity_mean": 0.2, "diversity_pixels": 0.3}})
        runs.append({"variant": "dfgan", "seed": seed, "train_seconds": 10.0, "metrics": metrics})
    assert "acc_shape" not in runs[0]["metrics"]
    runs.append({"variant": "no_gp", "seed": 0, "train_seconds": 9.0, "metrics": {"acc_color": 0.4}})
    runs.append({"variant": "no_gp", "seed": 1, "train_seconds": 9.0, "metrics": {"acc_color": 0.2}})
    summary = summarise(runs)
    assert summary["dfgan"]["acc_color"]["mean"] == pytest.approx(0.6)
    assert summary["dfgan"]["acc_color"]["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert summary["dfgan"]["acc_color"]["n"] == 2
    # 95% t-interval with 1 degree of freedom: mean +- 12.706 * std / sqrt(2)
    assert summary["dfgan"]["acc_color"]["ci_high"] == pytest.approx(0.6 + 12.7062 * 0.1414213 / 2**0.5, rel=1e-4)
    assert summary["no_gp"]["acc_color"]["vs_dfgan_diff"] == pytest.approx(-0.3)
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"steps": 3, "seeds": [0, 1], "variant_order": ["dfgan"],
                                "variants": [VARIANTS["dfgan"].to_dict()], "summary": summary}))
    fig = plot_ablation(path, path=tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_ylabel() and ax.get_xlabel()


def test_grad_norm_curves_average_the_seeds_at_common_steps():
    from dflib.ablation import grad_norm_curves, plot_grad_norms

    def run(variant, seed, rows):
        return {"variant": variant, "seed": seed,
                "history": [{"step": s, "grad_image": gi, "grad_text": gt} for s, gi, gt in rows]}

    runs = [run("dfgan", 0, [(50, 1.0, 4.0), (100, 2.0, 6.0)]),
            run("dfgan", 1, [(50, 3.0, 8.0), (100, 4.0, 10.0), (150, 9.0, 9.0)]),
            run("no_gp", 0, [(50, 10.0, 20.0)]),
            {"variant": "old", "seed": 0, "history": [{"step": 50, "errD": 1.0}]}]  # no norms logged: left out
    c = grad_norm_curves(runs)
    assert set(c) == {"dfgan", "no_gp"}
    assert c["dfgan"] == {"step": [50, 100], "seeds": 2, "grad_image": [2.0, 3.0], "grad_text": [6.0, 8.0]}
    assert c["no_gp"]["grad_text"] == [20.0]
    fig = plot_grad_norms(c, {"dfgan": "(a) DF-GAN"})
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert fig.axes[1].get_legend().get_texts()[0].get_text() == "(a) DF-GAN (2 seeds)"


def test_late_grad_norms_average_each_run_after_a_step():
    from dflib.ablation import late_grad_norms

    runs = [{"variant": "dfgan", "seed": 2, "history": [{"step": s, "grad_image": float(s), "grad_text": 1.0}
                                                           for s in (100, 200, 300, 400)]},
            {"variant": "old", "seed": 0, "history": [{"step": 400, "errD": 1.0}]}]
    assert late_grad_norms(runs, after=200) == {"dfgan": {2: {"grad_image": 350.0, "grad_text": 1.0}}}


def test_pair_surface_centre_and_slopes_follow_the_critic():
    """A linear critic D = w.x + c.e: the centre is -mean D, and the slopes along the unit gradient
    directions are the gradient norms |w| and |c| (closed form)."""
    import torch

    from dflib.ablation import pair_surface, plot_pair_surfaces

    torch.manual_seed(0)
    w, c = torch.randn(3, 4, 4), torch.randn(5)

    def netD(x):
        return x

    def netC(f, e):
        return (f * w).flatten(1).sum(1) + e @ c

    x, e = torch.randn(6, 3, 4, 4), torch.randn(6, 5)
    s = pair_surface(netD, netC, x, e, radius=1.0, points=5)
    surf = torch.tensor(s["surface"])
    d0 = ((x * w).flatten(1).sum(1) + e @ c).mean()
    assert torch.isclose(surf[2, 2], -d0, atol=1e-5)
    assert abs(s["grad_image"] - w.norm().item()) < 1e-4 and abs(s["grad_text"] - c.norm().item()) < 1e-4
    # one step of 0.5 along the image axis lowers G's loss by 0.5 |w|; along the sentence axis by 0.5 |c|
    assert torch.isclose(surf[2, 3] - surf[2, 2], torch.tensor(-0.5 * w.norm().item()), atol=1e-4)
    assert torch.isclose(surf[3, 2] - surf[2, 2], torch.tensor(-0.5 * c.norm().item()), atol=1e-4)
    fig = plot_pair_surfaces({"dfgan": s, "no_gp": s}, {"dfgan": "(a)"})
    assert len(fig.axes) == 3 and fig.axes[0].get_title().startswith("(a)")
