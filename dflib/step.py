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

from .losses import hinge_fake, hinge_real, ma_gp, roll_mismatch
from .weights import unwrap

__all__ = [
    "Nets",
    "Optimizers",
    "build_optimizers",
    "draw_noise",
    "train_step",
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
) -> dict[str, Tensor]:
    """One DF-GAN iteration: a D+C step on the hinge loss with MA-GP, then a G step against the new D.

    ``noise`` defaults to plain N(0, 1) drawn with ``generator``. Returns detached 0-d tensors (no host
    synchronisation): ``errD, errD_real, errD_fake, errD_mis, errD_magp, errG`` (see ``losses_to_floats``).
    """
    netG, netD, netC = nets
    opt_g, opt_d = opts
    # leaves that require grad: MA-GP differentiates D with respect to the image and the sentence
    images = images.detach().requires_grad_()
    sent = sent.detach().requires_grad_()
    # real matched pairs, and mismatched pairs from the same NetD pass (features rolled by one)
    real_features = netD(images)
    pred_real = netC(real_features, sent)
    pred_mis = netC(roll_mismatch(real_features), sent)
    err_real = hinge_real(pred_real)  # E[relu(1 - D(x, e))]
    err_mis = hinge_fake(pred_mis)  # E[relu(1 + D(x_mis, e))]
    # fakes from plain normal noise (no truncation in training); D sees them detached
    if noise is None:
        noise = draw_noise(netG, sent, generator)
    fake = netG(noise, sent)
    err_fake = hinge_fake(netC(netD(fake.detach()), sent))  # E[relu(1 + D(G(z, e), e))]
    err_magp = ma_gp(pred_real, images, sent, k=k, p=p)  # Eq. 2: k E[||[gx; ge]||^p]
    err_d = err_real + (err_fake + err_mis) / 2.0 + err_magp  # Eq. 1 + Eq. 2, one backward
    opt_d.zero_grad(set_to_none=True)
    err_d.backward()
    opt_d.step()
    # generator step against the just-updated discriminator: L_G = -E[D(G(z, e), e)]
    err_g = -netC(netD(fake), sent).mean()
    opt_g.zero_grad(set_to_none=True)
    err_g.backward()
    opt_g.step()
    return {
        "errD": err_d.detach(),
        "errD_real": err_real.detach(),
        "errD_fake": err_fake.detach(),
        "errD_mis": err_mis.detach(),
        "errD_magp": err_magp.detach(),
        "errG": err_g.detach(),
    }


def losses_to_floats(losses: Mapping[str, Tensor]) -> dict[str, float]:
    """Python floats of a ``train_step`` result (one host synchronisation for all values)."""
    keys = list(losses)
    if not keys:
        return {}
    values = torch.stack([losses[k].double() for k in keys]).cpu().tolist()
    return dict(zip(keys, values))


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint was kept."""
