"""dflib: DF-GAN (Tao et al., CVPR 2022; arXiv 2008.05865v4) re-implemented for learning and research.

The package is layered. The table below is the one statement of its layers: ``tests/test_layers.py``
reads it (from this file's source) and checks every import of every module against it, function-local
imports included. A module imports only from the lines above its own, or from inside its own package
(``data/``, ``text/``, ...); a name ending in ``/`` is a package, ``__init__`` is this file.

    figures, runtime, weights, interrupts   caption-row figures; seeds, devices, DFGAN_QUICK; strict weights; signals
    models, losses, noise                   the networks, the losses, noise (no dflib imports)
    config                                  ModelConfig, TrainConfig, presets, overrides (plain data)
    __init__, settings                      this file: the small public API; checks of typed-in values
    data/                                   datasets and their resumable order
    text/                                   text encoders
    step, distributed                       the reference training step and its optimisers; torchrun set-up
    fast/, checkpoint                       speed wrappers around the step; checkpoint files
    run_folder, pretrained                  one run per folder; shipped models by name
    sample                                  images from captions, a model by name or from a run
    metrics/                                FID, attributes, diversity, a run's evaluation, emoji measures
    train                                   the Trainer: build, loop, log, save, resume
    ablation                                every ablation variant trained through the Trainer, compared
    cli/                                    python -m dflib train | sample
    __main__                                python -m dflib (and the siblings' commands, by module name)

Three packages beside dflib build on it, and dflib never imports them (``tests/test_layers.py`` checks
both): ``dfdamsm``, the DAMSM text and image encoders' pretraining (AttnGAN's, Xu et al. 2018; DF-GAN
uses the text encoder pretrained, paper Sec. 4); ``dfeval``, the paper's FID and R-precision protocols
for CUB and COCO with the official Inception; ``dfexport``, a model as ONNX + JSON for the site's web page.
``python -m dflib`` runs their commands too (``evaluate``, ``pretrain``, ``export``).

The names below are the small public API the notebooks use; everything else is imported from its module.
"""

from .config import ModelConfig, TrainConfig, build_models, get_preset
from .losses import hinge_d_loss, hinge_g_loss, ma_gp, r1_penalty, roll_mismatch
from .models import NetC, NetD, NetG, count_parameters
from .runtime import is_fast, is_quick, pick, seed_everything, setup_notebook  # is_fast: the old name of is_quick

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
    "is_quick",
    "pick",
    "seed_everything",
    "setup_notebook",
    "__version__",
]
