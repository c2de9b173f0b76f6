"""Benchmark the full DF-GAN training step (docs/official_behaviour.md §8: D step with MA-GP every step + G step).

Reports seconds per step, images per second and peak memory (CUDA ``max_memory_allocated``; on the CPU
the process's peak resident set size) for the birds-256 settings (256 px, nf 32, z 100, cond 256,
batch 32) and the same networks at 64 px, on whatever device is present.

    python bench/train_step.py                       # CUDA if available, else CPU
    python bench/train_step.py --steps 3 --batch 4   # shrink on a CPU
    python bench/train_step.py --json                # machine-readable output
    python bench/train_step.py --fast on             # reference and fast path in the same run, with ratios
    python bench/train_step.py --ablate              # every fast option alone, then combined (dflib.fast)
    python bench/train_step.py --variants "off;on;on,cuda_graphs"   # any list of fast settings
    python bench/train_step.py --preset shapes-32-cpu --fast on --threads 1   # the CPU target of dflib.fast

Every variant runs on freshly built networks with the same seed; ratios are against the first variant
(``off``, the reference). A variant that fails (e.g. compile without a compiler) is reported, not fatal.
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

from dflib.config import ModelConfig, get_preset  # noqa: E402
from dflib.fast import FastOptions, build_fast_step, resolve_fast  # noqa: E402

GRAPH_WARMUP = 3  # eager steps before a CUDA graph is captured


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def bench_one(
    cfg: ModelConfig, batch: int, steps: int, warmup: int, device: torch.device, seed: int = 0,
    fast: FastOptions | None = None,
) -> dict:
    """Time ``steps`` full training steps after ``warmup`` untimed ones (random images and sentences).

    The untimed steps include compilation (``compile``) and graph capture (``cuda_graphs``, whose warm-up is
    raised to cover it); the timed steps are the steady state a long training run sees.
    """
    fast = fast or FastOptions()
    nets, opts, step = build_fast_step(cfg, fast, device, seed=seed, graph_warmup=GRAPH_WARMUP)
    if fast.cuda_graphs:
        warmup = max(warmup, GRAPH_WARMUP + 1)
    gen = torch.Generator(device=device).manual_seed(seed)
    images = fast.prepare_images(torch.rand(batch, 3, cfg.imsize, cfg.imsize, device=device) * 2 - 1)
    sent = torch.randn(batch, cfg.cond_dim, device=device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    noise = [torch.randn(batch, cfg.z_dim, device=device, generator=gen) for _ in range(4)]
    t0 = time.perf_counter()
    for i in range(warmup):
        step(images, sent, noise[i % 4])
    _sync(device)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(steps):
        out = step(images, sent, noise[i % 4])
    _sync(device)
    dt = (time.perf_counter() - t0) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mib()
    return {
        "imsize": cfg.imsize, "ngf": cfg.ngf, "batch": batch, "steps": steps,
        "s_per_step": dt, "images_per_s": batch / dt,
        "peak_mem_mib": peak, "peak_mem_kind": "cuda_max_allocated" if device.type == "cuda" else "process_max_rss",
        "warmup_s": setup, "errD": float(out["errD"]), "errG": float(out["errG"]), "fast": fast.to_dict(),
    }


ABLATION = (
    "off", "batched_affine", "channels_last", "bf16", "fused_adam", "cudnn_benchmark", "compile", "cuda_graphs",
    "on", "on,compile", "on,cuda_graphs", "on,compile,cuda_graphs",
)


def variant_list(args: argparse.Namespace, device: torch.device) -> list[str]:
    """The fast settings to time, reference first; CUDA-only options are dropped off CUDA."""
    if args.variants:
        names = [v.strip() for v in args.variants.split(";") if v.strip()]
    elif args.ablate:
        names = list(ABLATION)
    else:
        names = ["off"] + ([args.fast] if args.fast != "off" else [])
    if device.type != "cuda":
        names = [n for n in names if "cuda_graphs" not in n and "cudnn_benchmark" not in n]
    if not names or names[0] != "off":
        names = ["off"] + [n for n in names if n != "off"]
    return names


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
    ap.add_argument("--ablate", action="store_true", help="time each fast option alone, then combined")
    ap.add_argument("--variants", default=None, help="semicolon list of fast settings, e.g. 'off;on;on,cuda_graphs'")
    ap.add_argument("--preset", default=None, help="time a training preset's networks instead (e.g. shapes-32-cpu)")
    ap.add_argument("--out", default=None, help="also write the JSON result here, rewritten after every variant")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    steps = args.steps or (20 if device.type == "cuda" else 2)
    warmup = args.warmup if args.warmup is not None else (3 if device.type == "cuda" else 1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"
    try:  # check every variant before timing any
        variants = [(v, resolve_fast(v, device)) for v in variant_list(args, device)]
    except ValueError as exc:
        ap.error(str(exc))
    if args.preset:
        cfgs = [get_preset(args.preset).model]
    else:  # the birds-256 networks at each size
        cfgs = [ModelConfig(imsize=int(v), ngf=32, ndf=32, z_dim=100, cond_dim=256) for v in args.sizes.split(",")]
    rows: list[dict] = []
    result = {"device": name, "torch": torch.__version__, "results": rows}
    if not args.json:
        print(format_header(result), flush=True)
    for cfg in cfgs:
        ref = None
        for label, fast in variants:
            try:
                row = bench_one(cfg, args.batch, steps, warmup, device, fast=fast)
            except Exception as exc:  # noqa: BLE001 - one failing option must not lose the others' figures
                row = {"imsize": cfg.imsize, "batch": args.batch, "error": f"{type(exc).__name__}: {exc}"[:300]}
            row["path"] = "reference" if label == "off" else label
            if ref is None:
                ref = row
            elif "error" not in row and "error" not in ref:
                row["speedup"] = row["images_per_s"] / ref["images_per_s"]
                row["memory_ratio"] = row["peak_mem_mib"] / ref["peak_mem_mib"]
            rows.append(row)
            torch.backends.cudnn.benchmark = False  # cudnn_benchmark is process-wide: reset between variants
            torch.compiler.reset()
            if args.out:  # a run cut short still leaves every finished row
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                Path(args.out).write_text(json.dumps(result, indent=2))
            if not args.json:
                print(format_row(row), flush=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_footer(device))
    return 0


def format_header(result: dict) -> str:
    return (f"DF-GAN full training step (D + MA-GP + G), {result['device']}, torch {result['torch']}\n"
            f"{'variant':>24} {'imsize':>6} {'batch':>5} {'s/step':>9} {'img/s':>9} {'peak MiB':>9} "
            f"{'speedup':>8} {'mem':>6} {'setup s':>8}")


def format_row(r: dict) -> str:
    """One result row: timings, and ratios against the reference of the same image size."""
    if "error" in r:
        return f"{r['path']:>24} {r['imsize']:>6} {r['batch']:>5}  failed: {r['error']}"
    ratio = f"{r['speedup']:>7.2f}x {r['memory_ratio']:>5.2f}x" if "speedup" in r else f"{'':>8} {'':>6}"
    return (f"{r['path']:>24} {r['imsize']:>6} {r['batch']:>5} {r['s_per_step']:>9.3f} "
            f"{r['images_per_s']:>9.1f} {r['peak_mem_mib']:>9.0f} {ratio} {r['warmup_s']:>8.1f}")


def format_footer(device: torch.device) -> str:
    if device.type == "cuda":
        mem = "peak memory: torch.cuda.max_memory_allocated per variant"
    else:
        mem = "peak memory: the process's peak RSS, which only grows from variant to variant (CPU ratios are not comparable)"
    return f"{mem}; setup s = the untimed warm-up steps (compilation, graph capture)"


if __name__ == "__main__":
    sys.exit(main())
