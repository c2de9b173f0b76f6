"""Small, fast toys that explain DF-GAN's loss and penalties before any image is generated.

Three families, all computed with the *real* loss code of :mod:`dflib.losses`:

1. **2D toy GAN** (GAN Lab style): real data is a mixture of Gaussians (``ring8``, ``grid9``) or a
   ``ring``; G and D are small MLPs; any loss in ``dflib.losses.LOSSES``, optional penalty on real data.
2. **Dirac-GAN** (Mescheder et al., ICML 2018, Sec. 2): G is a Dirac at ``theta``, real data sits at 0 and
   ``D(x) = psi * x``. Closed-form vector fields, the same fields by autograd through ``dflib.losses``,
   simultaneous / alternating gradient-descent trajectories and Jacobian eigenvalues against gamma.
3. **Conditional toy** for MA-GP (DF-GAN paper Sec. 3.2): an "image" coordinate ``x`` and a "text"
   coordinate ``e``; real matched pairs lie on the diagonal ``x = e``; mismatched pairs are built with
   ``roll_mismatch`` as in DF-GAN. D's surface over ``(x, e)`` shows where each penalty smooths it.

Conventions: a *vector field* is the gradient-descent direction ``(-dL_G/dtheta, -dL_D/dpsi)``.
R1 is ``gamma/2 * |grad_x D|^2`` (the 1/2 is included); "0-GP" here is ``k * |grad_x D|^p`` evaluated
**at real data** (not at interpolates); MA-GP is ``k * |[grad_x D; grad_e D]|^p`` at real matched pairs.

Introduced in ``notebooks/01_gan_basics.ipynb``, ``notebooks/03_zero_centred_gp.ipynb`` and
``notebooks/04_ma_gp.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from . import losses as L

__all__ = [
    "one_thread",
    "TOY_DISTRIBUTIONS",
    "PENALTIES",
    "mixture_centres",
    "sample_toy",
    "energy_distance",
    "mode_coverage",
    "mlp",
    "ToyGenerator",
    "ToyDiscriminator",
    "ToyConfig",
    "ToySnapshot",
    "ToyRun",
    "real_penalty",
    "discriminator_grid",
    "generator_gradients",
    "take_snapshot",
    "train_toy",
    "fit_toy_discriminator",
    "grad_norm_at",
    "logit_curves",
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
    "penalty_curve",
    "sample_conditional",
    "fake_conditional",
    "CondCritic",
    "LinearCritic",
    "conditional_penalty",
    "CondToyConfig",
    "CondRun",
    "train_conditional_critic",
    "conditional_surface",
    "conditional_grad_norms",
    "conditional_slices",
]

TOY_DISTRIBUTIONS = ("ring8", "grid9", "ring")
PENALTIES = ("none", "r1", "zero_gp")


# ==================================================================================================
# 1. 2D toy data and models
# ==================================================================================================


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the previous count. The toys' tiny
    MLPs are several times faster on one thread, especially on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: choose one of {sorted(choices)}")


def mixture_centres(name: str = "ring8", radius: float = 2.0) -> Tensor:
    """Mode centres ``(M, 2)`` of a toy mixture: 8 on a circle (``ring8``) or a 3x3 grid (``grid9``)."""
    if name == "ring8":
        a = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
        return radius * torch.stack([a.cos(), a.sin()], dim=1)
    if name == "grid9":
        v = torch.tensor([-radius, 0.0, radius])
        return torch.cartesian_prod(v, v)
    raise ValueError(f"{name!r} has no discrete modes: use 'ring8' or 'grid9'")


def sample_toy(
    name: str, n: int, generator: torch.Generator | None = None, std: float = 0.1, radius: float = 2.0
) -> Tensor:
    """``n`` real 2D points: a Gaussian mixture (``ring8``, ``grid9``) or a continuous ``ring``."""
    _check_choice("toy distribution", name, TOY_DISTRIBUTIONS)
    if name == "ring":
        a = torch.rand(n, generator=generator) * 2 * math.pi
        r = radius + std * torch.randn(n, generator=generator)
        return torch.stack([r * a.cos(), r * a.sin()], dim=1)
    centres = mixture_centres(name, radius)
    idx = torch.randint(len(centres), (n,), generator=generator)
    return centres[idx] + std * torch.randn(n, 2, generator=generator)


def energy_distance(x: Tensor, y: Tensor) -> float:
    """Energy distance ``2E|X-Y| - E|X-X'| - E|Y-Y'|`` (0 iff same distribution); a cheap toy metric."""
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).mean()
    yy = torch.cdist(y, y).mean()
    return float(2 * xy - xx - yy)


def mode_coverage(samples: Tensor, centres: Tensor, std: float = 0.1, k: float = 3.0) -> tuple[int, float]:
    """(number of modes with at least one sample within ``k*std``, fraction of such high-quality samples)."""
    d = torch.cdist(samples, centres)
    near = d.min(dim=1)
    good = near.values < k * std
    modes = near.indices[good].unique().numel()
    return int(modes), float(good.float().mean())


def mlp(in_dim: int, out_dim: int, hidden: int = 64, depth: int = 2) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with LeakyReLU(0.2), then a linear output."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    """G: noise ``(B, z_dim)`` -> points ``(B, 2)``."""

    def __init__(self, z_dim: int = 2, hidden: int = 64, depth: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.net = mlp(z_dim, 2, hidden, depth)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """D: points ``(B, 2)`` -> logits ``(B,)``."""

    def __init__(self, hidden: int = 64, depth: int = 2):
        super().__init__()
        self.net = mlp(2, 1, hidden, depth)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


@dataclass
class ToyConfig:
    """Everything a 2D toy run needs. ``penalty`` is evaluated on real data (``r1`` uses ``gamma``;
    ``zero_gp`` uses ``k * |grad|^p``)."""

    dist: str = "ring8"
    loss: str = "hinge"
    steps: int = 2000
    batch: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    z_dim: int = 2
    hidden: int = 64
    depth: int = 2
    d_steps: int = 1
    penalty: str = "none"
    gamma: float = 1.0
    k: float = 2.0
    p: float = 6.0
    std: float = 0.1
    seed: int = 0
    snapshot_every: int = 0
    eval_every: int = 100
    lim: float = 3.0
    device: str = "cpu"

    def validate(self) -> None:
        _check_choice("toy distribution", self.dist, TOY_DISTRIBUTIONS)
        _check_choice("loss", self.loss, L.LOSSES)
        _check_choice("penalty", self.penalty, PENALTIES)
        if self.steps < 0 or self.batch < 2 or self.d_steps < 1:
            raise ValueError("ToyConfig needs steps >= 0, batch >= 2 and d_steps >= 1")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError(f"learning rates must be positive, got lr_g={self.lr_g}, lr_d={self.lr_d}")


@dataclass
class ToySnapshot:
    """What a plot needs at one step: real/fake points, G's gradient arrows and D on a grid."""

    step: int
    real: np.ndarray
    fake: np.ndarray
    arrows: np.ndarray
    heat: np.ndarray
    extent: tuple[float, float, float, float]


@dataclass
class ToyRun:
    """Result of :func:`train_toy`: the trained nets, the loss history and snapshots."""

    cfg: ToyConfig
    G: ToyGenerator
    D: ToyDiscriminator
    history: dict[str, list[float]] = field(default_factory=dict)
    snapshots: list[ToySnapshot] = field(default_factory=list)


def real_penalty(D: Callable[[Tensor], Tensor], real: Tensor, kind: str, gamma: float, k: float, p: float) -> Tensor:
    """Penalty on real data: ``r1`` = ``gamma/2 |grad|^2``; ``zero_gp`` = ``k |grad|^p``; ``none`` = 0."""
    _check_choice("penalty", kind, PENALTIES)
    if kind == "none":
        return real.new_zeros(())
    x = real.detach().requires_grad_(True)
    out = D(x)
    if kind == "r1":
        return L.r1_penalty(out, x, gamma)
    return L.zero_centred_gp(out, x, k, p)


@torch.no_grad()
def discriminator_grid(D: Callable[[Tensor], Tensor], lim: float = 3.0, res: int = 40) -> np.ndarray:
    """D's logits on a ``res x res`` grid over ``[-lim, lim]^2``; row i is y, column j is x."""
    v = torch.linspace(-lim, lim, res)
    yy, xx = torch.meshgrid(v, v, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return D(pts).reshape(res, res).numpy()


def generator_gradients(D: Callable[[Tensor], Tensor], fake: Tensor, loss: str = "hinge") -> Tensor:
    """Per-sample direction ``-dL_G/dx`` in which G's loss pushes each fake point (GAN Lab's pink arrows)."""
    _check_choice("loss", loss, L.LOSSES)
    x = fake.detach().clone().requires_grad_(True)
    g = L.LOSSES[loss].g_loss(D(x))
    (grad,) = torch.autograd.grad(g, x)
    return -grad * x.shape[0]  # undo the batch mean: each point's own gradient


def take_snapshot(G: nn.Module, D: nn.Module, real: Tensor, z: Tensor, loss: str, step: int,
                  lim: float = 3.0, res: int = 40) -> ToySnapshot:
    """Freeze the picture at ``step``: fixed noise ``z`` through G, G's gradient arrows, D's heat map."""
    with torch.no_grad():
        fake = G(z)
    arrows = generator_gradients(D, fake, loss)
    return ToySnapshot(step, real.numpy().copy(), fake.numpy().copy(), arrows.numpy(),
                       discriminator_grid(D, lim, res), (-lim, lim, -lim, lim))


def _train_toy_impl(cfg: ToyConfig | None = None, progress: bool = False,
              callback: Callable[[int, ToyRun], None] | None = None) -> ToyRun:
    """Train the 2D toy GAN with ``cfg.loss`` (any key of ``dflib.losses.LOSSES``) and ``cfg.penalty``.

    Each iteration: ``d_steps`` D updates (real vs detached fakes, plus the penalty on real data), then
    one G update on fresh noise, Adam for both. ``history`` holds per-step ``d_loss``/``g_loss`` and, every
    ``eval_every`` steps, ``eval_step`` and the energy distance ``energy`` to 1,024 held-out real points.
    """
    cfg = cfg or ToyConfig()
    cfg.validate()
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    dev = torch.device(cfg.device)
    G = ToyGenerator(cfg.z_dim, cfg.hidden, cfg.depth).to(dev)
    D = ToyDiscriminator(cfg.hidden, cfg.depth).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    gl = L.LOSSES[cfg.loss]
    eval_real = sample_toy(cfg.dist, 1024, gen, cfg.std).to(dev)
    eval_z = torch.randn(1024, cfg.z_dim, generator=gen).to(dev)
    show_real, show_z = eval_real[:256].cpu(), eval_z[:256]
    run = ToyRun(cfg, G, D, {"d_loss": [], "g_loss": [], "eval_step": [], "energy": []}, [])

    def evaluate(step: int) -> None:
        with torch.no_grad():
            run.history["eval_step"].append(step)
            run.history["energy"].append(energy_distance(G(eval_z), eval_real))
        if cfg.snapshot_every and step % cfg.snapshot_every == 0:
            run.snapshots.append(take_snapshot(G.cpu(), D.cpu(), show_real, show_z.cpu(), cfg.loss, step, cfg.lim))
            G.to(dev), D.to(dev)

    evaluate(0)
    for step in tqdm(range(1, cfg.steps + 1), disable=not progress, desc=f"toy {cfg.loss}"):
        for _ in range(cfg.d_steps):
            real = sample_toy(cfg.dist, cfg.batch, gen, cfg.std).to(dev)
            z = torch.randn(cfg.batch, cfg.z_dim, generator=gen).to(dev)
            with torch.no_grad():
                fake = G(z)
            d_loss = gl.d_loss(D(real), D(fake)) + real_penalty(D, real, cfg.penalty, cfg.gamma, cfg.k, cfg.p)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        z = torch.randn(cfg.batch, cfg.z_dim, generator=gen).to(dev)
        g_loss = gl.g_loss(D(G(z)))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        run.history["d_loss"].append(float(d_loss.detach()))
        run.history["g_loss"].append(float(g_loss.detach()))
        if step % cfg.eval_every == 0 or step == cfg.steps or (cfg.snapshot_every and step % cfg.snapshot_every == 0):
            evaluate(step)
        if callback is not None:
            callback(step, run)
    return run


def _fit_toy_discriminator_impl(real: Tensor, fake: Tensor, penalty: str = "none", gamma: float = 1.0,
                          k: float = 2.0, p: float = 6.0, loss: str = "hinge", steps: int = 500,
                          lr: float = 1e-3, hidden: int = 64, seed: int = 0) -> ToyDiscriminator:
    """Train only D to separate fixed ``real`` from fixed ``fake`` points (full batch), with a penalty
    on real data; used to show how a zero-centred penalty flattens D around the real data."""
    _check_choice("loss", loss, L.LOSSES)
    torch.manual_seed(seed)
    D = ToyDiscriminator(hidden)
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        d_loss = L.LOSSES[loss].d_loss(D(real), D(fake)) + real_penalty(D, real, penalty, gamma, k, p)
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        opt.step()
    return D


def grad_norm_at(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Per-sample ``|grad_x D(x)|`` (no graph kept)."""
    x = x.detach().clone().requires_grad_(True)
    return L.gradient_norm(D(x), (x,), create_graph=False).detach()


def logit_curves(loss: str, t: Tensor) -> dict[str, np.ndarray]:
    """Per-sample loss terms of ``LOSSES[loss]`` as functions of a logit ``t``, and their derivatives.

    Keys: ``d_real`` (D's loss on a real logit), ``d_fake`` (on a fake logit), ``g`` (G's loss on a fake
    logit) and ``dd_real``, ``dd_fake``, ``dg`` their derivatives, all by autograd through the library.
    D's loss is ``A(real) + B(fake)``; the split assumes ``A(0) = B(0)``, true for bce, wgan and hinge.
    """
    _check_choice("loss", loss, L.LOSSES)
    gl = L.LOSSES[loss]
    zero = torch.zeros(1)
    c = float(gl.d_loss(zero, zero)) / 2
    out: dict[str, list[float]] = {key: [] for key in ("d_real", "d_fake", "g", "dd_real", "dd_fake", "dg")}
    for v in t.tolist():
        a = torch.tensor([v], requires_grad=True)
        terms = {"d_real": gl.d_loss(a, zero) - c, "d_fake": gl.d_loss(zero, a) - c, "g": gl.g_loss(a)}
        for key, val in terms.items():
            (d,) = torch.autograd.grad(val, a)
            out[key].append(float(val.detach()))
            out["d" + key].append(float(d))
    return {key: np.asarray(val) for key, val in out.items()}


# ==================================================================================================
# 2. Dirac-GAN
# ==================================================================================================


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
        _check_choice("loss", self.loss, L.LOSSES)
        _check_choice("penalty", self.penalty, PENALTIES)


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
    _check_choice("field", field_name, ("closed", "autograd"))
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
    _check_choice("method", method, ("simultaneous", "alternating"))
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


def dirac_eigenvalues_closed(cfg: DiracConfig = DiracConfig()) -> np.ndarray:
    """Closed form: ``J = [[0, s], [-s, -c]]`` with ``s = f'(0)`` and linear damping ``c`` (gamma for r1,
    ``2k`` for zero_gp with p = 2, 0 for p > 2), so ``lambda = (-c +- sqrt(c^2 - 4 s^2)) / 2``."""
    s = _slope(cfg.loss)
    c = {"none": 0.0, "r1": cfg.gamma, "zero_gp": 2 * cfg.k if cfg.p == 2 else 0.0}[cfg.penalty]
    root = np.sqrt(complex(c * c - 4 * s * s))
    ev = np.array([(-c - root) / 2, (-c + root) / 2], dtype=complex)
    return ev[np.argsort(ev.imag + 1e-9 * ev.real)]


def critical_gamma(loss: str = "hinge") -> float:
    """R1 strength where the eigenvalues become real (fastest convergence): ``gamma = 2 f'(0)``."""
    _check_choice("loss", loss, L.LOSSES)
    return 2 * _slope(loss)


def eigenvalues_vs_gamma(gammas, loss: str = "hinge", field: str = "autograd") -> np.ndarray:
    """``(len(gammas), 2)`` complex eigenvalues of the R1-regularised Dirac-GAN for each gamma."""
    return np.stack([dirac_eigenvalues(DiracConfig(loss, "r1", float(g)), field) for g in gammas])


def penalty_curve(norms, k: float = 2.0, p: float = 6.0) -> np.ndarray:
    """``k * n ** p``: how hard a zero-centred penalty hits a gradient of norm ``n``."""
    return k * np.asarray(norms, dtype=np.float64) ** p


# ==================================================================================================
# 3. Conditional toy for MA-GP
# ==================================================================================================


def sample_conditional(n: int, generator: torch.Generator | None = None, noise: float = 0.05,
                       x_dim: int = 1, e_dim: int = 1, slope: float = 1.0) -> tuple[Tensor, Tensor]:
    """Real **matched** pairs: a "text" ``e ~ U(-1, 1)`` and its "image" ``x = slope * e + noise``.

    ``slope`` > 1 makes the image very sensitive to the text (a small change of ``e`` asks for a large
    change of ``x``), so D's slope across the matching line is steeper along ``e`` than along ``x``.
    With ``x_dim``/``e_dim`` > 1 every coordinate of ``x`` copies the first text coordinate.
    """
    e = torch.rand(n, e_dim, generator=generator) * 2 - 1
    x = slope * e[:, :1].expand(n, x_dim) + noise * torch.randn(n, x_dim, generator=generator)
    return x.contiguous(), e


def fake_conditional(e: Tensor, generator: torch.Generator | None = None, spread: float = 1.5) -> Tensor:
    """Fakes of an untrained G that ignores the text: ``x ~ U(-spread, spread)`` whatever ``e`` is."""
    return (torch.rand(e.shape[0], 1, generator=generator) * 2 - 1) * spread


class CondCritic(nn.Module):
    """Toy of DF-GAN's D: ``NetD``-like features of x, then a ``NetC``-like head on ``[features, e]``."""

    def __init__(self, x_dim: int = 1, e_dim: int = 1, hidden: int = 64):
        super().__init__()
        self.features = mlp(x_dim, hidden, hidden, 1)
        self.head = mlp(hidden + e_dim, 1, hidden, 1)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return self.head(torch.cat([self.features(x), e], dim=1)).squeeze(-1)

    def head_on_features(self, f: Tensor, e: Tensor) -> Tensor:
        return self.head(torch.cat([f, e], dim=1)).squeeze(-1)


class LinearCritic(nn.Module):
    """``D(x, e) = x . w + e . v``; its MA-GP is ``k (|w|^2 + |v|^2)^(p/2)`` exactly."""

    def __init__(self, w: Tensor, v: Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone().float())
        self.v = nn.Parameter(v.clone().float())

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return x @ self.w + e @ self.v


def conditional_penalty(D: Callable[[Tensor, Tensor], Tensor], x: Tensor, e: Tensor, kind: str = "ma_gp",
                        k: float = 2.0, p: float = 6.0) -> Tensor:
    """Penalty on real matched pairs: ``ma_gp`` (x and e, ``dflib.losses.ma_gp``), ``zero_gp`` (x only,
    ``zero_centred_gp``) or ``none``."""
    _check_choice("conditional penalty", kind, ("none", "zero_gp", "ma_gp"))
    if kind == "none":
        return x.new_zeros(())
    x = x.detach().requires_grad_(True)
    e = e.detach().requires_grad_(True)
    out = D(x, e)
    if kind == "ma_gp":
        return L.ma_gp(out, x, e, k, p)
    return L.zero_centred_gp(out, x, k, p)


@dataclass
class CondToyConfig:
    """Training of the conditional critic alone (real matched vs mismatched vs fake), hinge loss.

    ``slope = 2`` (image = 2 x text): D's slope across the matching line is then twice as steep along the
    text as along the image, which is what a penalty on the image alone (0-GP) cannot see."""

    penalty: str = "ma_gp"
    k: float = 2.0
    p: float = 6.0
    steps: int = 1500
    batch: int = 256
    lr: float = 1e-3
    hidden: int = 64
    noise: float = 0.05
    slope: float = 2.0
    seed: int = 0


@dataclass
class CondRun:
    cfg: CondToyConfig
    D: CondCritic
    history: dict[str, list[float]]


def _train_conditional_critic_impl(cfg: CondToyConfig | None = None, progress: bool = False) -> CondRun:
    """DF-GAN's D objective on the toy: ``hinge_d_loss(real, fake, mismatch) + penalty`` where mismatched
    pairs are the real features rolled by one (``roll_mismatch``), exactly as DF-GAN builds them."""
    cfg = cfg or CondToyConfig()
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    D = CondCritic(hidden=cfg.hidden)
    opt = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    hist: dict[str, list[float]] = {"d_loss": [], "penalty": []}
    for _ in tqdm(range(cfg.steps), disable=not progress, desc=f"critic {cfg.penalty}"):
        x, e = sample_conditional(cfg.batch, gen, cfg.noise, slope=cfg.slope)
        x_fake = fake_conditional(e, gen, spread=1.5 * max(1.0, cfg.slope))
        x = x.requires_grad_(True)
        e = e.requires_grad_(True)
        feats = D.features(x)
        real = D.head_on_features(feats, e)
        mis = D.head_on_features(L.roll_mismatch(feats), e)
        fake = D(x_fake, e)
        if cfg.penalty == "ma_gp":
            pen = L.ma_gp(real, x, e, cfg.k, cfg.p)
        elif cfg.penalty == "zero_gp":
            pen = L.zero_centred_gp(real, x, cfg.k, cfg.p)
        else:
            _check_choice("conditional penalty", cfg.penalty, ("none", "zero_gp", "ma_gp"))
            pen = real.new_zeros(())
        loss = L.hinge_d_loss(real, fake, mis) + pen
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        hist["d_loss"].append(float(loss.detach()))
        hist["penalty"].append(float(pen.detach()))
    return CondRun(cfg, D, hist)


@torch.no_grad()
def conditional_surface(D: Callable[[Tensor, Tensor], Tensor], xlim: float = 3.0, elim: float = 1.5,
                        res: int = 60, kind: str = "logit") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, es, Z)`` with ``Z[i, j]`` at ``(x = xs[j], e = es[i])`` over ``[-xlim, xlim] x [-elim, elim]``.
    ``kind``: ``logit`` (D itself), ``real_loss`` (``relu(1 - D)``, D's loss if the pair were real
    matched) or ``fake_loss`` (``relu(1 + D)``, its loss if the pair were fake or mismatched)."""
    _check_choice("surface kind", kind, ("logit", "real_loss", "fake_loss"))
    xs = torch.linspace(-xlim, xlim, res)
    es = torch.linspace(-elim, elim, res)
    ee, xx = torch.meshgrid(es, xs, indexing="ij")
    d = D(xx.reshape(-1, 1), ee.reshape(-1, 1)).reshape(res, res)
    z = {"logit": d, "real_loss": torch.relu(1 - d), "fake_loss": torch.relu(1 + d)}[kind]
    return xs.numpy(), es.numpy(), z.numpy()


def conditional_grad_norms(D: Callable[[Tensor, Tensor], Tensor], x: Tensor, e: Tensor) -> dict[str, float]:
    """Mean ``|dD/dx|``, ``|dD/de|`` and ``|[dD/dx; dD/de]|`` over the given pairs."""
    x = x.detach().clone().requires_grad_(True)
    e = e.detach().clone().requires_grad_(True)
    gx, ge = torch.autograd.grad(D(x, e).sum(), (x, e))
    nx, ne = gx.norm(dim=1), ge.norm(dim=1)
    return {"x": float(nx.mean()), "e": float(ne.mean()), "joint": float((nx**2 + ne**2).sqrt().mean())}


@torch.no_grad()
def conditional_slices(D: Callable[[Tensor, Tensor], Tensor], x0: float, e0: float, half_width: float = 0.5,
                       n: int = 81) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, D(x0 + t, e0), D(x0, e0 + t))``: D along the image and along the text direction through
    one pair, to see how flat D is around a real matched point."""
    t = torch.linspace(-half_width, half_width, n)
    ones = torch.ones(n, 1)
    along_x = D(x0 + t[:, None], e0 * ones)
    along_e = D(x0 * ones, e0 + t[:, None])
    return t.numpy(), along_x.numpy(), along_e.numpy()


def train_toy(cfg: ToyConfig | None = None, progress: bool = False,
              callback: Callable[[int, ToyRun], None] | None = None) -> ToyRun:
    with one_thread():
        return _train_toy_impl(cfg, progress, callback)


def fit_toy_discriminator(real: Tensor, fake: Tensor, penalty: str = "none", gamma: float = 1.0,
                          k: float = 2.0, p: float = 6.0, loss: str = "hinge", steps: int = 500,
                          lr: float = 1e-3, hidden: int = 64, seed: int = 0) -> ToyDiscriminator:
    with one_thread():
        return _fit_toy_discriminator_impl(real, fake, penalty, gamma, k, p, loss, steps, lr, hidden, seed)


def train_conditional_critic(cfg: CondToyConfig | None = None, progress: bool = False) -> CondRun:
    with one_thread():
        return _train_conditional_critic_impl(cfg, progress)


train_toy.__doc__ = _train_toy_impl.__doc__
fit_toy_discriminator.__doc__ = _fit_toy_discriminator_impl.__doc__
train_conditional_critic.__doc__ = _train_conditional_critic_impl.__doc__
