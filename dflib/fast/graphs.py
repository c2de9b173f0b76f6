"""Replaying a whole training step as one CUDA graph (``fast=...,cuda_graphs``).

Small images make the step launch-bound on a GPU: hundreds of tiny kernels per step. Capturing the step
once and replaying it removes the launch cost; the arithmetic is the same (an exact option).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

__all__ = ["GraphedStep"]


class GraphedStep:
    """Run a training step ``fn(*tensors) -> {name: 0-d tensor}`` as one replayed CUDA graph.

    Every call is one real step on the tensors it is given. The first ``warmup`` calls run eagerly (on a
    side stream on CUDA, as capture requires); the next call captures ``fn`` over static copies of its
    inputs and replays it; later calls copy their inputs into those buffers and replay. Outputs are cloned,
    so they stay valid after the next replay. Calls whose shapes differ from the captured ones run eagerly.
    The optimisers inside ``fn`` must be ``capturable`` and autocast must run with ``cache=False``.

    ``capture=False`` (the default off CUDA) keeps every call eager but on the same static buffers, so the
    bookkeeping can be tested on a CPU.
    """

    def __init__(self, fn: Callable[..., Mapping[str, Tensor]], warmup: int = 3, capture: bool | None = None) -> None:
        if warmup < 1:
            raise ValueError(f"warmup={warmup}: CUDA-graph capture needs at least one eager step first")
        self.fn, self.warmup, self.capture = fn, warmup, capture
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: list[Tensor] | None = None
        self.static_out: Mapping[str, Tensor] | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, *inputs: Tensor) -> dict[str, Tensor]:
        if self.static_in is None:
            self.static_in = [t.detach().clone() for t in inputs]  # keeps channels_last
            if self.capture is None:
                self.capture = inputs[0].is_cuda
        if len(inputs) != len(self.static_in) or any(
            t.shape != s.shape or t.dtype != s.dtype or t.device != s.device for t, s in zip(inputs, self.static_in)
        ):
            return dict(self.fn(*inputs))
        with torch.no_grad():
            for s, t in zip(self.static_in, inputs):
                s.copy_(t)
        self.calls += 1
        if not self.capture:
            return {k: v.clone() for k, v in self.fn(*self.static_in).items()}
        if self.graph is None and self.calls <= self.warmup:  # eager, on a side stream as capture requires
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = {k: v.clone() for k, v in self.fn(*self.static_in).items()}
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_out = self.fn(*self.static_in)
        self.graph.replay()
        assert self.static_out is not None
        return {k: v.clone() for k, v in self.static_out.items()}
