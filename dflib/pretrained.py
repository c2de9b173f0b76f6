"""Shipped generators, loadable by a short name: ``python -m dflib sample shapes-32 --prompt ...``.

A shipped model is a folder ``dflib/pretrained_models/<name>/`` with ``generator.pt`` (NetG's weights in
half precision, the training configuration and vocabulary: what sampling needs, nothing of D or the
optimisers) and ``card.json`` (data, steps, wall time, hardware and every measured metric), rendered as
``card.md`` for people. :func:`export_pretrained` makes one from a training checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import atomic_torch_save, check_weights_fit, load_training_checkpoint, verify_content
from .config import build_models, config_from_dict
from .settings import suggest
from .weights import CheckpointMismatchError, content_digest, load_state_dict_strict, read_weights_file

__all__ = ["PRETRAINED_DIR", "list_pretrained", "pretrained_card", "load_pretrained", "export_pretrained", "card_markdown"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained_models"
FORMAT = "dflib-pretrained-1"


def list_pretrained(root: Path = PRETRAINED_DIR) -> list[str]:
    """Names of the shipped models (folders holding a ``generator.pt`` and a ``card.json``)."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "generator.pt").is_file() and (p / "card.json").is_file())


def _folder(name: str, root: Path) -> Path:
    names = list_pretrained(root)
    if name not in names:
        raise FileNotFoundError(
            f"no shipped model called {name!r}{suggest(name, names)}: choose one of {names or 'none (none shipped)'}, "
            "or give a checkpoint file or run folder"
        )
    return root / name


def pretrained_card(name: str, root: Path = PRETRAINED_DIR) -> dict[str, Any]:
    """The model card of a shipped model (``card.json``)."""
    return json.loads((_folder(name, root) / "card.json").read_text())


def load_pretrained(name: str, device: str | torch.device = "cpu", root: Path = PRETRAINED_DIR) -> tuple[nn.Module, dict]:
    """``(netG in eval mode and float32, info)`` of a shipped model; ``info`` has the keys of
    :func:`dflib.sample.load_generator` ('kind' is 'pretrained') plus 'card'."""
    folder = _folder(name, root)
    path = folder / "generator.pt"
    blob = read_weights_file(path)
    verify_content(blob, path)
    if not isinstance(blob, Mapping) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dflib shipped model ({FORMAT})")
    try:
        cfg = config_from_dict(blob["config"])
    except ValueError as exc:
        raise CheckpointMismatchError(f"{path}: the configuration saved in it is not valid ({exc})") from None
    check_weights_fit(cfg.model, {"netG": blob["netG"]}, path)  # before anything is allocated
    netG = build_models(cfg.model)[0]
    load_state_dict_strict(netG, {k: v.float() for k, v in blob["netG"].items()}, name="netG")
    info = {"kind": "pretrained", "config": blob["config"], "model": cfg.model, "vocab": blob.get("vocab"),
            "step": blob.get("step"), "path": str(folder), "card": pretrained_card(name, root)}
    return netG.to(device).eval(), info


def export_pretrained(
    checkpoint: str | Path, name: str, card: Mapping[str, Any], root: Path = PRETRAINED_DIR, ema: bool = True
) -> Path:
    """Write ``root/<name>/`` from a training checkpoint (EMA weights if saved and ``ema``), in fp16."""
    ckpt = load_training_checkpoint(checkpoint)
    state = ckpt["ema_G"] if (ema and ckpt.get("ema_G") is not None) else ckpt["model"]["netG"]
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "netG": {k: v.detach().to(torch.float16) for k, v in state.items()},
        "config": ckpt["config"],
        "vocab": ckpt.get("vocab"),
        "step": ckpt.get("step"),
        "ema": bool(ema and ckpt.get("ema_G") is not None),
    }
    blob["checksum"] = content_digest(blob)
    atomic_torch_save(blob, folder / "generator.pt")
    full = {"name": name, "step": ckpt.get("step"), "source_checkpoint": Path(ckpt["path"]).name, **dict(card)}
    (folder / "card.json").write_text(json.dumps(full, indent=2) + "\n")
    (folder / "card.md").write_text(card_markdown(full))
    return folder


def card_markdown(card: Mapping[str, Any]) -> str:
    """A model card for people, from ``card.json``: one line per field, metrics as a table."""
    lines = [f"# {card.get('name', 'model')}", ""]
    for key, value in card.items():
        if key not in ("name", "metrics"):
            lines.append(f"- **{key}**: {value}")
    metrics = card.get("metrics") or {}
    if metrics:
        lines += ["", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in _flat(metrics)]
    return "\n".join(lines) + "\n"


def _flat(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out
