"""``python -m dflib train``: train DF-GAN from a preset and ``--set`` overrides (``--help``).

    python -m dflib train --preset shapes-32-cpu                         # = make train
    python -m dflib train --preset birds-256 --set data.root=data/birds
    torchrun --nproc_per_node=4 -m dflib train --preset coco-256         # DDP, one process per GPU
    python -m dflib train --resume runs/shapes-32-cpu-20250101-120000    # continue exactly
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..checkpoint import latest_checkpoint, load_training_checkpoint
from ..config import (
    RESUME_FIELDS,
    TRAIN_PRESETS,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    get_preset,
    validate_config,
)
from ..fast import OPTION_NAMES, Calibration, FastOptions, calibrate_cpu, resolve_fast
from ..metrics.run_fid import fid_with_floor
from ..metrics.shapes_eval import evaluate_shapes_generator
from ..runtime import default_device, free_cores, physical_cores
from ..step import NonFiniteLossError
from ..train import RunFolderError, Trainer, TrainingInterrupted
from ..weights import CheckpointMismatchError

__all__ = ["build_parser", "resolve_config", "choose_threads_and_fast", "evaluate_run", "main"]


def evaluate_run(trainer: Trainer) -> dict[str, Any]:
    """What ``metrics.json`` reports about the trained generator (EMA weights if kept): for ``shapes``,
    accuracy per attribute a caption states, the classifier's ceiling on real images and diversity over
    noise draws for what captions leave open (``eval_samples`` images); for any dataset, FID against the
    real test split with the real-vs-real floor beside it (``eval_fid`` images)."""
    cfg, out = trainer.cfg, {}
    netG, encode = trainer.generator(), trainer.cache if trainer.cache is not None else trainer.encoder
    if cfg.eval_samples > 0 and cfg.data.name == "shapes":
        out["shapes"] = evaluate_shapes_generator(
            netG, encode, cfg.data.options, n=cfg.eval_samples, device=trainer.device, seed=cfg.seed,
            truncation=cfg.truncation, imsize=cfg.model.imsize, progress=cfg.progress,
        )
    if cfg.eval_fid > 0:
        out["fid"] = fid_with_floor(
            netG, encode, cfg.data.name, cfg.data.options, n=cfg.eval_fid, imsize=cfg.model.imsize,
            device=trainer.device, seed=cfg.seed, truncation=cfg.truncation, root=cfg.data.root,
        )
    return out


_FLAT = {
    "batch_size": int,
    "max_steps": int,
    "time_limit_min": float,
    "epochs": int,
    "lr_g": float,
    "lr_d": float,
    "seed": int,
    "device": str,
    "out_dir": str,
    "fast": str,
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dflib train",
        description=(
            "Train DF-GAN (Tao et al. 2022). Presets: " + ", ".join(sorted(TRAIN_PRESETS)) + ". "
            "Any configuration field can be changed with --set NAME=VALUE (dotted names, YAML values), e.g. "
            "--set batch_size=8 --set model.ngf=32 --set data.options.max_objects=2 --set text_encoder=damsm "
            "--set text_encoder_path=data/birds/DAMSMencoder/text_encoder200.pth. Several GPUs: "
            "torchrun --nproc_per_node=N -m dflib train ..."
        ),
    )
    ap.add_argument("--preset", default="shapes-32-cpu", choices=sorted(TRAIN_PRESETS))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="override a configuration field (repeatable)")
    helps = {"fast": "speed options (dflib.fast): off (the reference step) | on (exact options for the device) | auto (on for GPUs) | a comma list of "
                     + ", ".join(OPTION_NAMES) + ", optionally starting with on, e.g. on,cuda_graphs"}
    for name, typ in _FLAT.items():
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None,
                        help=helps.get(name, f"shortcut for --set {name}=..."))
    ap.add_argument("--out", default=None, help="run folder (default: <out_dir>/<preset>-<timestamp>)")
    ap.add_argument("--resume", default=None, help="checkpoint file or run folder to continue exactly")
    ap.add_argument("--eval-samples", type=int, default=None, help="images for the final attribute accuracy and diversity (shapes)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's threads; 0 = timed at start-up among 1, half and all of the physical cores)")
    ap.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    return ap


def _override_keys(args: argparse.Namespace) -> list[str]:
    """The dotted names the user set on the command line (``--set`` and the shortcut flags)."""
    keys = [o.split("=", 1)[0].strip() for o in args.overrides]
    keys += [k for k in _FLAT if getattr(args, k) is not None]
    return keys + (["eval_samples"] if args.eval_samples is not None else [])


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The preset, then ``--set`` overrides, then the shortcut flags. A ``--set data.name=...`` that picks
    another dataset than the preset's starts from empty ``data.options`` (the preset's options belong to
    its own dataset); ``--set data.options.X=...`` given with it still apply."""
    cfg = get_preset(args.preset)
    flat = {k: getattr(args, k) for k in _FLAT if getattr(args, k) is not None}
    if args.eval_samples is not None:
        flat["eval_samples"] = args.eval_samples
    name_sets = [o for o in args.overrides if o.split("=", 1)[0].strip() in ("data.name", "train.data.name")]
    if name_sets:
        new = apply_overrides(cfg, name_sets)
        if new.data.name != cfg.data.name:
            cfg = apply_overrides(new, {"data.options": {}})
    cfg = apply_overrides(cfg, list(args.overrides))
    return validate_config(apply_overrides(cfg, flat))


def choose_threads_and_fast(
    cfg: TrainConfig, threads: int | None, resume: str | None
) -> tuple[TrainConfig, int, Calibration | None]:
    """The CPU threads and the speed options of a run, measured where the user left them open.

    ``threads`` 0 (the default) and ``fast=auto`` on a CPU are decided by :func:`dflib.fast.calibrate_cpu`:
    a few timed steps of the run's own networks with 1, half and all of the physical cores, each with
    the reference step and with the CPU's exact options, keeping the reference and one thread unless another
    candidate is clearly faster. The choice is written into the configuration (``fast`` becomes the option
    list), so the checkpoint records it and ``--resume`` repeats it exactly. Resumed runs, GPUs and torchrun
    are not calibrated (``fast=auto`` then means the device's defaults; threads the free cores).
    """
    threads = cfg.threads if threads is None else int(threads)
    device = default_device(cfg.device)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    time_fast = cfg.fast == "auto" and device.type == "cpu" and resume is None and not distributed
    time_threads = threads <= 0 and device.type == "cpu" and resume is None and not distributed
    if threads <= 0:
        threads = free_cores() if not time_threads else 1
    if not (time_fast or time_threads):
        return cfg, threads, None
    # all physical cores are candidates, not only the "free" ones: the load average lags by a minute (it still
    # counts a job that just ended), and the timing itself shows whether another program holds a core
    cores = physical_cores()
    thread_choices = sorted({1, max(1, cores // 2), cores}) if time_threads else [threads]
    # fast=auto: the reference against the exact options; else the user's options, and only threads are timed
    option_choices = [FastOptions(), FastOptions.for_device(device)] if time_fast else [resolve_fast(cfg.fast, device)]
    cal = calibrate_cpu(cfg.model, cfg.batch_size, thread_choices, option_choices)
    if time_fast:
        cfg = apply_overrides(cfg, {"fast": ",".join(cal.options.enabled()) or "off"})
    if cal.skipped:  # a step too slow to time (a large model): the free cores, as without calibration
        return cfg, free_cores() if time_threads else threads, cal
    return cfg, cal.threads, cal


def _fail(message: str, code: int = 2) -> int:
    print(f"[dflib train] error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # bad settings are reported in one line, before the data and the text encoder are built
        cfg = resolve_config(args)
        fast = resolve_fast(cfg.fast, default_device(cfg.device))
    except ValueError as exc:
        parser.error(str(exc))
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        print(f"# fast={cfg.fast!r} on {default_device(cfg.device).type}: {fast.describe()}", file=sys.stderr)
        return 0
    resume = args.resume
    if resume is not None:
        fixed = sorted({k.removeprefix("train.") for k in _override_keys(args)} - set(RESUME_FIELDS) - {"out_dir"})
        if fixed:
            parser.error(
                f"--resume continues a run with its saved settings; {', '.join(fixed)} cannot change on resume "
                f"(only {', '.join(RESUME_FIELDS)} can). Start a new run to change them"
            )
        if Path(resume).is_dir() and latest_checkpoint(resume) is None:
            return _fail(f"no checkpoint in {resume}")
        try:  # the saved run's settings, with only the stopping/reporting fields the user gave changed
            saved = load_training_checkpoint(resume).get("config")
        except (FileNotFoundError, CheckpointMismatchError) as exc:
            return _fail(str(exc))
        if saved:
            flat = {k: getattr(args, k) for k in _FLAT if getattr(args, k) is not None}
            cfg = apply_overrides(apply_overrides(config_from_dict(saved), list(args.overrides)), flat)
    cfg, threads, calibration = choose_threads_and_fast(cfg, args.threads, resume)
    torch.set_num_threads(threads)
    print(f"[dflib train] {threads} CPU thread(s) ({physical_cores()} physical cores, 1-min load "
          f"{os.getloadavg()[0]:.1f})", file=sys.stderr)
    if calibration is not None:
        print(f"[dflib train] speed: {calibration.describe()}", file=sys.stderr)
    t0 = time.time()
    try:
        trainer = Trainer(cfg, out_dir=args.out, resume=resume)
    except (ValueError, FileNotFoundError, RunFolderError, CheckpointMismatchError) as exc:
        return _fail(str(exc))
    try:
        summary = trainer.run()
    except NonFiniteLossError:
        return 1
    except TrainingInterrupted as exc:
        print(f"[dflib train] {exc.message()}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        return _fail(str(exc), 1)
    finally:
        trainer.close()
    if trainer.dist.is_main:
        metrics: dict[str, Any] = {"preset": trainer.cfg.preset, **summary}
        metrics["threads"], metrics["fast"] = threads, trainer.fast.enabled()
        if calibration is not None:
            metrics["calibration"] = asdict(calibration)
        try:
            metrics.update(evaluate_run(trainer))
        except (ImportError, FileNotFoundError) as exc:  # an optional asset (e.g. the FID Inception) is missing
            print(f"[dflib train] evaluation skipped: {exc}", file=sys.stderr)
        metrics["wall_seconds"] = time.time() - t0
        path = trainer.out_dir / "metrics.json"
        path.write_text(json.dumps(metrics, indent=2))
        print(json.dumps(metrics, indent=2))
        print(f"[dflib train] run folder: {trainer.out_dir}")
    if trainer.dist.enabled:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
