"""What the toys of notebooks 01-04 share: one-thread execution, argument checks and the small MLP.

The toys' networks are tiny, so torch runs them several times faster on one intra-op thread
(:func:`one_thread`, :func:`single_threaded`); every toy builds its networks from :func:`mlp`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

__all__ = ["PENALTIES", "one_thread", "single_threaded", "check_choice", "mlp"]

# Penalties on real data of the unconditional toys: R1 (Mescheder et al., ICML 2018) and the zero-centred
# k * |grad D|^p that DF-GAN's MA-GP applies (paper Sec. 3.3.1, Eq. 2), here on the image only.
PENALTIES = ("none", "r1", "zero_gp")

F = TypeVar("F", bound=Callable)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the previous count. The toys' tiny
    MLPs are several times faster on one thread, especially on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(fn: F) -> F:
    """Decorator: call ``fn`` inside :func:`one_thread` (keeps its name, signature and docstring)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    """``ValueError`` naming the valid options unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: choose one of {sorted(choices)}")


def mlp(in_dim: int, out_dim: int, hidden: int = 64, depth: int = 2) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with LeakyReLU(0.2), then a linear output."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)
