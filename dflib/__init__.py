"""dflib: DF-GAN (Tao et al., CVPR 2022; arXiv 2008.05865v4) re-implemented for learning and research.

The package is layered; every module imports only from the layers above it in this list
(``tests/test_layers.py`` checks it, function-local imports included):

    figures, runtime, weights        figure audit; seeds and devices; strict weights     (runtime: figures only)
    models, losses, noise            the networks, the losses, noise                     (no dflib imports)
    config                           ModelConfig, TrainConfig, presets (plain data)
    data/, text/                     datasets and their order; text encoders
    step, distributed                one training iteration; several GPUs
    fast/, checkpoint                speed wrappers around the step; checkpoint files
    train, sample, metrics/          the Trainer; sampling; FID, attributes, diversity
    export                           a shipped generator as ONNX + JSON for a web page
    cli/                             python -m dflib train | sample | evaluate | pretrain | export
    teach/                           helpers of the notebooks only (never imported by the core)

The names below are the small public API the notebooks use; everything else is imported from its module.
"""

from .config import ModelConfig, TrainConfig, build_models, get_preset
from .losses import hinge_d_loss, hinge_g_loss, ma_gp, r1_penalty, roll_mismatch
from .models import NetC, NetD, NetG, count_parameters
from .runtime import is_fast, pick, seed_everything, setup_notebook

__version__ = "0.1.0"

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "build_models",
    "get_preset",
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
