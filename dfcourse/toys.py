"""The 2-D toy GAN (GAN Lab style): what G and D do, seen on points in the plane.

Real data is a mixture of Gaussians (``ring8``, ``grid9``) or a continuous ``ring``; G and D are small MLPs;
the loss is any of ``dflib.losses.LOSSES`` (DF-GAN's hinge loss is paper Sec. 3.2, Eq. 1), with an optional
penalty on real data: R1 ``gamma/2 * |grad_x D|^2`` (Mescheder et al., ICML 2018; the 1/2 is included) or the
zero-centred ``k * |grad_x D|^p`` that MA-GP applies (paper Sec. 3.3.1, Eq. 2), both evaluated **at real
data** (not at interpolates). Everything is computed with the real loss code of :mod:`dflib.losses`.

Introduced in ``notebooks/01_gan_basics.ipynb`` and used again in ``02_hinge_loss.ipynb`` and
``03_zero_centred_gp.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from dflib import losses as L

from .common import PENALTIES, check_choice, mlp, single_threaded

__all__ = [
    "TOY_DISTRIBUTIONS",
    "PENALTIES",
    "mixture_centres",
    "sample_toy",
    "energy_distance",
    "mode_coverage",
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
    "track_discriminator_fit",
    "grad_norm_at",
]

TOY_DISTRIBUTIONS = ("ring8", "grid9", "ring")


# --------------------------------------------------------------------------------------------------
# Data and a metric
# --------------------------------------------------------------------------------------------------


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
    check_choice("toy distribution", name, TOY_DISTRIBUTIONS)
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



# --------------------------------------------------------------------------------------------------
# Networks, configuration, training
# --------------------------------------------------------------------------------------------------


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
    ``zero_gp`` uses ``k * |grad|^p``). ``std`` and ``radius`` shape the data (mode width, circle radius)."""

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
    radius: float = 2.0
    seed: int = 0
    snapshot_every: int = 0
    eval_every: int = 100
    lim: float = 3.0
    device: str = "cpu"

    def validate(self) -> None:
        check_choice("toy distribution", self.dist, TOY_DISTRIBUTIONS)
        check_choice("loss", self.loss, L.LOSSES)
        check_choice("penalty", self.penalty, PENALTIES)
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
    """Penalty on real data: ``r1`` = ``gamma/2 |grad|^2``; ``zero_gp`` = ``k |grad|^p`` (the image half of
    MA-GP, paper Eq. 2); ``none`` = 0."""
    check_choice("penalty", kind, PENALTIES)
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
    check_choice("loss", loss, L.LOSSES)
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


@single_threaded
def train_toy(cfg: ToyConfig | None = None, progress: bool = False,
              callback: Callable[[int, ToyRun], None] | None = None) -> ToyRun:
    """Train the 2D toy GAN with ``cfg.loss`` (any key of ``dflib.losses.LOSSES``) and ``cfg.penalty``.

    Each iteration: ``d_steps`` D updates (real vs detached fakes, plus the penalty on real data), then
    one G update on fresh noise, Adam for both. ``history`` holds per-step ``d_loss``/``g_loss`` and, every
    ``eval_every`` steps, ``eval_step`` and the energy distance ``energy`` of 1,024 fakes (fixed noise) to
    1,024 held-out real points; for the mixtures (``ring8``, ``grid9``) also ``modes`` (modes with a fake
    within ``3 * std``) and ``on_mode`` (the fraction of those fakes within ``3 * std`` of a mode), as in
    :func:`mode_coverage`; both stay empty for ``ring``.
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
    eval_real = sample_toy(cfg.dist, 1024, gen, cfg.std, cfg.radius).to(dev)
    eval_z = torch.randn(1024, cfg.z_dim, generator=gen).to(dev)
    show_real, show_z = eval_real[:256].cpu(), eval_z[:256]
    run = ToyRun(cfg, G, D, {"d_loss": [], "g_loss": [], "eval_step": [], "energy": [], "modes": [],
                             "on_mode": []}, [])
    centres = mixture_centres(cfg.dist, cfg.radius).to(dev) if cfg.dist != "ring" else None

    def evaluate(step: int) -> None:
        with torch.no_grad():
            fakes = G(eval_z)
            run.history["eval_step"].append(step)
            run.history["energy"].append(energy_distance(fakes, eval_real))
            if centres is not None:
                modes, on_mode = mode_coverage(fakes, centres, cfg.std)
                run.history["modes"].append(modes)
                run.history["on_mode"].append(on_mode)
        if cfg.snapshot_every and step % cfg.snapshot_every == 0:
            run.snapshots.append(take_snapshot(G.cpu(), D.cpu(), show_real, show_z.cpu(), cfg.loss, step, cfg.lim))
            G.to(dev), D.to(dev)

    evaluate(0)
    for step in tqdm(range(1, cfg.steps + 1), disable=not progress, desc=f"toy {cfg.loss}"):
        for _ in range(cfg.d_steps):
            real = sample_toy(cfg.dist, cfg.batch, gen, cfg.std, cfg.radius).to(dev)
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


@single_threaded
def fit_toy_discriminator(real: Tensor, fake: Tensor, penalty: str = "none", gamma: float = 1.0,
                          k: float = 2.0, p: float = 6.0, loss: str = "hinge", steps: int = 500,
                          lr: float = 1e-3, hidden: int = 64, seed: int = 0) -> ToyDiscriminator:
    """Train only D to separate fixed ``real`` from fixed ``fake`` points (full batch), with a penalty
    on real data; used to show how a zero-centred penalty flattens D around the real data."""
    check_choice("loss", loss, L.LOSSES)
    torch.manual_seed(seed)
    D = ToyDiscriminator(hidden)
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        d_loss = L.LOSSES[loss].d_loss(D(real), D(fake)) + real_penalty(D, real, penalty, gamma, k, p)
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        opt.step()
    return D


@single_threaded
def track_discriminator_fit(real: Tensor, fake: Tensor, loss: str = "hinge", steps: int = 2000,
                            at: tuple[int, ...] = (250, 1000, 2000), lr: float = 1e-3, hidden: int = 64,
                            seed: int = 0) -> dict:
    """:func:`fit_toy_discriminator` without a penalty (same initialisation and optimiser), recording at the
    steps ``at``: D's loss, the smallest and mean real logit, the largest and mean fake logit and how many
    points lie inside the hinge margin (a real logit below +1 or a fake one above -1). ``zero_at`` is the first
    step after which D's loss was exactly 0 (None if never): from then on D gets no gradient at all."""
    check_choice("loss", loss, L.LOSSES)
    torch.manual_seed(seed)
    D = ToyDiscriminator(hidden)
    opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    out: dict = {"zero_at": None, "at": {}}
    for step in range(1, steps + 1):
        d_loss = L.LOSSES[loss].d_loss(D(real), D(fake))
        if out["zero_at"] is None and float(d_loss.detach()) == 0.0:
            out["zero_at"] = step - 1
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        opt.step()
        if step in at:
            with torch.no_grad():
                r, f = D(real), D(fake)
            out["at"][step] = {"loss": float(L.LOSSES[loss].d_loss(r, f)), "real_min": float(r.min()),
                               "real_mean": float(r.mean()), "fake_max": float(f.max()),
                               "fake_mean": float(f.mean()), "inside": int((r < 1).sum() + (f > -1).sum())}
    out["D"] = D
    return out


def grad_norm_at(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Per-sample ``|grad_x D(x)|`` (no graph kept)."""
    x = x.detach().clone().requires_grad_(True)
    return L.gradient_norm(D(x), (x,), create_graph=False).detach()

