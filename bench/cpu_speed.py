"""CPU training speed of the `make train` preset: steps per minute against threads and speed options, one run.

Every variant trains its own copy of the same networks (same initial weights) on the same batches, and the
variants take their steps round by round (step 1 of every variant, then step 2, ...), so a change of load
from other programs slows every variant alike instead of whichever happened to be running. Reported per
variant: median seconds per step, steps per minute, the speed-up over the reference fp32 step at one
thread, and fidelity: the largest relative difference of its D and G losses from the reference's over the
first steps (exact options differ only in summation order, about 1e-6; bf16 changes precision, about 1e-2).

    python bench/cpu_speed.py                          # the table, about 4 minutes on 2 cores
    python bench/cpu_speed.py --steps 10 --no-compile  # shorter
    python bench/cpu_speed.py --out results/cpu_speed.json

The rows for more threads than this machine has cores are not measured; see docs/engineering.md for
what to expect there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.config import get_preset  # noqa: E402
from dflib.fast import FastOptions, build_fast_step, resolve_fast  # noqa: E402
from dflib.runtime import cpu_model, physical_cores  # noqa: E402

EXACT_ALONE = ("channels_last", "batched_affine", "fused_adam", "compile")
COMBINED = ("channels_last,batched_affine,fused_adam", "channels_last,batched_affine,fused_adam,compile")
FIDELITY_STEPS = 3  # steps over which the losses are compared with the reference
APPROX = ("channels_last,bf16", "channels_last,batched_affine,fused_adam,bf16")


def variants(threads: list[int], compile_too: bool) -> list[tuple[int, str]]:
    """(threads, fast setting) rows: the reference and every exact option alone at one thread, then the
    combinations (exact, then with bf16) at every thread count, and the reference at more threads."""
    keep = (lambda v: compile_too or "compile" not in v)
    rows = [(1, "off")] + [(1, v) for v in EXACT_ALONE if keep(v)]
    for t in threads:
        if t != 1:
            rows.append((t, "off"))
        rows += [(t, v) for v in COMBINED + APPROX if keep(v)]
    return rows


def _time_group(rows: list[dict], images, sents, noises, steps: int, warmup: int, t0: float) -> None:
    """Round-robin steps of the variants of one thread count (no thread switching inside a round)."""
    torch.set_num_threads(rows[0]["threads"])
    for i in range(warmup + steps):
        for r in rows:
            s = time.perf_counter()
            out = r["step"](r["images"], sents[i % 4], noises[i % 4])
            errD, errG = float(out["errD"]), float(out["errG"])
            if i >= warmup:
                r["times"].append(time.perf_counter() - s)
            r["losses"].append((errD, errG))
        print(f"  {rows[0]['threads']} thread(s): round {i + 1}/{warmup + steps} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)


def loss_difference(losses: list[tuple[float, float]], ref: list[tuple[float, float]], first: int = FIDELITY_STEPS) -> float:
    """Largest difference of D's and G's losses from the reference's over the first ``first`` steps,
    relative to the reference loss (at least 0.1, so a loss crossing zero does not inflate it). Later steps
    are left out: two GAN runs that differ by rounding drift apart over tens of steps whatever the options."""
    return max(abs(a - b) / max(abs(b), 0.1) for la, lb in zip(losses[:first], ref[:first]) for a, b in zip(la, lb))


def run(preset: str, batch: int | None, steps: int, warmup: int, threads: list[int], compile_too: bool) -> dict:
    cfg = get_preset(preset)
    model, batch = cfg.model, batch or cfg.batch_size
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    images = torch.rand(batch, 3, model.imsize, model.imsize) * 2 - 1
    sents = [torch.randn(batch, model.cond_dim) for _ in range(4)]
    noises = [torch.randn(batch, model.z_dim) for _ in range(4)]
    load = os.getloadavg()[0]
    rows = []
    for t, v in variants(threads, compile_too):
        opts: FastOptions = resolve_fast(v, cpu)
        _, _, step = build_fast_step(model, opts, cpu, seed=0)
        rows.append({"threads": t, "fast": v, "exact": opts.exact, "step": step,
                     "images": opts.prepare_images(images), "times": [], "losses": []})
    t0 = time.perf_counter()
    for t in dict.fromkeys(r["threads"] for r in rows):
        _time_group([r for r in rows if r["threads"] == t], images, sents, noises, steps, warmup, t0)
    ref = rows[0]
    out_rows = []
    for r in rows:
        med = statistics.median(r["times"])
        out_rows.append({"threads": r["threads"], "fast": r["fast"], "exact": r["exact"], "s_per_step": med,
                         "steps_per_min": 60.0 / med, "loss_diff": loss_difference(r["losses"], ref["losses"]),
                         "loss_diff_step1": loss_difference(r["losses"], ref["losses"], first=1)})
    for r in out_rows:
        r["speedup"] = out_rows[0]["s_per_step"] / r["s_per_step"]
    return {
        "preset": preset, "batch": batch, "steps": steps, "warmup": warmup, "fidelity_steps": FIDELITY_STEPS,
        "cpu": cpu_model(), "physical_cores": physical_cores(), "load_before": load,
        "torch": torch.__version__, "rows": out_rows, "wall_s": time.perf_counter() - t0,
    }


def format_table(res: dict) -> str:
    lines = [f"{res['preset']} training step, batch {res['batch']}, {res['cpu']} ({res['physical_cores']} physical "
             f"cores), torch {res['torch']}, median of {res['steps']} steps after {res['warmup']} untimed, "
             f"1-min load {res['load_before']:.1f} before; loss diff = largest relative difference from the "
             f"reference's D and G losses over the first {res['fidelity_steps']} steps",
             f"{'threads':>7} {'fast':<46} {'exact':>5} {'s/step':>7} {'steps/min':>9} {'speed-up':>8} {'loss diff':>9}"]
    for r in res["rows"]:
        lines.append(f"{r['threads']:>7} {r['fast']:<46} {'yes' if r['exact'] else 'no':>5} {r['s_per_step']:>7.3f} "
                     f"{r['steps_per_min']:>9.0f} {r['speedup']:>7.2f}x {r['loss_diff']:>9.1e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="shapes-32-cpu")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    ap.add_argument("--threads", default=None, help="comma list of thread counts (default: 1 .. physical cores)")
    ap.add_argument("--no-compile", action="store_true", help="leave out torch.compile (saves about a minute)")
    ap.add_argument("--out", default=None, help="also write the result as JSON here")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")] if args.threads else list(range(1, physical_cores() + 1))
    if args.steps < 1 or args.warmup < 1 or min(threads) < 1:
        ap.error("--steps, --warmup and every --threads value must be at least 1")
    res = run(args.preset, args.batch, args.steps, args.warmup, threads, not args.no_compile)
    print(format_table(res))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
