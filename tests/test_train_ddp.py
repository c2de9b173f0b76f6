"""DistributedDataParallel on two CPU processes (gloo): weights stay identical across ranks."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

torch.set_num_threads(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from test_train_resume import tiny_cfg

    from dflib.train import Trainer

    try:
        tr = Trainer(tiny_cfg("device=cpu", "fast=off"), out_dir=out)  # no speed wrappers: DDP wraps the plain nets
        assert tr.dist.world == world and tr.dist.rank == rank
        # the step runs DDP-wrapped networks; the plain ones (what is saved) share their parameters
        assert all(isinstance(n, torch.nn.parallel.DistributedDataParallel) for n in tr.step_nets)
        assert all(d.module is n for d, n in zip(tr.step_nets, tr.nets))
        init = {k: v.clone() for k, v in tr.nets.netG.state_dict().items()}
        first_noise = torch.randn(3, 4, generator=torch.Generator().set_state(tr.noise_gen.get_state()))
        tr.run(max_steps=3)  # saves at the end (rank 0 writes, all ranks take part)
        flat = {n: torch.cat([p.detach().flatten() for p in net.parameters()]) for n, net in zip("GDC", tr.nets)}
        moved = not torch.equal(init["fc.weight"], tr.nets.netG.fc.weight)
        torch.save({"flat": flat, "moved": moved, "noise": first_noise}, f"{out}/rank{rank}.pt")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_processes_stay_in_sync(tmp_path):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["moved"] and r1["moved"]
    for n in "GDC":
        assert torch.equal(r0["flat"][n], r1["flat"][n]), f"net{n} differs across ranks"
    assert not torch.equal(r0["noise"], r1["noise"])  # seed + rank: different noise per rank
    from dflib.checkpoint import latest_checkpoint, load_training_checkpoint

    ck = load_training_checkpoint(latest_checkpoint(tmp_path))
    assert ck["step"] == 3 and set(ck["extra"]["rank_states"]) == {"0", "1"}
    assert not any(k.startswith("module.") for k in ck["model"]["netD"])
    flatG = torch.cat([v.flatten() for v in ck["model"]["netG"].values()])
    assert torch.equal(flatG, r0["flat"]["G"])
