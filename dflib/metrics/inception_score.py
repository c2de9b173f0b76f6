"""Inception Score (Salimans et al., NeurIPS 2016): ``IS = exp(E_x KL(p(y|x) || p(y)))``.

``p(y|x)`` is a classifier's class distribution for a generated image and ``p(y)`` its mean over the images.
The score is high when each image is classified confidently (``p(y|x)`` peaked) **and** the images spread
over the classes (``p(y)`` flat); it lies between 1 and the number of classes. The standard practice splits
the images into 10 groups and reports the mean and the standard deviation of the per-group scores.

DF-GAN's CUB IS (paper Table 1) uses the StackGAN Inception-v3 fine-tuned on CUB, which is not available
offline; the TF-FID Inception that dflib ships has no classification head (it ends at the 2048-d pool).
:func:`inception_score` takes class probabilities from any classifier, so notebook 09 applies the same
formula to the ``shapes`` attribute classifier: the numbers are comparable only with the same classifier.

Introduced in ``notebooks/09_sampling_and_evaluation.ipynb``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["inception_score"]


def inception_score(probs: Tensor | np.ndarray, splits: int = 10, eps: float = 1e-12) -> tuple[float, float]:
    """Mean and standard deviation over ``splits`` groups of ``exp(mean_x KL(p(y|x) || p(y)))``.

    ``probs``: ``(N, K)`` class probabilities (rows sum to 1). Each group's ``p(y)`` is its own mean row,
    as in the reference implementation. ``splits=1`` scores all rows together (standard deviation 0)."""
    p = torch.as_tensor(probs).double()
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"need class probabilities of shape (N, K); got {tuple(p.shape)}")
    if (p < -1e-9).any() or not torch.allclose(p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-4):
        raise ValueError("each row must be a probability distribution (non-negative, summing to 1): pass "
                         "softmax(logits), not logits")
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in 1..N={p.shape[0]}; got {splits}")
    scores = []
    for part in torch.tensor_split(p, splits):
        py = part.mean(0, keepdim=True)
        kl = (part * ((part + eps).log() - (py + eps).log())).sum(1)
        scores.append(float(kl.mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))
