"""Losses and penalties as functions of one number: a logit, or a gradient norm.

:func:`logit_curves` draws each loss of ``dflib.losses.LOSSES`` per sample against D's logit, with its
derivative by autograd through the library (DF-GAN's hinge loss: paper Sec. 3.2, Eq. 1);
:func:`penalty_curve` is the zero-centred penalty ``k * |grad D|^p`` of MA-GP (paper Sec. 3.3.1, Eq. 2)
against the gradient norm.

Introduced in ``notebooks/02_hinge_loss.ipynb`` (logits) and ``notebooks/04_ma_gp.ipynb`` (k and p).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dflib import losses as L

from .common import check_choice

__all__ = ["logit_curves", "dfgan_d_loss_terms", "magp_on_linear_critic", "penalty_curve", "penalty_pull"]


def logit_curves(loss: str, t: Tensor) -> dict[str, np.ndarray]:
    """Per-sample loss terms of ``LOSSES[loss]`` as functions of a logit ``t``, and their derivatives.

    Keys: ``d_real`` (D's loss on a real logit), ``d_fake`` (on a fake logit), ``g`` (G's loss on a fake
    logit) and ``dd_real``, ``dd_fake``, ``dg`` their derivatives, all by autograd through the library.
    D's loss is ``A(real) + B(fake)``; the split assumes ``A(0) = B(0)``, true for bce, wgan and hinge.
    """
    check_choice("loss", loss, L.LOSSES)
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


def dfgan_d_loss_terms(t: np.ndarray) -> dict[str, np.ndarray]:
    """DF-GAN's D loss (Eq. 1, ``dflib.losses.hinge_d_loss`` with mismatched pairs) split into what one pair
    adds, against that pair's logit ``t``: ``real`` (a real matched pair), ``fake`` and ``mismatch``. Each term
    is measured by moving one kind of logit while the other two sit where they add nothing (+2 for real, -2
    for fake and mismatched): ``relu(1 - t)``, ``relu(1 + t) / 2`` and ``relu(1 + t) / 2``."""
    at = {"real": 2.0, "fake": -2.0, "mismatch": -2.0}
    out: dict[str, list[float]] = {key: [] for key in at}
    for v in np.asarray(t, dtype=np.float64).tolist():
        for key in at:
            logits = {k: torch.tensor([v if k == key else x]) for k, x in at.items()}
            out[key].append(float(L.hinge_d_loss(logits["real"], logits["fake"], logits["mismatch"])))
    return {key: np.asarray(val) for key, val in out.items()}


def magp_on_linear_critic(norms, k: float = 2.0, p: float = 6.0) -> np.ndarray:
    """MA-GP (``dflib.losses.ma_gp``, Eq. 2) of a critic ``D(x, e) = w.x + v.e`` whose joint gradient
    ``[w; v]`` has norm ``n``, for each ``n`` in ``norms``: equal to ``k n^p`` (:func:`penalty_curve`)."""
    out = []
    for n in np.asarray(norms, dtype=np.float64).tolist():
        x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
        e = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
        w = torch.tensor([1.0, 2.0, 2.0, 0.0, 4.0], dtype=torch.float64)  # norm 5
        w = w * (n / 5.0)
        out.append(float(L.ma_gp(x @ w[:3] + e @ w[3:], x, e, k, p).detach()))
    return np.asarray(out)


def penalty_curve(norms, k: float = 2.0, p: float = 6.0) -> np.ndarray:
    """``k * n ** p``: how hard a zero-centred penalty hits a gradient of norm ``n``."""
    return k * np.asarray(norms, dtype=np.float64) ** p


def penalty_pull(norms, k: float = 2.0, p: float = 6.0) -> np.ndarray:
    """``d(k n^p)/dn = k p n^(p - 1)``: how hard the penalty **pulls** a gradient of norm ``n`` towards 0.
    The value ``k n^p`` says how much the penalty adds to the loss; the pull is what changes D."""
    n = np.asarray(norms, dtype=np.float64)
    return k * p * n ** (p - 1)
