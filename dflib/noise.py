"""Noise for the generator: plain N(0, 1) in training, truncated normal for sampling and evaluation.

Training draws plain standard normal noise (see ``dflib.step.draw_noise``). The official sampler and its
FID evaluation draw ``truncnorm(-2, 2) * 0.88`` (docs/official_behaviour.md); ``slerp`` walks between two
noise vectors on the sphere for interpolation figures.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["truncated_noise", "slerp"]


def truncated_noise(
    n: int, z_dim: int = 100, truncation: float | None = 0.88, seed: int | None = 0, bound: float = 2.0
) -> Tensor:
    """``(n, z_dim)`` float32 noise: ``truncnorm(-bound, bound) * truncation`` (docs/official_behaviour.md §15).

    ``truncation=None`` gives plain N(0, 1) (the training distribution). Seeded by ``seed`` with its own
    generator (the global NumPy state is not touched); ``seed=None`` draws fresh noise.
    """
    rs = np.random.RandomState(seed)
    if truncation is None:
        return torch.from_numpy(rs.standard_normal((n, z_dim)).astype(np.float32))
    if bound <= 0:
        raise ValueError(f"truncation bound must be > 0, got {bound}")
    from scipy.stats import truncnorm

    values = truncnorm.rvs(-bound, bound, size=(n, z_dim), random_state=rs) * float(truncation)
    return torch.from_numpy(values.astype(np.float32))


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows ``a`` and ``b`` (1-D) at fractions ``t`` (falls back to lerp)."""
    a, b = a.flatten().double(), b.flatten().double()
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    t = t.double()[:, None]
    if omega.abs() < 1e-4:
        return ((1 - t) * a + t * b).float()
    so = torch.sin(omega)
    return ((torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b).float()
