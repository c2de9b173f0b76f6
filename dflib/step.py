"""One DF-GAN training iteration, written out as the paper and the official code do it.

    D step:  L_D = E[relu(1 - D(x, e))]                                  real matched pairs   (Eq. 1)
                 + 1/2 E[relu(1 + D(G(z, e), e))]                        fakes                (Eq. 1)
                 + 1/2 E[relu(1 + D(x_mis, e))]                          mismatched pairs     (Eq. 1)
                 + k E[ ||[grad_x D(x, e); grad_e D(x, e)]|| ^ p ]        MA-GP, k=2, p=6      (Eq. 2)
    G step:  L_G = -E[D(G(z, e), e)]  against the just-updated D                              (Eq. 1)

Paper: Sec. 3.2 (hinge loss, Eq. 1) and Sec. 3.3.1 (MA-GP, Eq. 2). Mismatched pairs are the real image
features rolled by one along the batch, and MA-GP is one norm over the concatenated gradients; both are
how the official code computes it (docs/official_behaviour.md). The optimisers are Adam(0, 0.9) with
lr 1e-4 for G and 4e-4 for NetD and NetC together. This is the reference step: ``dflib.fast`` wraps it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .losses import PENALTIES, hinge_d_loss, hinge_fake, hinge_g_loss, hinge_real, ma_gp, roll_mismatch, zero_centred_gp
from .weights import unwrap

__all__ = [
    "Nets",
    "Optimizers",
    "build_optimizers",
    "draw_noise",
    "PENALTIES",
    "train_step",
    "real_pair_gradients",
    "real_pair_grad_norms",
    "losses_to_floats",
    "NonFiniteLossError",
]


@dataclass
class Nets:
    """The three networks (possibly wrapped, e.g. in DistributedDataParallel or by ``dflib.fast``)."""

    netG: nn.Module
    netD: nn.Module
    netC: nn.Module

    def __iter__(self) -> Iterator[nn.Module]:
        return iter((self.netG, self.netD, self.netC))


@dataclass
class Optimizers:
    """``optimizer_G`` over netG, ``optimizer_D`` over ``list(netD.parameters()) + list(netC.parameters())``."""

    optimizer_G: torch.optim.Optimizer
    optimizer_D: torch.optim.Optimizer

    def __iter__(self) -> Iterator[torch.optim.Optimizer]:
        return iter((self.optimizer_G, self.optimizer_D))


def build_optimizers(
    nets: Nets,
    lr_g: float = 1e-4,
    lr_d: float = 4e-4,
    betas: tuple[float, float] = (0.0, 0.9),
    fused: bool = False,
    capturable: bool = False,
) -> Optimizers:
    """Adam(0, 0.9), lr 1e-4 for G and 4e-4 for D and C in one optimiser, D's parameters first (the order
    of the official code, so that Adam's state lines up with official checkpoints).

    ``fused``: the fused CUDA kernel (the foreach one on a CPU); the same update rule, summed in another
    order. ``capturable``: Adam's step counters stay on the device, so that a CUDA graph can capture them.
    """
    kw: dict[str, Any] = {}
    if fused:
        kw = {"fused": True} if next(nets.netG.parameters()).is_cuda else {"foreach": True}
    if capturable:
        kw["capturable"] = True
    opt_g = torch.optim.Adam(nets.netG.parameters(), lr=lr_g, betas=betas, **kw)
    opt_d = torch.optim.Adam(list(nets.netD.parameters()) + list(nets.netC.parameters()), lr=lr_d, betas=betas, **kw)
    return Optimizers(opt_g, opt_d)


def draw_noise(netG: nn.Module, sent: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Training noise: plain N(0, 1) of shape (batch, z_dim) on ``sent``'s device and dtype (no truncation)."""
    z_dim = int(unwrap(netG).z_dim)
    return torch.randn(sent.shape[0], z_dim, device=sent.device, dtype=sent.dtype, generator=generator)


def train_step(
    nets: Nets | Sequence[nn.Module],
    opts: Optimizers | Sequence[torch.optim.Optimizer],
    images: Tensor,
    sent: Tensor,
    noise: Tensor | None = None,
    k: float = 2.0,
    p: float = 6.0,
    generator: torch.Generator | None = None,
    penalty: str = "magp",
    mismatch: bool = True,
) -> dict[str, Tensor]:
    """One DF-GAN iteration: a D+C step on the hinge loss with MA-GP, then a G step against the new D.

    ``noise`` defaults to plain N(0, 1) drawn with ``generator``. The two switches are the paper's ablation
    (Sec. 4.3); the defaults are DF-GAN as published:

    * ``penalty``: ``"magp"`` = ``k E[||[grad_x D; grad_e D]||^p]`` (Eq. 2); ``"zero_gp"`` = the image gradient
      only, ``k E[||grad_x D||^p]``; ``"none"`` = no penalty;
    * ``mismatch``: ``L_D = real + (fake + mis) / 2`` (Eq. 1); ``False`` = ``real + fake`` (no mismatched pairs).

    Returns detached 0-d tensors (no host synchronisation): ``errD, errD_real, errD_fake, errD_mis`` (with
    mismatched pairs), ``errD_magp`` or ``errD_gp`` (the penalty, by its kind), ``errG``.
    """
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r}; choose one of {PENALTIES}")
    netG, netD, netC = nets
    opt_g, opt_d = opts
    # leaves that require grad: the penalty differentiates D with respect to the image and the sentence
    images = images.detach().requires_grad_(penalty != "none")
    sent = sent.detach().requires_grad_(penalty == "magp")
    # real matched pairs, and mismatched pairs from the same NetD pass (features rolled by one)
    real_features = netD(images)
    pred_real = netC(real_features, sent)
    pred_mis = netC(roll_mismatch(real_features), sent) if mismatch else None
    # fakes from plain normal noise (no truncation in training); D sees them detached
    if noise is None:
        noise = draw_noise(netG, sent, generator)
    fake = netG(noise, sent)
    pred_fake = netC(netD(fake.detach()), sent)
    # L_D = E[relu(1 - D(x, e))] + 1/2 E[relu(1 + D(G(z, e), e))] + 1/2 E[relu(1 + D(x_mis, e))]   (Eq. 1)
    err_hinge = hinge_d_loss(pred_real, pred_fake, pred_mis)
    if penalty == "magp":
        err_gp = ma_gp(pred_real, images, sent, k=k, p=p)  # + k E[||[grad_x D; grad_e D]||^p]      (Eq. 2)
    elif penalty == "zero_gp":
        err_gp = zero_centred_gp(pred_real, images, k=k, p=p)  # + k E[||grad_x D||^p]  (no text gradient)
    else:
        err_gp = torch.zeros((), device=pred_real.device, dtype=pred_real.dtype)
    err_d = err_hinge + err_gp  # one backward through D and C for all terms
    opt_d.zero_grad(set_to_none=True)
    err_d.backward()
    opt_d.step()
    # generator step against the just-updated discriminator: L_G = -E[D(G(z, e), e)]            (Eq. 1)
    err_g = hinge_g_loss(netC(netD(fake), sent))
    opt_g.zero_grad(set_to_none=True)
    err_g.backward()
    opt_g.step()
    with torch.no_grad():  # the terms of L_D, for the logs
        out = {"errD": err_d.detach(), "errD_real": hinge_real(pred_real), "errD_fake": hinge_fake(pred_fake)}
        if pred_mis is not None:
            out["errD_mis"] = hinge_fake(pred_mis)
    if penalty != "none":
        out["errD_magp" if penalty == "magp" else "errD_gp"] = err_gp.detach()
    out["errG"] = err_g.detach()
    return out


def real_pair_gradients(netD: nn.Module, netC: nn.Module, images: Tensor, sent: Tensor) -> tuple[Tensor, Tensor]:
    """Per-pair ``grad_x D(x, e)`` and ``grad_e D(x, e)`` at real matched pairs (detached): the two parts of
    the gradient that MA-GP (Eq. 2) pushes towards zero."""
    images = images.detach().requires_grad_()
    sent = sent.detach().requires_grad_()
    out = netC(netD(images), sent)
    gx, ge = torch.autograd.grad(out.sum(), (images, sent))
    return gx.detach(), ge.detach()


def real_pair_grad_norms(netD: nn.Module, netC: nn.Module, images: Tensor, sent: Tensor) -> dict[str, Tensor]:
    """Mean per-sample ``||grad_x D(x, e)||`` and ``||grad_e D(x, e)||`` at real matched pairs (detached).

    What MA-GP (Eq. 2) pushes towards zero: how steeply D's logit changes along the image and along the
    sentence where the real data lie. The image gradient is the one every zero-centred penalty flattens; the
    text gradient only MA-GP does (Sec. 3.3.1). For logs and the ablation; not part of the step.
    """
    gx, ge = real_pair_gradients(netD, netC, images, sent)
    return {"grad_image": gx.flatten(1).norm(dim=1).mean(), "grad_text": ge.flatten(1).norm(dim=1).mean()}


def losses_to_floats(losses: Mapping[str, Tensor]) -> dict[str, float]:
    """Python floats of a ``train_step`` result (one host synchronisation for all values)."""
    keys = list(losses)
    if not keys:
        return {}
    values = torch.stack([losses[k].double() for k in keys]).cpu().tolist()
    return dict(zip(keys, values))


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint was kept."""
