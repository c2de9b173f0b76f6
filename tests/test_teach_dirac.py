"""dfcourse.dirac: closed forms of the Dirac-GAN, autograd fields through dflib.losses, eigenvalues."""

import numpy as np
import pytest
import torch

from dfcourse import dirac

GRID = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 7))  # includes psi = 0 and theta = 0


@pytest.mark.parametrize("loss", ["hinge", "bce", "wgan"])
@pytest.mark.parametrize("penalty", ["none", "r1", "zero_gp"])
def test_autograd_field_matches_closed_form(loss, penalty):
    cfg = dirac.DiracConfig(loss, penalty, gamma=0.7, k=2.0, p=6.0)
    a = dirac.dirac_field(*GRID, cfg)
    b = dirac.dirac_field_autograd(*GRID, cfg)
    assert np.isfinite(b[0]).all() and np.isfinite(b[1]).all()
    np.testing.assert_allclose(b[0], a[0], atol=1e-9)
    np.testing.assert_allclose(b[1], a[1], atol=1e-9)


def test_hinge_closed_form_values():
    th, ps = GRID
    vt, vp = dirac.dirac_field(th, ps, dirac.DiracConfig("hinge"))
    np.testing.assert_allclose(vt, ps)
    np.testing.assert_allclose(vp, -th * (1 + ps * th > 0))
    # outside the margin (1 + psi*theta <= 0) D gets no gradient from the fake
    assert dirac.dirac_field(2.0, -1.0, dirac.DiracConfig("hinge"))[1] == 0.0


def test_penalties_add_the_documented_terms():
    th, ps = 0.3, 0.8
    base = dirac.dirac_field_autograd(th, ps, dirac.DiracConfig("hinge"))[1]
    r1 = dirac.dirac_field_autograd(th, ps, dirac.DiracConfig("hinge", "r1", gamma=1.5))[1]
    gp = dirac.dirac_field_autograd(th, ps, dirac.DiracConfig("hinge", "zero_gp", k=2, p=6))[1]
    assert r1 - base == pytest.approx(-1.5 * ps)
    assert gp - base == pytest.approx(-12 * ps**5)


@pytest.mark.parametrize("loss", ["hinge", "bce"])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0, 3.0])
def test_eigenvalues_match_closed_form(loss, gamma):
    cfg = dirac.DiracConfig(loss, "r1", gamma)
    np.testing.assert_allclose(dirac.dirac_eigenvalues(cfg), dirac.dirac_eigenvalues_closed(cfg), atol=1e-5)


def test_eigenvalue_facts():
    assert dirac.critical_gamma("bce") == 1.0 and dirac.critical_gamma("hinge") == 2.0
    ev = dirac.dirac_eigenvalues(dirac.DiracConfig("hinge"))
    np.testing.assert_allclose(ev, [-1j, 1j], atol=1e-6)  # pure rotation without a penalty
    ev = dirac.dirac_eigenvalues(dirac.DiracConfig("hinge", "zero_gp", k=2, p=6))
    np.testing.assert_allclose(ev.real, 0, atol=1e-6)  # p = 6 adds no linear damping
    ev = dirac.dirac_eigenvalues(dirac.DiracConfig("hinge", "r1", gamma=2.0))
    np.testing.assert_allclose(ev, [-1, -1], atol=2e-3)  # critical damping: a double real eigenvalue
    eigs = dirac.eigenvalues_vs_gamma([0.5, 4.0], "hinge", field="closed")
    assert eigs.shape == (2, 2) and (eigs.real < 0).all()


def test_trajectories():
    r1 = dirac.dirac_trajectory(dirac.DiracConfig("hinge", "r1", 1.0), steps=3000, h=0.05)
    none = dirac.dirac_trajectory(dirac.DiracConfig("hinge"), steps=3000, h=0.05, method="alternating")
    gp = dirac.dirac_trajectory(dirac.DiracConfig("hinge", "zero_gp"), steps=3000, h=0.05)
    assert r1.shape == (3001, 2) and np.allclose(r1[0], [1, 1])
    assert dirac.orbit_radius(r1) < 1e-3
    assert 1.0 < dirac.orbit_radius(none) < 2.0
    assert 0.1 < dirac.orbit_radius(gp) < 0.6
    auto = dirac.dirac_trajectory(dirac.DiracConfig("hinge", "r1", 1.0), steps=50, h=0.05, field="autograd")
    np.testing.assert_allclose(auto, r1[:51], atol=1e-10)


def test_bad_names_raise():
    with pytest.raises(ValueError, match="penalty"):
        dirac.DiracConfig("hinge", "r2")


@pytest.mark.parametrize("method", ["simultaneous", "alternating"])
@pytest.mark.parametrize("cfg", [dirac.DiracConfig("hinge"), dirac.DiracConfig("hinge", "r1", 0.3),
                                 dirac.DiracConfig("bce", "r1", 3.0), dirac.DiracConfig("hinge", "zero_gp")])
def test_step_matrix_and_its_eigenvalues(cfg, method):
    measured = dirac.step_matrix(cfg, h=0.05, method=method)
    np.testing.assert_allclose(measured, dirac.step_matrix_closed(cfg, 0.05, method), atol=1e-8)
    ev = np.sort_complex(np.linalg.eigvals(measured))
    np.testing.assert_allclose(ev, np.sort_complex(dirac.step_eigenvalues_closed(cfg, 0.05, method)), atol=1e-8)


def test_step_eigenvalue_facts():
    h = 0.05
    sim = dirac.step_eigenvalues_closed(dirac.DiracConfig("hinge"), h, "simultaneous")
    np.testing.assert_allclose(np.abs(sim), np.sqrt(1 + h * h))  # |1 +- ih| > 1: outward spiral
    alt = dirac.step_eigenvalues_closed(dirac.DiracConfig("hinge"), h, "alternating")
    np.testing.assert_allclose(np.abs(alt), 1.0)  # determinant 1: closed orbit
    assert np.linalg.det(dirac.step_matrix_closed(dirac.DiracConfig("wgan"), h, "alternating")) == pytest.approx(1)
    r1 = dirac.step_eigenvalues_closed(dirac.DiracConfig("hinge", "r1", 0.3), h, "alternating")
    np.testing.assert_allclose(np.abs(r1), np.sqrt(1 - h * 0.3))
    assert dirac.linear_damping(dirac.DiracConfig("hinge", "zero_gp", k=3, p=2)) == 6.0
    assert dirac.linear_damping(dirac.DiracConfig("hinge", "zero_gp")) == 0.0
    with pytest.raises(ValueError, match="method"):
        dirac.step_matrix_closed(method="leapfrog")


def test_simultaneous_growth_is_bounded_by_the_hinge_dead_zone():
    hinge = dirac.dirac_trajectory(dirac.DiracConfig("hinge"), steps=3000, h=0.05)
    wgan = dirac.dirac_trajectory(dirac.DiracConfig("wgan"), steps=3000, h=0.05)
    r_h, r_w = np.linalg.norm(hinge, axis=1), np.linalg.norm(wgan, axis=1)
    np.testing.assert_allclose(r_w[1:] / r_w[:-1], np.sqrt(1 + 0.05**2))  # no dead zone: exact growth
    assert r_h.max() < 1.1 * r_h[0]


@pytest.mark.parametrize("h", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("method", ["simultaneous", "alternating"])
def test_stable_friction_is_where_one_step_contracts(h, method):
    lo, hi = dirac.stable_friction(1.0, h, method)
    cs = np.logspace(-3, 2.5, 3001)
    inside = np.array([np.abs(dirac.step_mu(1.0, c, h, method)).max() < 1 for c in cs])
    np.testing.assert_array_equal(inside, (cs > lo) & (cs < hi))
    for c in (0.3, 2.0):  # the closed-form mu agree with a measured step
        M = dirac.step_matrix(dirac.DiracConfig("hinge", "r1", c), h=h, method=method)
        np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(M)),
                                   np.sort_complex(dirac.step_mu(1.0, c, h, method)), atol=1e-6)


def test_limit_cycle_radius_and_flow():
    cfg = dirac.DiracConfig("hinge", "zero_gp", k=2, p=6)
    assert dirac.cycle_radius_closed(0.05) == pytest.approx((2 * 0.05 / 15) ** 0.25)
    measured = dirac.orbit_radius(dirac.dirac_trajectory(cfg, steps=3200, h=0.05))
    assert measured == pytest.approx(dirac.cycle_radius_closed(0.05), rel=0.01)
    r = np.linalg.norm(dirac.continuous_trajectory(cfg, times=(100.0, 300.0)), axis=1)
    np.testing.assert_allclose(r, dirac.flow_radius([100.0, 300.0], np.sqrt(2)), rtol=0.01)
    assert dirac.flow_radius(0.0, 0.7) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="even power"):
        dirac.cycle_radius_closed(0.05, p=5)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_notebook03_full_mode_claims_hold_for_other_seeds(seed):
    """Notebook 03's Dirac-GAN is deterministic; its 2D section trains D alone with seed 0 in full mode, and its
    full-mode asserts must hold for seeds 1 and 2 too."""
    from dfcourse import toys

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(seed)
    real, fake = toys.sample_toy("ring8", 256, g), 0.5 * torch.randn(256, 2, generator=g)
    kinds = {"none": dict(penalty="none"), "r1": dict(penalty="r1", gamma=10.0),
             "p6": dict(penalty="zero_gp", k=2, p=6)}
    Ds = {n: toys.fit_toy_discriminator(real, fake, steps=1000, seed=seed, **kw) for n, kw in kinds.items()}
    norms = {n: float(toys.grad_norm_at(D, real).mean()) for n, D in Ds.items()}
    with torch.no_grad():
        on = {n: (D(real), D(fake)) for n, D in Ds.items()}
    gap = {n: float(r.mean() - f.mean()) for n, (r, f) in on.items()}
    assert norms["r1"] < 0.5 * norms["none"] and norms["p6"] < norms["none"]
    assert gap["none"] > 5 and gap["r1"] < 0.3 * gap["p6"]
    assert float(on["r1"][0].mean()) < 0 < float(on["p6"][0].mean())
