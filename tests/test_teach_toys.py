"""dflib.teach.toys and loss_shapes: 2-D toy data, metrics, training, penalties on real data, logit curves."""

import math

import numpy as np
import pytest
import torch

from dflib import losses as L
from dflib.teach import loss_shapes, toys


def test_r1_on_linear_discriminator_is_half_gamma_psi_squared():
    psi, gamma = 0.5, 3.0
    x = torch.randn(16, 1, requires_grad=True)
    out = psi * x
    assert float(L.r1_penalty(out, x, gamma)) == pytest.approx(gamma / 2 * psi**2)
    assert float(toys.real_penalty(lambda t: psi * t.squeeze(1), x, "r1", gamma, 0, 0)) == pytest.approx(0.375)


def test_bad_names_raise():
    with pytest.raises(ValueError, match="toy distribution"):
        toys.sample_toy("moons", 4)


def test_data_and_metrics():
    g = torch.Generator().manual_seed(0)
    x = toys.sample_toy("ring8", 800, g, std=0.05)
    assert x.shape == (800, 2)
    assert toys.mode_coverage(x, toys.mixture_centres("ring8"), std=0.05) == (8, pytest.approx(1.0, abs=0.01))
    r = toys.sample_toy("ring", 500, g, std=0.0)
    np.testing.assert_allclose(r.norm(dim=1), 2.0, atol=1e-5)
    assert toys.energy_distance(x, x) == pytest.approx(0.0, abs=1e-5)
    assert toys.energy_distance(x, x + 3) > 1.0


def test_toy_training_reduces_distance_to_the_mixture():
    torch.set_num_threads(1)
    run = toys.train_toy(toys.ToyConfig(loss="hinge", steps=300, batch=128, hidden=32, eval_every=300))
    e = run.history["energy"]
    assert run.history["eval_step"] == [0, 300]
    assert e[-1] < 0.5 * e[0]
    assert len(run.history["d_loss"]) == 300


def test_toy_snapshots_and_generator_arrows():
    run = toys.train_toy(toys.ToyConfig(steps=4, batch=16, snapshot_every=2, penalty="zero_gp", eval_every=2))
    assert [s.step for s in run.snapshots] == [0, 2, 4]
    s = run.snapshots[-1]
    assert s.heat.shape == (40, 40) and s.fake.shape == s.arrows.shape == (256, 2)
    # for hinge / wgan G loss -mean D the arrow is exactly grad_x D
    lin = lambda x: x @ torch.tensor([2.0, -1.0])  # noqa: E731
    arrows = toys.generator_gradients(lin, torch.zeros(5, 2), "hinge")
    np.testing.assert_allclose(arrows.numpy(), [[2.0, -1.0]] * 5)


def test_logit_curves_hinge():
    c = loss_shapes.logit_curves("hinge", torch.tensor([-2.0, 0.0, 2.0]))
    np.testing.assert_allclose(c["d_real"], [3, 1, 0])
    np.testing.assert_allclose(c["d_fake"], [0, 1, 3])
    np.testing.assert_allclose(c["dd_fake"], [0, 1, 1])
    np.testing.assert_allclose(c["dg"], [-1, -1, -1])
    b = loss_shapes.logit_curves("bce", torch.tensor([0.0]))
    assert b["d_real"][0] == pytest.approx(math.log(2)) and b["dd_real"][0] == pytest.approx(-0.5)


def test_zero_gp_flattens_discriminator_at_real_data():
    g = torch.Generator().manual_seed(0)
    real = toys.sample_toy("ring8", 128, g)
    fake = 0.3 * torch.randn(128, 2, generator=g)
    d0 = toys.fit_toy_discriminator(real, fake, "none", steps=150, hidden=32)
    d1 = toys.fit_toy_discriminator(real, fake, "r1", gamma=10.0, steps=150, hidden=32)
    assert toys.grad_norm_at(d1, real).mean() < 0.5 * toys.grad_norm_at(d0, real).mean()


def test_history_records_mode_coverage_and_radius():
    run = toys.train_toy(toys.ToyConfig(steps=4, batch=16, eval_every=2, radius=3.0, hidden=8))
    h = run.history
    assert h["eval_step"] == [0, 2, 4] and len(h["modes"]) == len(h["on_mode"]) == 3
    assert all(0 <= m <= 8 for m in h["modes"]) and all(0.0 <= q <= 1.0 for q in h["on_mode"])
    ring = toys.train_toy(toys.ToyConfig(dist="ring", steps=2, batch=16, eval_every=1, hidden=8))
    assert ring.history["modes"] == [] and ring.history["on_mode"] == []
    # a generator that puts every fake on one mode covers exactly that mode
    on_one = toys.mixture_centres("ring8")[3].expand(100, 2)
    assert toys.mode_coverage(on_one, toys.mixture_centres("ring8")) == (1, 1.0)
