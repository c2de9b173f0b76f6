"""Does the CPU default speed setting hold? The training step with ``fast=auto`` (what every preset uses; on
a CPU it resolves to ``fast=on``: :meth:`dflib.fast.FastOptions.for_device`) against the reference fp32 step
(``fast=off``) and against ``channels_last`` alone, at one thread, in one run.

Every variant trains its own copy of the same networks (same initial weights) on the same batches. Within a
repeat the variants take their steps round by round (step 1 of every variant, then step 2, ...), so a change
of load from other programs slows every variant alike; the order inside a round rotates from repeat to
repeat. Each repeat gives each variant's median seconds per step and the ratios of those medians; the run
reports every repeat, their mean and their spread (min to max), the machine and its load before and after.
On a shared machine absolute times move with the load: the ratios of interleaved timings are the result.
Fidelity: the relative difference of each variant's D and G losses from the reference's on the first step
(same weights, same batch: exact options differ by summation order only, about 1e-4 at most). Later steps are left
out: Adam's first updates move a weight by about the learning rate whatever the size of its gradient, so
rounding differences in near-zero gradients grow into visible loss differences within a few steps.

    python bench/cpu_speed.py                                   # about 3 minutes on a loaded 2-core machine
    python bench/cpu_speed.py --out results/cpu_speed.json --docs docs/engineering.md --note "..."
    python bench/cpu_speed.py --from results/cpu_speed.json --docs docs/engineering.md   # the page only

``--docs`` rewrites the table between the markers in that file from the result (:func:`markdown_table`);
``tests/test_cpu_speed.py`` checks that the committed page shows the committed JSON.
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

from dflib.config import apply_overrides, get_preset  # noqa: E402
from dflib.fast import build_fast_step, resolve_fast  # noqa: E402
from dflib.runtime import cpu_model, physical_cores  # noqa: E402

VARIANTS = ("off", "channels_last", "auto")  # the reference, one option alone, the default
REFERENCE, DEFAULT = "off", "auto"
# the ratios reported: name -> (slower variant, faster variant); each is median(slower) / median(faster)
RATIOS = {
    "auto_vs_off": ("off", "auto"),
    "channels_last_vs_off": ("off", "channels_last"),
    "auto_vs_channels_last": ("channels_last", "auto"),
}
FIDELITY_STEPS = 1  # steps over which the losses are compared with the reference (see the docstring)
BEGIN = "<!-- cpu_speed table: written by `python bench/cpu_speed.py --docs` from results/cpu_speed.json -->"
END = "<!-- end of cpu_speed table -->"


def loss_difference(losses: list[tuple[float, float]], ref: list[tuple[float, float]],
                    first: int = FIDELITY_STEPS) -> float:
    """Largest difference of D's and G's losses from the reference's over the first ``first`` steps,
    relative to the reference loss (at least 0.1, so a loss crossing zero does not inflate it). Later steps
    are left out: two GAN runs that differ by rounding drift apart over tens of steps whatever the options."""
    return max(abs(a - b) / max(abs(b), 0.1) for la, lb in zip(losses[:first], ref[:first]) for a, b in zip(la, lb))


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def summarise(per_repeat: list[dict[str, float]]) -> dict[str, dict[str, float | list[float]]]:
    """``{ratio: {"repeats": [...], "mean", "min", "max", "spread"}}`` from each repeat's ratios
    (spread = max - min)."""
    out = {}
    for name in per_repeat[0]:
        values = [r[name] for r in per_repeat]
        out[name] = {"repeats": values, "mean": statistics.fmean(values), "min": min(values), "max": max(values),
                     "spread": max(values) - min(values)}
    return out


def _one_repeat(model, variants: dict[str, object], images, sents, noises, steps: int, warmup: int,
                order: list[str], t0: float) -> dict:
    cpu = torch.device("cpu")
    runs = {}
    for name in order:
        opts = variants[name]
        _, _, step = build_fast_step(model, opts, cpu, seed=0)
        runs[name] = {"step": step, "images": opts.prepare_images(images), "times": [], "losses": []}
    for i in range(warmup + steps):
        for name in order:
            r = runs[name]
            s = time.perf_counter()
            out = r["step"](r["images"], sents[i % len(sents)], noises[i % len(noises)])
            losses = (float(out["errD"]), float(out["errG"]))
            if i >= warmup:
                r["times"].append(time.perf_counter() - s)
            r["losses"].append(losses)
        print(f"  round {i + 1}/{warmup + steps} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    med = {name: statistics.median(r["times"]) for name, r in runs.items()}
    ref = runs[REFERENCE]["losses"]
    return {
        "order": order,
        "s_per_step": med,
        "ratio": {k: med[slow] / med[fast] for k, (slow, fast) in RATIOS.items()},
        "loss_diff": {name: loss_difference(r["losses"], ref) for name, r in runs.items()},
    }


def run(preset: str = "shapes-32-cpu", batch: int | None = 16, steps: int = 20, warmup: int = 2, repeats: int = 3,
        threads: int = 1, overrides: list[str] | None = None, note: str = "") -> dict:
    """Time the three settings in ``repeats`` interleaved repeats; the result is what ``--out`` writes."""
    cfg = apply_overrides(get_preset(preset), list(overrides or []))
    model, batch = cfg.model, batch or cfg.batch_size
    torch.set_num_threads(threads)
    cpu = torch.device("cpu")
    variants = {name: resolve_fast(name, cpu) for name in VARIANTS}
    torch.manual_seed(0)
    images = torch.rand(batch, 3, model.imsize, model.imsize) * 2 - 1
    sents = [torch.randn(batch, model.cond_dim) for _ in range(4)]
    noises = [torch.randn(batch, model.z_dim) for _ in range(4)]
    load_before = _load()
    t0 = time.perf_counter()
    reps = []
    for k in range(repeats):
        order = list(VARIANTS[k % len(VARIANTS):] + VARIANTS[: k % len(VARIANTS)])
        before = _load()
        print(f"repeat {k + 1}/{repeats}: order {', '.join(order)}", file=sys.stderr, flush=True)
        rep = _one_repeat(model, variants, images, sents, noises, steps, warmup, order, t0)
        reps.append({**rep, "load_before": before, "load_after": _load()})
    load_after = _load()
    cores = physical_cores()
    busy = bool(load_before) and load_before[0] > 0.5
    return {
        "preset": preset, "overrides": list(overrides or []), "batch": batch, "threads": threads, "steps": steps,
        "warmup": warmup, "repeats": repeats, "fidelity_steps": FIDELITY_STEPS,
        "variants": {name: {"fast": name, "options": o.enabled(), "exact": o.exact} for name, o in variants.items()},
        "ratio_definitions": {k: f"median s/step of {slow} / median s/step of {fast}"
                              for k, (slow, fast) in RATIOS.items()},
        "repeat_results": reps,
        "summary": summarise([r["ratio"] for r in reps]),
        "machine": {
            "cpu": cpu_model(), "physical_cores": cores, "logical_cpus": os.cpu_count(),
            "torch": torch.__version__, "load_before": load_before, "load_after": load_after,
            "loaded": busy,
            "note": ((f"Shared machine: 1-minute load {load_before[0]:.1f} on {cores} cores before the run; absolute "
                      "times are slower than on an idle machine, the ratios of the interleaved timings are the "
                      "result. " if busy else "") + note).strip(),
        },
        "wall_s": time.perf_counter() - t0,
    }


def _label(res: dict, name: str) -> str:
    opts = res["variants"][name]["options"]
    if name == REFERENCE:
        return "`off` (reference fp32 step)"
    if name == DEFAULT:
        return f"`auto` (the default; on a CPU = `on`: {', '.join(opts)})"
    return f"`{name}` alone"


def markdown_table(res: dict) -> str:
    """The speed table of docs/engineering.md, from a result of :func:`run` (the test compares the two)."""
    m, reps = res["machine"], res["repeat_results"]
    n = len(reps)
    lines = [
        f"`{res['preset']}`, batch {res['batch']}, {res['threads']} thread{'s' if res['threads'] > 1 else ''}, "
        f"median of {res['steps']} steps after "
        f"{res['warmup']} untimed in each of {n} interleaved repeats; {m['cpu']}, {m['physical_cores']} physical "
        f"cores, torch {m['torch']}; 1-minute load {m['load_before'][0]:.2f} before, {m['load_after'][0]:.2f} after."
        + (f" {m['note']}" if m["note"] else ""),
        "",
        "| setting | s/step in repeats 1–%d | loss diff |" % n,
        "|---|---|---|",
    ]
    for name in res["variants"]:
        times = ", ".join(f"{r['s_per_step'][name]:.3f}" for r in reps)
        diff = max(r["loss_diff"][name] for r in reps)
        lines.append(f"| {_label(res, name)} | {times} | {diff:.1e} |")
    lines += ["", "| ratio | repeats | mean | spread (min–max) |", "|---|---|---|---|"]
    for key, (slow, fast) in RATIOS.items():
        s = res["summary"][key]
        each = ", ".join(f"{v:.3f}" for v in s["repeats"])
        lines.append(f"| `{fast}` against `{slow}` | {each} | {s['mean']:.3f}× | {s['min']:.3f}–{s['max']:.3f} |")
    wins = sum(r["s_per_step"][DEFAULT] < r["s_per_step"]["channels_last"] for r in reps)
    lines += ["", f"The default took {res['summary']['auto_vs_off']['mean']:.2f}× as many steps as the reference in "
              f"the same time, and was faster than `channels_last` alone in {wins} of {n} repeats."]
    return "\n".join(lines)


def replace_block(text: str, table: str) -> str:
    """``text`` with the part between :data:`BEGIN` and :data:`END` replaced by ``table``."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"no {BEGIN!r} ... {END!r} block to replace")
    head, rest = text.split(BEGIN, 1)
    return head + BEGIN + "\n" + table + "\n" + END + rest.split(END, 1)[1]


def docs_block(text: str) -> str:
    """The table between the markers of a page (what :func:`replace_block` wrote)."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="shapes-32-cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per variant and repeat")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first, in every repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="a config override, e.g. model.ngf=8")
    ap.add_argument("--note", default="", help="what else ran on the machine (stored in the JSON)")
    ap.add_argument("--out", default=None, help="also write the result as JSON here")
    ap.add_argument("--docs", default=None, help="rewrite the table between the markers of this page")
    ap.add_argument("--from", dest="from_json", default=None, help="measure nothing: read this result JSON instead")
    args = ap.parse_args(argv)
    if min(args.steps, args.warmup, args.repeats, args.threads) < 1:
        ap.error("--steps, --warmup, --repeats and --threads must be at least 1")
    if args.from_json:
        res = json.loads(Path(args.from_json).read_text())
    else:
        res = run(args.preset, args.batch, args.steps, args.warmup, args.repeats, args.threads, args.overrides,
                  args.note)
    table = markdown_table(res)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    if args.docs:
        page = Path(args.docs)
        page.write_text(replace_block(page.read_text(), table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
