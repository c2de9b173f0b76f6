"""Several GPUs under ``torchrun``: read its environment and start the process group; one process needs none.

DF-GAN's official multi-GPU runs use DistributedDataParallel with one process per GPU, each with a batch
of 32 (docs/official_behaviour.md). ``setup_distributed`` returns this process's rank and device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .runtime import default_device

__all__ = ["DistInfo", "setup_distributed"]


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Read torchrun's ``RANK/WORLD_SIZE/LOCAL_RANK``; with >1 process start the process group (NCCL on
    CUDA, gloo on CPU) and pick ``cuda:<local_rank>``. One process: no process group at all."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistInfo(), default_device(device)
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
        return info, torch.device("cuda", info.local_rank)
    return info, torch.device(device or "cpu")
