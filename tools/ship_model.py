"""Evaluate a finished training run and ship its generator under a short name (``dflib.pretrained``).

    python tools/ship_model.py runs/<folder> shapes-32 --n 512 --fid 500

Writes ``dflib/pretrained_models/<name>/`` (fp16 EMA weights, config, vocabulary, card.json, card.md) with
every metric of ``metrics.json`` (:func:`dflib.metrics.evaluate_run`: shapes or emoji measures, FID) re-measured on the exported (half-precision) weights, and the hardware
and wall time of the run read from its files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from dflib.checkpoint import load_training_checkpoint
from dflib.config import apply_overrides, config_from_dict
from dflib.metrics import evaluate_run
from dflib.pretrained import export_pretrained, load_pretrained
from dflib.runtime import cpu_model
from dflib.sample import load_text_encoder_for
from dflib.text import SentenceCache


def tensorboard_minutes(run: Path) -> tuple[float, int] | None:
    """Training time of a run from its TensorBoard event files: per session (one file each), the span of its
    logged events, stretched by the steps before its first event; summed over sessions (steps redone after an
    interruption included). None without event files."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    total, files = 0.0, sorted((run / "tb").glob("events.out.tfevents.*"))
    for f in files:
        events = [(e.wall_time, e.step) for e in EventFileLoader(str(f)).Load() if e.summary.value]
        if len(events) < 2:
            continue
        (t0, s0), (t1, s1) = min(events), max(events)
        steps = sorted({s for _, s in events})
        every = min(b - a for a, b in zip(steps, steps[1:])) if len(steps) > 1 else 0  # the logging interval
        total += (t1 - t0) * (s1 - s0 + every) / max(s1 - s0, 1)
    return (total / 60, len(files)) if files else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/ship_model.py")
    ap.add_argument("run")
    ap.add_argument("name")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--fid", type=int, default=500)
    ap.add_argument("--hardware", default=None, help="default: this machine's CPU model")
    ap.add_argument("--note", default="")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = load_training_checkpoint(a.run)
    cfg = ckpt["config"]
    run = Path(ckpt["path"]).parent
    sessions = json.loads((run / "run.json").read_text())["sessions"] if (run / "run.json").is_file() else []
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    tb = tensorboard_minutes(run)
    card = {
        "data": {"name": cfg["data"]["name"], "options": cfg["data"]["options"]},
        "preset": cfg["preset"],
        "steps": ckpt["step"],
        "wall_time": metrics.get("seconds") if len(sessions) <= 1 and "seconds" in metrics else (
            f"{tb[0]:.0f} min of training in {tb[1]} runs of the command (the first and each resume), "
            "from the TensorBoard event times" if tb else "see note"),
        "hardware": a.hardware or f"{cpu_model()}, {cfg.get('threads') or 1} thread(s), shared with other jobs",
        "text_encoder": f"{cfg['text_encoder']} (x{cfg['text_scale']})",
        "ema": bool(cfg.get("ema")),
        "sessions": len(sessions),
        "note": a.note,
    }
    folder = export_pretrained(ckpt["path"], a.name, {**card, "metrics": {}})
    netG, info = load_pretrained(a.name)  # measure what ships: the half-precision weights
    enc = SentenceCache(load_text_encoder_for(info))
    t0 = time.time()
    # the evaluations of metrics.json (dflib.metrics.evaluate_run), with evaluation seed 0 and the sizes asked for
    eval_cfg = apply_overrides(config_from_dict(cfg), {"eval_samples": a.n, "eval_fid": a.fid, "seed": 0,
                                                        "progress": False})
    card["metrics"] = {**evaluate_run(netG, enc, eval_cfg), "evaluation_seconds": round(time.time() - t0, 1)}
    folder = export_pretrained(ckpt["path"], a.name, card)
    print(json.dumps(card, indent=2))
    print(f"shipped {folder} ({(folder / 'generator.pt').stat().st_size / 2**20:.2f} MiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
