"""``python -m dflib pretrain``: pretrain a DAMSM text + image encoder pair on a dataset (``--help``).

Every bad input is one ``[dflib pretrain] error:`` line (usage errors: one ``error:`` line) and exit status 2,
found before any data is read; an output folder that already holds an encoder is refused unless
``--overwrite`` (runs that point at its ``text_encoder.pth`` would change without notice).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from dflib.data.options import DATASET_NAMES, check_dataset_options
from dflib.interrupts import exit_on_interrupt
from dflib.settings import (
    OneLineParser,
    SettingError,
    check_choice,
    check_device,
    check_int,
    check_number,
    check_output_folder,
    check_seed,
    check_setting,
    check_threads,
)
from dflib.weights import CheckpointMismatchError

from .pretrain import DAMSMConfig, NonFiniteDAMSMError, check_output_free, format_summary, pretrain_damsm

__all__ = ["build_parser", "parse_dataset_kw", "check_arguments", "main"]

PROG = "python -m dflib pretrain"


def parse_dataset_kw(items: Sequence[str]) -> dict[str, Any]:
    """``["length=64", "name=x"]`` -> ``{"length": 64, "name": "x"}`` (values read as YAML scalars); a
    malformed item is a :class:`SettingError` naming it."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingError(f"--dataset-kw expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise SettingError(f"--dataset-kw {item!r}: the value cannot be read (values are YAML: 8, 0.5, true, [a, b])") from None
    return out


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog=PROG,
        description="Pretrain a DAMSM text + image encoder pair (AttnGAN, Xu et al. 2018, Sec. 3.2; "
        "docs/official_behaviour.md). Writes text_encoder.pth, image_encoder.pth, vocab.json and damsm.json "
        "into --out; a folder that already holds them is refused unless --overwrite.",
    )
    p.add_argument("--dataset", required=True, help=" | ".join(DATASET_NAMES[:-1]))
    p.add_argument("--root", default=None, help="dataset root folder (cub / coco / folder)")
    p.add_argument("--out", required=True, help="output folder for text_encoder.pth, image_encoder.pth, vocab.json")
    p.add_argument("--overwrite", action="store_true", help="replace an encoder already in --out")
    p.add_argument("--imsize", type=int, default=64)
    p.add_argument("--words-num", type=int, default=18)
    p.add_argument("--epochs", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=48)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--image-encoder", choices=("small", "inception"), default="small")
    p.add_argument("--inception-weights", default=None, help="local torchvision inception_v3_google-*.pth")
    p.add_argument("--emb-dim", type=int, default=300)
    p.add_argument("--hidden", type=int, default=256, help="text feature size (DF-GAN cond_dim), even")
    p.add_argument("--no-classes", action="store_true", help="mask only the diagonal, not same-class pairs")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument(
        "--dataset-kw", action="append", default=[], metavar="KEY=VALUE",
        help="extra build_dataset keyword, repeatable (e.g. --dataset-kw length=2000 --dataset-kw max_objects=1)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def check_arguments(a: argparse.Namespace) -> dict[str, Any]:
    """Every argument checked before any data is read; returns the dataset keywords. Raises
    :class:`SettingError` (one line) or ``FileExistsError`` (an encoder already in ``--out``)."""
    check_choice("--dataset", a.dataset, DATASET_NAMES)
    for name in ("epochs", "batch_size", "emb_dim", "imsize", "words_num"):
        if getattr(a, name) < 1:
            raise SettingError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(a, name)}")
    check_int("--batch-size", a.batch_size, 2, why=" (DAMSM contrasts the captions of a batch)")
    if a.image_encoder == "small" and (a.imsize < 8 or a.imsize & (a.imsize - 1)):
        raise SettingError(f"--imsize {a.imsize} is not allowed: the small image encoder needs a power of two >= 8 "
                           "(e.g. 32 or 64)")
    check_int("--hidden", a.hidden, 2)
    if a.hidden % 2:
        raise SettingError(f"--hidden {a.hidden} is not allowed: it must be even (two LSTM directions of hidden/2)")
    if a.max_steps_per_epoch is not None:
        check_int("--max-steps-per-epoch", a.max_steps_per_epoch, 1)
    check_number("--lr", a.lr, 0.0, low_open=True)
    check_setting("data.num_workers", a.num_workers, "--num-workers")
    check_threads(a.threads)
    check_seed(a.seed)
    check_device(a.device)
    if a.dataset in ("cub", "coco", "birds", "folder"):
        if a.root is None:
            raise SettingError(f"--dataset {a.dataset} needs --root, the folder that holds it (data/README.md says how)")
        if not Path(a.root).is_dir():
            raise SettingError(f"--root {a.root} is not a folder")
    if a.image_encoder == "inception" and not (a.inception_weights and Path(a.inception_weights).is_file()):
        raise SettingError("--image-encoder inception needs --inception-weights PATH to torchvision's "
                           "inception_v3_google-*.pth on this machine (dflib never downloads weights)")
    dataset_kw = parse_dataset_kw(a.dataset_kw)
    check_dataset_options(a.dataset, dataset_kw, prefix="--dataset-kw")
    check_output_free(a.out, a.overwrite)
    check_output_folder(a.out)
    return dataset_kw


def _run(a: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        dataset_kw = check_arguments(a)
    except FileExistsError as exc:
        print(f"[dflib pretrain] error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # SettingError, or the dataset's own option check: a usage error
        parser.error(str(exc))
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = DAMSMConfig(
        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, max_steps_per_epoch=a.max_steps_per_epoch,
        use_classes=not a.no_classes,
    )  # fmt: skip
    try:
        result = pretrain_damsm(
            a.dataset, a.out, root=a.root, imsize=a.imsize, words_num=a.words_num, cfg=cfg,
            image_encoder=a.image_encoder, inception_weights=a.inception_weights, emb_dim=a.emb_dim,
            hidden=a.hidden, device=check_device(a.device), seed=a.seed, num_workers=a.num_workers,
            progress=not a.quiet, overwrite=a.overwrite, **dataset_kw,
        )  # fmt: skip
    except NonFiniteDAMSMError as exc:
        print(f"[dflib pretrain] error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointMismatchError, pickle.UnpicklingError) as exc:
        print(f"[dflib pretrain] error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # writing the results (a full disk, a folder that vanished)
        print(f"[dflib pretrain] error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m dflib pretrain --dataset shapes --epochs 20 --out runs/damsm``."""
    parser = build_parser()
    return exit_on_interrupt("pretrain", lambda: _run(parser.parse_args(argv), parser))


if __name__ == "__main__":
    sys.exit(main())
