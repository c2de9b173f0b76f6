"""Fast training-step options that keep DF-GAN's maths (the performance issue; reference = plain fp32).

- ``batched_affine``: NetG's Affine MLPs all read the same condition ``y``, so every ``linear1`` runs as one
  matrix product and the ``linear2`` layers as one batched product per channel width (1 + 4 products at 256 px
  instead of 96 small ones). Parameters, state dicts and checkpoints are unchanged.
- ``channels_last``: NHWC memory format for the convolutions.
- ``autocast``: bf16 autocast on CUDA (or CPU) for the network forwards; the MA-GP norm, its power and the
  losses stay in fp32.
- ``fused_adam``: fused (CUDA) or foreach (CPU) Adam kernels.
- ``cudnn_benchmark``: let cuDNN time its convolution algorithms for the (fixed) training shapes.
- ``compile``: ``torch.compile`` NetG and NetD for the passes over *fake* images. The real-image pass stays
  eager, because MA-GP differentiates it twice and compiled graphs do not support double backward.
- ``cuda_graphs``: capture the whole step (D step with MA-GP, G step, both Adam updates) as one CUDA graph
  after a few eager steps and replay it (:class:`GraphedStep`); for launch-bound small images. CUDA only,
  not with DDP.

Every option is off in ``FastOptions()``; ``FastOptions.for_device`` gives the defaults. The measured effect
of each option is printed by ``python bench/train_step.py --ablate`` (see the README).
"""

from __future__ import annotations

import contextlib
import functools
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

__all__ = [
    "FastOptions",
    "OPTION_NAMES",
    "resolve_fast",
    "cpu_has_native_bf16",
    "affine_layers",
    "batched_affine_params",
    "apply_fast_options",
    "autocast_context",
    "compile_fake_path",
    "GraphedStep",
    "build_fast_step",
]


@dataclass
class FastOptions:
    """Speed options of the training step; all off = the reference (official) fp32 step."""

    batched_affine: bool = False
    channels_last: bool = False
    autocast: str = "off"  # "off" | "bf16" | "fp16"
    fused_adam: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False
    cuda_graphs: bool = False

    @classmethod
    def for_device(cls, device: str | torch.device) -> "FastOptions":
        """Defaults per device: everything on a GPU; on a CPU channels_last, plus bf16 autocast only where
        the CPU has native bf16 instructions (AVX512-BF16 / AMX), since emulated bf16 is slower than fp32.

        Measured on a 2-core AMD EPYC with AVX512-BF16 (1 thread, shapes-32-cpu networks, batch 32,
        ``bench/train_step.py --ablate``): reference 360 ms/step, channels_last 310, bf16 245, both 195 (1.85x);
        batched Affines and foreach Adam change nothing there (convolutions dominate) and are kept for GPUs,
        where the step is launch-bound.
        ``compile`` and ``cuda_graphs`` are opt-in (``fast=on,compile,cuda_graphs``): compiling costs a
        minute or more up front, and neither has been timed on a GPU yet.
        """
        if torch.device(device).type == "cuda":
            return cls(batched_affine=True, channels_last=True, autocast="bf16", fused_adam=True, cudnn_benchmark=True)
        return cls(channels_last=True, autocast="bf16" if cpu_has_native_bf16() else "off")

    def to_dict(self) -> dict:
        return asdict(self)

    def prepare_images(self, images: Tensor) -> Tensor:
        """The image batch in the memory format the networks expect (NHWC under ``channels_last``)."""
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images


OPTION_NAMES = ("batched_affine", "channels_last", "bf16", "fp16", "fused_adam", "cudnn_benchmark", "compile", "cuda_graphs")


def resolve_fast(mode: str | bool, device: str | torch.device) -> FastOptions:
    """``TrainConfig.fast`` to options: ``off`` (reference), ``on`` (``for_device``), ``auto`` (``on`` on a
    GPU, ``off`` on a CPU), or a comma list of :data:`OPTION_NAMES`, which may start from ``on``:
    e.g. ``batched_affine,channels_last,bf16`` or ``on,cuda_graphs``."""
    if isinstance(mode, bool):  # YAML reads `--set fast=on` as True
        mode = "on" if mode else "off"
    mode = str(mode).strip().lower()
    if mode == "off":
        return FastOptions()
    if mode == "auto":
        return FastOptions.for_device(device) if torch.device(device).type == "cuda" else FastOptions()
    opts, defaults = FastOptions(), FastOptions.for_device(device)
    for name in filter(None, (n.strip() for n in mode.split(","))):
        if name == "on":  # switch on what the device defaults switch on, keep what the list set before
            for f in fields(FastOptions):
                if getattr(defaults, f.name) != f.default:
                    setattr(opts, f.name, getattr(defaults, f.name))
        elif name in ("bf16", "fp16"):
            opts.autocast = name
        elif name in OPTION_NAMES:
            setattr(opts, name, True)
        else:
            raise ValueError(
                f"fast={mode!r}: unknown option {name!r}; use off, on, auto or a comma list of "
                f"{', '.join(OPTION_NAMES)} (optionally starting with on)"
            )
    if opts.cuda_graphs and torch.device(device).type != "cuda":
        raise ValueError(
            f"fast={mode!r}: cuda_graphs needs a CUDA device, but training runs on {torch.device(device).type!r}; "
            "drop cuda_graphs from the list"
        )
    return opts


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX-BF16 (Linux ``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def affine_layers(netG: nn.Module) -> list[nn.Module]:
    """NetG's Affine layers in forward order: per block fuse1.affine0, fuse1.affine1, fuse2.affine0, fuse2.affine1."""
    out = []
    for block in netG.GBlocks:
        out += [block.fuse1.affine0, block.fuse1.affine1, block.fuse2.affine0, block.fuse2.affine1]
    return out


def batched_affine_params(netG: nn.Module, y: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``(gamma, beta)`` of every Affine of ``netG`` for condition ``y``, in :func:`affine_layers` order.

    ``gamma = linear2(relu(linear1(y)))`` (and the same for beta) for all 2 x len(affines) MLPs at once:
    the ``linear1`` weights are concatenated into one ``(sum C, cond)`` matrix (one ``addmm``), and the
    ``linear2`` layers of equal width C are stacked and applied with one ``baddbmm`` per width.
    """
    mlps = [m for a in affine_layers(netG) for m in (a.fc_gamma, a.fc_beta)]
    w1 = torch.cat([m.linear1.weight for m in mlps], dim=0)
    b1 = torch.cat([m.linear1.bias for m in mlps], dim=0)
    hidden = torch.relu(torch.addmm(b1, y, w1.t()))  # (B, sum C)
    widths = [m.linear1.out_features for m in mlps]
    chunks = torch.split(hidden, widths, dim=1)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(widths):
        groups[c].append(i)
    outs: list[Tensor | None] = [None] * len(mlps)
    for c, idx in groups.items():
        h = torch.stack([chunks[i] for i in idx])  # (G, B, C)
        w2 = torch.stack([mlps[i].linear2.weight for i in idx])  # (G, C, C)
        b2 = torch.stack([mlps[i].linear2.bias for i in idx])  # (G, C)
        res = torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2))  # (G, B, C)
        for j, i in enumerate(idx):
            outs[i] = res[j]
    return [(outs[2 * k], outs[2 * k + 1]) for k in range(len(mlps) // 2)]


def apply_fast_options(opts: FastOptions, *nets: nn.Module) -> None:
    """Switch the module-level options on the networks in place (batched Affines, channels_last).

    ``cudnn_benchmark`` sets the process-wide ``torch.backends.cudnn.benchmark`` flag (on only; never reset).
    """
    if opts.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    for net in nets:
        inner = getattr(net, "module", net)
        if hasattr(inner, "batched_affine"):
            inner.batched_affine = opts.batched_affine
        if opts.channels_last:
            inner.to(memory_format=torch.channels_last)


def autocast_context(mode: str, device: str | torch.device, cache: bool = True):
    """``torch.autocast`` for ``mode`` ("bf16" / "fp16"), or a no-op context for "off".

    ``cache=False`` disables autocast's weight-cast cache, which CUDA-graph capture requires.
    """
    if mode == "off":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype, cache_enabled=cache)


def compile_fake_path(netG: nn.Module, netD: nn.Module) -> tuple[nn.Module, nn.Module]:
    """``torch.compile`` wrappers of NetG and NetD that share their parameters, for the fake-image passes.

    The training step feeds real images through the eager NetD only: MA-GP needs the gradient of that pass
    with respect to its inputs *and* the gradient of that gradient, which compiled graphs cannot provide.
    The first calls compile (tens of seconds on a CPU); later calls reuse the compiled code.
    """
    return torch.compile(netG), torch.compile(netD)


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

    def _fits(self, inputs: tuple[Tensor, ...]) -> bool:
        assert self.static_in is not None
        return len(inputs) == len(self.static_in) and all(
            t.shape == s.shape and t.dtype == s.dtype and t.device == s.device for t, s in zip(inputs, self.static_in)
        )

    def __call__(self, *inputs: Tensor) -> dict[str, Tensor]:
        if self.static_in is None:
            self.static_in = [t.detach().clone() for t in inputs]  # keeps channels_last
            if self.capture is None:
                self.capture = inputs[0].is_cuda
        if not self._fits(inputs):
            return dict(self.fn(*inputs))
        with torch.no_grad():
            for s, t in zip(self.static_in, inputs):
                s.copy_(t)
        self.calls += 1
        if self.graph is None and (not self.capture or self.calls <= self.warmup):
            return self._eager()
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_out = self.fn(*self.static_in)
        self.graph.replay()
        assert self.static_out is not None
        return {k: v.clone() for k, v in self.static_out.items()}

    def _eager(self) -> dict[str, Tensor]:
        assert self.static_in is not None
        if not self.capture:
            return {k: v.clone() for k, v in self.fn(*self.static_in).items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = {k: v.clone() for k, v in self.fn(*self.static_in).items()}
        torch.cuda.current_stream().wait_stream(side)
        return out


def build_fast_step(model_cfg, fast: FastOptions, device: str | torch.device = "cpu", seed: int = 0, graph_warmup: int = 3):
    """Fresh networks for ``model_cfg`` (``seed``: the same initial weights for every ``fast``), their Adam
    optimisers and the step function ``step(images, sent, noise) -> losses`` with ``fast`` applied.

    For comparing options side by side (``bench/``, notebook 08); :class:`dflib.train.Trainer` does the same for a run.
    """
    from .config import build_models  # here, not at the top: dflib.train imports this module
    from .train import Nets, build_optimizers, build_step

    torch.manual_seed(seed)
    nets = Nets(*(n.to(device) for n in build_models(model_cfg)))
    apply_fast_options(fast, *nets)
    opts = build_optimizers(nets, fused=fast.fused_adam, capturable=fast.cuda_graphs)
    return nets, opts, build_step(nets, opts, fast, graph_warmup=graph_warmup)
