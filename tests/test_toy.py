"""dflib.toy: closed forms of the Dirac-GAN, autograd fields through dflib.losses, toy training, MA-GP."""

import math

import numpy as np
import pytest
import torch

from dflib import losses as L
from dflib import toy

GRID = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 7))  # includes psi = 0 and theta = 0


@pytest.mark.parametrize("loss", ["hinge", "bce", "wgan"])
@pytest.mark.parametrize("penalty", ["none", "r1", "zero_gp"])
def test_autograd_field_matches_closed_form(loss, penalty):
    cfg = toy.DiracConfig(loss, penalty, gamma=0.7, k=2.0, p=6.0)
    a = toy.dirac_field(*GRID, cfg)
    b = toy.dirac_field_autograd(*GRID, cfg)
    assert np.isfinite(b[0]).all() and np.isfinite(b[1]).all()
    np.testing.assert_allclose(b[0], a[0], atol=1e-9)
    np.testing.assert_allclose(b[1], a[1], atol=1e-9)


def test_hinge_closed_form_values():
    th, ps = GRID
    vt, vp = toy.dirac_field(th, ps, toy.DiracConfig("hinge"))
    np.testing.assert_allclose(vt, ps)
    np.testing.assert_allclose(vp, -th * (1 + ps * th > 0))
    # outside the margin (1 + psi*theta <= 0) D gets no gradient from the fake
    assert toy.dirac_field(2.0, -1.0, toy.DiracConfig("hinge"))[1] == 0.0


def test_penalties_add_the_documented_terms():
    th, ps = 0.3, 0.8
    base = toy.dirac_field_autograd(th, ps, toy.DiracConfig("hinge"))[1]
    r1 = toy.dirac_field_autograd(th, ps, toy.DiracConfig("hinge", "r1", gamma=1.5))[1]
    gp = toy.dirac_field_autograd(th, ps, toy.DiracConfig("hinge", "zero_gp", k=2, p=6))[1]
    assert r1 - base == pytest.approx(-1.5 * ps)
    assert gp - base == pytest.approx(-12 * ps**5)


def test_r1_on_linear_discriminator_is_half_gamma_psi_squared():
    psi, gamma = 0.5, 3.0
    x = torch.randn(16, 1, requires_grad=True)
    out = psi * x
    assert float(L.r1_penalty(out, x, gamma)) == pytest.approx(gamma / 2 * psi**2)
    assert float(toy.real_penalty(lambda t: psi * t.squeeze(1), x, "r1", gamma, 0, 0)) == pytest.approx(0.375)


@pytest.mark.parametrize("loss", ["hinge", "bce"])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0, 3.0])
def test_eigenvalues_match_closed_form(loss, gamma):
    cfg = toy.DiracConfig(loss, "r1", gamma)
    np.testing.assert_allclose(toy.dirac_eigenvalues(cfg), toy.dirac_eigenvalues_closed(cfg), atol=1e-5)


def test_eigenvalue_facts():
    assert toy.critical_gamma("bce") == 1.0 and toy.critical_gamma("hinge") == 2.0
    ev = toy.dirac_eigenvalues(toy.DiracConfig("hinge"))
    np.testing.assert_allclose(ev, [-1j, 1j], atol=1e-6)  # pure rotation without a penalty
    ev = toy.dirac_eigenvalues(toy.DiracConfig("hinge", "zero_gp", k=2, p=6))
    np.testing.assert_allclose(ev.real, 0, atol=1e-6)  # p = 6 adds no linear damping
    ev = toy.dirac_eigenvalues(toy.DiracConfig("hinge", "r1", gamma=2.0))
    np.testing.assert_allclose(ev, [-1, -1], atol=2e-3)  # critical damping: a double real eigenvalue
    eigs = toy.eigenvalues_vs_gamma([0.5, 4.0], "hinge", field="closed")
    assert eigs.shape == (2, 2) and (eigs.real < 0).all()


def test_trajectories():
    r1 = toy.dirac_trajectory(toy.DiracConfig("hinge", "r1", 1.0), steps=3000, h=0.05)
    none = toy.dirac_trajectory(toy.DiracConfig("hinge"), steps=3000, h=0.05, method="alternating")
    gp = toy.dirac_trajectory(toy.DiracConfig("hinge", "zero_gp"), steps=3000, h=0.05)
    assert r1.shape == (3001, 2) and np.allclose(r1[0], [1, 1])
    assert toy.orbit_radius(r1) < 1e-3
    assert 1.0 < toy.orbit_radius(none) < 2.0
    assert 0.1 < toy.orbit_radius(gp) < 0.6
    auto = toy.dirac_trajectory(toy.DiracConfig("hinge", "r1", 1.0), steps=50, h=0.05, field="autograd")
    np.testing.assert_allclose(auto, r1[:51], atol=1e-10)


def test_bad_names_raise():
    with pytest.raises(ValueError, match="penalty"):
        toy.DiracConfig("hinge", "r2")
    with pytest.raises(ValueError, match="toy distribution"):
        toy.sample_toy("moons", 4)


def test_data_and_metrics():
    g = torch.Generator().manual_seed(0)
    x = toy.sample_toy("ring8", 800, g, std=0.05)
    assert x.shape == (800, 2)
    assert toy.mode_coverage(x, toy.mixture_centres("ring8"), std=0.05) == (8, pytest.approx(1.0, abs=0.01))
    r = toy.sample_toy("ring", 500, g, std=0.0)
    np.testing.assert_allclose(r.norm(dim=1), 2.0, atol=1e-5)
    assert toy.energy_distance(x, x) == pytest.approx(0.0, abs=1e-5)
    assert toy.energy_distance(x, x + 3) > 1.0


def test_toy_training_reduces_distance_to_the_mixture():
    torch.set_num_threads(1)
    run = toy.train_toy(toy.ToyConfig(loss="hinge", steps=300, batch=128, hidden=32, eval_every=300))
    e = run.history["energy"]
    assert run.history["eval_step"] == [0, 300]
    assert e[-1] < 0.5 * e[0]
    assert len(run.history["d_loss"]) == 300


def test_toy_snapshots_and_generator_arrows():
    run = toy.train_toy(toy.ToyConfig(steps=4, batch=16, snapshot_every=2, penalty="zero_gp", eval_every=2))
    assert [s.step for s in run.snapshots] == [0, 2, 4]
    s = run.snapshots[-1]
    assert s.heat.shape == (40, 40) and s.fake.shape == s.arrows.shape == (256, 2)
    # for hinge / wgan G loss -mean D the arrow is exactly grad_x D
    lin = lambda x: x @ torch.tensor([2.0, -1.0])  # noqa: E731
    arrows = toy.generator_gradients(lin, torch.zeros(5, 2), "hinge")
    np.testing.assert_allclose(arrows.numpy(), [[2.0, -1.0]] * 5)


def test_logit_curves_hinge():
    c = toy.logit_curves("hinge", torch.tensor([-2.0, 0.0, 2.0]))
    np.testing.assert_allclose(c["d_real"], [3, 1, 0])
    np.testing.assert_allclose(c["d_fake"], [0, 1, 3])
    np.testing.assert_allclose(c["dd_fake"], [0, 1, 1])
    np.testing.assert_allclose(c["dg"], [-1, -1, -1])
    b = toy.logit_curves("bce", torch.tensor([0.0]))
    assert b["d_real"][0] == pytest.approx(math.log(2)) and b["dd_real"][0] == pytest.approx(-0.5)


def test_zero_gp_flattens_discriminator_at_real_data():
    g = torch.Generator().manual_seed(0)
    real = toy.sample_toy("ring8", 128, g)
    fake = 0.3 * torch.randn(128, 2, generator=g)
    d0 = toy.fit_toy_discriminator(real, fake, "none", steps=150, hidden=32)
    d1 = toy.fit_toy_discriminator(real, fake, "r1", gamma=10.0, steps=150, hidden=32)
    assert toy.grad_norm_at(d1, real).mean() < 0.5 * toy.grad_norm_at(d0, real).mean()


@pytest.mark.parametrize("k,p", [(2.0, 6.0), (1.0, 2.0), (0.5, 3.0)])
def test_ma_gp_of_linear_critic(k, p):
    w, v = torch.tensor([0.3, -0.2, 0.1]), torch.tensor([0.5, 0.4])
    D = toy.LinearCritic(w, v)
    x, e = torch.randn(6, 3), torch.randn(6, 2)
    expected = k * (w.pow(2).sum() + v.pow(2).sum()) ** (p / 2)
    assert float(toy.conditional_penalty(D, x, e, "ma_gp", k, p).detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(toy.conditional_penalty(D, x, e, "zero_gp", k, p).detach()) == pytest.approx(
        float(k * w.pow(2).sum() ** (p / 2)), rel=1e-5)
    assert float(toy.conditional_penalty(D, x, e, "none")) == 0.0


def test_conditional_data_and_mismatch():
    g = torch.Generator().manual_seed(0)
    x, e = toy.sample_conditional(100, g, noise=0.0)
    torch.testing.assert_close(x, e)
    mis = L.roll_mismatch(x)
    assert not torch.isclose(mis, e).all(dim=1).any()


def test_ma_gp_smooths_the_text_direction():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    x, e = toy.sample_conditional(256, g, slope=2.0)
    norms = {}
    for pen in ("none", "zero_gp", "ma_gp"):
        run = toy.train_conditional_critic(toy.CondToyConfig(penalty=pen, steps=300, slope=2.0))
        norms[pen] = toy.conditional_grad_norms(run.D, x, e)
    assert norms["zero_gp"]["x"] < norms["none"]["x"]
    assert norms["ma_gp"]["e"] < 0.6 * min(norms["none"]["e"], norms["zero_gp"]["e"])
    xs, es, z = toy.conditional_surface(run.D, res=11, kind="real_loss")
    assert z.shape == (11, 11) and (z >= 0).all() and xs[-1] == 3.0 and es[-1] == 1.5


def test_conditional_slices_of_linear_critic():
    D = toy.LinearCritic(torch.tensor([2.0]), torch.tensor([-1.0]))
    t, ax, ae = toy.conditional_slices(D, 0.5, 0.25, half_width=1.0, n=5)
    np.testing.assert_allclose(t, [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(ax, 2 * (0.5 + t) - 0.25, atol=1e-6)
    np.testing.assert_allclose(ae, 1.0 - (0.25 + t), atol=1e-6)
