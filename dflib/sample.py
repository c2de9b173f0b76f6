"""Sampling from text (spec Sec. 6.2): prompts -> images with truncated noise, grids, interpolation.

The official sampler draws one batch of truncated noise ``truncnorm(-2, 2) * 0.88`` shared by every
caption, repeats each sentence, and saves a grid per caption. ``generate`` does the same for notebooks;
``python -m dflib.sample`` is the command line (``--help``). It reads a dflib training checkpoint
(``state_step_*.pth``, which stores its configuration and vocabulary) or an official ``state_epoch_*.pth``
(then ``--text-encoder-path text_encoder*.pth`` and ``--vocab captions_DAMSM.pickle`` are required).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "truncated_noise",
    "encode_prompts",
    "generate",
    "slerp",
    "interpolate_prompts",
    "interpolate_noise",
    "load_generator",
    "load_text_encoder_for",
    "save_grid",
    "save_singles",
    "main",
]


def truncated_noise(
    n: int, z_dim: int = 100, truncation: float | None = 0.88, seed: int | None = 0, bound: float = 2.0
) -> Tensor:
    """``(n, z_dim)`` float32 noise: ``truncnorm(-bound, bound) * truncation`` (spec Sec. 6.1/6.2).

    ``truncation=None`` gives plain N(0, 1) (the training distribution). Seeded by ``seed`` with its own
    generator (the global NumPy state is not touched); ``seed=None`` draws fresh noise.
    """
    rs = np.random.RandomState(seed)
    if truncation is None:
        return torch.from_numpy(rs.standard_normal((n, z_dim)).astype(np.float32))
    if bound <= 0:
        raise ValueError(f"truncation bound must be > 0, got {bound}")
    from scipy.stats import truncnorm

    values = truncnorm.rvs(-bound, bound, size=(n, z_dim), random_state=rs) * float(truncation)
    return torch.from_numpy(values.astype(np.float32))


def _device_of(net: nn.Module) -> torch.device:
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def encode_prompts(encoder: nn.Module, prompts: Sequence[str]) -> Tensor:
    """Sentence vectors ``(P, D)`` of the prompts (frozen encoder, no gradients)."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not prompts:
        raise ValueError("no prompts given: pass at least one caption")
    return encoder.encode(list(prompts)).sent.detach().float()


@torch.no_grad()
def _run(netG: nn.Module, noise: Tensor, sent: Tensor, batch: int = 64) -> Tensor:
    dev = _device_of(netG)
    was = netG.training
    netG.eval()
    out = [netG(noise[i : i + batch].to(dev), sent[i : i + batch].to(dev)).cpu() for i in range(0, noise.shape[0], batch)]
    netG.train(was)
    return torch.cat(out)


def generate(
    netG: nn.Module,
    encoder: nn.Module,
    prompts: Sequence[str],
    n: int = 8,
    truncation: float | None = 0.88,
    seed: int | None = 0,
    bound: float = 2.0,
    noise: Tensor | None = None,
) -> Tensor:
    """Images ``(len(prompts) * n, C, H, W)`` in [-1, 1] on the CPU, grouped by prompt.

    As the official sampler, the same ``n`` noise vectors are used for every prompt, so column j of a grid
    (``nrow=n``) shares its noise. ``noise`` (``(n, z_dim)``) overrides the seeded truncated noise.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    z_dim = int(getattr(netG, "nz"))
    if noise is None:
        noise = truncated_noise(n, z_dim, truncation, seed=seed, bound=bound)
    n = noise.shape[0]
    sent = encode_prompts(encoder, prompts)
    return _run(netG, noise.repeat(len(prompts), 1), sent.repeat_interleave(n, 0))


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows ``a`` and ``b`` (1-D) at fractions ``t`` (falls back to lerp)."""
    a, b = a.flatten().double(), b.flatten().double()
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-12)
    omega = torch.arccos(cos.clamp(-1, 1))
    t = t.double()[:, None]
    if omega.abs() < 1e-4:
        return ((1 - t) * a + t * b).float()
    so = torch.sin(omega)
    return ((torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b).float()


def interpolate_prompts(
    netG: nn.Module,
    encoder: nn.Module,
    prompt_a: str,
    prompt_b: str,
    steps: int = 8,
    n: int = 1,
    truncation: float | None = 0.88,
    seed: int | None = 0,
) -> Tensor:
    """``(n * steps, C, H, W)``: linear path between two sentence vectors, with ``n`` fixed noises (rows)."""
    s = encode_prompts(encoder, [prompt_a, prompt_b])
    t = torch.linspace(0, 1, steps)[:, None]
    path = (1 - t) * s[0] + t * s[1]  # (steps, D)
    noise = truncated_noise(n, int(getattr(netG, "nz")), truncation, seed=seed)
    return _run(netG, noise.repeat_interleave(steps, 0), path.repeat(n, 1))


def interpolate_noise(
    netG: nn.Module,
    encoder: nn.Module,
    prompt: str,
    steps: int = 8,
    seeds: tuple[int, int] = (0, 1),
    truncation: float | None = 0.88,
) -> Tensor:
    """``(steps, C, H, W)``: one prompt, spherical path between the noises of two seeds."""
    z_dim = int(getattr(netG, "nz"))
    za = truncated_noise(1, z_dim, truncation, seed=seeds[0])[0]
    zb = truncated_noise(1, z_dim, truncation, seed=seeds[1])[0]
    z = slerp(za, zb, torch.linspace(0, 1, steps))
    sent = encode_prompts(encoder, [prompt]).repeat(steps, 1)
    return _run(netG, z, sent)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_generator(path: str | Path, device: str | torch.device = "cpu", ema: bool = True) -> tuple[nn.Module, dict]:
    """NetG from a dflib checkpoint (file or run folder; EMA weights if saved and ``ema``) or an official
    ``state_epoch_*.pth``. Returns ``(netG in eval mode, info)``; ``info`` has 'kind' ('dflib' or
    'official'), 'config' (TrainConfig dict or None), 'model' (ModelConfig), 'vocab' (wordtoix or None).
    """
    from .checkpoint import load_state_dict_strict, load_training_checkpoint, nets_from_official
    from .config import ModelConfig, build_models, config_from_dict

    ckpt = load_training_checkpoint(path)  # a file or a run folder; official files have the same layout
    if str(ckpt.get("format", "")).startswith("dflib-train") and ckpt.get("config"):
        cfg = config_from_dict(ckpt["config"])
        netG = build_models(cfg.model)[0]
        state = ckpt["ema_G"] if (ema and ckpt.get("ema_G") is not None) else ckpt["model"]["netG"]
        load_state_dict_strict(netG, state, name="netG")
        info = {"kind": "dflib", "config": ckpt["config"], "model": cfg.model, "vocab": ckpt.get("vocab"),
                "step": ckpt.get("step"), "path": ckpt["path"]}
    else:
        loaded = nets_from_official(ckpt, ckpt["path"])
        netG = loaded["netG"]
        model: ModelConfig = loaded["config"]
        info = {"kind": "official", "config": None, "model": model, "vocab": None, "epoch": loaded["epoch"],
                "path": ckpt["path"]}
    return netG.to(device).eval(), info


def _vocab_from(source: Any):
    from .data.vocab import Vocab

    if source is None:
        return None
    if isinstance(source, Mapping):
        return Vocab([w for w, _ in sorted(source.items(), key=lambda kv: kv[1])])
    path = Path(source)
    if path.suffix == ".json":
        return Vocab.load(path)
    return Vocab.from_damsm_pickle(path)


def load_text_encoder_for(
    info: Mapping[str, Any],
    text_encoder: str | None = None,
    text_encoder_path: str | None = None,
    vocab: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """The frozen text encoder a generator was trained with (from ``info`` of ``load_generator``);
    arguments override it (needed for official checkpoints: DAMSM path + vocabulary)."""
    from .config import config_from_dict
    from .train import build_encoder

    if info.get("config"):
        cfg = config_from_dict(info["config"])
    else:
        from .config import TrainConfig

        cfg = TrainConfig(model=info["model"], text_encoder="damsm")
    if text_encoder:
        cfg.text_encoder = text_encoder
    if text_encoder_path:
        cfg.text_encoder_path = text_encoder_path
    voc = _vocab_from(vocab) if vocab is not None else _vocab_from(info.get("vocab"))
    if cfg.text_encoder == "damsm" and (cfg.text_encoder_path is None or voc is None):
        raise ValueError(
            "a DAMSM generator needs --text-encoder-path text_encoder*.pth and --vocab captions_DAMSM.pickle "
            "(or a vocabulary .json) to turn prompts into sentence vectors"
        )
    return build_encoder(cfg, voc, device)


# --------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------


def save_grid(images: Tensor, path: str | Path, nrow: int) -> Path:
    """PNG grid of images in [-1, 1] (``nrow`` images per row)."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
    return path


def save_singles(images: Tensor, folder: str | Path, prefix: str = "img") -> list[Path]:
    """One PNG per image: ``folder/<prefix>_<i>.png``."""
    from torchvision.utils import save_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, img in enumerate(images):
        p = folder / f"{prefix}_{i:03d}.png"
        save_image(img, p, normalize=True, value_range=(-1, 1))
        out.append(p)
    return out


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
        prog="python -m dflib.sample",
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
    args = build_parser().parse_args(argv)
    netG, info = load_generator(args.checkpoint, device=args.device, ema=not args.no_ema)
    enc = load_text_encoder_for(info, args.text_encoder, args.text_encoder_path, args.vocab, device=args.device)
    trunc = args.truncation if args.truncation > 0 else None
    out = Path(args.out)
    written: list[str] = []
    prompts = _read_prompts(args)
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
