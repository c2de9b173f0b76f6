"""Checks for the exercises of notebooks 00-05: each runs the learner's code and says what is wrong.

Used with :func:`dfcourse.exercises.check` exactly as in notebooks 06-10: a stub cell the learner fills in
(it raises ``NotImplementedError`` until then), a check cell, and a solution cell tagged ``solution`` that
runs the same check on its own code. Each ``verify_*`` returns what it compared or raises
:class:`~dfcourse.exercises.ExerciseError`.

Introduced in ``notebooks/00_setup_and_tour.ipynb``; used in ``01`` to ``05``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from dflib import losses as L
from dflib.models import DFBlock, count_parameters

from .exercises import ExerciseError

__all__ = ["verify_close", "verify_d_loss_bce", "verify_accidental_matches", "verify_ns_g_loss", "verify_mismatch", "verify_dfgan_d_loss", "verify_optimal_d",
           "verify_js",
           "verify_hinge_optimum", "verify_r1_field", "verify_alt_step", "verify_cycle_radius",
           "verify_film", "verify_dfblock_params", "verify_penalty_pull", "verify_ma_gp"]


def _fail(msg: str) -> None:
    raise ExerciseError(msg)


def _as_array(v) -> np.ndarray:
    if isinstance(v, Tensor):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def verify_close(mine, expected, what: str, tol: float = 1e-5) -> str:
    """Arrays (or numbers) of the same shape within ``tol`` (absolute, scaled by the size of ``expected``)."""
    if mine is None:
        _fail(f"{what}: your function returned None (a missing `return`?)")
    a, b = _as_array(mine), _as_array(expected)
    if a.shape != b.shape:
        _fail(f"{what}: shape {a.shape}, expected {b.shape}")
    err = float(np.abs(a - b).max()) if a.size else 0.0
    if not np.isfinite(a).all() or err > tol * max(1.0, float(np.abs(b).max()) if b.size else 1.0):
        _fail(f"{what}: largest difference {err:.3g} (yours {a.ravel()[:3]}, expected {b.ravel()[:3]})")
    return f"{what}, largest difference {err:.1e}"


def verify_d_loss_bce(fn: Callable[[Tensor, Tensor], Tensor]) -> str:
    """``fn(real_logits, fake_logits)``: D's BCE loss on logits, mean over each batch (``dflib.losses``)."""
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(64, generator=g) * 3, torch.randn(64, generator=g) * 3
    mine = fn(r, f)
    if isinstance(mine, Tensor) and mine.dim() != 0:
        _fail(f"return one number (the mean over the batch), got shape {tuple(mine.shape)}")
    ref = L.LOSSES["bce"].d_loss(r, f)
    if mine is not None and abs(float(mine) - float(L.LOSSES["bce"].d_loss(f, r))) < 1e-5:
        _fail("real and fake are swapped: D wants real logits high (softplus(-r)) and fake ones low (softplus(f))")
    return verify_close(mine, ref, "BCE D loss on 64 random real and fake logits")


def _same_object(a: dict, b: dict) -> bool:
    return (a["color"], a["shape"]) == (b["color"], b["shape"])


def verify_accidental_matches(fn: Callable[[list], float], attrs: list) -> str:
    """``fn(attrs)``: the fraction of DF-GAN's mismatched pairs (image ``i + 1`` with the caption of item ``i``,
    the last caption with the first image) whose main object has the same colour and shape in both items.
    ``attrs`` are the items' ground-truth attributes (``dict`` with ``color`` and ``shape``)."""
    toy = [{"color": c, "shape": s} for c, s in [(0, 1), (0, 1), (2, 3), (0, 1), (2, 3), (0, 1)]]
    for name, batch in (("a batch of six made up here", toy), (f"the {len(attrs)} items given", list(attrs))):
        n = len(batch)
        ref = sum(_same_object(batch[i], batch[(i + 1) % n]) for i in range(n)) / n
        mine = fn(batch)
        if mine is None:
            _fail(f"{name}: your function returned None (a missing `return`?)")
        if abs(float(mine) - ref * n) < 1e-9 and n > 1 and ref > 0:
            _fail(f"{name}: yours {mine}, a count: return the fraction of the {n} pairs")
        no_wrap = sum(_same_object(batch[i], batch[i + 1]) for i in range(n - 1)) / n
        if abs(float(mine) - no_wrap) < 1e-9 and abs(ref - no_wrap) > 1e-9:
            _fail(f"{name}: yours {float(mine):.4f}: the last caption goes with the first image (the roll wraps "
                  "around)")
        if abs(float(mine) - ref) > 1e-9:
            _fail(f"{name}: yours {float(mine):.4f}, expected {ref:.4f} (compare colour and shape of items i and i + 1)")
    return f"a made-up batch and {len(attrs)} items of the data set"


def verify_ns_g_loss(fn: Callable[[Tensor], Tensor]) -> str:
    """``fn(fake_logits)``: the non-saturating G loss ``mean(-log sigmoid(f))`` (``dflib.losses.bce_g_loss``)."""
    g = torch.Generator().manual_seed(1)
    f = torch.randn(64, generator=g) * 3
    mine = fn(f)
    if isinstance(mine, Tensor) and mine.dim() != 0:
        _fail(f"return one number (the mean over the batch), got shape {tuple(mine.shape)}")
    if mine is not None and abs(float(mine) - float(L.bce_g_loss_saturating(f))) < 1e-5:
        _fail("that is the saturating minimax loss log(1 - sigmoid(f)); the non-saturating one is -log sigmoid(f)")
    if mine is not None and abs(float(mine) + float(L.bce_g_loss(f))) < 1e-5:
        _fail("the sign is wrong: G minimises -log sigmoid(f), which is positive")
    return verify_close(mine, L.bce_g_loss(f), "non-saturating G loss on 64 random fake logits")


def verify_mismatch(fn: Callable[[Tensor], Tensor]) -> str:
    """``fn(images)``: images rolled by one along the batch, so image i + 1 meets sentence i."""
    x = torch.arange(5.0)[:, None].expand(5, 3).clone()
    mine = fn(x)
    if isinstance(mine, Tensor) and torch.equal(mine, torch.roll(x, 1, 0)):
        _fail("rolled the wrong way: DF-GAN pairs sentence i with image i + 1, i.e. torch.roll(x, -1, 0)")
    return verify_close(mine, L.roll_mismatch(x), "5 images rolled by one")


def verify_dfgan_d_loss(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> str:
    """``fn(real, fake, mismatch)``: DF-GAN's D hinge loss ``real + (fake + mismatch) / 2`` (Eq. 1) on logits."""
    g = torch.Generator().manual_seed(2)
    r, f, m = (torch.randn(32, generator=g) * 2 for _ in range(3))
    mine = fn(r, f, m)
    if isinstance(mine, Tensor) and mine.dim() != 0:
        _fail(f"return one number (means over the batch), got shape {tuple(mine.shape)}")
    if mine is not None:
        plain = float(L.hinge_real(r) + L.hinge_fake(f) + L.hinge_fake(m))
        if abs(float(mine) - plain) < 1e-5:
            _fail("the fake and mismatched terms are weighted 1/2 each: real + (fake + mismatch) / 2")
        if abs(float(mine) - float(L.hinge_d_loss(r, f))) < 1e-5:
            _fail("the mismatched pairs are missing: they count like fakes, with weight 1/2")
    return verify_close(mine, L.hinge_d_loss(r, f, m), "DF-GAN's D loss on 32 random logits of each kind")


def verify_optimal_d(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> str:
    """``fn(p_data, p_g)``: the optimal discriminator's probability ``p_data / (p_data + p_g)``."""
    p, q = np.array([0.1, 0.5, 2.0, 1.0]), np.array([0.3, 0.5, 0.5, 0.0])
    mine = fn(p, q)
    if mine is not None and np.allclose(_as_array(mine), q / (p + q)):
        _fail("that is the probability of 'fake': D*(x) is p_data / (p_data + p_g)")
    return verify_close(mine, p / (p + q), "D* at four points")


def verify_js(fn: Callable[[np.ndarray, np.ndarray], float]) -> str:
    """``fn(p, q)``: the Jensen-Shannon divergence (natural log) of two discrete distributions."""
    rng = np.random.default_rng(0)
    a, b = rng.random(6), rng.random(6)
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2
    ref = 0.5 * float(np.sum(a * np.log(a / m))) + 0.5 * float(np.sum(b * np.log(b / m)))
    cases = {"equal distributions": (a, a.copy(), 0.0),
             "disjoint supports [1/2, 1/2, 0, 0] and [0, 0, 1/2, 1/2]":
                 (np.array([0.5, 0.5, 0, 0]), np.array([0, 0, 0.5, 0.5]), float(np.log(2))),
             "two random distributions over 6 outcomes": (a, b, ref)}
    for name, (p, q, want) in cases.items():
        mine = fn(p, q)
        got = float(mine) if mine is not None else None
        if got is None or not np.isfinite(got):
            _fail(f"{name}: yours {mine!r} (use 0 log 0 = 0: skip the terms where p = 0)")
        if abs(got - want) > 1e-6:
            hint = ""
            if abs(got - want / np.log(2)) < 1e-6:
                hint = " (that is in bits: use the natural logarithm)"
            elif abs(got - 2 * want) < 1e-6:
                hint = " (twice too large: each KL is weighted 1/2)"
            _fail(f"{name}: yours {got:.6f}, expected {want:.6f}{hint}")
    return "equal (0), disjoint (log 2) and random distributions"


def verify_hinge_optimum(fn: Callable[[float, float], float]) -> str:
    """``fn(p_data, p_g)``: the logit that minimises ``p_data relu(1 - t) + p_g relu(1 + t)``."""
    cases = [(2.0, 1.0, 1.0), (1.0, 3.0, -1.0), (0.0, 1.0, -1.0), (1.0, 0.0, 1.0)]
    for p, q, want in cases:
        got = fn(p, q)
        if got is None or abs(float(got) - want) > 1e-9:
            _fail(f"p_data = {p}, p_g = {q}: yours {got}, expected {want} (compare p_data with p_g)")
    return "four pairs of densities"


def verify_r1_field(fn: Callable[[np.ndarray, np.ndarray, float], tuple]) -> str:
    """``fn(theta, psi, gamma)``: the R1-regularised hinge Dirac-GAN field ``(v_theta, v_psi)`` on a grid,
    against :func:`dfcourse.dirac.dirac_field_autograd` (autograd through ``dflib.losses``)."""
    from .dirac import DiracConfig, dirac_field_autograd

    th, ps = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 9))
    for gamma in (0.7, 3.0):
        mine = fn(th, ps, gamma)
        ref = dirac_field_autograd(th, ps, DiracConfig("hinge", "r1", gamma))
        if mine is None or len(mine) != 2:
            _fail("return the pair (v_theta, v_psi)")
        a = np.broadcast_to(_as_array(mine[1]), ps.shape)
        if np.allclose(a, ref[1] + 2 * gamma * ps):
            _fail(f"gamma={gamma}: the friction has the wrong sign: R1 = gamma/2 psi^2 adds -gamma psi to v_psi")
        if np.allclose(a, ref[1] - gamma * ps):
            _fail(f"gamma={gamma}: the friction is twice too strong: R1 = gamma/2 psi^2 (with the 1/2) adds -gamma psi")
        dead = (1 + ps * th <= 0) & (th != 0)
        if np.allclose(a[~dead], ref[1][~dead]) and not np.allclose(a, ref[1]):
            _fail("outside the dead zone it is right; where 1 + psi theta <= 0 the hinge's fake term gives no gradient")
        verify_close(np.broadcast_to(_as_array(mine[0]), th.shape), ref[0], f"v_theta at gamma={gamma}")
        verify_close(a, ref[1], f"v_psi at gamma={gamma}")
    return "v_theta and v_psi on a 9 x 9 grid at gamma = 0.7 and 3"


def verify_alt_step(fn: Callable[[float, float, float], np.ndarray]) -> str:
    """``fn(s, c, h)``: the 2x2 linear map of one alternating step (D first, then G) at the equilibrium, against
    :func:`dfcourse.dirac.step_matrix` measured on real steps (hinge: s = 1, BCE: s = 1/2; R1: c = gamma)."""
    from .dirac import DiracConfig, step_matrix

    for loss, s, c, h in (("hinge", 1.0, 0.3, 0.05), ("bce", 0.5, 2.0, 0.2), ("hinge", 1.0, 0.0, 0.1)):
        ref = step_matrix(DiracConfig(loss, "r1" if c else "none", c), h=h, method="alternating")
        mine = fn(s, c, h)
        if mine is not None and np.allclose(_as_array(mine), np.eye(2) + h * np.array([[0, s], [-s, -c]])):
            _fail("that is the simultaneous step I + hJ: in the alternating one G's step already sees the new psi")
        verify_close(mine, ref, f"{loss}, c={c}, h={h}", tol=1e-6)
    return "hinge and BCE, with and without R1, against measured steps"


def verify_cycle_radius(fn: Callable[[float], float]) -> str:
    """``fn(h)``: the radius of simultaneous GD's limit cycle with ``2 |psi|^6``, against the closed form and a
    trajectory of :func:`dfcourse.dirac.dirac_trajectory` at h = 0.05."""
    from .dirac import DiracConfig, cycle_radius_closed, dirac_trajectory, orbit_radius

    measured = orbit_radius(dirac_trajectory(DiracConfig("hinge", "zero_gp", k=2, p=6), steps=3200, h=0.05))
    for h in (0.0125, 0.05, 0.1):
        mine, ref = fn(h), cycle_radius_closed(h)
        if mine is None or abs(float(mine) - ref) > 1e-6 * ref:
            _fail(f"h={h}: yours {mine}, expected {ref:.5f} (balance h^2 r^2 = 24 h <psi^6> with <psi^6> = 5/16 r^6; "
                  f"a trajectory at h = 0.05 measures {measured:.5f})")
    return f"three step sizes; at h = 0.05 the trajectory measures {measured:.4f}"


def verify_film(fn: Callable[[Tensor, Tensor, Tensor], Tensor], affine: torch.nn.Module, x: Tensor,
                sent: Tensor) -> str:
    """``fn(x, gamma, beta)`` against ``affine(x, sent)`` (Eq. 4)."""
    with torch.no_grad():
        gamma, beta = affine.gamma_beta(sent)
        mine, ref = fn(x, gamma, beta), affine(x, sent)
    return verify_close(mine, ref, f"FiLM on {tuple(x.shape)} features")


def verify_dfblock_params(fn: Callable[[int, int], int]) -> str:
    """``fn(cond_dim, C)``: parameters of ``DFBlock(cond_dim, C)``."""
    for cond, c in [(96, 64), (16, 8), (356, 256)]:
        want = count_parameters(DFBlock(cond, c))
        got = fn(cond, c)
        if got != want:
            _fail(f"DFBlock({cond}, {c}): yours {got}, expected {want} (two Affines, each two MLPs "
                  "Linear(cond, C) -> Linear(C, C) with biases)")
    return "DFBlock at three sizes"


def verify_penalty_pull(fn: Callable[[np.ndarray, float, float], np.ndarray]) -> str:
    """``fn(n, k, p)``: the pull ``d(k n^p)/dn`` of a zero-centred penalty at gradient norm ``n``."""
    n = np.array([0.25, 0.5, 1.0, 1.5])
    for k, p in [(2.0, 6.0), (5.0, 2.0)]:
        mine = fn(n, k, p)
        if mine is not None and np.allclose(_as_array(mine), k * n**p):
            _fail("that is the penalty's value k n^p, not its pull (its derivative)")
        verify_close(mine, k * p * n ** (p - 1), f"pull at k={k}, p={p}")
    return "pull of 2 n^6 and 5 n^2 at four norms"


def verify_ma_gp(fn: Callable[..., Tensor], D: torch.nn.Module, x: Tensor, e: Tensor) -> str:
    """``fn(D, x, e)``: MA-GP ``2 * mean |[grad_x D; grad_e D]|^6`` against ``dflib.losses.ma_gp``."""
    xa, ea = x.detach().clone().requires_grad_(True), e.detach().clone().requires_grad_(True)
    ref = float(L.ma_gp(D(xa, ea), xa, ea, 2.0, 6.0).detach())
    mine = fn(D, x, e)
    mine = mine.detach() if isinstance(mine, Tensor) else mine
    xb, eb = x.detach().clone().requires_grad_(True), e.detach().clone().requires_grad_(True)
    img_only = float(L.zero_centred_gp(D(xb, eb), xb, 2.0, 6.0).detach())
    if mine is not None and abs(float(mine) - img_only) < 1e-6 * max(1.0, img_only) and abs(ref - img_only) > 1e-6:
        _fail("that is the image-only penalty: MA-GP takes the gradient with respect to the sentence too")
    return verify_close(float(mine) if mine is not None else None, ref, "MA-GP on the toy critic", tol=1e-4)
