"""``python -m dflib pretrain``: pretrain a DAMSM text + image encoder pair on a dataset (``--help``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import torch

from ..runtime import default_device
from ..text.damsm_train import DAMSMConfig, NonFiniteDAMSMError, format_summary, pretrain_damsm


def _parse_kw(items: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``["length=64", "name=x"]`` -> ``{"length": 64, "name": "x"}`` (values read as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--dataset-kw expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m dflib pretrain --dataset shapes --epochs 20 --out runs/damsm``."""
    p = argparse.ArgumentParser(
        prog="python -m dflib pretrain",
        description="Pretrain a DAMSM text + image encoder pair (AttnGAN, Xu et al. 2018, Sec. 3.2; docs/official_behaviour.md).",
    )
    p.add_argument("--dataset", required=True, help="shapes | emoji | cub | coco | folder")
    p.add_argument("--root", default=None, help="dataset root folder (cub / coco / folder)")
    p.add_argument("--out", required=True, help="output folder for text_encoder.pth, image_encoder.pth, vocab.json")
    p.add_argument("--imsize", type=int, default=64)
    p.add_argument("--words-num", type=int, default=18)
    p.add_argument("--epochs", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=48)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--image-encoder", choices=("small", "inception"), default="small")
    p.add_argument("--inception-weights", default=None, help="local torchvision inception_v3_google-*.pth")
    p.add_argument("--emb-dim", type=int, default=300)
    p.add_argument("--hidden", type=int, default=256, help="text feature size (DF-GAN cond_dim)")
    p.add_argument("--no-classes", action="store_true", help="mask only the diagonal, not same-class pairs")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument(
        "--dataset-kw", action="append", default=[], metavar="KEY=VALUE",
        help="extra build_dataset keyword, repeatable (e.g. --dataset-kw length=2000 --dataset-kw max_objects=1)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    dataset_kw = _parse_kw(a.dataset_kw, p)
    for name in ("epochs", "batch_size", "emb_dim", "hidden", "imsize", "words_num"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(a, name)}")
    if not a.lr > 0:
        p.error(f"--lr must be a positive learning rate, got {a.lr}")

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
            hidden=a.hidden, device=default_device(a.device), seed=a.seed, num_workers=a.num_workers,
            progress=not a.quiet, **dataset_kw,
        )  # fmt: skip
    except NonFiniteDAMSMError as exc:
        print(f"[dflib pretrain] error: {exc}", file=sys.stderr)
        return 1
    print(format_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
