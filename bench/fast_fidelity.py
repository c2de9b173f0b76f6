"""Does the fast path learn the same thing? Reference vs fast training step on the same data and noise.

Trains two copies of the same networks (same initial weights) for ``--steps`` steps on the same `shapes`
batches, sentences and noise, one with the reference fp32 step and one with the fast options, and compares
the D and G losses averaged per ``--window`` steps (target of the performance issue: within 5%).

    python bench/fast_fidelity.py --fast channels_last,bf16,batched_affine --steps 200 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.config import build_models, get_preset  # noqa: E402
from dflib.data import build_dataset, collate  # noqa: E402
from dflib.fast import apply_fast_options, resolve_fast  # noqa: E402
from dflib.train import Nets, build_optimizers, losses_to_floats, train_step  # noqa: E402


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg = get_preset(args.preset).model
    fast = resolve_fast(args.fast, device)
    ds = build_dataset("shapes", imsize=cfg.imsize, seed=0, max_objects=1)
    proj = torch.Generator().manual_seed(1)  # a fixed random "text encoder": caption hash -> vector
    table = torch.randn(len(ds.vocab), cfg.cond_dim, generator=proj) / cfg.cond_dim**0.5
    paths = {}
    for name, opts in (("reference", resolve_fast("off", device)), ("fast", fast)):
        torch.manual_seed(0)
        nets = Nets(*(n.to(device) for n in build_models(cfg)))
        apply_fast_options(opts, *nets)
        optim = build_optimizers(nets, fused=opts.fused_adam)
        noise_gen = torch.Generator().manual_seed(2)
        hist = []
        for step in range(args.steps):
            batch = collate([ds[(step * args.batch + i) % len(ds)] for i in range(args.batch)])
            images = batch["image"].to(device)
            if opts.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            sent = (table[batch["tokens"]] * (batch["tokens"] > 0)[..., None]).sum(1).to(device)
            noise = torch.randn(args.batch, cfg.z_dim, generator=noise_gen).to(device)
            hist.append(losses_to_floats(train_step(nets, optim, images, sent, noise=noise, autocast=opts.autocast)))
        paths[name] = hist
    rows = []
    for w in range(0, args.steps, args.window):
        row = {"steps": f"{w + 1}-{w + args.window}"}
        for key in ("errD", "errG"):
            ref = sum(h[key] for h in paths["reference"][w : w + args.window]) / args.window
            got = sum(h[key] for h in paths["fast"][w : w + args.window]) / args.window
            row[key] = (ref, got, abs(got - ref) / max(abs(ref), 1e-8))
        rows.append(row)
    worst = max(max(r["errD"][2], r["errG"][2]) for r in rows)
    return {"device": str(device), "fast": fast.to_dict(), "rows": rows, "worst_relative_difference": worst}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="shapes-32-cpu")
    ap.add_argument("--fast", default="on")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"reference vs fast {res['fast']} on {res['device']}, losses averaged per {args.window} steps")
    print(f"{'steps':>9} {'errD ref':>9} {'errD fast':>9} {'diff':>6} {'errG ref':>9} {'errG fast':>9} {'diff':>6}")
    for r in res["rows"]:
        d, g = r["errD"], r["errG"]
        print(f"{r['steps']:>9} {d[0]:>9.4f} {d[1]:>9.4f} {d[2]:>6.1%} {g[0]:>9.4f} {g[1]:>9.4f} {g[2]:>6.1%}")
    print(f"worst relative difference: {res['worst_relative_difference']:.1%} (target <= 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
