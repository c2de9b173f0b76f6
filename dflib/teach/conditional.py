"""The conditional toy of MA-GP: a one-number "image" ``x`` and a one-number "text" ``e``.

Real matched pairs lie on the line ``x = slope * e``; mismatched pairs are built with
``dflib.losses.roll_mismatch`` as DF-GAN builds them; the untrained G's fakes ignore the text. The critic
mirrors DF-GAN's discriminator (``NetD``-like features of x, a ``NetC``-like head on ``[features, e]``) and
is trained with DF-GAN's discriminator objective: the hinge loss on real, fake and mismatched pairs
(paper Sec. 3.2, Eq. 1) plus a penalty at real matched pairs, either MA-GP ``k * |[grad_x D; grad_e D]|^p``
(paper Sec. 3.3.1, Eq. 2) or the image-only ``k * |grad_x D|^p``. D's surface over ``(x, e)`` shows where
each penalty smooths it.

Introduced in ``notebooks/04_ma_gp.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from dflib import losses as L

from .common import check_choice, mlp, single_threaded

__all__ = [
    "COND_PENALTIES",
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

COND_PENALTIES = ("none", "zero_gp", "ma_gp")


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
    """Penalty on real matched pairs: ``ma_gp`` (x and e, ``dflib.losses.ma_gp``, paper Eq. 2), ``zero_gp``
    (x only, ``zero_centred_gp``) or ``none``."""
    check_choice("conditional penalty", kind, COND_PENALTIES)
    if kind == "none":
        return x.new_zeros(())
    x = x.detach().requires_grad_(True)
    e = e.detach().requires_grad_(True)
    out = D(x, e)
    if kind == "ma_gp":
        return L.ma_gp(out, x, e, k, p)  # Eq. 2: k * |[grad_x D; grad_e D]|^p at real matched pairs
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
    """Result of :func:`train_conditional_critic`: the config, the trained critic, per-step losses."""

    cfg: CondToyConfig
    D: CondCritic
    history: dict[str, list[float]]


@single_threaded
def train_conditional_critic(cfg: CondToyConfig | None = None, progress: bool = False) -> CondRun:
    """DF-GAN's D objective on the toy (paper Eq. 1 for the hinge terms, Eq. 2 for MA-GP):
    ``hinge_d_loss(real, fake, mismatch) + penalty`` where mismatched pairs are the real features rolled
    by one (``roll_mismatch``), exactly as DF-GAN builds them."""
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
            pen = L.ma_gp(real, x, e, cfg.k, cfg.p)  # Eq. 2
        elif cfg.penalty == "zero_gp":
            pen = L.zero_centred_gp(real, x, cfg.k, cfg.p)
        else:
            check_choice("conditional penalty", cfg.penalty, COND_PENALTIES)
            pen = real.new_zeros(())
        loss = L.hinge_d_loss(real, fake, mis) + pen  # Eq. 1 (D side) + penalty
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
    check_choice("surface kind", kind, ("logit", "real_loss", "fake_loss"))
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

