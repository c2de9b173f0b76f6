"""``python -m dflib sample``: images from captions with a DF-GAN checkpoint (``--help``).

One grid per prompt, named after the prompt (``a-red-circle.png``; ``-2``, ``-3``, ... if the name is taken:
nothing is ever overwritten), and a line per file on standard output (``--json`` for a machine). Every bad
input is one ``[dflib sample] error:`` line and exit status 2, checked before the model is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..interrupts import exit_on_interrupt
from ..sample import (
    generate,
    interpolate_noise,
    interpolate_prompts,
    load_generator,
    load_text_encoder_for,
    prepare_prompts,
    prompt_stem,
    save_grid,
    save_singles,
    unique_path,
    vocab_for,
)
from ..settings import OneLineParser, SettingError, check_device, check_int, check_number, check_output_folder, check_seed
from ..weights import CheckpointMismatchError

__all__ = ["build_parser", "main", "read_prompts_file", "MAX_N", "MAX_STEPS"]

MAX_N = 1024  # images per prompt: more would hold gigabytes of images at once
MAX_STEPS = 256  # interpolation steps


def read_prompts_file(path: str | Path) -> list[str]:
    """The non-blank lines of a prompts file; a file that is missing or not UTF-8 is one line naming it
    (and the line with the bad byte)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file {path} not found")
    prompts = []
    for ln, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}:{ln}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                             "save the prompts file as UTF-8") from None
        if line:
            prompts.append(line)
    return prompts


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
        prog="python -m dflib sample",
        description="Generate images from captions with a DF-GAN generator: a shipped model's name (e.g. shapes-32), "
        "a dflib state_step_*.pth or run folder, or an official state_epoch_*.pth + --text-encoder-path + --vocab. "
        "Writes one grid per prompt, named after it, into --out (never overwriting a file).",
    )
    ap.add_argument("checkpoint", help="shipped model name, checkpoint file or run folder")
    ap.add_argument("--prompt", action="append", help="a caption (repeatable)")
    ap.add_argument("--prompts-file", help="UTF-8 text file, one caption per line")
    ap.add_argument("--n", type=int, default=16, help=f"images per prompt, 1 to {MAX_N} (default 16, as the official sampler)")
    ap.add_argument("--nrow", type=int, default=None, help="images per grid row (default: sqrt(n) if square else n)")
    ap.add_argument("--truncation", type=float, default=0.88, help="noise scale after truncation; <=0 = plain N(0,1)")
    ap.add_argument("--bound", type=float, default=2.0, help="truncation bound, > 0 (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="noise seed, 0 to 4294967295")
    ap.add_argument("--out", default="outputs/samples", help="output folder (created if missing)")
    ap.add_argument("--singles", action="store_true", help="also save every image as its own PNG")
    ap.add_argument("--no-ema", action="store_true", help="use the raw generator even if EMA weights were saved")
    ap.add_argument("--interpolate", nargs=2, metavar=("PROMPT_A", "PROMPT_B"), help="interpolate two prompts")
    ap.add_argument("--interpolate-noise", nargs=2, type=int, metavar=("SEED_A", "SEED_B"),
                    help="interpolate two noise seeds for each prompt")
    ap.add_argument("--steps", type=int, default=8, help=f"interpolation steps, 1 to {MAX_STEPS}")
    ap.add_argument("--text-encoder", choices=["damsm", "minilm", "bow"], default=None)
    ap.add_argument("--text-encoder-path", default=None, help="text_encoder*.pth (DAMSM)")
    ap.add_argument("--vocab", default=None, help="captions_DAMSM.pickle or vocabulary .json")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (default cpu)")
    ap.add_argument("--json", action="store_true", help="print what was written as JSON instead of lines")
    return ap


def _check_numbers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors (exit 2) for numbers out of range, before anything is loaded."""
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}")
    try:
        check_int("--n", args.n, 1, MAX_N, " images per prompt")
        check_int("--steps", args.steps, 1, MAX_STEPS)
        if args.nrow is not None:
            check_int("--nrow", args.nrow, 1)
        check_number("--truncation", args.truncation)
        check_number("--bound", args.bound, 0.0, low_open=True)
        check_seed(args.seed)
        for seed in args.interpolate_noise or ():
            check_seed(seed, "--interpolate-noise")
    except SettingError as exc:
        parser.error(str(exc))


def _run(args: argparse.Namespace) -> tuple[dict[str, Any], list[tuple[Path, str]], list[str]]:
    """Load, generate and save; returns ``(info, [(file, what)], notes)``."""
    device = check_device(args.device)
    prompts = list(args.prompt or []) + (read_prompts_file(args.prompts_file) if args.prompts_file else [])
    if not prompts and not args.interpolate:
        raise SettingError("nothing to do: give --prompt, --prompts-file or --interpolate")
    if args.interpolate_noise and not prompts:
        raise SettingError("--interpolate-noise needs --prompt or --prompts-file")
    netG, info = load_generator(args.checkpoint, device=device, ema=not args.no_ema)
    enc = load_text_encoder_for(info, args.text_encoder, args.text_encoder_path, args.vocab, device=device)
    kind = args.text_encoder or (info.get("config") or {}).get("text_encoder") or "damsm"
    texts, notes = prepare_prompts(prompts + list(args.interpolate or []), vocab_for(info, args.vocab), kind != "minilm")
    out = check_output_folder(args.out)
    texts, pair = texts[: len(prompts)], texts[len(prompts):]
    trunc = args.truncation if args.truncation > 0 else None
    written: list[tuple[Path, str]] = []
    if args.interpolate:
        imgs = interpolate_prompts(netG, enc, *pair, steps=args.steps, n=max(1, min(args.n, 4)), truncation=trunc, seed=args.seed)
        stem = f"{prompt_stem(args.interpolate[0], 30)}--to--{prompt_stem(args.interpolate[1], 30)}"
        written.append((save_grid(imgs, unique_path(out, stem), nrow=args.steps), " -> ".join(args.interpolate)))
    for prompt, text in zip(prompts, texts):
        if args.interpolate_noise:
            sa, sb = args.interpolate_noise
            imgs = interpolate_noise(netG, enc, text, steps=args.steps, seeds=(sa, sb), truncation=trunc)
            path = unique_path(out, f"{prompt_stem(prompt)}--seeds-{sa}-{sb}")
            written.append((save_grid(imgs, path, nrow=args.steps), prompt))
            continue
        nrow = args.nrow or (int(args.n**0.5) if int(args.n**0.5) ** 2 == args.n else args.n)
        imgs = generate(netG, enc, [text], n=args.n, truncation=trunc, seed=args.seed, bound=args.bound)
        path = save_grid(imgs, unique_path(out, prompt_stem(prompt)), nrow=nrow)
        written.append((path, prompt))
        if args.singles:
            save_singles(imgs, unique_path(out, path.stem, ""))
    with open(out / "prompts.txt", "a", encoding="utf-8") as f:
        f.writelines(f"{path.name}\tseed {args.seed}\t{prompt}\n" for path, prompt in written)
    return info, written, notes


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_numbers(args, parser)
    try:
        info, written, notes = _run(args)
    except (FileNotFoundError, ValueError, CheckpointMismatchError, OSError) as exc:
        print(f"[dflib sample] error: {' '.join(str(exc).split()) if not isinstance(exc, CheckpointMismatchError) else exc}",
              file=sys.stderr)
        return 2
    for note in notes:
        print(f"[dflib sample] note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"checkpoint": info["path"], "kind": info["kind"], "written": [str(p) for p, _ in written],
                          "prompts": [w for _, w in written]}, indent=2))
        return 0
    step = f", step {info['step']}" if info.get("step") is not None else ""
    print(f"[dflib sample] {info['path']} ({info['kind']}{step}): {args.n} image(s) per prompt, seed {args.seed}")
    for path, what in written:
        print(f"  {path}   {what!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_on_interrupt("sample", lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
