"""R-precision (AttnGAN / DM-GAN style text-image retrieval score).

For each generated image, its own caption is mixed with ``pool − 1`` captions of other images; the codes
(e.g. the DAMSM image encoder's global image code and the DAMSM text encoder's sentence code) are compared
by cosine similarity, and the image scores a hit when its own caption ranks in the top ``k``. The mean hit
rate is the R-precision (chance = k / pool). Comparable across papers only with the same encoder pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["r_precision"]


def r_precision(
    image_codes: Tensor | np.ndarray,
    sentence_codes: Tensor | np.ndarray,
    k: int = 1,
    pool: int = 100,
    seed: int = 0,
) -> float:
    """Fraction of images ``i`` whose sentence ``i`` ranks in the top ``k`` by cosine similarity among itself
    and ``pool − 1`` sentences of other images drawn at random (``seed``). Codes are (N, D), row ``i`` of
    both belonging together."""
    img = torch.as_tensor(image_codes).double()
    sen = torch.as_tensor(sentence_codes).double()
    if img.ndim != 2 or sen.ndim != 2 or img.shape != sen.shape:
        raise ValueError(f"need image and sentence codes of equal shape (N, D); got {tuple(img.shape)}, {tuple(sen.shape)}")
    n = img.shape[0]
    if not 2 <= pool <= n:
        raise ValueError(f"pool must be in 2..N={n} (own caption + pool-1 others); got {pool}")
    if not 1 <= k <= pool:
        raise ValueError(f"k must be in 1..pool={pool}; got {k}")
    rng = np.random.default_rng(seed)
    # pool-1 distinct wrong indices per image: draw from 0..n-2 and skip over i
    wrong = np.stack([rng.choice(n - 1, size=pool - 1, replace=False) for _ in range(n)])
    wrong = wrong + (wrong >= np.arange(n)[:, None])
    cand = torch.from_numpy(np.concatenate([np.arange(n)[:, None], wrong], axis=1))  # (N, pool), col 0 = true
    sim = torch.einsum("nd,npd->np", F.normalize(img, dim=1), F.normalize(sen, dim=1)[cand])
    # rank of the true caption = number of candidates strictly more similar (ties count in its favour)
    rank = (sim[:, 1:] > sim[:, :1]).sum(dim=1)
    return float((rank < k).double().mean())
