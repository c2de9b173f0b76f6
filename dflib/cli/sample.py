"""``python -m dflib sample``: images from captions with a DF-GAN checkpoint (``--help``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..sample import generate, interpolate_noise, interpolate_prompts, load_generator, load_text_encoder_for, save_grid, save_singles
from ..weights import CheckpointMismatchError

__all__ = ["build_parser", "main"]


def _read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    if args.prompts_file:
        path = Path(args.prompts_file)
        if not path.is_file():
            raise FileNotFoundError(f"prompts file {path} not found")
        prompts += [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return prompts


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dflib sample",
        description="Generate images from captions with a DF-GAN checkpoint (dflib state_step_*.pth or run "
        "folder, or official state_epoch_*.pth + --text-encoder-path + --vocab).",
    )
    ap.add_argument("checkpoint")
    ap.add_argument("--prompt", action="append", help="a caption (repeatable)")
    ap.add_argument("--prompts-file", help="text file, one caption per line")
    ap.add_argument("--n", type=int, default=16, help="images per prompt (default 16, as the official sampler)")
    ap.add_argument("--nrow", type=int, default=None, help="images per grid row (default: sqrt(n) if square else n)")
    ap.add_argument("--truncation", type=float, default=0.88, help="noise scale after truncation; <=0 = plain N(0,1)")
    ap.add_argument("--bound", type=float, default=2.0, help="truncation bound (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="outputs/samples", help="output folder")
    ap.add_argument("--singles", action="store_true", help="also save every image as its own PNG")
    ap.add_argument("--no-ema", action="store_true", help="use the raw generator even if EMA weights were saved")
    ap.add_argument("--interpolate", nargs=2, metavar=("PROMPT_A", "PROMPT_B"), help="interpolate two prompts")
    ap.add_argument("--interpolate-noise", nargs=2, type=int, metavar=("SEED_A", "SEED_B"),
                    help="interpolate two noise seeds for each prompt")
    ap.add_argument("--steps", type=int, default=8, help="interpolation steps")
    ap.add_argument("--text-encoder", choices=["damsm", "minilm", "bow"], default=None)
    ap.add_argument("--text-encoder-path", default=None, help="text_encoder*.pth (DAMSM)")
    ap.add_argument("--vocab", default=None, help="captions_DAMSM.pickle or vocabulary .json")
    ap.add_argument("--device", default="cpu")
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("n", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.nrow is not None and args.nrow < 1:
        parser.error(f"--nrow must be at least 1, got {args.nrow}")
    try:
        netG, info = load_generator(args.checkpoint, device=args.device, ema=not args.no_ema)
        enc = load_text_encoder_for(info, args.text_encoder, args.text_encoder_path, args.vocab, device=args.device)
        prompts = _read_prompts(args)
    except (FileNotFoundError, ValueError, CheckpointMismatchError) as exc:
        print(f"[dflib sample] error: {exc}", file=sys.stderr)
        return 2
    trunc = args.truncation if args.truncation > 0 else None
    out = Path(args.out)
    written: list[str] = []
    if args.interpolate:
        imgs = interpolate_prompts(netG, enc, *args.interpolate, steps=args.steps, n=max(1, min(args.n, 4)),
                                   truncation=trunc, seed=args.seed)
        written.append(str(save_grid(imgs, out / "interpolate_prompts.png", nrow=args.steps)))
    if args.interpolate_noise:
        if not prompts:
            raise SystemExit("--interpolate-noise needs --prompt or --prompts-file")
        for j, p in enumerate(prompts):
            imgs = interpolate_noise(netG, enc, p, steps=args.steps, seeds=tuple(args.interpolate_noise), truncation=trunc)
            written.append(str(save_grid(imgs, out / f"interpolate_noise_{j:03d}.png", nrow=args.steps)))
    elif prompts:
        nrow = args.nrow or (int(args.n**0.5) if int(args.n**0.5) ** 2 == args.n else args.n)
        imgs = generate(netG, enc, prompts, n=args.n, truncation=trunc, seed=args.seed, bound=args.bound)
        for j, p in enumerate(prompts):
            chunk = imgs[j * args.n : (j + 1) * args.n]
            written.append(str(save_grid(chunk, out / f"Sent{j:03d}.png", nrow=nrow)))
            if args.singles:
                written += [str(x) for x in save_singles(chunk, out / f"Sent{j:03d}")]
        (out / "prompts.txt").write_text("\n".join(f"Sent{j:03d}: {p}" for j, p in enumerate(prompts)) + "\n")
    if not written:
        print("nothing to do: give --prompt/--prompts-file or --interpolate", file=sys.stderr)
        return 2
    print(json.dumps({"checkpoint": info["path"], "kind": info["kind"], "written": written[:20],
                      "n_files": len(written)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
