"""dfcourse.optimal_d: the best discriminator of the BCE and hinge losses and the divergences they give G
(notebooks 01 and 02), checked on closed forms and against a brute-force search."""

import math

import numpy as np
import pytest
import torch

from dfcourse import optimal_d as od
from dfcourse import toys


@pytest.fixture(scope="module")
def ring():
    _, pts, area = od.density_grid(3.5, 351)
    c = toys.mixture_centres("ring8").numpy()
    return pts, area, c, od.gaussian_mixture_density(pts, c, 0.1)


def test_grid_densities_integrate_to_one(ring):
    pts, area, c, p = ring
    assert p.sum() * area == pytest.approx(1.0, abs=1e-6)
    q = od.gaussian_mixture_density(pts, c[:3], 0.25, weights=np.array([0.5, 0.25, 0.25]))
    assert q.sum() * area == pytest.approx(1.0, abs=1e-6)


def test_minimax_value_at_the_best_d_is_minus_log4_plus_2js(ring):
    pts, area, c, p = ring
    gens = {"equal": p, "blur": od.gaussian_mixture_density(pts, c, 0.25),
            "three": od.gaussian_mixture_density(pts, c[:3], 0.1),
            "away": od.gaussian_mixture_density(pts, np.zeros((1, 2)), 0.1)}
    rows = od.divergence_table(p, gens, area)
    for name, r in rows.items():
        assert r["V*"] == pytest.approx(r["-log4+2JS"], abs=1e-6), name
        assert r["hinge*"] == pytest.approx(r["2(1-TV)"], abs=1e-6), name
    assert rows["equal"]["V*"] == pytest.approx(-math.log(4), abs=1e-9) and rows["equal"]["TV"] == 0
    assert rows["away"]["JS"] == pytest.approx(math.log(2), abs=1e-6) and rows["away"]["TV"] == pytest.approx(1, abs=1e-6)
    # 3 of 8 equally weighted modes: TV = 1/2 (5/8 + 3 (1/3 - 1/8)) = 5/8, the hinge optimum 2 (1 - TV) = 3/4
    assert rows["three"]["TV"] == pytest.approx(0.625, abs=1e-6)
    # D* is the maximiser: any other D gives a smaller V
    q = gens["blur"]
    best = od.value_bce(p, q, od.optimal_d_bce(p, q), area)
    for other in (np.full_like(p, 0.5), np.clip(od.optimal_d_bce(p, q) ** 1.2, 0, 1)):
        assert od.value_bce(p, q, other, area) < best


def test_js_and_kl_on_discrete_distributions():
    a, b = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    assert od.kl_divergence(a, b, 1.0) == math.inf
    m = (a + b) / 2
    assert od.js_divergence(a, b, 1.0) == pytest.approx(0.5 * (0.5 * math.log(2) + 0) * 2)
    assert od.js_divergence(a, m, 1.0) <= math.log(2)
    assert od.js_divergence(a, a, 1.0) == 0


def test_optimal_d_values_and_logit():
    p, q = np.array([1.0, 0.0, 2.0, 0.0]), np.array([3.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(od.optimal_d_bce(p, q), [0.25, 0.5, 1.0, 0.0])
    lo = od.optimal_logit_bce(p, q)
    assert lo[0] == pytest.approx(math.log(1 / 3)) and np.isnan(lo[1]) and lo[2] == np.inf and lo[3] == -np.inf


@pytest.mark.parametrize("pd,pg", [(2.0, 1.0), (1.0, 3.0), (0.0, 1.0), (1.0, 0.0), (0.4, 0.4)])
def test_hinge_optimum_matches_a_brute_force_search(pd, pg):
    assert od.best_hinge_logit_by_search(pd, pg) == od.optimal_d_hinge(np.array([pd]), np.array([pg]))[0]


def test_sample_estimates_and_mode_logits():
    g = torch.Generator().manual_seed(0)
    c = toys.mixture_centres("ring8").numpy()
    x = od.sample_mixture(4000, c[:2], 0.1, g)
    assert x.shape == (4000, 2) and toys.mode_coverage(x, torch.tensor(c))[0] == 2
    const = lambda t: torch.zeros(t.shape[0])  # noqa: E731  D = 1/2 everywhere
    assert od.expected_value_bce(const, x, x) == pytest.approx(-math.log(4), abs=1e-6)
    assert od.expected_hinge_loss(const, x, x) == pytest.approx(2.0)
    lin = lambda t: t[:, 0]  # noqa: E731
    ml = od.mode_logits(lin, c, 0.1, g)
    np.testing.assert_allclose(ml, c[:, 0], atol=0.03)
