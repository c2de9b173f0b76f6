"""Benchmark the full DF-GAN training step (spec Sec. 4.1: D step with MA-GP every step + G step).

Reports seconds per step, images per second and peak memory (CUDA ``max_memory_allocated``; on the CPU
the process's peak resident set size) for the birds-256 settings (256 px, nf 32, z 100, cond 256,
batch 32) and the same networks at 64 px, on whatever device is present.

    python bench/train_step.py                       # CUDA if available, else CPU
    python bench/train_step.py --steps 3 --batch 4   # shrink on a CPU
    python bench/train_step.py --json                # machine-readable output
    python bench/train_step.py --fast on             # reference and fast path in the same run, with ratios
    python bench/train_step.py --preset shapes-32-cpu --fast on --threads 1   # the CPU target of dflib.fast
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.config import ModelConfig, build_models, get_preset  # noqa: E402
from dflib.fast import FastOptions, apply_fast_options, resolve_fast  # noqa: E402
from dflib.train import Nets, build_optimizers, train_step  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def bench_one(
    cfg: ModelConfig, batch: int, steps: int, warmup: int, device: torch.device, seed: int = 0,
    fast: FastOptions | None = None,
) -> dict:
    """Time ``steps`` full training steps after ``warmup`` untimed ones (random images and sentences)."""
    fast = fast or FastOptions()
    torch.manual_seed(seed)
    nets = Nets(*(n.to(device) for n in build_models(cfg)))
    apply_fast_options(fast, *nets)
    opts = build_optimizers(nets, fused=fast.fused_adam)
    gen = torch.Generator(device=device).manual_seed(seed)
    images = torch.rand(batch, 3, cfg.imsize, cfg.imsize, device=device) * 2 - 1
    if fast.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    sent = torch.randn(batch, cfg.cond_dim, device=device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):
        train_step(nets, opts, images, sent, generator=gen, autocast=fast.autocast)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        out = train_step(nets, opts, images, sent, generator=gen, autocast=fast.autocast)
    _sync(device)
    dt = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mib()
    return {
        "imsize": cfg.imsize, "ngf": cfg.ngf, "batch": batch, "steps": steps,
        "s_per_step": dt, "images_per_s": batch / dt,
        "peak_mem_mib": peak, "peak_mem_kind": "cuda_max_allocated" if device.type == "cuda" else "process_max_rss",
        "errD": float(out["errD"]), "errG": float(out["errG"]), "fast": fast.to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default=None, help="cuda / cpu (default: cuda if available)")
    ap.add_argument("--batch", type=int, default=32, help="batch size (paper: 32 per GPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on CUDA, 2 on CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 on CUDA, 1 on CPU)")
    ap.add_argument("--sizes", default="256,64", help="image sizes to run (comma separated)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--fast", default="off", help="also time the fast path: on | a comma list (dflib.fast.resolve_fast)")
    ap.add_argument("--preset", default=None, help="time a training preset's networks instead (e.g. shapes-32-cpu)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    steps = args.steps or (20 if device.type == "cuda" else 2)
    warmup = args.warmup if args.warmup is not None else (3 if device.type == "cuda" else 1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"
    rows = []
    fast = resolve_fast(args.fast, device) if args.fast != "off" else None
    if args.preset:
        cfgs = [get_preset(args.preset).model]
    else:  # the birds-256 networks at each size
        cfgs = [ModelConfig(imsize=int(v), ngf=32, ndf=32, z_dim=100, cond_dim=256) for v in args.sizes.split(",")]
    for cfg in cfgs:
        ref = bench_one(cfg, args.batch, steps, warmup, device)
        ref["path"] = "reference"
        rows.append(ref)
        if fast is not None:
            row = bench_one(cfg, args.batch, steps, warmup, device, fast=fast)
            row["path"] = "fast"
            row["speedup"] = row["images_per_s"] / ref["images_per_s"]
            row["memory_ratio"] = row["peak_mem_mib"] / ref["peak_mem_mib"]
            rows.append(row)
    result = {"device": name, "torch": torch.__version__, "results": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"DF-GAN full training step (D + MA-GP + G), {name}, torch {torch.__version__}")
        print(f"{'path':>9} {'imsize':>6} {'batch':>5} {'steps':>5} {'s/step':>9} {'img/s':>9} {'peak MiB':>9} "
              f"{'speedup':>8} {'mem':>6}  memory")
        for r in rows:
            ratio = f"{r['speedup']:>7.2f}x {r['memory_ratio']:>5.2f}x" if "speedup" in r else f"{'':>8} {'':>6}"
            print(f"{r['path']:>9} {r['imsize']:>6} {r['batch']:>5} {r['steps']:>5} {r['s_per_step']:>9.3f} "
                  f"{r['images_per_s']:>9.1f} {r['peak_mem_mib']:>9.0f} {ratio}  {r['peak_mem_kind']}")
        if fast is not None:
            print(f"fast path: {fast.to_dict()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
