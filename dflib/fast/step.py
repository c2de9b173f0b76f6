"""The fast training step: :func:`dflib.step.train_step` on wrapped networks, optionally replayed as a
CUDA graph. The reference step is untouched; with ``FastOptions()`` this *is* the reference step."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..config import ModelConfig, build_models
from ..step import Nets, Optimizers, build_optimizers, train_step
from .graphs import GraphedStep
from .modules import FakePathCompiled, prepare_networks, wrap_networks
from .options import FastOptions

__all__ = ["StepFn", "build_step", "build_fast_step"]

StepFn = Callable[[Tensor, Tensor, Tensor], dict[str, Tensor]]


def build_step(nets: Nets, opts: Optimizers, fast: FastOptions, k: float = 2.0, p: float = 6.0, graph_warmup: int = 3) -> StepFn:
    """``step(images, sent, noise) -> losses``: :func:`dflib.step.train_step` with ``fast``'s step options.

    ``nets`` are the networks the step runs (already wrapped by :func:`wrap_networks` and, under torchrun,
    by DDP). ``compile`` routes the fake-image passes of G and D through compiled modules; ``cuda_graphs``
    wraps the step in a :class:`GraphedStep` (``opts`` must then be built with ``capturable=True``).
    """
    step_nets = nets
    if fast.compile:
        step_nets = Nets(torch.compile(nets.netG), FakePathCompiled(nets.netD), nets.netC)

    def step(images: Tensor, sent: Tensor, noise: Tensor) -> dict[str, Tensor]:
        return train_step(step_nets, opts, images, sent, noise, k=k, p=p)

    return GraphedStep(step, warmup=graph_warmup) if fast.cuda_graphs else step


def build_fast_step(
    model_cfg: ModelConfig, fast: FastOptions, device: str | torch.device = "cpu", seed: int = 0, graph_warmup: int = 3
) -> tuple[Nets, Optimizers, StepFn]:
    """Fresh networks for ``model_cfg`` (``seed``: the same initial weights for every ``fast``), their Adam
    optimisers and the step function with ``fast`` applied. Returns the *plain* networks (what a
    checkpoint saves), the optimisers and the step. For comparing options side by side (``bench/``,
    the fast-path notebook); :class:`dflib.train.Trainer` does the same for a run.
    """
    torch.manual_seed(seed)
    nets = Nets(*(n.to(device) for n in build_models(model_cfg)))
    prepare_networks(fast, list(nets))
    opts = build_optimizers(nets, fused=fast.fused_adam, capturable=fast.cuda_graphs)
    wrapped = Nets(*wrap_networks(fast, *nets))
    return nets, opts, build_step(wrapped, opts, fast, graph_warmup=graph_warmup)
