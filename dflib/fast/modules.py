"""Wrappers that make the networks faster without touching them: each computes the same function with
the same parameters (registered as a submodule, so optimisers, DDP and ``state_dict`` see through them).

- :class:`BatchedAffineG`: all of NetG's Affine MLPs (paper Sec. 3.4, Eq. 3) in a few batched products.
- :class:`Autocast`: a module's forward under bf16 autocast, its output back in fp32.
- :class:`FakePathCompiled`: ``torch.compile`` for every input except the leaves MA-GP differentiates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..models import NetG
from ..weights import unwrap
from .options import FastOptions

__all__ = [
    "affine_layers",
    "batched_affine_params",
    "BatchedAffineG",
    "Autocast",
    "FakePathCompiled",
    "prepare_networks",
    "wrap_networks",
]


def affine_layers(netG: nn.Module) -> list[nn.Module]:
    """NetG's Affine layers in forward order (see :meth:`dflib.models.NetG.affines`)."""
    return unwrap(netG).affines()


def batched_affine_params(netG: nn.Module, y: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``(gamma, beta)`` of every Affine of ``netG`` for condition ``y``, in :func:`affine_layers` order.

    ``gamma = linear2(relu(linear1(y)))`` (and the same for beta; Eq. 3) for all 2 x len(affines) MLPs at
    once: the ``linear1`` weights are concatenated into one ``(sum C, cond)`` matrix (one ``addmm``), and
    the ``linear2`` layers of equal width C are stacked and applied with one ``baddbmm`` per width.
    """
    mlps = [m for a in affine_layers(netG) for m in (a.fc_gamma, a.fc_beta)]
    w1 = torch.cat([m.linear1.weight for m in mlps], dim=0)
    b1 = torch.cat([m.linear1.bias for m in mlps], dim=0)
    hidden = torch.relu(torch.addmm(b1, y, w1.t()))  # (B, sum C)
    widths = [m.linear1.out_features for m in mlps]
    chunks = torch.split(hidden, widths, dim=1)
    outs: dict[int, Tensor] = {}
    for c in dict.fromkeys(widths):  # each width once, in order of first appearance
        idx = [i for i, w in enumerate(widths) if w == c]
        h = torch.stack([chunks[i] for i in idx])  # (G, B, C)
        w2 = torch.stack([mlps[i].linear2.weight for i in idx])  # (G, C, C)
        b2 = torch.stack([mlps[i].linear2.bias for i in idx])  # (G, C)
        res = torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2))  # (G, B, C)
        outs.update((i, res[j]) for j, i in enumerate(idx))
    return [(outs[2 * k], outs[2 * k + 1]) for k in range(len(mlps) // 2)]


class _Wrapper(nn.Module):
    """A module around one network (its first submodule); ``z_dim`` is that network's, as samplers read it."""

    @property
    def z_dim(self) -> int:
        return int(unwrap(next(self.children())).z_dim)


class BatchedAffineG(_Wrapper):
    """NetG with every Affine's ``(gamma, beta)`` computed at once by :func:`batched_affine_params`."""

    def __init__(self, netG: NetG) -> None:
        super().__init__()
        self.netG = netG

    def forward(self, noise: Tensor, sentence: Tensor) -> Tensor:
        y = self.netG.condition(noise, sentence)
        return self.netG(noise, sentence, affine_params=batched_affine_params(self.netG, y))


class Autocast(_Wrapper):
    """``module``'s forward under ``torch.autocast(dtype)``; the output comes back in fp32, so the logits,
    the losses and the MA-GP norm and power are computed in fp32. ``cache=False`` disables autocast's
    weight-cast cache, which CUDA-graph capture requires."""

    def __init__(self, module: nn.Module, dtype: torch.dtype = torch.bfloat16, cache: bool = True) -> None:
        super().__init__()
        self.module, self.dtype, self.cache = module, dtype, cache

    def forward(self, *inputs: Tensor) -> Tensor:
        with torch.autocast(device_type=inputs[0].device.type, dtype=self.dtype, cache_enabled=self.cache):
            out = self.module(*inputs)
            return out.float() if out.dtype in (torch.float16, torch.bfloat16) else out


class FakePathCompiled(_Wrapper):
    """``module`` compiled for the passes over fake images, eager for the real-image pass.

    MA-GP needs the gradient of ``D(x, e)`` with respect to the image *and* the gradient of that gradient
    (double backward), which compiled graphs cannot give. The real images are the only input that is a
    leaf tensor requiring grad, so those go through the eager module; every other input through
    ``torch.compile(module)``. The first calls compile (tens of seconds on a CPU).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module)

    def forward(self, *inputs: Tensor) -> Tensor:
        if any(t.is_leaf and t.requires_grad for t in inputs):
            return self.module(*inputs)
        return self.compiled(*inputs)


def prepare_networks(fast: FastOptions, nets: Sequence[nn.Module]) -> None:
    """What must happen to the plain networks before optimisers are built: NHWC weights under
    ``channels_last``; cuDNN autotuning (a process-wide flag, switched on only, never reset)."""
    if fast.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if fast.channels_last:
        for net in nets:
            net.to(memory_format=torch.channels_last)


def wrap_networks(fast: FastOptions, netG: nn.Module, netD: nn.Module, netC: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    """The module-level wrappers (before any DDP wrapper): batched Affines for G, bf16 autocast for all."""
    if fast.batched_affine:
        netG = BatchedAffineG(netG)  # type: ignore[arg-type]
    if fast.autocast == "bf16":
        cache = not fast.cuda_graphs
        netG, netD, netC = (Autocast(n, torch.bfloat16, cache=cache) for n in (netG, netD, netC))
    return netG, netD, netC
