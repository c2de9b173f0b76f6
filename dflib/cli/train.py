"""``python -m dflib train``: arguments -> configuration -> :func:`dflib.train.train` (``--help``).

    python -m dflib train --preset shapes-32-cpu                         # = make train (4,000 steps)
    python -m dflib train --preset birds-256 --set data.root=data/birds
    torchrun --nproc_per_node=4 -m dflib train --preset coco-256         # DDP, one process per GPU
    python -m dflib train --resume runs/shapes-32-cpu-20250101-120000    # continue exactly

Every bad input is one ``[dflib train] error:`` line (or one usage line) and exit status 2, checked before
anything slow is built; Ctrl-C is one line and exit status 130 (after saving, once training has started).
``--resume`` of a run that stopped before its first checkpoint starts it again from step 0 in its folder,
and a moved data folder (``--set data.root=NEW``) is accepted when it holds the same files (issue 29).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..checkpoint import load_training_checkpoint
from ..config import RESUME_FIELDS, TRAIN_PRESETS, TrainConfig, apply_overrides, config_from_dict, get_preset, validate_config
from ..data.options import check_dataset_options
from ..fast import OPTION_NAMES, resolve_fast
from ..interrupts import exit_on_interrupt
from ..run_folder import check_moved_data, check_run_folder, restart_config
from ..runtime import default_device
from ..settings import OneLineParser, SettingError, check_choice, check_device, check_threads
from ..step import NonFiniteLossError
from ..train import RunFolderError, train
from ..weights import CheckpointMismatchError

__all__ = ["build_parser", "user_overrides", "resolve_config", "main"]

# shortcut flags for the most used settings: --max-steps 500 = --set max_steps=500
_FLAT = {"batch_size": int, "max_steps": int, "time_limit_min": float, "epochs": int, "lr_g": float,
         "lr_d": float, "seed": int, "device": str, "out_dir": str, "fast": str, "eval_samples": int}


def _preset(name: str) -> str:
    """``--preset``'s type: a preset's name, else one usage line with the closest name and all of them."""
    try:
        return check_choice("--preset", name, sorted(TRAIN_PRESETS))
    except SettingError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--preset ")) from None


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
        prog="python -m dflib train",
        description=(
            "Train DF-GAN (Tao et al. 2022). Presets: " + ", ".join(sorted(TRAIN_PRESETS)) + ". "
            "Any configuration field can be changed with --set NAME=VALUE (dotted names, YAML values), e.g. "
            "--set batch_size=8 --set model.ngf=32 --set penalty=zero_gp --set model.fusion=concat "
            "--set text_encoder=damsm --set text_encoder_path=data/birds/DAMSMencoder/text_encoder200.pth. "
            "Several GPUs: torchrun --nproc_per_node=N -m dflib train ..."
        ),
    )
    ap.add_argument("--preset", default="shapes-32-cpu", type=_preset,
                    help="one of " + ", ".join(sorted(TRAIN_PRESETS)))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="override a configuration field (repeatable)")
    helps = {"fast": "speed options (dflib.fast): off (the reference step) | on = auto (the exact options for the "
                     "device) | a comma list of " + ", ".join(OPTION_NAMES) + ", optionally starting with on"}
    for name, typ in _FLAT.items():
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None,
                        help=helps.get(name, f"shortcut for --set {name}=..."))
    ap.add_argument("--out", default=None, help="run folder (default: <out_dir>/<preset>-<timestamp>)")
    ap.add_argument("--resume", default=None, help="checkpoint file or run folder to continue exactly (a run folder "
                    "without a checkpoint starts again from step 0 with its saved settings)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's threads; 0 = all physical cores)")
    ap.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    return ap


def user_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` items and the shortcut flags, as ``NAME=VALUE`` strings in the order they apply."""
    return list(args.overrides) + [f"{k}={json.dumps(getattr(args, k))}" for k in _FLAT if getattr(args, k) is not None]


def resolve_config(args: argparse.Namespace, saved: dict | None = None) -> TrainConfig:
    """The one merge: the saved run's configuration (``--resume``) or the preset, then the user's overrides.

    On resume only :data:`dflib.config.RESUME_FIELDS` (where the run stops, how it reports) may change,
    and ``data.root`` when the new folder holds the run's data (:func:`dflib.run_folder.check_moved_data`
    against ``args.resume``). A ``--set data.name=...`` that picks another dataset than the preset's starts
    from empty ``data.options`` (the preset's options belong to its own dataset). The dataset options are
    checked against the dataset class, so a mistyped one is one line before any data is read."""
    overrides = user_overrides(args)
    keys = [o.split("=", 1)[0].strip().removeprefix("train.") for o in overrides]
    if saved is not None:
        movable = {"out_dir"} | ({"data.root"} if getattr(args, "resume", None) is not None else set())
        fixed = sorted(set(keys) - set(RESUME_FIELDS) - movable)
        if fixed:
            raise ValueError(f"--resume continues a run with its saved settings; {', '.join(fixed)} cannot change "
                             f"on resume (only {', '.join(RESUME_FIELDS)} can). Start a new run to change them")
        before = config_from_dict(saved)
        cfg = validate_config(apply_overrides(before, overrides))
        if cfg.data.root != before.data.root:  # the data folder moved: the same files, or one line
            print(f"[dflib train] {check_moved_data(args.resume, cfg.data.root)}", file=sys.stderr)
    else:
        cfg = get_preset(args.preset)
        if "data.name" in keys and "data.options" not in keys:
            picked = apply_overrides(cfg, [o for o, k in zip(overrides, keys) if k == "data.name"])
            if picked.data.name != cfg.data.name:
                cfg = apply_overrides(picked, {"data.options": {}})
        cfg = validate_config(apply_overrides(cfg, overrides))
    check_dataset_options(cfg.data.name, cfg.data.options)
    return cfg


def _fail(message: str, code: int = 2) -> int:
    print(f"[dflib train] error: {message}", file=sys.stderr)
    return code


def _summary_line(metrics: dict[str, Any]) -> str:
    """One line for a person at the end of a run (the numbers are in metrics.json)."""
    parts = [f"{metrics['steps']} steps in {metrics['seconds'] / 60:.1f} min"]
    shapes = metrics.get("shapes", {})
    acc = shapes.get("accuracy") if isinstance(shapes, dict) else None
    if isinstance(acc, dict):
        parts.append(", ".join(f"{k} {100 * v:.0f}%" for k, v in acc.items() if isinstance(v, (int, float))
                               and shapes.get("n_stated", {}).get(k, 1) > 0))
    if isinstance(shapes, dict) and "diversity_mean" in shapes:
        parts.append(f"diversity {shapes['diversity_mean']:.2f}")
    if "fid" in metrics and isinstance(metrics["fid"], dict) and "fid" in metrics["fid"]:
        parts.append(f"FID {metrics['fid']['fid']:.0f} (real-vs-real floor {metrics['fid'].get('fid_floor', float('nan')):.0f})")
    return "; ".join(parts)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out
    try:  # the checkpoint is read once; bad settings are reported before anything slow is built
        check_threads(args.threads)
        if args.device is not None:
            check_device(args.device)
        # a run folder whose run stopped before its first checkpoint starts again there, with its settings
        restart = restart_config(args.resume) if args.resume is not None else None
        ckpt = load_training_checkpoint(args.resume) if args.resume is not None and restart is None else None
        cfg = resolve_config(args, restart if restart is not None else ckpt.get("config") if ckpt is not None else None)
        fast = resolve_fast(cfg.fast, default_device(cfg.device))
        if ckpt is not None and ckpt.get("config"):
            ckpt = {**ckpt, "config": cfg.to_dict()}  # the saved settings with what resume may change (data.root)
        if restart is not None:
            out = out or args.resume
        if out is not None and not args.print_config:  # never into another run's folder
            check_run_folder(Path(out), resuming=ckpt is not None, resume_from=ckpt["path"] if ckpt else None)
    except (ValueError, FileNotFoundError, CheckpointMismatchError, RunFolderError) as exc:
        return _fail(str(exc))
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        print(f"# fast={cfg.fast!r} on {default_device(cfg.device).type}: {fast.describe()}", file=sys.stderr)
        return 0
    if restart is not None:
        print(f"[dflib train] {args.resume} stopped before its first checkpoint: it starts again from step 0 with its "
              f"saved settings" + (f", in {out}" if str(out) != str(args.resume) else ""), file=sys.stderr)
    try:
        metrics = train(cfg, out_dir=out, resume=ckpt, threads=args.threads)
    except (ValueError, FileNotFoundError, RunFolderError, CheckpointMismatchError) as exc:
        return _fail(str(exc))
    except NonFiniteLossError:
        return 1  # the Trainer printed the one line: the step, and what was kept
    except OSError as exc:
        return _fail(str(exc), 1)
    if "out_dir" in metrics and "wall_seconds" in metrics:
        print(f"[dflib train] done: {_summary_line(metrics)}. Run folder: {metrics['out_dir']} (metrics.json)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dflib train``; Ctrl-C at start-up is one line and 130, in training the Trainer saves first."""
    return exit_on_interrupt("train", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
