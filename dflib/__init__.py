"""dflib: DF-GAN (Tao et al., CVPR 2022) re-implemented from its specification, for learning and research."""

import os as _os

# OpenMP worker threads that spin while waiting slow a busy CPU down 10-50x (measured on 2 cores with two
# processes): let them sleep unless the user chose otherwise. Read when torch initialises OpenMP.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .config import ModelConfig, build_models  # noqa: E402
from .losses import hinge_d_loss, hinge_g_loss, ma_gp, r1_penalty, roll_mismatch  # noqa: E402
from .models import NetC, NetD, NetG, count_parameters  # noqa: E402
from .runtime import is_fast, pick, seed_everything, setup_notebook  # noqa: E402

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
