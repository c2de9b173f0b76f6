"""dfcourse.toys and loss_shapes: 2-D toy data, metrics, training, penalties on real data, logit curves."""

import math

import numpy as np
import pytest
import torch

from dflib import losses as L
from dfcourse import loss_shapes, toys


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


def _critic_of_three_modes(loss: str, seed: int):
    """Notebooks 01 and 02: a toy D fitted (``loss``) to the ring of 8 against a generator on its first 3
    modes; returns D, the centres, the generator of the draws and D's logit at each mode."""
    from dfcourse import optimal_d as od

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(seed)
    c = toys.mixture_centres("ring8").numpy()
    D = toys.fit_toy_discriminator(od.sample_mixture(2048, c, 0.1, g), od.sample_mixture(2048, c[:3], 0.1, g),
                                   loss=loss, steps=1000, seed=seed)
    return D, c, g, od.mode_logits(D, c, 0.1, g)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_notebook01_full_mode_claims_hold_for_other_seeds(seed):
    """Notebook 01 runs seed 0 in full mode (CI executes it); every assert it makes only in full mode must hold
    for seeds 1 and 2 too, computed the way the notebook computes it."""
    import math

    from dfcourse import optimal_d as od

    # Section 3: a D trained against the generator collapsed on 3 modes finds D*
    D, c, g, logits = _critic_of_three_modes("bce", seed)
    assert abs(logits[:3].mean() - math.log(3 / 8)) < 0.1 and logits[3:].min() > 3
    _, pts, area = od.density_grid()
    p, q = od.gaussian_mixture_density(pts, c, 0.1), od.gaussian_mixture_density(pts, c[:3], 0.1)
    v_best = od.value_bce(p, q, od.optimal_d_bce(p, q), area)
    v_fit = od.expected_value_bce(D, od.sample_mixture(4096, c, 0.1, g), od.sample_mixture(4096, c[:3], 0.1, g))
    assert abs(v_fit - v_best) < 0.05
    # Sections 5 and 6: a healthy run and a collapsed one (lr_G = 10 lr_D)
    steps, every = 2000, 50
    run = toys.train_toy(toys.ToyConfig(loss="bce", steps=steps, snapshot_every=steps // 5, eval_every=every,
                                        seed=seed))
    col = toys.train_toy(toys.ToyConfig(loss="bce", steps=steps, lr_g=1e-3, lr_d=1e-4, snapshot_every=every,
                                        eval_every=every, seed=seed))
    hh, hc = run.history, col.history
    assert hh["energy"][-1] < 0.5 * hh["energy"][0] and hh["modes"][-1] >= 6
    late = [i for i, s in enumerate(hc["eval_step"]) if s >= steps // 4]
    late_modes = float(np.mean([hc["modes"][i] for i in late]))
    assert late_modes < 1.5 and max(hc["on_mode"]) >= 0.3

    def spread(r):
        return float(np.mean([s.fake.std(axis=0).mean() for s in r.snapshots if s.step >= steps // 4]))

    assert spread(col) < 0.5 * spread(run)
    last = steps // 4
    assert abs(float(np.mean(hc["d_loss"][-last:])) - 2 * np.log(2)) < 0.1
    # Section 7: grid9's fakes between the modes
    grid = toys.train_toy(toys.ToyConfig(dist="grid9", loss="hinge", steps=steps, snapshot_every=steps, seed=seed))
    centres9 = toys.mixture_centres("grid9")
    off_fake = 1 - toys.mode_coverage(torch.tensor(grid.snapshots[-1].fake), centres9)[1]
    off_real = 1 - toys.mode_coverage(toys.sample_toy("grid9", 4096, g), centres9)[1]
    assert off_fake > 10 * off_real
    # Exercise 4: D ten times faster than G does not collapse
    slow = toys.train_toy(toys.ToyConfig(loss="bce", steps=steps, lr_g=1e-4, lr_d=1e-3, eval_every=every, seed=seed))
    hs = slow.history
    slow_modes = float(np.mean([m for s, m in zip(hs["eval_step"], hs["modes"]) if s >= steps // 4]))
    assert slow_modes >= 3 and slow_modes > 3 * late_modes


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_notebook02_full_mode_claims_hold_for_other_seeds(seed):
    """Notebook 02 runs seed 0 in full mode; its full-mode asserts must hold for seeds 1 and 2 too."""
    from dfcourse import optimal_d as od

    # Section 4: a hinge D trained against the generator on 3 modes finds D* = sign(p_data - p_g)
    D, c, g, logits = _critic_of_three_modes("hinge", seed)
    assert np.abs(logits[:3] + 1).max() < 0.1 and logits[3:].min() > 0.9
    fit = od.expected_hinge_loss(D, od.sample_mixture(4096, c, 0.1, g), od.sample_mixture(4096, c[:3], 0.1, g))
    assert abs(fit - 0.75) < 0.05
    # Section 6: the toy trained with each loss
    steps = 2000
    runs = {n: toys.train_toy(toys.ToyConfig(loss=n, steps=steps, snapshot_every=steps, eval_every=steps // 10,
                                             seed=seed)) for n in ("bce", "wgan", "hinge")}
    real = toys.sample_toy("ring8", 1000, g)
    with torch.no_grad():
        size = {n: float(r.D(real).abs().mean()) for n, r in runs.items()}
    cover = {n: toys.mode_coverage(torch.tensor(r.snapshots[-1].fake), toys.mixture_centres("ring8"))[0]
             for n, r in runs.items()}
    energy = {n: r.history["energy"] for n, r in runs.items()}
    assert size["wgan"] > 10 * size["hinge"] and size["hinge"] < 1.5 and size["bce"] < 1.5
    # the WGAN energy swings (seed 1 here: 1.33 -> 0.41 -> 3.78 -> 1.22), so "ends above its start" is a coin
    # flip; what holds is that it never comes down and ends far above the runs that converge
    assert cover["wgan"] <= 3 and min(energy["wgan"]) > 0.25  # seed 2 on the build machine: 3 of the 8
    assert energy["wgan"][-1] > 10 * max(energy["bce"][-1], energy["hinge"][-1])
    assert cover["bce"] == cover["hinge"] == 8 and max(energy["bce"][-1], energy["hinge"][-1]) < 0.05
    # Section 6: D alone against fakes inside radius 1
    fr, ff = toys.sample_toy("ring8", 256, g), 0.5 * torch.randn(256, 2, generator=g)
    ff = ff / ff.norm(dim=1, keepdim=True).clamp(min=1.0)
    marks = (250, 1000, 2000)
    tr = {n: toys.track_discriminator_fit(fr, ff, n, 2000, marks, seed=seed) for n in ("hinge", "bce", "wgan")}
    h, b, w = (tr[n]["at"] for n in ("hinge", "bce", "wgan"))
    assert tr["hinge"]["zero_at"] is not None and tr["hinge"]["zero_at"] <= 250
    assert h[2000]["real_min"] >= 1 and h[2000]["fake_max"] <= -1 and h[2000]["loss"] == 0
    assert abs(h[2000]["real_mean"] - h[250]["real_mean"]) < 1e-3
    assert b[250]["real_mean"] < b[1000]["real_mean"] < b[2000]["real_mean"]
    assert w[2000]["real_mean"] > 10 * w[250]["real_mean"]
    # Exercise 4: R1 bounds the WGAN critic
    r1 = toys.train_toy(toys.ToyConfig(loss="wgan", penalty="r1", gamma=1.0, steps=steps, seed=seed))
    with torch.no_grad():
        assert float(r1.D(real).abs().mean()) < 0.2 * size["wgan"]


def test_track_discriminator_fit_records_and_stops():
    g = torch.Generator().manual_seed(0)
    real = toys.sample_toy("ring8", 64, g)
    fake = 0.2 * torch.randn(64, 2, generator=g)
    out = toys.track_discriminator_fit(real, fake, "hinge", steps=400, at=(200, 400), hidden=32)
    assert set(out["at"]) == {200, 400} and {"loss", "real_min", "fake_max", "inside"} <= set(out["at"][400])
    assert out["zero_at"] is not None and out["at"][400]["loss"] == 0 and out["at"][400]["inside"] == 0
    assert out["at"][400]["real_mean"] == pytest.approx(out["at"][200]["real_mean"], abs=1e-3)


def test_dfgan_d_loss_terms_and_magp():
    t = np.array([-2.0, 0.0, 2.0])
    terms = loss_shapes.dfgan_d_loss_terms(t)
    np.testing.assert_allclose(terms["real"], [3, 1, 0])
    np.testing.assert_allclose(terms["fake"], [0, 0.5, 1.5])
    np.testing.assert_allclose(terms["mismatch"], terms["fake"])
    np.testing.assert_allclose(loss_shapes.magp_on_linear_critic([0.5, 1.0, 1.5]),
                               loss_shapes.penalty_curve(np.array([0.5, 1.0, 1.5])), rtol=1e-12)
