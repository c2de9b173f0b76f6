"""The one builder of a training step: networks, optimisers and the step function, with speed options.

:func:`build_training` is what the Trainer, the benchmarks and the fast-path notebook all call. With
``FastOptions()`` the step it returns *is* :func:`dflib.step.train_step` on the plain networks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import ModelConfig, TrainConfig, build_models
from ..step import Nets, Optimizers, build_optimizers, train_step
from .graphs import GraphedStep
from .modules import FakePathCompiled, prepare_networks, wrap_networks
from .options import FastOptions

__all__ = ["StepFn", "Built", "build_training", "build_step", "build_fast_step"]

StepFn = Callable[[Tensor, Tensor, Tensor], dict[str, Tensor]]


@dataclass
class Built:
    """What :func:`build_training` returns: the plain networks (what a checkpoint saves), the networks the
    step runs (wrapped by speed options and DDP), their optimisers, the step and the options in force."""

    nets: Nets
    step_nets: Nets
    opts: Optimizers
    step: StepFn
    fast: FastOptions


def build_step(nets: Nets, opts: Optimizers, fast: FastOptions, k: float = 2.0, p: float = 6.0,
               graph_warmup: int = 3, penalty: str = "magp", mismatch: bool = True) -> StepFn:
    """``step(images, sent, noise) -> losses``: :func:`dflib.step.train_step` with ``fast``'s step options.

    ``compile`` routes the fake-image passes of G and D through compiled modules; ``cuda_graphs`` wraps
    the step in a :class:`GraphedStep` (``opts`` must then be built with ``capturable=True``).
    """
    step_nets = nets
    if fast.compile:
        step_nets = Nets(torch.compile(nets.netG), FakePathCompiled(nets.netD), nets.netC)

    def step(images: Tensor, sent: Tensor, noise: Tensor) -> dict[str, Tensor]:
        return train_step(step_nets, opts, images, sent, noise, k=k, p=p, penalty=penalty, mismatch=mismatch)

    return GraphedStep(step, warmup=graph_warmup) if fast.cuda_graphs else step


def build_training(
    cfg: TrainConfig,
    fast: FastOptions,
    device: str | torch.device = "cpu",
    seed: int | None = None,
    ddp: Callable[[nn.Module], nn.Module] | None = None,
    graph_warmup: int = 3,
) -> Built:
    """Networks for ``cfg.model`` on ``device``, Adam for G and for D+C, and the step of ``cfg``'s variant.

    ``seed``: seed torch first (the same initial weights for every ``fast``); None keeps the caller's RNG
    state. ``ddp`` wraps each network the step runs (``DistributedDataParallel`` under torchrun).
    Batched Affines need DF-Blocks: with another ``model.fusion`` that option is dropped.
    """
    if cfg.model.fusion != "dfblock" and fast.batched_affine:
        fast = dataclasses.replace(fast, batched_affine=False)
    if seed is not None:
        torch.manual_seed(seed)
    nets = Nets(*(n.to(device).train() for n in build_models(cfg.model)))
    prepare_networks(fast, list(nets))
    opts = build_optimizers(nets, cfg.lr_g, cfg.lr_d, (cfg.beta1, cfg.beta2), fused=fast.fused_adam,
                            capturable=fast.cuda_graphs)
    step_nets = Nets(*wrap_networks(fast, *nets))
    if ddp is not None:
        step_nets = Nets(*(ddp(n) for n in step_nets))
    step = build_step(step_nets, opts, fast, k=cfg.magp_k, p=cfg.magp_p, graph_warmup=graph_warmup,
                      penalty=cfg.penalty, mismatch=cfg.mismatch)
    return Built(nets, step_nets, opts, step, fast)


def build_fast_step(
    model_cfg: ModelConfig, fast: FastOptions, device: str | torch.device = "cpu", seed: int = 0, graph_warmup: int = 3
) -> tuple[Nets, Optimizers, StepFn]:
    """:func:`build_training` for a bare model configuration with the paper's optimiser settings: the plain
    networks, the optimisers and the step (for comparing options side by side in ``bench/`` and notebook A1)."""
    built = build_training(TrainConfig(model=model_cfg), fast, device, seed=seed, graph_warmup=graph_warmup)
    return built.nets, built.opts, built.step
