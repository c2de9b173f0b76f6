"""dflib: DF-GAN (Tao et al., CVPR 2022) re-implemented from its specification, for learning and research."""

from .config import ModelConfig, build_models
from .losses import hinge_d_loss, hinge_g_loss, ma_gp, r1_penalty, roll_mismatch
from .models import NetC, NetD, NetG, count_parameters
from .runtime import is_fast, pick, seed_everything, setup_notebook

__version__ = "0.1.0"

__all__ = [
    "ModelConfig",
    "build_models",
    "NetG",
    "NetD",
    "NetC",
    "count_parameters",
    "hinge_d_loss",
    "hinge_g_loss",
    "ma_gp",
    "r1_penalty",
    "roll_mismatch",
    "is_fast",
    "pick",
    "seed_everything",
    "setup_notebook",
    "__version__",
]
