"""Configuration dataclasses and named presets.

``ModelConfig`` describes the three networks; the training configuration (``TrainConfig``) and its presets
(``shapes-32-cpu``, ``emoji-64``, ``birds-256``, ``coco-256``) live in this module too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ModelConfig", "MODEL_PRESETS", "build_models"]


@dataclass
class ModelConfig:
    """Sizes of NetG / NetD / NetC. Paper defaults (CUB, COCO): 256 px, nf 32, z 100, DAMSM 256-d."""

    imsize: int = 256
    ngf: int = 32
    ndf: int = 32
    z_dim: int = 100
    cond_dim: int = 256
    ch_size: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


MODEL_PRESETS: dict[str, ModelConfig] = {
    "birds-256": ModelConfig(),
    "coco-256": ModelConfig(),
    "emoji-64": ModelConfig(imsize=64, ngf=32, ndf=32, cond_dim=256),
    "shapes-32-cpu": ModelConfig(imsize=32, ngf=16, ndf=16, z_dim=32, cond_dim=256),
}


def build_models(cfg: ModelConfig):
    """Fresh ``(netG, netD, netC)`` for a model configuration."""
    from .models import NetC, NetD, NetG

    netG = NetG(cfg.ngf, cfg.z_dim, cfg.cond_dim, cfg.imsize, cfg.ch_size)
    netD = NetD(cfg.ndf, cfg.imsize, cfg.ch_size)
    netC = NetC(cfg.ndf, cfg.cond_dim)
    return netG, netD, netC
