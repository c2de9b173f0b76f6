"""Diversity on ``shapes``: does a generator vary what a caption leaves open, as much as the data do?

A text-to-image GAN that has become a lookup table draws the same image for a caption whatever the noise.
Attribute accuracy (:mod:`dflib.metrics.attributes`) cannot see that; this can.

For a caption that leaves attribute ``a`` open (``a`` takes several values in the data and the caption
does not state it), draw ``K`` images from the generator for that caption with ``K`` noise vectors, and
``R`` real images from the data distribution with the caption's stated attributes held fixed
(``ShapesDataset.sample_scene``: exactly the real images that go with the caption, because which
attributes a caption states is drawn independently of their values). The attribute classifier reads
``a`` from both.

**Spread** of the values ``y_1 .. y_K`` read from ``K`` draws: the probability that two different draws
show different values,

    spread(y) = 1 - sum_v n_v (n_v - 1) / (K (K - 1))        (n_v = #{i : y_i = v}),

the unbiased estimate of the Gini-Simpson index ``1 - sum_v p_v**2`` of the distribution the draws come
from: 0 when every draw shows the same value, ``1 - 1/m`` for ``m`` equally likely values.

**Diversity** of ``a``: the mean, over the captions that leave ``a`` open (and whose real spread is not 0),
of ``spread(generated) / spread(real)``. 1.0 = as varied as the data; 0 = the same value every time. A
generator that draws from the data half of the time and shows one fixed value otherwise has index
``1 - (1/4 + p_v/2 + sum p**2 / 4)``; for ``m`` equally likely values that is ``3/4 (1 - 1/m)``, so it
scores 3/4. Values above 1 mean more variety than the data (e.g. the classifier misreading broken
images). Both sides are read by the same classifier, so its rare errors on real images count on both.
Read diversity next to attribute accuracy: images that show no clear object (an untrained generator)
read as scattered positions and score a high position diversity; the pixel ratio then stays low.

**Pixel diversity** (informative, not in the mean): the same ratio for the root-mean-square pixel
difference between two draws, over every selected caption; it also sees variety the attributes do not
name (the jitter of the position, the look of the shape).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..noise import truncated_noise
from ..sample import generate_images
from .attributes import REQUIRED_ATTRIBUTES, _encode, _stated_flags, _z_dim, eval_items, predict_attributes

__all__ = ["spread", "diversity_ratio", "mean_pairwise_distance", "diversity_items", "attribute_diversity"]


def spread(labels: Sequence[int] | Tensor | np.ndarray) -> float:
    """Probability that two different draws show different values (unbiased Gini-Simpson index) of the
    class labels of ``K >= 2`` draws."""
    y = np.asarray(torch.as_tensor(labels).flatten().cpu(), dtype=np.int64)
    k = y.size
    if k < 2:
        raise ValueError(f"spread needs at least 2 draws, got {k}")
    counts = np.unique(y, return_counts=True)[1].astype(np.float64)
    return float(1.0 - (counts * (counts - 1)).sum() / (k * (k - 1)))


def diversity_ratio(generated: Sequence[Sequence[int]], real: Sequence[Sequence[int]]) -> tuple[float | None, int]:
    """``(mean over captions of spread(generated[c]) / spread(real[c]), how many captions)``, skipping the
    captions whose real spread is 0; ``(None, 0)`` when none is left."""
    if len(generated) != len(real):
        raise ValueError(f"{len(generated)} generated groups for {len(real)} real ones")
    ratios = []
    for g, r in zip(generated, real):
        s_real = spread(r)
        if s_real > 0:
            ratios.append(spread(g) / s_real)
    return (float(np.mean(ratios)) if ratios else None), len(ratios)


def mean_pairwise_distance(images: Tensor) -> float:
    """Mean over the pairs ``i < j`` of the root-mean-square pixel difference of images (K,C,H,W)."""
    k = images.shape[0]
    if k < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 images, got {k}")
    x = images.reshape(k, -1).double()
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist") / x.shape[1] ** 0.5  # exact 0 for equal images
    return float(d[torch.triu_indices(k, k, 1).unbind()].mean())


def _open_attributes(dataset: Any, item: Mapping[str, Any]) -> list[str]:
    flags = _stated_flags(item)
    return [a for a in dataset.free_attributes() if a not in REQUIRED_ATTRIBUTES and not flags.get(a, False)]


def diversity_items(dataset: Any, n_captions: int, seed: int = 0) -> list[dict]:
    """The first ``n_captions`` test items (one caption each, drawn from ``seed``) whose caption leaves at
    least one free attribute open; every caption when the data leave nothing free."""
    free = [a for a in dataset.free_attributes() if a not in REQUIRED_ATTRIBUTES]
    out: list[dict] = []
    start, chunk = 0, max(64, 2 * int(n_captions))
    while len(out) < n_captions and start < len(dataset):
        idx = list(range(start, min(start + chunk, len(dataset))))
        for it in eval_items(dataset, idx, seed + start):
            if not free or _open_attributes(dataset, it):
                out.append(it)
                if len(out) >= n_captions:
                    break
        start += chunk
    return out


def _seed(*parts: int) -> int:
    """One 32-bit seed from several integers (the evaluation seed, a purpose tag, a batch index): the
    same parts give the same seed on every machine; shared by the emoji evaluation."""
    h = 0
    for p in parts:
        h = (h * 1_000_003 + int(p)) % 2**32
    return h


@torch.no_grad()
def attribute_diversity(
    netG: nn.Module,
    encode_fn: Any,
    dataset: Any,
    classifier: nn.Module,
    n_captions: int = 64,
    draws: int = 16,
    real_draws: int | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    truncation: float | None = None,
    batch_size: int = 64,
    z_dim: int | None = None,
) -> dict[str, Any]:
    """Diversity (module doc) of ``netG`` on ``n_captions`` captions of ``dataset`` (a held-out
    single-object ``shapes`` split) that leave something open, ``draws`` noise vectors per caption
    (``truncnorm(-2,2)·truncation``, or N(0, 1) when ``truncation`` is None) and ``real_draws`` real
    images per caption (default ``4 * draws``, which keeps the ratio's bias from a noisy denominator small).

    Returns ``{'diversity': {attribute: ratio or None}, 'mean': mean of the ratios (None if none),
    'pixels': pixel-distance ratio, 'n_captions': {attribute: captions averaged, 'pixels': ...},
    'draws': K, 'real_draws': R}``."""
    if draws < 2:
        raise ValueError(f"attribute_diversity needs draws >= 2, got {draws}")
    if getattr(dataset, "max_objects", 1) != 1 or not hasattr(dataset, "sample_scene"):
        raise ValueError("attribute_diversity needs a single-object ShapesDataset (max_objects=1)")
    device = torch.device(device)
    real_draws = int(real_draws if real_draws is not None else 4 * draws)
    z_dim = _z_dim(netG, z_dim)
    items = diversity_items(dataset, int(n_captions), seed)
    free = [a for a in dataset.free_attributes() if a not in REQUIRED_ATTRIBUTES]
    gen_labels: dict[str, list[Tensor]] = {a: [] for a in free}
    real_labels: dict[str, list[Tensor]] = {a: [] for a in free}
    pix_ratios: list[float] = []
    per_group = max(1, int(batch_size) // draws)
    for g0 in range(0, len(items), per_group):
        group = items[g0 : g0 + per_group]
        sent = _encode(encode_fn, group, device).repeat_interleave(draws, dim=0)
        z = truncated_noise(len(group) * draws, z_dim, truncation, seed=_seed(seed, 17, g0))
        fake = generate_images(netG, z, sent).float()
        pred_fake = predict_attributes(classifier, fake)
        for j, it in enumerate(group):
            c = g0 + j
            flags = _stated_flags(it)
            fixed = {a: int(it["attrs"][a]) for a, on in flags.items() if on}
            r = random.Random(_seed(seed, 29, c))
            real = torch.stack([dataset.render(dataset.sample_scene(r, fixed)) for _ in range(real_draws)])
            pred_real = predict_attributes(classifier, real)
            sl = slice(j * draws, (j + 1) * draws)
            for a in _open_attributes(dataset, it):
                gen_labels[a].append(pred_fake[a][sl])
                real_labels[a].append(pred_real[a])
            d_real = mean_pairwise_distance(real)
            if d_real > 1e-6:
                pix_ratios.append(mean_pairwise_distance(fake[sl]) / d_real)
    diversity: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for a in free:
        diversity[a], counts[a] = diversity_ratio(gen_labels[a], real_labels[a])
    vals = [v for v in diversity.values() if v is not None]
    counts["pixels"] = len(pix_ratios)
    return {
        "diversity": diversity,
        "mean": float(np.mean(vals)) if vals else None,
        "pixels": float(np.mean(pix_ratios)) if pix_ratios else None,
        "n_captions": counts,
        "draws": int(draws),
        "real_draws": real_draws,
    }
