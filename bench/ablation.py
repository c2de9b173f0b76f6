"""The paper's ablation (DF-GAN Sec. 4.3) on the bundled shapes through the Trainer, one command:

    python bench/ablation.py                       # 6 variants x 3 seeds x 4,000 steps, 2 runs at a time

Each (variant, seed) trains the ``shapes-32-cpu`` preset (the ``make train`` settings and step count) with
the variant's settings (``dflib.ablation.VARIANTS``) in its own process on one thread, in
``runs/ablation/<variant>-seed<k>`` (resumable: an interrupted run continues from its newest checkpoint),
and writes ``results/ablation/<variant>-seed<k>.json``; runs whose JSON exists are skipped, so the command
can be repeated until the grid is complete. Then ``results/ablation.json`` (mean, std, 95% interval and
Welch's test against DF-GAN per metric) and ``results/ablation.png`` are written from all run files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dflib.ablation import VARIANTS, load_runs, plot_ablation, run_variant, summarise  # noqa: E402
from dflib.config import apply_overrides, get_preset  # noqa: E402
from dflib.runtime import cpu_model  # noqa: E402


def run_one(variant: str, seed: int, steps: int, results: Path, runs: Path, n_eval: int) -> Path:
    """Train and score one (variant, seed) in this process (one thread); write its JSON."""
    import torch

    torch.set_num_threads(1)
    base = apply_overrides(get_preset("shapes-32-cpu"), {"threads": 1})
    record = run_variant(base, VARIANTS[variant], seed, steps, runs / f"{variant}-seed{seed}", n_eval=n_eval)
    record["machine"] = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                         "torch": torch.__version__, "threads": 1}
    path = results / f"{variant}-seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1))
    return path


def write_summary(results: Path, out: Path, steps: int) -> dict:
    """``out`` (and a PNG beside it) from every run file under ``results`` with ``steps`` steps."""
    runs = [r for r in load_runs(results) if r["steps"] == steps]
    order = [v for v in VARIANTS if any(r["variant"] == v for r in runs)]
    data = {
        "what": "DF-GAN ablation (paper Sec. 4.3) on the bundled shapes, shapes-32-cpu preset, through the Trainer",
        "steps": steps, "variant_order": order, "variants": [VARIANTS[v].to_dict() for v in order],
        "seeds": sorted({r["seed"] for r in runs}), "chance": runs[0]["chance"] if runs else {},
        "summary": summarise(runs), "runs": [{k: r[k] for k in ("variant", "seed", "steps", "train_seconds",
                                                                  "metrics")} for r in runs],
    }
    out.write_text(json.dumps(data, indent=1))
    if runs:
        plot_ablation(data, path=out.with_suffix(".png"))
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=get_preset("shapes-32-cpu").max_steps)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    ap.add_argument("--n-eval", type=int, default=512)
    ap.add_argument("--results", default="results/ablation", help="folder of the per-run JSON files")
    ap.add_argument("--runs", default="runs/ablation", help="folder of the run folders (checkpoints)")
    ap.add_argument("--out", default="results/ablation.json")
    ap.add_argument("--one", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    results, runs = Path(args.results), Path(args.runs)
    if args.one:
        run_one(args.one[0], int(args.one[1]), args.steps, results, runs, args.n_eval)
        return 0
    # seeds are the outer loop: an unfinished grid still holds whole seeds
    todo = [(v, s) for s in args.seeds for v in args.variants if not (results / f"{v}-seed{s}.json").exists()]
    print(f"[ablation] {len(todo)} runs to do, {args.jobs} at a time, {args.steps} steps each", flush=True)
    active: list[tuple[subprocess.Popen, str]] = []
    t0 = time.time()
    while todo or active:
        while todo and len(active) < args.jobs:
            v, s = todo.pop(0)
            log = (runs / f"{v}-seed{s}.log")
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, __file__, "--one", v, str(s), "--steps", str(args.steps), "--n-eval",
                   str(args.n_eval), "--results", str(results), "--runs", str(runs)]
            active.append((subprocess.Popen(cmd, stdout=log.open("a"), stderr=subprocess.STDOUT), f"{v}-seed{s}"))
        time.sleep(5)
        for proc, name in list(active):
            if proc.poll() is not None:
                active.remove((proc, name))
                print(f"[ablation] {name}: exit {proc.returncode} after {(time.time() - t0) / 60:.1f} min", flush=True)
                write_summary(results, Path(args.out), args.steps)
    data = write_summary(results, Path(args.out), args.steps)
    print(f"[ablation] {len(data['runs'])} runs summarised in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
