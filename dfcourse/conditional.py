"""The conditional toys of MA-GP: a one-number "image" ``x`` and a one-number "text" ``e``.

**Line toy.** Real matched pairs lie on the line ``x = slope * e``; mismatched pairs are built with
``dflib.losses.roll_mismatch`` as DF-GAN builds them; the untrained G's fakes ignore the text. The
critic mirrors DF-GAN's discriminator (``NetD``-like features of x, a ``NetC``-like head on
``[features, e]``) and is trained with DF-GAN's discriminator objective: the hinge loss on real,
fake and mismatched pairs (paper Sec. 3.2, Eq. 1) plus a penalty at real matched pairs, either MA-GP
``k * |[grad_x D; grad_e D]|^p`` (paper Sec. 3.3.1, Eq. 2) or the image-only ``k * |grad_x D|^p``.
D's surface over ``(x, e)`` shows where each penalty smooths it. On this toy ``D`` is close to
``g(x - slope * e)``, so ``dD/de = -slope * dD/dx``: a penalty on the image gradient bounds the text
gradient too.

**Memory toy** (:func:`memory_pairs`). A small training set whose captions all say the same thing in
different wordings, so every image matches every caption. D can only tell a real pair from a rolled
mismatch by memorising which exact sentence came with which image, a dependence on ``e`` at fixed
``x`` that an image-only penalty never sees. :func:`caption_margin` measures how much D prefers
each image's own caption, and :func:`fake_trajectories` moves fakes along ``grad_x D`` for one
caption, as G's update would.

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
    "memory_pairs",
    "CondCritic",
    "LinearCritic",
    "conditional_penalty",
    "CondToyConfig",
    "CondRun",
    "train_conditional_critic",
    "conditional_surface",
    "conditional_grad_norms",
    "conditional_slices",
    "caption_margin",
    "fake_trajectories",
    "landing_fractions",
    "pair_gradients",
    "nearest_image_stats",
]

COND_PENALTIES = ("none", "zero_gp", "ma_gp")
Critic = Callable[[Tensor, Tensor], Tensor]


def sample_conditional(n: int, generator: torch.Generator | None = None, noise: float = 0.05,
                       x_dim: int = 1, e_dim: int = 1, slope: float = 1.0) -> tuple[Tensor, Tensor]:
    """Real **matched** pairs: a "text" ``e ~ U(-1, 1)`` and its "image" ``x = slope * e + noise``.

    ``slope`` > 1 makes the image very sensitive to the text (a small change of ``e`` asks for a
    large change of ``x``), so D's slope across the matching line is ``slope`` times steeper along
    ``e`` than along ``x``. With ``x_dim``/``e_dim`` > 1 every coordinate of ``x`` copies the first
    text coordinate.
    """
    e = torch.rand(n, e_dim, generator=generator) * 2 - 1
    x = slope * e[:, :1].expand(n, x_dim) + noise * torch.randn(n, x_dim, generator=generator)
    return x.contiguous(), e


def fake_conditional(e: Tensor, generator: torch.Generator | None = None, spread: float = 1.5,
                     gap: float = 0.0) -> Tensor:
    """Fakes of an untrained G that ignores the text: ``u ~ U(-spread, spread)`` whatever ``e`` is,
    moved ``gap`` away from 0 (``u + gap * sign(u)``). With ``gap`` beyond the real images' range
    every fake is told apart by the image alone, as early in training."""
    u = (torch.rand(e.shape[0], 1, generator=generator) * 2 - 1) * spread
    return u + gap * torch.sign(u)


def memory_pairs(n: int = 16, generator: torch.Generator | None = None, xlim: float = 3.0,
                 elim: float = 1.0) -> tuple[Tensor, Tensor]:
    """A small training set of ``n`` pairs whose image ``x ~ U(-xlim, xlim)`` and caption
    ``e ~ U(-elim, elim)`` are **independent**: the captions are wordings of one sentence, so every
    image matches every caption and nothing but memory tells a real pair from a rolled mismatch."""
    x = (torch.rand(n, 1, generator=generator) * 2 - 1) * xlim
    e = (torch.rand(n, 1, generator=generator) * 2 - 1) * elim
    return x, e


class CondCritic(nn.Module):
    """Toy of DF-GAN's D: ``NetD``-like features of x, then a ``NetC``-like head on
    ``[features, e]``."""

    def __init__(self, x_dim: int = 1, e_dim: int = 1, hidden: int = 64):
        super().__init__()
        self.features = mlp(x_dim, hidden, hidden, 1)
        self.head = mlp(hidden + e_dim, 1, hidden, 1)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return self.head(torch.cat([self.features(x), e], dim=1)).squeeze(-1)

    def head_on_features(self, f: Tensor, e: Tensor) -> Tensor:
        return self.head(torch.cat([f, e], dim=1)).squeeze(-1)


class LinearCritic(nn.Module):
    """``D(x, e) = x . w + e . v``; its MA-GP is ``k (|w|^2 + |v|^2)^(p/2)`` exactly, its 0-GP
    ``k |w|^p``."""

    def __init__(self, w: Tensor, v: Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone().float())
        self.v = nn.Parameter(v.clone().float())

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        return x @ self.w + e @ self.v


def conditional_penalty(D: Critic, x: Tensor, e: Tensor, kind: str = "ma_gp", k: float = 2.0,
                        p: float = 6.0) -> Tensor:
    """Penalty on real matched pairs: ``ma_gp`` (x and e, ``dflib.losses.ma_gp``, paper Eq. 2),
    ``zero_gp`` (x only, ``zero_centred_gp``) or ``none``."""
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

    ``toy = "line"``: pairs of :func:`sample_conditional` with ``slope`` (image = slope x text),
    fakes of :func:`fake_conditional` (``fake_gap`` moves them off the real images).
    ``toy = "memory"``: the ``memory_n`` fixed pairs of :func:`memory_pairs` (seed
    ``memory_seed``), each batch a permutation of them, fakes ``U(-3, 3)``. ``mismatch = False``
    drops the mismatched term (then the hinge loss is ``real + fake``)."""

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
    toy: str = "line"
    mismatch: bool = True
    fake_gap: float = 0.0
    memory_n: int = 16
    memory_seed: int = 1


@dataclass
class CondRun:
    """Result of :func:`train_conditional_critic`: the config, the trained critic, the per-step
    losses."""

    cfg: CondToyConfig
    D: CondCritic
    history: dict[str, list[float]]


@single_threaded
def train_conditional_critic(cfg: CondToyConfig | None = None, progress: bool = False) -> CondRun:
    """DF-GAN's D objective on the toy (paper Eq. 1 for the hinge terms, Eq. 2 for MA-GP):
    ``hinge_d_loss(real, fake, mismatch) + penalty`` where mismatched pairs are the real features
    rolled by one (``roll_mismatch``), exactly as DF-GAN builds them."""
    cfg = cfg or CondToyConfig()
    check_choice("conditional toy", cfg.toy, ("line", "memory"))
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    memory = memory_pairs(cfg.memory_n, torch.Generator().manual_seed(cfg.memory_seed))
    D = CondCritic(hidden=cfg.hidden)
    opt = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    hist: dict[str, list[float]] = {"d_loss": [], "penalty": []}
    for _ in tqdm(range(cfg.steps), disable=not progress, desc=f"critic {cfg.penalty}"):
        if cfg.toy == "memory":
            idx = torch.randperm(cfg.memory_n, generator=gen)
            x, e = memory[0][idx].clone(), memory[1][idx].clone()
            x_fake = fake_conditional(e, gen, spread=3.0)
        else:
            x, e = sample_conditional(cfg.batch, gen, cfg.noise, slope=cfg.slope)
            x_fake = fake_conditional(e, gen, spread=1.5 * max(1.0, cfg.slope), gap=cfg.fake_gap)
        x = x.requires_grad_(True)
        e = e.requires_grad_(True)
        feats = D.features(x)
        real = D.head_on_features(feats, e)
        mis = D.head_on_features(L.roll_mismatch(feats), e) if cfg.mismatch else None
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
def conditional_surface(D: Critic, xlim: float = 3.0, elim: float = 1.5, res: int = 60,
                        kind: str = "logit") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs, es, Z)`` with ``Z[i, j]`` at ``(x = xs[j], e = es[i])`` over
    ``[-xlim, xlim] x [-elim, elim]``. ``kind``: ``logit`` (D itself), ``real_loss``
    (``relu(1 - D)``, D's loss if the pair were real matched), ``fake_loss`` (``relu(1 + D)``, its
    loss if the pair were fake or mismatched) or ``g_loss`` (``-D``, G's hinge loss for a fake at
    ``(x, e)``: the surface G descends, paper Sec. 3.3.1)."""
    check_choice("surface kind", kind, ("logit", "real_loss", "fake_loss", "g_loss"))
    xs = torch.linspace(-xlim, xlim, res)
    es = torch.linspace(-elim, elim, res)
    ee, xx = torch.meshgrid(es, xs, indexing="ij")
    d = D(xx.reshape(-1, 1), ee.reshape(-1, 1)).reshape(res, res)
    z = {"logit": d, "real_loss": torch.relu(1 - d), "fake_loss": torch.relu(1 + d), "g_loss": -d}[kind]
    return xs.numpy(), es.numpy(), z.numpy()


def conditional_grad_norms(D: Critic, x: Tensor, e: Tensor) -> dict[str, float]:
    """Mean ``|dD/dx|``, ``|dD/de|`` and ``|[dD/dx; dD/de]|`` over the given pairs."""
    x = x.detach().clone().requires_grad_(True)
    e = e.detach().clone().requires_grad_(True)
    gx, ge = torch.autograd.grad(D(x, e).sum(), (x, e))
    nx, ne = gx.norm(dim=1), ge.norm(dim=1)
    joint = (nx**2 + ne**2).sqrt()
    return {"x": float(nx.mean()), "e": float(ne.mean()), "joint": float(joint.mean())}


@torch.no_grad()
def conditional_slices(D: Critic, x0: float, e0: float, half_width: float = 0.5,
                       n: int = 81) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, D(x0 + t, e0), D(x0, e0 + t))``: D along the image and along the text direction
    through one pair, to see how flat D is around a real matched point."""
    t = torch.linspace(-half_width, half_width, n)
    ones = torch.ones(n, 1)
    along_x = D(x0 + t[:, None], e0 * ones)
    along_e = D(x0 * ones, e0 + t[:, None])
    return t.numpy(), along_x.numpy(), along_e.numpy()


@torch.no_grad()
def caption_margin(D: Critic, x: Tensor, e: Tensor) -> float:
    """How much D prefers each image's own caption: the mean over ``i`` of
    ``D(x_i, e_i) - mean_{j != i} D(x_i, e_j)``. Zero for any critic ``f(x) + h(e)`` (a score of the
    caption alone is not matching) and for one that ignores the caption."""
    n = x.shape[0]
    xx = x.repeat_interleave(n, 0)  # row i * n + j: image i with caption j
    scores = D(xx, e.repeat(n, 1)).reshape(n, n)
    own = scores.diagonal()
    others = (scores.sum(1) - own) / (n - 1)
    return float((own - others).mean())


def fake_trajectories(D: Critic, e0: float, x0: Tensor, steps: int = 200,
                      lr: float = 0.05) -> np.ndarray:
    """Fakes for one caption ``e0`` moved as G's hinge update moves them: G minimises ``-D``, so
    each step is ``x <- x + lr * grad_x D(x, e0)``. Returns ``(steps + 1, n)`` positions, row 0 is
    ``x0``."""
    x = x0.detach().reshape(-1, 1).clone()
    out = [x[:, 0].clone()]
    for _ in range(steps):
        x.requires_grad_(True)
        (gx,) = torch.autograd.grad(D(x, torch.full_like(x, e0)).sum(), x)
        x = (x + lr * gx).detach()
        out.append(x[:, 0].clone())
    return torch.stack(out).numpy()


def landing_fractions(final: np.ndarray, targets: np.ndarray, own: int,
                      tol: float = 0.15) -> dict[str, float]:
    """Where fakes ended: the fraction within ``tol`` of some training image (``real``) and the
    fraction whose nearest training image is ``targets[own]``, within ``tol`` (``own``: the
    caption's own image)."""
    final = np.asarray(final, dtype=float)
    d = np.abs(final[:, None] - np.asarray(targets, dtype=float)[None, :])
    near = d.min(axis=1) <= tol
    return {"real": float(near.mean()), "own": float((near & (d.argmin(axis=1) == own)).mean())}


def pair_gradients(D: Critic, x: Tensor, e: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(dD/dx, dD/de)`` at each pair, each ``(N,)`` (one-number image and text): the arrows of the
    surface figures, pointing uphill in D, i.e. downhill in G's loss ``-D``."""
    x = x.detach().clone().requires_grad_(True)
    e = e.detach().clone().requires_grad_(True)
    gx, ge = torch.autograd.grad(D(x, e).sum(), (x, e))
    return gx[:, 0].numpy(), ge[:, 0].numpy()


def nearest_image_stats(finals: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Where fakes end when G follows D, measured by the **nearest** training image (no tolerance, so
    neighbouring training images cannot make a fake count for none of them).

    ``finals[i]`` are the end positions of the same starting fakes moved for caption ``i`` (one row per
    caption, ``targets[i]`` that caption's own image). ``own``: mean over captions of the fraction whose
    nearest training image is the caption's own; for any critic that ignores the caption it is exactly
    ``1 / len(targets)``. ``split``: over pairs of captions, the fraction of starting fakes whose nearest
    image differs between the two captions (0 for a critic that ignores the caption)."""
    finals = np.asarray(finals, dtype=float)
    targets = np.asarray(targets, dtype=float).ravel()
    if finals.shape[0] != len(targets):
        raise ValueError(f"{finals.shape[0]} rows of fakes for {len(targets)} captions")
    nearest = np.abs(finals[:, :, None] - targets[None, None, :]).argmin(axis=2)  # (captions, fakes)
    own = float(np.mean([np.mean(nearest[i] == i) for i in range(len(targets))]))
    c = len(targets)
    split = float(np.mean([np.mean(nearest[i] != nearest[j]) for i in range(c) for j in range(i + 1, c)]))
    return {"own": own, "split": split, "chance_own": 1.0 / c}
