"""dfcourse.early_checks (notebooks 00-05): every check passes a right answer and says what is wrong with a
wrong one."""

import numpy as np
import pytest
import torch

from dflib import losses as L
from dfcourse import early_checks as ec
from dfcourse.exercises import ExerciseError


def _js(p, q):
    m = (p + q) / 2
    kl = lambda a, b: float(np.sum(a[a > 0] * np.log(a[a > 0] / b[a > 0])))  # noqa: E731
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_01_checks():
    ec.verify_optimal_d(lambda p, q: p / (p + q))
    with pytest.raises(ExerciseError, match="probability of 'fake'"):
        ec.verify_optimal_d(lambda p, q: q / (p + q))
    ec.verify_js(_js)
    with pytest.raises(ExerciseError, match="bits"):
        ec.verify_js(lambda p, q: _js(p, q) / np.log(2))
    with pytest.raises(ExerciseError, match="twice"):
        ec.verify_js(lambda p, q: 2 * _js(p, q))
    with pytest.raises(ExerciseError, match="0 log 0"):
        ec.verify_js(lambda p, q: 0.5 * float(np.sum(p * np.log(p / ((p + q) / 2)))) * float("nan"))
    ec.verify_ns_g_loss(lambda f: -torch.nn.functional.logsigmoid(f).mean())
    with pytest.raises(ExerciseError, match="saturating"):
        ec.verify_ns_g_loss(L.bce_g_loss_saturating)
    with pytest.raises(ExerciseError, match="sign"):
        ec.verify_ns_g_loss(lambda f: -L.bce_g_loss(f))
    with pytest.raises(ExerciseError, match="one number"):
        ec.verify_ns_g_loss(lambda f: -torch.nn.functional.logsigmoid(f))


def test_02_checks():
    ec.verify_hinge_optimum(lambda p, q: 1.0 if p > q else -1.0)
    with pytest.raises(ExerciseError, match="compare p_data with p_g"):
        ec.verify_hinge_optimum(lambda p, q: p / (p + q))
    ec.verify_dfgan_d_loss(L.hinge_d_loss)
    with pytest.raises(ExerciseError, match="weighted 1/2"):
        ec.verify_dfgan_d_loss(lambda r, f, m: L.hinge_real(r) + L.hinge_fake(f) + L.hinge_fake(m))
    with pytest.raises(ExerciseError, match="mismatched pairs are missing"):
        ec.verify_dfgan_d_loss(lambda r, f, m: L.hinge_d_loss(r, f))
    ec.verify_mismatch(L.roll_mismatch)
    with pytest.raises(ExerciseError, match="wrong way"):
        ec.verify_mismatch(lambda x: torch.roll(x, 1, 0))


def test_03_checks():
    ec.verify_r1_field(lambda th, ps, g: (ps, -th * (1 + ps * th > 0) - g * ps))
    with pytest.raises(ExerciseError, match="wrong sign"):
        ec.verify_r1_field(lambda th, ps, g: (ps, -th * (1 + ps * th > 0) + g * ps))
    with pytest.raises(ExerciseError, match="twice"):
        ec.verify_r1_field(lambda th, ps, g: (ps, -th * (1 + ps * th > 0) - 2 * g * ps))
    with pytest.raises(ExerciseError, match="dead zone"):
        ec.verify_r1_field(lambda th, ps, g: (ps, -th - g * ps))
    alt = lambda s, c, h: np.array([[1 - h * h * s * s, h * s * (1 - h * c)], [-h * s, 1 - h * c]])  # noqa: E731
    ec.verify_alt_step(alt)
    with pytest.raises(ExerciseError, match="simultaneous"):
        ec.verify_alt_step(lambda s, c, h: np.eye(2) + h * np.array([[0, s], [-s, -c]]))
    ec.verify_cycle_radius(lambda h: (2 * h / 15) ** 0.25)
    with pytest.raises(ExerciseError, match="h=0.0125"):
        ec.verify_cycle_radius(lambda h: (h / 15) ** 0.25)


def test_00_checks():
    ec.verify_d_loss_bce(L.bce_d_loss)
    with pytest.raises(ExerciseError, match="swapped"):
        ec.verify_d_loss_bce(lambda r, f: L.bce_d_loss(f, r))
    attrs = [{"color": i % 3, "shape": i % 2} for i in range(12)] + [{"color": 0, "shape": 0}] * 4

    def share(a, wrap=True):
        n = len(a)
        pairs = range(n) if wrap else range(n - 1)
        return sum((a[i]["color"], a[i]["shape"]) == (a[(i + 1) % n]["color"], a[(i + 1) % n]["shape"])
                   for i in pairs) / n

    ec.verify_accidental_matches(share, attrs)
    with pytest.raises(ExerciseError, match="wraps around"):
        ec.verify_accidental_matches(lambda a: share(a, wrap=False), attrs)
    with pytest.raises(ExerciseError, match="a count"):
        ec.verify_accidental_matches(lambda a: share(a) * len(a), attrs)
