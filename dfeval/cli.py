"""``python -m dflib evaluate CHECKPOINT --protocol official-cub|official-coco|standard``: the FID
protocol end to end (:mod:`dfeval.protocol`), written to a JSON file.

Reproduce the DF-GAN README (12.10 on CUB, 15.41 on COCO; data/README.md, section "Evaluation", lists the
files)::

    python -m dflib evaluate state_epoch_1220.pth --protocol official-cub --data-root data/birds \\
        --inception-weights inception_v3_google-0cc3c7bd.pth --device cuda

Exit status 0 on success, 2 with a one-line ``error:`` message when a file is missing or an argument is
wrong (no traceback), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dflib.interrupts import exit_on_interrupt
from dflib.settings import OneLineParser, SettingError, check_device, check_output_folder, check_seed

__all__ = ["build_parser", "main"]

PROG = "python -m dflib evaluate"


def build_parser() -> argparse.ArgumentParser:
    from dfeval.protocol import PROTOCOLS

    ap = OneLineParser(
        prog=PROG,
        description="Run an FID evaluation protocol on a DF-GAN checkpoint (dflib state_step_*.pth or run folder, "
        "or official state_epoch_*.pth) and write the result as JSON. official-cub: 10 passes over the CUB test "
        "captions (29,120 images); official-coco: one pass (40,448); both with truncated noise 0.88, the "
        "torchvision Inception and the shipped *_FIDK0.npz, plus the standard TF-Inception FID beside it. "
        "standard: the checkpoint's own dataset, every test image once, TF-Inception FID.",
    )
    ap.add_argument("checkpoint", help="state_epoch_*.pth, state_step_*.pth or a dflib run folder")
    ap.add_argument("--protocol", required=True, choices=list(PROTOCOLS))
    ap.add_argument("--data-root", default=None,
                    help="official data folder (data/birds or data/coco); default for dflib checkpoints: their data.root")
    ap.add_argument("--dataset", default=None, help="standard protocol with an official checkpoint: cub or coco")
    ap.add_argument("--stats", default=None, help="official reference statistics (default <data-root>/npz/*_FIDK0.npz)")
    ap.add_argument("--inception-weights", default=None,
                    help="torchvision's inception_v3_google-0cc3c7bd.pth (default: torch's hub cache if it holds it)")
    ap.add_argument("--standard-stats", default=None,
                    help="TF-Inception statistics of the real test images (.npz): read if it exists, else computed and saved there")
    ap.add_argument("--no-standard", action="store_true", help="skip the standard TF-Inception FID")
    ap.add_argument("--n", type=int, default=None,
                    help="stop after N images (official protocols: a quick, incomplete check; standard: N images)")
    ap.add_argument("--r-precision", action="store_true", help="also the R-precision with the DAMSM image encoder")
    ap.add_argument("--image-encoder", default=None, help="DAMSM image_encoder*.pth for --r-precision")
    ap.add_argument("--text-encoder-path", default=None, help="DAMSM text_encoder*.pth (default <data-root>/DAMSMencoder/...)")
    ap.add_argument("--vocab", default=None, help="captions_DAMSM.pickle (default <data-root>/captions_DAMSM.pickle)")
    ap.add_argument("--seed", type=int, default=100, help="seed of the shuffle, caption draws and noise (default 100)")
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="data loader workers")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--no-ema", action="store_true", help="dflib checkpoints: the raw generator, not its EMA")
    ap.add_argument("--out", default=None, help="result JSON (default: eval_<protocol>_<checkpoint name>.json beside the checkpoint)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _default_out(checkpoint: Path, protocol: str) -> Path:
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    stem = checkpoint.name if checkpoint.is_dir() else checkpoint.stem
    return folder / f"eval_{protocol}_{stem}.json"


def main(argv: Sequence[str] | None = None, **inject: Any) -> int:
    """Parse ``argv``, run :func:`dfeval.evaluate.evaluate_checkpoint`, write and print the JSON.

    ``inject`` is passed on to ``evaluate_checkpoint`` (tests give stand-in networks: ``official_net``,
    ``standard_net``, ``image_encoder``)."""
    return exit_on_interrupt("evaluate", lambda: _main(argv, **inject))


def _main(argv: Sequence[str] | None, **inject: Any) -> int:
    from dfeval.evaluate import evaluate_checkpoint
    from dfeval.protocol import EvaluationError
    from dflib.weights import CheckpointMismatchError

    args = build_parser().parse_args(argv)
    try:  # the numbers, seed, device and the result file, before any work
        if args.n is not None and args.n < 1:
            raise SettingError(f"--n must be >= 1, got {args.n}")
        if args.workers < 0:
            raise SettingError(f"--workers must be >= 0, got {args.workers}")
        checkpoint = Path(args.checkpoint)
        out = Path(args.out) if args.out else _default_out(checkpoint, args.protocol)
        check_seed(args.seed)
        if args.device is not None:
            check_device(args.device)
        if out.is_dir():
            raise SettingError(f"--out {out} is a folder: give the name of the result .json file")
        check_output_folder(out.parent, "--out")
    except SettingError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        res = evaluate_checkpoint(
            checkpoint, args.protocol, data_root=args.data_root, dataset=args.dataset, stats=args.stats,
            inception_weights=args.inception_weights, standard_stats=args.standard_stats,
            no_standard=args.no_standard, n=args.n, r_precision=args.r_precision,
            image_encoder_path=args.image_encoder, text_encoder_path=args.text_encoder_path, vocab=args.vocab,
            device=args.device, seed=args.seed, workers=args.workers, progress=not args.no_progress,
            ema=not args.no_ema, **inject,
        )
    except (EvaluationError, FileNotFoundError, CheckpointMismatchError, ValueError, KeyError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    payload = res.to_dict()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        print(f"{PROG}: error: could not write {out} ({exc.strerror or exc})", file=sys.stderr)
        return 1
    print(json.dumps({k: payload[k] for k in ("protocol", "n_images", "complete", "fid_official", "fid_standard",
                                              "r_precision")} | {"written": str(out)}, indent=2))
    if not res.complete:
        print(f"note: --n stopped early; {res.n_images} images is not the full {args.protocol} protocol", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
