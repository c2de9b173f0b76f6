"""Sampling from text: prompts -> images with truncated noise, grids, interpolation, loading generators.

The official sampler draws one batch of truncated noise ``truncnorm(-2, 2) * 0.88`` shared by every
caption, repeats each sentence, and saves a grid per caption (docs/official_behaviour.md). ``generate``
does the same; ``python -m dflib sample`` is the command line (``dflib.cli.sample``). ``load_generator``
reads a dflib training checkpoint (``state_step_*.pth``, which stores its configuration and vocabulary)
or an official ``state_epoch_*.pth`` (then a DAMSM ``text_encoder*.pth`` and its vocabulary are needed).
Sampling never imports the trainer. :func:`prepare_prompts` refuses a prompt with no word the model knows
(it would draw images of no word at all); :func:`unique_path` names files after their prompt and never
overwrites one.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.utils import save_image

from .checkpoint import load_training_checkpoint, nets_from_official
from .config import ModelConfig, TrainConfig, build_models, config_from_dict
from .data.vocab import Vocab, tokenize
from .noise import slerp, truncated_noise
from .pretrained import list_pretrained, load_pretrained
from .settings import suggest
from .text import TextEncoder, build_encoder
from .weights import load_state_dict_strict, unwrap

__all__ = [
    "encode_prompts",
    "generate_images",
    "generate",
    "interpolate_prompts",
    "interpolate_noise",
    "load_generator",
    "load_text_encoder_for",
    "save_grid",
    "save_singles",
    "prepare_prompts",
    "prompt_stem",
    "unique_path",
    "vocab_for",
]


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
def generate_images(netG: nn.Module, noise: Tensor, sent: Tensor, batch: int = 64, on_cpu: bool = True) -> Tensor:
    """``netG(noise, sent)`` in eval mode without gradients, ``batch`` rows at a time, in [-1, 1]: the one
    place where a generator is run over a batch for sampling, grids and metrics. The mode is restored even
    if a batch fails; ``on_cpu=False`` leaves the images on the generator's device (FID on a GPU)."""
    netG = unwrap(netG)
    dev = _device_of(netG)
    was = netG.training
    netG.eval()
    try:
        out = [netG(noise[i : i + batch].to(dev), sent[i : i + batch].to(dev)) for i in range(0, noise.shape[0], batch)]
    finally:
        netG.train(was)
    out = torch.cat(out)
    return out.cpu() if on_cpu else out


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
    if noise is None:
        noise = truncated_noise(n, int(unwrap(netG).z_dim), truncation, seed=seed, bound=bound)
    sent = encode_prompts(encoder, prompts)
    return generate_images(netG, noise.repeat(sent.shape[0], 1), sent.repeat_interleave(noise.shape[0], 0))


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
    noise = truncated_noise(n, int(unwrap(netG).z_dim), truncation, seed=seed)
    return generate_images(netG, noise.repeat_interleave(steps, 0), path.repeat(n, 1))


def interpolate_noise(
    netG: nn.Module,
    encoder: nn.Module,
    prompt: str,
    steps: int = 8,
    seeds: tuple[int, int] = (0, 1),
    truncation: float | None = 0.88,
) -> Tensor:
    """``(steps, C, H, W)``: one prompt, spherical path between the noises of two seeds."""
    z_dim = int(unwrap(netG).z_dim)
    za = truncated_noise(1, z_dim, truncation, seed=seeds[0])[0]
    zb = truncated_noise(1, z_dim, truncation, seed=seeds[1])[0]
    z = slerp(za, zb, torch.linspace(0, 1, steps))
    sent = encode_prompts(encoder, [prompt]).repeat(steps, 1)
    return generate_images(netG, z, sent)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_generator(path: str | Path, device: str | torch.device = "cpu", ema: bool = True) -> tuple[nn.Module, dict]:
    """NetG from a shipped model's name (:mod:`dflib.pretrained`), a dflib checkpoint (file or run folder;
    EMA weights if saved and ``ema``) or an official ``state_epoch_*.pth``. Returns ``(netG in eval mode,
    info)``; ``info`` has 'kind' ('pretrained', 'dflib' or 'official'), 'config' (TrainConfig dict or None),
    'model' (ModelConfig), 'vocab' (wordtoix or None).
    """
    if not Path(path).exists():
        if str(path) in list_pretrained():
            return load_pretrained(str(path), device=device)
        shipped = list_pretrained()
        hint = suggest(str(path), shipped + _runs_beside(Path(path)))
        raise FileNotFoundError(
            f"no checkpoint file, run folder or shipped model called {str(path)!r}{hint}; shipped models: "
            f"{', '.join(shipped) or 'none'}"
        )
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


def _runs_beside(path: Path) -> list[str]:
    """Entries of the folder ``path`` would be in (for a mistyped run folder name), as typed paths."""
    parent = path.parent
    try:
        return [str(parent / p.name) if str(parent) != "." else p.name for p in parent.iterdir()][:500]
    except OSError:
        return []


def vocab_for(info: Mapping[str, Any], vocab: str | Path | None = None) -> Vocab | None:
    """The vocabulary a generator was trained with: ``vocab`` (a captions pickle or vocabulary .json) if
    given, else the one saved with it (``info`` of :func:`load_generator`); None if neither."""
    source = vocab if vocab is not None else info.get("vocab")
    if source is None:
        return None
    if isinstance(source, Mapping):  # the saved wordtoix
        return Vocab([w for w, _ in sorted(source.items(), key=lambda kv: kv[1])])
    path = Path(source)
    return Vocab.load(path) if path.suffix == ".json" else Vocab.from_damsm_pickle(path)


def load_text_encoder_for(
    info: Mapping[str, Any],
    text_encoder: str | None = None,
    text_encoder_path: str | None = None,
    vocab: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> TextEncoder:
    """The frozen text encoder a generator was trained with (from ``info`` of ``load_generator``);
    arguments override it (needed for official checkpoints: DAMSM path + vocabulary)."""
    if info.get("config"):
        cfg = config_from_dict(info["config"])
    else:
        cfg = TrainConfig(model=info["model"], text_encoder="damsm")
    if text_encoder:
        cfg.text_encoder = text_encoder
    if text_encoder_path:
        cfg.text_encoder_path = text_encoder_path
    voc = vocab_for(info, vocab)
    if cfg.text_encoder == "damsm" and (cfg.text_encoder_path is None or voc is None):
        raise ValueError(
            "a DAMSM generator needs --text-encoder-path text_encoder*.pth and --vocab captions_DAMSM.pickle "
            "(or a vocabulary .json) to turn prompts into sentence vectors"
        )
    if cfg.text_encoder == "damsm" and not Path(cfg.text_encoder_path).is_file():
        raise FileNotFoundError(f"DAMSM text encoder {cfg.text_encoder_path} not found: pass --text-encoder-path")
    try:
        return build_encoder(cfg, voc, device)
    except ValueError as exc:  # the trainer's advice (--set ...) does not apply to sampling
        if "cond_dim" in str(exc):
            raise ValueError(
                f"the text encoder {cfg.text_encoder!r} does not fit this generator (sentence size "
                f"{info['model'].cond_dim} expected): pass the encoder it was trained with "
                "(--text-encoder, --text-encoder-path)"
            ) from None
        raise


def prepare_prompts(prompts: Sequence[str], vocab: Vocab | None, drop_unknown: bool = True) -> tuple[list[str], list[str]]:
    """``(texts to encode, notes)`` for ``prompts``. A prompt without any word is refused; with ``vocab``
    (the words the model was trained on) a prompt none of whose words it knows is refused too, naming the
    closest known words, and unknown words are left out (``drop_unknown``: word-based encoders, which
    give an unseen word a direction the generator never learned) with a note. Raises ``ValueError``."""
    texts, notes = [], []
    for i, prompt in enumerate(prompts, 1):
        if not tokenize(prompt):
            raise ValueError(f"prompt {i} ({prompt!r}) has no words: give a caption such as 'a red circle'")
        if vocab is None:
            texts.append(prompt)
            continue
        known, unknown = vocab.split_known(prompt)
        hints = {w: c[0] for w in unknown if (c := vocab.close_words(w))}
        mean = "; ".join(f"{w!r}: did you mean {c!r}?" for w, c in hints.items())
        if not known and drop_unknown:
            some = ", ".join(sorted(w for w in vocab.wordtoix if w != "<end>")[:12])
            raise ValueError(f"prompt {i} ({prompt!r}) has no word this model was trained on ({mean or 'known words: ' + some})")
        if unknown:
            left = f"; left out, so the images show {' '.join(known)!r}" if drop_unknown else ""
            notes.append(f"prompt {i} ({prompt!r}): {', '.join(map(repr, unknown))} not in the model's vocabulary"
                         f"{' (' + mean + ')' if mean else ''}{left}")
        texts.append(" ".join(known) if unknown and drop_unknown else prompt)
    return texts, notes


def prompt_stem(prompt: str, limit: int = 60) -> str:
    """A file name for a prompt: its words joined by '-' (``'A big, red circle!'`` -> ``a-big-red-circle``)."""
    stem = "-".join(tokenize(prompt))
    stem = re.sub(r"[^a-z0-9_-]", "", stem)[:limit].strip("-")
    return stem or "prompt"


def unique_path(folder: str | Path, stem: str, suffix: str = ".png") -> Path:
    """``folder/stem+suffix``, or with ``-2``, ``-3``, ... before the suffix if taken: never an existing file."""
    folder = Path(folder)
    for i in range(1, 100_000):
        path = folder / f"{stem}{'' if i == 1 else f'-{i}'}{suffix}"
        if not path.exists():
            return path
    raise FileExistsError(f"no free file name for {stem}{suffix} in {folder}")  # pragma: no cover


# --------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------


def save_grid(images: Tensor, path: str | Path, nrow: int) -> Path:
    """PNG grid of images in [-1, 1] (``nrow`` images per row)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
    return path


def save_singles(images: Tensor, folder: str | Path, prefix: str = "img") -> list[Path]:
    """One PNG per image: ``folder/<prefix>_<i>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{prefix}_{i:03d}.png" for i in range(len(images))]
    for img, path in zip(images, paths):
        save_image(img, path, normalize=True, value_range=(-1, 1))
    return paths


if __name__ == "__main__":  # the old entry point: python -m dflib.sample ... runs python -m dflib sample ...
    print("[dflib] python -m dflib.sample is now python -m dflib sample; running that", file=sys.stderr)
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dflib", "sample", *sys.argv[1:]])
