"""The Dirac-GAN (Mescheder et al., ICML 2018, Sec. 2): why unregularised GAN training circles, and what a
zero-centred penalty on real data changes.

G is a Dirac at ``theta``, real data sits at 0 and ``D(x) = psi * x``. This module gives the gradient-descent
vector field ``(v_theta, v_psi) = (-dL_G/dtheta, -dL_D/dpsi)`` in closed form and, independently, by autograd
through :mod:`dflib.losses`; simultaneous / alternating gradient-descent trajectories; and the eigenvalues
of the field's Jacobian at the equilibrium against the R1 strength gamma. The penalty ``zero_gp`` is
``k |grad_x D|^p`` at the real point, the image half of DF-GAN's MA-GP (paper Sec. 3.3.1, Eq. 2);
for the Dirac-GAN ``grad_x D = psi``, so it is ``k |psi|^p`` (``2 psi^6`` with the paper's k = 2, p = 6).

Introduced in ``notebooks/03_zero_centred_gp.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dflib import losses as L

from .common import PENALTIES, check_choice

__all__ = [
    "DiracConfig",
    "dirac_field",
    "dirac_field_autograd",
    "dirac_trajectory",
    "orbit_radius",
    "dirac_jacobian",
    "dirac_eigenvalues",
    "dirac_eigenvalues_closed",
    "critical_gamma",
    "eigenvalues_vs_gamma",
    "step_matrix",
    "step_matrix_closed",
    "step_eigenvalues_closed",
    "linear_damping",
    "step_mu",
    "stable_friction",
    "cycle_radius_closed",
    "flow_radius",
    "continuous_trajectory",
]


@dataclass(frozen=True)
class DiracConfig:
    """Dirac-GAN set-up: G = Dirac at theta, real data at 0, ``D(x) = psi * x``.

    ``penalty``: ``none``; ``r1`` (``gamma/2 psi^2``, i.e. R1 with the 1/2); ``zero_gp``
    (``k |psi|^p``, DF-GAN's form, k = 2 and p = 6 by default). All evaluated at the real point x = 0.
    """

    loss: str = "hinge"
    penalty: str = "none"
    gamma: float = 1.0
    k: float = 2.0
    p: float = 6.0

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, L.LOSSES)
        check_choice("penalty", self.penalty, PENALTIES)


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def dirac_field(theta, psi, cfg: DiracConfig = DiracConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form gradient-descent field ``(v_theta, v_psi) = (-dL_G/dtheta, -dL_D/dpsi)``.

    hinge: ``v_theta = psi``, ``v_psi = -theta * 1[1 + psi*theta > 0]``; wgan: ``(psi, -theta)``;
    bce (non-saturating): ``(psi * sigmoid(-psi*theta), -theta * sigmoid(psi*theta))``.
    Penalties add to ``v_psi``: r1 ``-gamma*psi``; zero_gp ``-k*p*|psi|^(p-1)*sign(psi)`` (``-12 psi^5``).
    """
    th = np.asarray(theta, dtype=np.float64)
    ps = np.asarray(psi, dtype=np.float64)
    t = ps * th
    if cfg.loss == "hinge":
        v_th, v_ps = ps * np.ones_like(th), -th * (1.0 + t > 0)
    elif cfg.loss == "wgan":
        v_th, v_ps = ps * np.ones_like(th), -th * np.ones_like(ps)
    else:  # bce
        v_th, v_ps = ps * _sigmoid(-t), -th * _sigmoid(t)
    if cfg.penalty == "r1":
        v_ps = v_ps - cfg.gamma * ps
    elif cfg.penalty == "zero_gp":
        v_ps = v_ps - cfg.k * cfg.p * np.abs(ps) ** (cfg.p - 1) * np.sign(ps)
    return v_th, v_ps


def dirac_field_autograd(theta, psi, cfg: DiracConfig = DiracConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The same field by autograd through ``dflib.losses`` (``LOSSES[cfg.loss]``, ``r1_penalty``,
    ``zero_centred_gp``). All points are evaluated as one batch; each point's own gradient is
    recovered by multiplying by the batch size (the losses take means)."""
    shape = np.broadcast(np.asarray(theta), np.asarray(psi)).shape
    th = torch.tensor(np.broadcast_to(theta, shape).reshape(-1), dtype=torch.float64, requires_grad=True)
    ps = torch.tensor(np.broadcast_to(psi, shape).reshape(-1), dtype=torch.float64, requires_grad=True)
    n = th.numel()
    gl = L.LOSSES[cfg.loss]
    x_real = torch.zeros(n, 1, dtype=torch.float64, requires_grad=True)
    d_real = ps[:, None] * x_real  # D(x) = psi * x at the real point
    d_fake = ps * th.detach()  # D sees a detached fake
    d_loss = gl.d_loss(d_real.squeeze(1), d_fake)
    (g_psi,) = torch.autograd.grad(d_loss, ps, retain_graph=True)
    if cfg.penalty != "none":
        pen = L.r1_penalty(d_real, x_real, cfg.gamma) if cfg.penalty == "r1" else L.zero_centred_gp(
            d_real, x_real, cfg.k, cfg.p)
        (g_pen,) = torch.autograd.grad(pen, ps)
        # |grad| = sqrt(psi^2) has no derivative at psi = 0 (autograd gives nan); the penalty's is 0 there.
        g_psi = g_psi + torch.where(ps == 0, torch.zeros_like(g_pen), g_pen)
    g_loss = gl.g_loss(ps.detach() * th)
    (g_th,) = torch.autograd.grad(g_loss, th)
    return (-g_th * n).reshape(shape).numpy(), (-g_psi * n).reshape(shape).numpy()


def _field_fn(field_name: str):
    check_choice("field", field_name, ("closed", "autograd"))
    return dirac_field if field_name == "closed" else dirac_field_autograd


def dirac_trajectory(cfg: DiracConfig = DiracConfig(), start: tuple[float, float] = (1.0, 1.0),
                     steps: int = 500, h: float = 0.05, method: str = "simultaneous", d_steps: int = 1,
                     field: str = "closed") -> np.ndarray:
    """Gradient-descent iterates ``(steps + 1, 2)`` of ``(theta, psi)`` with step size ``h``.

    ``h = 0.05`` by default: the ``-12 psi^5`` term of ``2|grad D|^6`` is stiff, and from (1, 1) a step of
    0.2 overshoots and diverges (the iterates are then ``nan``).

    ``simultaneous``: both players step from the same point. ``alternating``: ``d_steps`` psi (D) steps,
    then one theta (G) step that already sees the new psi.
    """
    check_choice("method", method, ("simultaneous", "alternating"))
    f = _field_fn(field)
    th, ps = float(start[0]), float(start[1])
    out = np.empty((steps + 1, 2))
    out[0] = th, ps
    for i in range(1, steps + 1):
        if method == "simultaneous":
            v_th, v_ps = f(th, ps, cfg)
            th, ps = th + h * float(v_th), ps + h * float(v_ps)
        else:
            for _ in range(d_steps):
                ps = ps + h * float(f(th, ps, cfg)[1])
            th = th + h * float(f(th, ps, cfg)[0])
        if not (math.isfinite(th) and math.isfinite(ps)) or abs(th) > 1e6 or abs(ps) > 1e6:
            out[i:] = np.nan  # diverged: keep the shape, mark the rest as missing
            break
        out[i] = th, ps
    return out


def orbit_radius(traj: np.ndarray, tail: float = 0.1) -> float:
    """Mean distance to the equilibrium (0, 0) over the last ``tail`` fraction of a trajectory."""
    n = max(1, int(len(traj) * tail))
    return float(np.linalg.norm(traj[-n:], axis=1).mean())


def dirac_jacobian(cfg: DiracConfig = DiracConfig(), point: tuple[float, float] = (0.0, 0.0),
                   eps: float = 1e-5, field: str = "autograd") -> np.ndarray:
    """Jacobian ``d(v_theta, v_psi)/d(theta, psi)`` at ``point`` by central differences of the field."""
    f = _field_fn(field)
    J = np.empty((2, 2))
    for j in range(2):
        dp = np.zeros(2)
        dp[j] = eps
        plus = np.array([float(v) for v in f(point[0] + dp[0], point[1] + dp[1], cfg)])
        minus = np.array([float(v) for v in f(point[0] - dp[0], point[1] - dp[1], cfg)])
        J[:, j] = (plus - minus) / (2 * eps)
    return J


def dirac_eigenvalues(cfg: DiracConfig = DiracConfig(), field: str = "autograd") -> np.ndarray:
    """Eigenvalues (complex, sorted by imaginary part) of the field's Jacobian at the equilibrium."""
    ev = np.linalg.eigvals(dirac_jacobian(cfg, field=field)).astype(complex)
    return ev[np.argsort(ev.imag + 1e-9 * ev.real)]


def _slope(loss: str) -> float:
    # f'(0) of the loss at the equilibrium: 1/2 for the sigmoid (bce) losses, 1 for hinge and wgan.
    return 0.5 if loss == "bce" else 1.0


def linear_damping(cfg: DiracConfig = DiracConfig()) -> float:
    """The penalty's linear friction ``c`` at the equilibrium (``v_psi`` gains ``-c psi``): gamma for r1,
    ``2k`` for zero_gp with p = 2, 0 for p > 2 (``-k p |psi|^(p-1)`` has no linear part) and for none."""
    return {"none": 0.0, "r1": cfg.gamma, "zero_gp": 2 * cfg.k if cfg.p == 2 else 0.0}[cfg.penalty]


def dirac_eigenvalues_closed(cfg: DiracConfig = DiracConfig()) -> np.ndarray:
    """Closed form: ``J = [[0, s], [-s, -c]]`` with ``s = f'(0)`` and linear damping ``c`` (gamma for r1,
    ``2k`` for zero_gp with p = 2, 0 for p > 2), so ``lambda = (-c +- sqrt(c^2 - 4 s^2)) / 2``.

    For ``c <= 2s`` the pair is complex with real part ``-c/2``; above, both are real,
    ``-c/2 +- sqrt(c^2/4 - s^2)``, and the upper one tends to ``-s^2/c`` (too much friction is slow again).
    """
    s = _slope(cfg.loss)
    c = linear_damping(cfg)
    root = np.sqrt(complex(c * c - 4 * s * s))
    ev = np.array([(-c - root) / 2, (-c + root) / 2], dtype=complex)
    return ev[np.argsort(ev.imag + 1e-9 * ev.real)]


def critical_gamma(loss: str = "hinge") -> float:
    """R1 strength where the eigenvalues become real (fastest convergence): ``gamma = 2 f'(0)``."""
    check_choice("loss", loss, L.LOSSES)
    return 2 * _slope(loss)


def eigenvalues_vs_gamma(gammas, loss: str = "hinge", field: str = "autograd") -> np.ndarray:
    """``(len(gammas), 2)`` complex eigenvalues of the R1-regularised Dirac-GAN for each gamma."""
    return np.stack([dirac_eigenvalues(DiracConfig(loss, "r1", float(g)), field) for g in gammas])



def step_matrix(cfg: DiracConfig = DiracConfig(), h: float = 0.05, method: str = "simultaneous",
                eps: float = 1e-6) -> np.ndarray:
    """The linear map of ONE gradient-descent step at the equilibrium, measured: central differences of
    :func:`dirac_trajectory` (one step, closed-form field) around ``(0, 0)``. Column j is the image of
    the j-th unit vector of ``(theta, psi)``."""
    M = np.empty((2, 2))
    for j in range(2):
        dp = np.zeros(2)
        dp[j] = eps
        plus = dirac_trajectory(cfg, tuple(dp), steps=1, h=h, method=method)[1]
        minus = dirac_trajectory(cfg, tuple(-dp), steps=1, h=h, method=method)[1]
        M[:, j] = (plus - minus) / (2 * eps)
    return M


def step_matrix_closed(cfg: DiracConfig = DiracConfig(), h: float = 0.05,
                       method: str = "simultaneous") -> np.ndarray:
    """Closed form of :func:`step_matrix` with ``J = [[0, s], [-s, -c]]``.

    ``simultaneous``: ``I + hJ``. ``alternating`` (one D step, then G sees the new psi):
    ``(I + h J_G)(I + h J_D)`` with ``J_D = [[0, 0], [-s, -c]]`` and ``J_G = [[0, s], [0, 0]]``, i.e.
    ``[[1 - h^2 s^2, h s (1 - h c)], [-h s, 1 - h c]]`` (determinant ``1 - h c``).
    """
    check_choice("method", method, ("simultaneous", "alternating"))
    s, c = _slope(cfg.loss), linear_damping(cfg)
    if method == "simultaneous":
        return np.eye(2) + h * np.array([[0.0, s], [-s, -c]])
    return np.array([[1 - h * h * s * s, h * s * (1 - h * c)], [-h * s, 1 - h * c]])


def step_eigenvalues_closed(cfg: DiracConfig = DiracConfig(), h: float = 0.05,
                            method: str = "simultaneous") -> np.ndarray:
    """Eigenvalues ``mu`` of one step's linear map (sorted by imaginary part); ``|mu| > 1`` grows.

    ``simultaneous``: ``mu = 1 + h lambda`` for the eigenvalues ``lambda`` of J, so without a penalty
    ``mu = 1 +- i h s`` and ``|mu| = sqrt(1 + h^2 s^2) > 1``: an outward spiral.
    ``alternating``: ``mu = (T +- sqrt(T^2 - 4 (1 - h c))) / 2`` with trace ``T = 2 - h c - h^2 s^2``;
    without a penalty the determinant is 1, so ``|mu| = 1`` (for ``h s < 2``): a closed orbit.
    """
    return step_mu(_slope(cfg.loss), linear_damping(cfg), h, method)


def step_mu(s: float, c: float, h: float, method: str = "simultaneous") -> np.ndarray:
    """Eigenvalues ``mu`` (sorted by imaginary part) of one step of size ``h`` for ``J = [[0, s], [-s, -c]]``:
    ``1 + h lambda`` (simultaneous) or the roots of ``mu^2 - T mu + (1 - h c)`` with ``T = 2 - h c - h^2 s^2``
    (alternating). The step contracts near the equilibrium iff ``max |mu| < 1``."""
    check_choice("method", method, ("simultaneous", "alternating"))
    if method == "simultaneous":
        root = np.sqrt(complex(c * c - 4 * s * s))
        ev = 1 + h * np.array([(-c - root) / 2, (-c + root) / 2], dtype=complex)
    else:
        tr, det = 2 - h * c - h * h * s * s, 1 - h * c
        root = np.sqrt(complex(tr * tr - 4 * det))
        ev = np.array([(tr - root) / 2, (tr + root) / 2], dtype=complex)
    return ev[np.argsort(ev.imag + 1e-9 * ev.real)]


def stable_friction(s: float, h: float, method: str = "simultaneous") -> tuple[float, float]:
    """The open interval of linear friction ``c`` for which one step contracts (``max |mu| < 1``), for
    ``0 < h s < 2``.

    ``simultaneous``: complex ``mu`` (``c < 2s``) have ``|mu|^2 = 1 - h c + h^2 s^2``, below 1 iff
    ``c > h s^2``; real ``mu = 1 + h lambda`` (``c > 2s``) need ``lambda > -2/h``, i.e.
    ``c < 2/h + h s^2 / 2``. ``alternating``: a real 2x2 map contracts iff ``|det| < 1`` and
    ``|T| < 1 + det`` (Jury's conditions); ``det = 1 - h c`` gives ``0 < c < 2/h`` and ``-T < 1 + det`` gives
    ``c < 2/h - h s^2 / 2``. Too much friction diverges too: the D step then overshoots ``psi = 0``."""
    check_choice("method", method, ("simultaneous", "alternating"))
    if method == "simultaneous":
        return h * s * s, 2 / h + h * s * s / 2
    return 0.0, 2 / h - h * s * s / 2


def _even_moment(p: float) -> float:
    """``mean(|sin|^p)`` over a period, ``(p - 1)!! / p!!`` for even p (5/16 for p = 6)."""
    if p != int(p) or int(p) % 2:
        raise ValueError(f"the closed form needs an even power p, got {p}")
    num = np.prod(np.arange(int(p) - 1, 0, -2, dtype=float))
    den = np.prod(np.arange(int(p), 0, -2, dtype=float))
    return float(num / den)


def cycle_radius_closed(h: float, k: float = 2.0, p: float = 6.0, s: float = 1.0) -> float:
    """Radius of the simultaneous-GD limit cycle of the ``k |psi|^p`` penalty (even ``p > 2``), from a balance
    over one turn: the linear step adds ``h^2 s^2 r^2`` to ``r^2`` per step, the penalty removes
    ``2 h k p <|psi|^p> = 2 h k p m_p r^p`` (``m_p = <|sin|^p>``). So ``r^(p-2) = h s^2 / (2 k p m_p)``:
    ``(2 h / 15)^(1/4)`` for DF-GAN's k = 2, p = 6. It shrinks as ``h^(1/(p-2))``."""
    return float((h * s * s / (2 * k * p * _even_moment(p))) ** (1 / (p - 2)))


def flow_radius(t, r0: float, k: float = 2.0, p: float = 6.0) -> np.ndarray:
    """Radius of the continuous flow (``h -> 0``) with the ``k |psi|^p`` penalty, averaged over turns:
    ``dr/dt = -k p m_p r^(p-1)``, so ``r^-(p-2) = r0^-(p-2) + (p-2) k p m_p t``; for k = 2, p = 6:
    ``r^-4 = r0^-4 + 15 t``. It reaches 0, but only as ``t^(-1/(p-2))``."""
    t = np.asarray(t, dtype=np.float64)
    a = (p - 2) * k * p * _even_moment(p)
    return (r0 ** -(p - 2) + a * t) ** (-1 / (p - 2))


def continuous_trajectory(cfg: DiracConfig = DiracConfig(), start: tuple[float, float] = (1.0, 1.0),
                          times=(10.0, 100.0, 1000.0)) -> np.ndarray:
    """The gradient flow ``d(theta, psi)/dt = v`` (the limit ``h -> 0`` of both update rules) at ``times``,
    integrated with scipy's DOP853 (relative tolerance 1e-9) on the closed-form field; ``(len(times), 2)``."""
    from scipy.integrate import solve_ivp

    times = np.asarray(times, dtype=np.float64)

    def f(_t, y):
        v_th, v_ps = dirac_field(y[0], y[1], cfg)
        return [float(v_th), float(v_ps)]

    sol = solve_ivp(f, (0.0, float(times.max())), list(map(float, start)), method="DOP853", t_eval=times,
                    rtol=1e-9, atol=1e-12)
    if not sol.success:
        raise RuntimeError(f"the flow's integration failed: {sol.message}")
    return sol.y.T
