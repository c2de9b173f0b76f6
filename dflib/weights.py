"""Strict loading of network weights, with errors that say what a file is and what does not fit.

The bottom of the package: it imports nothing from dflib, so networks, text encoders, checkpoints and
metrics can all use it. ``unwrap`` removes a ``DistributedDataParallel`` (or any ``.module``) wrapper.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "CheckpointMismatchError",
    "unwrap",
    "strip_module_prefix",
    "describe_state_dict",
    "state_dict_mismatch",
    "load_state_dict_strict",
    "read_weights_file",
    "content_digest",
]


def unwrap(net: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` (or other ``.module``) wrapper, else ``net``."""
    return net.module if isinstance(getattr(net, "module", None), nn.Module) else net


class CheckpointMismatchError(RuntimeError):
    """A state dict does not fit a network; the message lists missing, unexpected and mis-shaped keys."""


def strip_module_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove the ``module.`` prefix that DistributedDataParallel adds, if every key carries it."""
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def describe_state_dict(state: Mapping[str, Tensor]) -> str:
    """A one-line guess of what a state dict is (2022 DF-GAN, 2020 v1 DF-GAN, DAMSM encoder, ...)."""
    keys = set(strip_module_prefix(state))
    if any(k.startswith("COND_DNET.") for k in keys):
        return "a v1 (2020) DF-GAN discriminator checkpoint (netD_%03d.pth); it cannot be loaded into the 2022 NetD/NetC"
    if any(k.startswith("block0.") for k in keys) or any(".affine3." in k for k in keys):
        return (
            "a v1 (2020) DF-GAN generator checkpoint (netG_%03d.pth): its blocks have four separate Affines "
            "on the 256-d sentence only; it cannot be loaded into the 2022 networks"
        )
    if any(k.startswith("GBlocks.") for k in keys) or "to_rgb.1.weight" in keys:
        return "a 2022 (CVPR) DF-GAN generator (NetG) state dict"
    if any(k.startswith("DBlocks.") for k in keys):
        return "a 2022 (CVPR) DF-GAN discriminator (NetD) state dict"
    if any(k.startswith("joint_conv.") for k in keys):
        return "a 2022 (CVPR) DF-GAN conditional head (NetC) state dict"
    if "encoder.weight" in keys and any(k.startswith("rnn.") for k in keys):
        return "a DAMSM text encoder state dict (text_encoder*.pth)"
    if any(k.startswith(("Conv2d_1a_3x3", "emb_features", "emb_cnn_code")) for k in keys):
        return "a DAMSM image encoder state dict (image_encoder*.pth)"
    return "an unrecognised state dict"


def state_dict_mismatch(module: nn.Module, state: Mapping[str, Tensor], what: str = "network", hint: str = "") -> str | None:
    """``None`` if ``state`` fits ``module`` strictly, else a message naming the missing, unexpected and
    mis-shaped keys, what the file looks like, and ``hint`` (what to check)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or misshaped):
        return None

    def _fmt(items: list[str]) -> str:
        shown = ", ".join(items[:8])
        return shown + (f", ... ({len(items)} in all)" if len(items) > 8 else "") if items else "none"

    msg = (
        f"the {what} weights do not fit {type(module).__name__}: this looks like {describe_state_dict(state)}.\n"
        f"  missing keys: {_fmt(missing)}\n"
        f"  unexpected keys: {_fmt(unexpected)}\n"
        f"  mis-shaped keys: {_fmt(misshaped)}"
    )
    return msg + (f"\n{hint}" if hint else "")


NETWORK_HINT = "Check the image size, nf and cond_dim of the model you built (ModelConfig) against the file."


def load_state_dict_strict(module: nn.Module, state: Mapping[str, Tensor], name: str = "network",
                           hint: str = NETWORK_HINT) -> None:
    """Strict ``load_state_dict`` (``module.`` prefix removed) with an error from :func:`state_dict_mismatch`
    that ends with ``hint`` (what to check; the default is for the DF-GAN networks)."""
    state = strip_module_prefix(state)
    msg = state_dict_mismatch(module, state, name, hint)
    if msg:
        raise CheckpointMismatchError(msg)
    module.load_state_dict(state, strict=True)


def _refusal(path: Path, exc: BaseException) -> str:
    """Our own words for a file that ``torch.load(weights_only=True)`` refused, naming what it needs."""
    text = str(exc)
    wanted = re.findall(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL)\s+([\w.]+)", text)
    if "Weights only load failed" in text or wanted:
        what = f" the Python object {wanted[0]}" if wanted else " Python objects"
        return (
            f"refused to load {path}: it needs{what}, not just tensors and plain values. A file like that "
            "could run code when unpickled, so dflib never loads it (weights only). If you made the file "
            "yourself, re-save its state dicts with torch.save(model.state_dict(), ...)."
        )
    first = text.splitlines()[0] if text else ""
    if "weights_only" in first or "pickle" in first.lower():  # torch's own advice would undo the protection
        first = "not a weights-only file"
    return f"could not read {path} as a PyTorch weights file ({type(exc).__name__}: {first})"


def read_weights_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: no code from the file runs. Errors name the file and say
    what was refused, in one line (:class:`CheckpointMismatchError`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name and our own advice
        raise CheckpointMismatchError(_refusal(path, exc)) from exc


def _feed(h: Any, obj: Any) -> None:
    """Add ``obj`` to the hash ``h``: tensors by dtype, shape and bytes; mappings in key order."""
    if isinstance(obj, Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(obj.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, Mapping):
        h.update(f"{{{len(obj)}:".encode())
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(f"[{len(obj)}:".encode())
        for item in obj:
            _feed(h, item)
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def content_digest(obj: Any) -> str:
    """SHA-256 of what a weights file holds (every tensor's dtype, shape and bytes, every plain value, mappings
    in key order): the same before ``torch.save`` and after ``torch.load``, so a checksum stored *inside* a
    file checks it without a ``.sha256`` beside it."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()
