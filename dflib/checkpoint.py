"""Checkpoints: loading the official DF-GAN ``state_epoch_*.pth`` files (spec Sec. 7).

The official file is ``{'model': {'netG', 'netD', 'netC'}, 'optimizers': {...}, 'epoch'}``; keys may carry
the ``module.`` prefix of a DistributedDataParallel wrapper. Files are always read with
``torch.load(..., weights_only=True)``, so a checkpoint from the internet cannot run code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .config import ModelConfig, build_models

__all__ = [
    "CheckpointMismatchError",
    "strip_module_prefix",
    "describe_state_dict",
    "load_state_dict_strict",
    "infer_model_config",
    "load_official_checkpoint",
]


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
        return "a DAMSM text encoder (text_encoder*.pth), not a DF-GAN network"
    if any(k.startswith(("Conv2d_1a_3x3", "emb_features", "emb_cnn_code")) for k in keys):
        return "a DAMSM image encoder (image_encoder*.pth), not a DF-GAN network"
    return "an unrecognised state dict"


def load_state_dict_strict(module: nn.Module, state: Mapping[str, Tensor], name: str = "network") -> None:
    """Strict ``load_state_dict`` with an error that names missing, unexpected and mis-shaped keys."""
    state = strip_module_prefix(state)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or misshaped:

        def _fmt(items: list[str]) -> str:
            shown = ", ".join(items[:8])
            return shown + (f", ... ({len(items)} in all)" if len(items) > 8 else "") if items else "none"

        raise CheckpointMismatchError(
            f"the {name} weights do not fit {type(module).__name__}: this looks like "
            f"{describe_state_dict(state)}.\n"
            f"  missing keys: {_fmt(missing)}\n"
            f"  unexpected keys: {_fmt(unexpected)}\n"
            f"  mis-shaped keys: {_fmt(misshaped)}\n"
            "Check the image size, nf and cond_dim of the model you built (ModelConfig) against the file."
        )
    module.load_state_dict(state, strict=True)


def infer_model_config(netG_state: Mapping[str, Tensor], netD_state: Mapping[str, Tensor] | None = None) -> ModelConfig:
    """Recover ``ModelConfig`` (imsize, ngf, ndf, z_dim, cond_dim) from official state-dict shapes."""
    g = strip_module_prefix(netG_state)
    if "fc.weight" not in g or not any(k.startswith("GBlocks.") for k in g):
        raise CheckpointMismatchError(f"netG is not a 2022 DF-GAN generator: this looks like {describe_state_dict(g)}")
    fc_out, z_dim = g["fc.weight"].shape
    ngf = fc_out // (8 * 16)
    n_blocks = len({k.split(".")[1] for k in g if k.startswith("GBlocks.")})
    imsize = 4 * 2**n_blocks
    cond_dim = g["GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight"].shape[1] - z_dim
    ch_size = g["to_rgb.1.weight"].shape[0]
    ndf = ngf
    if netD_state is not None:
        d = strip_module_prefix(netD_state)
        if "conv_img.weight" in d:
            ndf = d["conv_img.weight"].shape[0]
    return ModelConfig(imsize=imsize, ngf=ngf, ndf=ndf, z_dim=z_dim, cond_dim=cond_dim, ch_size=ch_size)


def load_official_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    config: ModelConfig | None = None,
) -> dict:
    """Build NetG/NetD/NetC and load an official ``state_epoch_*.pth`` (CUB 1220, COCO 290) strictly.

    Returns ``{'netG', 'netD', 'netC', 'config', 'epoch', 'optimizers'}``. The configuration is read from
    the weights' shapes unless ``config`` is given. Works with or without the DDP ``module.`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"official checkpoint {path} not found: download state_epoch_1220.pth (CUB) or "
            "state_epoch_290.pth (COCO) from the links in the official DF-GAN README"
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise CheckpointMismatchError(f"could not read {path} as a weights-only PyTorch checkpoint: {exc}") from exc
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        if isinstance(ckpt, Mapping) and all(isinstance(v, Tensor) for v in ckpt.values()):
            raise CheckpointMismatchError(
                f"{path} is a bare state dict ({describe_state_dict(ckpt)}), not the 2022 DF-GAN "
                "{'model': {'netG','netD','netC'}, ...} layout"
            )
        top = list(ckpt)[:6] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointMismatchError(f"{path} is not an official DF-GAN checkpoint (top-level keys: {top})")
    model = ckpt["model"]
    missing = [n for n in ("netG", "netD", "netC") if n not in model]
    if missing:
        raise CheckpointMismatchError(f"{path}: checkpoint['model'] lacks {missing} (has {list(model)})")
    cfg = config or infer_model_config(model["netG"], model["netD"])
    netG, netD, netC = build_models(cfg)
    for name, net in (("netG", netG), ("netD", netD), ("netC", netC)):
        load_state_dict_strict(net, model[name], name=name)
        net.to(map_location)
    return {
        "netG": netG,
        "netD": netD,
        "netC": netC,
        "config": cfg,
        "epoch": ckpt.get("epoch"),
        "optimizers": ckpt.get("optimizers"),
    }
