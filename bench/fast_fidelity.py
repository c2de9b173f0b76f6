"""Does the fast path learn the same thing? Reference vs fast training step on the same data and noise.

Trains copies of the same networks (same initial weights) for ``--steps`` steps on the same `shapes`
batches, sentences and noise, one with the reference fp32 step and others with the fast options, and compares
the D and G losses averaged per ``--window`` steps (target of the performance issue: within 5%); see ``run``
for the two comparisons (forced: same state every step; free-running).

    python bench/fast_fidelity.py --fast channels_last,bf16,batched_affine --steps 200 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.config import get_preset  # noqa: E402
from dflib.data import build_dataset, collate  # noqa: E402
from dflib.fast import build_fast_step, resolve_fast  # noqa: E402
from dflib.step import Nets, losses_to_floats  # noqa: E402


def _setup(cfg, opts, device):
    """Networks (seed 0), optimisers and the step function for one set of fast options."""
    return build_fast_step(cfg, opts, device, seed=0)


@torch.no_grad()
def sync_state(src_nets: Nets, src_opt, dst_nets: Nets, dst_opt) -> None:
    """Copy weights, buffers and Adam moments from one copy of the networks into the other (in place, so
    the destination keeps its own memory format): both steps then start from exactly the same state."""
    for s, d in zip(src_nets, dst_nets):
        for ts, td in zip(s.state_dict().values(), d.state_dict().values()):
            td.copy_(ts)
    pairs = ((src_opt.optimizer_G, dst_opt.optimizer_G), (src_opt.optimizer_D, dst_opt.optimizer_D))
    for so, do in pairs:
        # fused and capturable Adam keep their step counters on the parameters' device, plain Adam on the CPU
        steps_on_device = bool(do.defaults.get("fused") or do.defaults.get("capturable"))
        for gs, gd in zip(so.param_groups, do.param_groups):
            for ps, pd in zip(gs["params"], gd["params"]):
                for key, val in so.state.get(ps, {}).items():
                    st = do.state[pd]
                    if key in st:
                        st[key].copy_(val)
                    elif val.shape == pd.shape:
                        st[key] = torch.empty_like(pd).copy_(val)
                    else:
                        st[key] = val.detach().clone().to(pd.device if steps_on_device else "cpu")


# Relative differences are taken against max(|reference|, LOSS_FLOOR): errG starts at ~0 (a fresh D outputs ~0)
# and crosses 0 in training, where a relative error says nothing; 5% of the floor is an absolute 0.005.
LOSS_FLOOR = 0.1


def _windows(a: list[dict], b: list[dict], steps: int, window: int) -> list[dict]:
    rows = []
    for w in range(0, steps, window):
        row = {"steps": f"{w + 1}-{w + window}"}
        for key in ("errD", "errG"):
            ref = sum(h[key] for h in a[w : w + window]) / window
            got = sum(h[key] for h in b[w : w + window]) / window
            row[key] = (ref, got, abs(got - ref) / max(abs(ref), LOSS_FLOOR))
        rows.append(row)
    return rows


def _worst(rows: list[dict]) -> float:
    return max(max(r["errD"][2], r["errG"][2]) for r in rows)


def run(args: argparse.Namespace) -> dict:
    """Two comparisons on the same batches, sentences and noise.

    * ``forced`` (the fidelity criterion): at every step the fast copy is first set to the reference's exact
      state (:func:`sync_state`), so each fast loss is what the fast step computes from the reference's
      weights; averaged per window, this isolates the fast path's numerical error.
    * ``free``: both copies run on their own for all steps. GAN training with Adam(beta1=0) is chaotic: a
      rounding difference in step 1 changes every later weight (even two fp32 summation orders diverge),
      so this shows how far the trajectories drift, not a property of one step.
    """
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg = get_preset(args.preset).model
    off, fast = resolve_fast("off", device), resolve_fast(args.fast, device)
    ds = build_dataset("shapes", imsize=cfg.imsize, seed=0, max_objects=1)
    proj = torch.Generator().manual_seed(1)  # a fixed random "text encoder": caption hash -> vector
    table = torch.randn(len(ds.vocab), cfg.cond_dim, generator=proj) / cfg.cond_dim**0.5
    noise_gen = torch.Generator().manual_seed(2)
    batches = []
    for step in range(args.steps):
        batch = collate([ds[(step * args.batch + i) % len(ds)] for i in range(args.batch)])
        sent = (table[batch["tokens"]] * (batch["tokens"] > 0)[..., None]).sum(1)
        batches.append((batch["image"], sent, torch.randn(args.batch, cfg.z_dim, generator=noise_gen)))

    def step(fn, opts, i):
        images, sent, noise = (t.to(device) for t in batches[i])
        return losses_to_floats(fn(opts.prepare_images(images), sent, noise))

    ref_nets, ref_opt, ref_fn = _setup(cfg, off, device)
    fast_nets, fast_opt, fast_fn = _setup(cfg, fast, device)
    _, _, free_fn = _setup(cfg, fast, device)
    ref, forced, free = [], [], []
    for i in range(args.steps):
        sync_state(ref_nets, ref_opt, fast_nets, fast_opt)
        forced.append(step(fast_fn, fast, i))
        ref.append(step(ref_fn, off, i))
        free.append(step(free_fn, fast, i))
    rows = _windows(ref, forced, args.steps, args.window)
    free_rows = _windows(ref, free, args.steps, args.window)
    return {"device": str(device), "fast": fast.to_dict(), "rows": rows, "worst_relative_difference": _worst(rows),
            "free_rows": free_rows, "free_worst_relative_difference": _worst(free_rows)}


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
    for title, key in (("each fast step from the reference's state (the fidelity criterion)", "rows"),
                       ("free-running copies (chaotic drift, for information)", "free_rows")):
        print(f"\n{title}")
        print(f"{'steps':>9} {'errD ref':>9} {'errD fast':>9} {'diff':>6} {'errG ref':>9} {'errG fast':>9} {'diff':>6}")
        for r in res[key]:
            d, g = r["errD"], r["errG"]
            print(f"{r['steps']:>9} {d[0]:>9.4f} {d[1]:>9.4f} {d[2]:>6.1%} {g[0]:>9.4f} {g[1]:>9.4f} {g[2]:>6.1%}")
    print(f"\n(relative to max(|reference|, {LOSS_FLOOR}))")
    print(f"worst relative difference, forced: {res['worst_relative_difference']:.1%} (target <= 5%); "
          f"free-running: {res['free_worst_relative_difference']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
