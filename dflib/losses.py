"""Adversarial losses and gradient penalties taught by the series, DF-GAN's among them.

All functions take discriminator *logits* (any shape; means run over every element) and are device
agnostic. DF-GAN uses the hinge loss with mismatched pairs (paper Sec. 3.2, Eq. 1) and the
matching-aware zero-centred gradient penalty MA-GP (Sec. 3.3.1, Eq. 2) as the official code computes it:
the L2 norm of the *concatenated* image and sentence gradients, ``k * mean(norm ** p)`` with k = 2, p = 6,
where Eq. 2 writes the sum of the two norms (docs/official_behaviour.md).

Introduced in ``notebooks/02_hinge_loss.ipynb``, ``03_zero_centred_gp.ipynb`` and ``04_ma_gp.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "hinge_real",
    "hinge_fake",
    "hinge_d_loss",
    "hinge_g_loss",
    "bce_d_loss",
    "bce_g_loss",
    "bce_g_loss_saturating",
    "wgan_d_loss",
    "wgan_g_loss",
    "roll_mismatch",
    "gradient_norm",
    "gradient_sq_norm",
    "ma_gp",
    "zero_centred_gp",
    "r1_penalty",
    "PENALTIES",
    "GANLoss",
    "LOSSES",
]


# --------------------------------------------------------------------------------------------------
# Hinge (DF-GAN)
# --------------------------------------------------------------------------------------------------


def hinge_real(logits: Tensor) -> Tensor:
    """``mean(relu(1 - D))``: pushes real matched pairs above the margin +1."""
    return F.relu(1.0 - logits).mean()


def hinge_fake(logits: Tensor) -> Tensor:
    """``mean(relu(1 + D))``: pushes fakes (or mismatched pairs) below the margin -1."""
    return F.relu(1.0 + logits).mean()


def hinge_d_loss(real: Tensor, fake: Tensor, mismatch: Tensor | None = None) -> Tensor:
    """DF-GAN's discriminator hinge loss ``real + (fake + mismatch) / 2`` (Eq. 1, without MA-GP).

    ``L_D = E[relu(1 - D(x, e))] + 1/2 E[relu(1 + D(G(z), e))] + 1/2 E[relu(1 + D(x_mis, e))]``.

    ``real`` are logits of real matched pairs, ``fake`` of (detached) generated images with their
    sentences, ``mismatch`` of real images with wrong sentences. Without ``mismatch`` this is the plain
    unconditional hinge loss ``real + fake``.
    """
    if mismatch is None:
        return hinge_real(real) + hinge_fake(fake)
    return hinge_real(real) + (hinge_fake(fake) + hinge_fake(mismatch)) / 2.0


def hinge_g_loss(fake: Tensor) -> Tensor:
    """Generator hinge loss ``L_G = -E[D(G(z, e), e)]`` (Eq. 1)."""
    return -fake.mean()


def roll_mismatch(features: Tensor) -> Tensor:
    """Mismatched pairs as DF-GAN builds them: real features rolled by one along the batch.

    Pairing ``roll_mismatch(f)[i] = f[(i + 1) % B]`` with sentence ``s[i]`` gives B pairs, none of which
    is an image with its own caption (for B >= 2).
    """
    if features.shape[0] < 2:
        raise ValueError("mismatched pairs need a batch of at least 2 samples")
    return torch.cat([features[1:], features[:1]], dim=0)


# --------------------------------------------------------------------------------------------------
# Non-saturating BCE and WGAN, for the comparison notebooks
# --------------------------------------------------------------------------------------------------


def bce_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Original GAN discriminator loss ``-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))`` (Goodfellow 2014)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def bce_g_loss(fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``-log sigmoid(D(G(z)))``."""
    return F.softplus(-fake).mean()


def bce_g_loss_saturating(fake: Tensor) -> Tensor:
    """Minimax (saturating) generator loss ``log(1 - sigmoid(D(G(z))))``; shown to explain why it stalls."""
    return -F.softplus(fake).mean()


def wgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Wasserstein critic loss ``mean D(G(z)) - mean D(x)`` (Arjovsky et al. 2017)."""
    return fake.mean() - real.mean()


def wgan_g_loss(fake: Tensor) -> Tensor:
    """Wasserstein generator loss ``-mean D(G(z))``."""
    return -fake.mean()


@dataclass(frozen=True)
class GANLoss:
    """A pair of (discriminator, generator) losses on logits, for the toy notebooks."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]


LOSSES: dict[str, GANLoss] = {
    "bce": GANLoss("bce", bce_d_loss, bce_g_loss),
    "wgan": GANLoss("wgan", wgan_d_loss, wgan_g_loss),
    "hinge": GANLoss("hinge", lambda r, f: hinge_d_loss(r, f), hinge_g_loss),
}


# --------------------------------------------------------------------------------------------------
# Gradient penalties
# --------------------------------------------------------------------------------------------------


def gradient_sq_norm(out: Tensor, inputs: Sequence[Tensor], create_graph: bool = True) -> Tensor:
    """Per-sample squared L2 norm of ``d sum(out) / d inputs``, the inputs' gradients concatenated per sample.

    ``grad_outputs`` is ``ones_like(out)``, so each sample's norm is that of its own logit's gradient
    (the samples do not interact inside D). Returns a ``(B,)`` tensor. With ``create_graph=True`` it can
    itself be differentiated (double back-propagation), as the penalties below need.
    """
    for t in inputs:
        if not t.requires_grad:
            raise ValueError(
                "gradient penalty input does not require grad: call .requires_grad_() on the image "
                "(and sentence) tensors before the discriminator forward pass"
            )
    grads = torch.autograd.grad(
        outputs=out,
        inputs=tuple(inputs),
        grad_outputs=torch.ones_like(out),
        retain_graph=True,
        create_graph=create_graph,
        only_inputs=True,
    )
    # in at least fp32 even when D ran under bf16/fp16 autocast (the norm of ~200k terms and its 6th power)
    acc = torch.promote_types(grads[0].dtype, torch.float32)
    flat = torch.cat([g.reshape(g.shape[0], -1).to(acc) for g in grads], dim=1)
    return flat.pow(2).sum(dim=1)


def gradient_norm(out: Tensor, inputs: Sequence[Tensor], create_graph: bool = True) -> Tensor:
    """Per-sample L2 norm ``sqrt(gradient_sq_norm)``; see :func:`gradient_sq_norm`."""
    return gradient_sq_norm(out, inputs, create_graph).sqrt()


def _norm_power(sq_norm: Tensor, p: float) -> Tensor:
    """``||g|| ** p`` computed as ``(||g||^2) ** (p / 2)``: equal in value, and its gradient is 0 (not NaN)
    where the gradient vanishes, for any p >= 2."""
    return sq_norm.pow(p / 2.0)


def ma_gp(out: Tensor, image: Tensor, sentence: Tensor, k: float = 2.0, p: float = 6.0) -> Tensor:
    """Matching-aware gradient penalty (Sec. 3.3.1, Eq. 2) as DF-GAN codes it:
    ``k * mean_i ||[grad_x D; grad_s D]_i||_2 ** p`` (Eq. 2 writes ``(||grad_x D|| + ||grad_e D||) ** p``).

    ``out = D(image, sentence)`` must be computed on real *matched* pairs, from leaf tensors ``image`` and
    ``sentence`` with ``requires_grad=True``. Defaults k = 2, p = 6 (the paper's values).
    """
    return k * _norm_power(gradient_sq_norm(out, (image, sentence)), p).mean()  # k * E[||[gx; ge]||^p]


def zero_centred_gp(out: Tensor, image: Tensor, k: float = 2.0, p: float = 6.0) -> Tensor:
    """Zero-centred gradient penalty on the image only: ``k * mean_i ||grad_x D_i||_2 ** p``."""
    return k * _norm_power(gradient_sq_norm(out, (image,)), p).mean()


# The penalties DF-GAN's step can use (dflib.step.train_step): MA-GP as published, the image-only
# zero-centred penalty, or none; the paper's ablation (Sec. 4.3) compares them.
PENALTIES = ("magp", "zero_gp", "none")


def r1_penalty(out: Tensor, image: Tensor, gamma: float = 10.0) -> Tensor:
    """R1 (Mescheder et al. 2018, Eq. 9) on real data: ``gamma / 2 * mean ||grad_x D||^2`` (note the 1/2)."""
    return zero_centred_gp(out, image, k=gamma / 2.0, p=2.0)
