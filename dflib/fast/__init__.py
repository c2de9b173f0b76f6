"""Speed options for the training step that wrap the reference step and never reach into it.

The networks (``dflib.models``) do not know this package exists: each option is a wrapper module that
computes the same function with the same parameters, or a property of the step function.

- ``options``: :class:`FastOptions`, :func:`resolve_fast`, which options are exact and which approximate
- ``modules``: batched Affines, bf16 autocast, compiled fake-image passes (wrappers)
- ``graphs``: :class:`GraphedStep`, the whole step as one CUDA graph
- ``step``: :func:`build_training`, the one builder of networks, optimisers and step
"""

from .graphs import GraphedStep
from .modules import Autocast, BatchedAffineG, FakePathCompiled, affine_layers, batched_affine_params, prepare_networks, wrap_networks
from .options import APPROXIMATE_OPTIONS, EXACT_OPTIONS, OPTION_NAMES, FastOptions, cpu_has_native_bf16, resolve_fast
from .step import Built, StepFn, build_fast_step, build_step, build_training

__all__ = [
    "FastOptions",
    "OPTION_NAMES",
    "EXACT_OPTIONS",
    "APPROXIMATE_OPTIONS",
    "resolve_fast",
    "cpu_has_native_bf16",
    "affine_layers",
    "batched_affine_params",
    "BatchedAffineG",
    "Autocast",
    "FakePathCompiled",
    "prepare_networks",
    "wrap_networks",
    "GraphedStep",
    "StepFn",
    "build_step",
    "build_fast_step",
    "build_training",
    "Built",
]
