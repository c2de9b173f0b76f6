"""Which speed options the training step may use, and which of them keep the reference maths.

- ``batched_affine``: NetG's Affine MLPs all read the same condition, so they run as a few batched matrix
  products instead of 2 x 4 x len(GBlocks) small ones (exact: the same products, summed in another order).
- ``channels_last``: NHWC memory format for the convolutions (exact up to summation order).
- ``fused_adam``: fused (CUDA) or foreach (CPU) Adam kernels (exact up to summation order).
- ``cudnn_benchmark``: cuDNN times its convolution algorithms for the fixed shapes (exact up to order).
- ``compile``: ``torch.compile`` of the passes over *fake* images (exact up to order; the real-image pass
  stays eager, since MA-GP differentiates it twice).
- ``cuda_graphs``: the whole step captured as one CUDA graph and replayed (exact; CUDA only, not with DDP).
- ``bf16`` (``autocast="bf16"``): network forwards in bfloat16 under autocast, losses and MA-GP in fp32.
  **Approximate**: it changes precision, so it is never on unless asked for (``fast=on,bf16``).

``FastOptions()`` is the reference step; ``fast=on`` switches on the exact options that suit the device.
The measured effect of each option is printed by ``python bench/train_step.py --ablate``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import torch

__all__ = ["FastOptions", "OPTION_NAMES", "EXACT_OPTIONS", "APPROXIMATE_OPTIONS", "resolve_fast", "cpu_has_native_bf16"]

OPTION_NAMES = ("batched_affine", "channels_last", "bf16", "fused_adam", "cudnn_benchmark", "compile", "cuda_graphs")
APPROXIMATE_OPTIONS = ("bf16",)
EXACT_OPTIONS = tuple(n for n in OPTION_NAMES if n not in APPROXIMATE_OPTIONS)


@dataclass
class FastOptions:
    """Speed options of the training step; all off = the reference (official) fp32 step."""

    batched_affine: bool = False
    channels_last: bool = False
    autocast: str = "off"  # "off" | "bf16"
    fused_adam: bool = False
    cudnn_benchmark: bool = False
    compile: bool = False
    cuda_graphs: bool = False

    def __post_init__(self) -> None:
        if self.autocast not in ("off", "bf16"):
            raise ValueError(f"autocast={self.autocast!r}: use 'off' or 'bf16' (fp16 would need a gradient scaler)")

    @classmethod
    def for_device(cls, device: str | torch.device) -> "FastOptions":
        """What ``fast=on`` means: the exact options that help on this kind of device.

        GPUs: batched Affines, channels_last, fused Adam and cuDNN autotuning (the step is launch-bound
        there). CPUs: batched Affines, channels_last and foreach Adam (measured against the reference by
        ``bench/cpu_speed.py``, ``results/cpu_speed.json``). ``compile`` and ``cuda_graphs`` cost a warm-up and
        stay opt-in; bf16 is approximate and always opt-in.
        """
        cuda = torch.device(device).type == "cuda"
        return cls(batched_affine=True, channels_last=True, fused_adam=True, cudnn_benchmark=cuda)

    @property
    def exact(self) -> bool:
        """True when every option that is on keeps the reference maths up to summation order."""
        return self.autocast == "off"

    def enabled(self) -> list[str]:
        """The names (from :data:`OPTION_NAMES`) of the options that are on."""
        on = [f.name for f in fields(self) if f.name != "autocast" and getattr(self, f.name)]
        return on + ([self.autocast] if self.autocast != "off" else [])

    def describe(self) -> str:
        """One line for logs and ``--print-config``: each option that is on, marked exact or approximate."""
        names = self.enabled()
        if not names:
            return "reference fp32 step (no speed options)"
        return ", ".join(f"{n} ({'approximate' if n in APPROXIMATE_OPTIONS else 'exact'})" for n in names)

    def to_dict(self) -> dict:
        return asdict(self)

    def prepare_images(self, images: torch.Tensor) -> torch.Tensor:
        """The image batch in the memory format the networks expect (NHWC under ``channels_last``)."""
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images


def resolve_fast(mode: str | bool, device: str | torch.device) -> FastOptions:
    """``TrainConfig.fast`` to options: ``off`` (reference), ``on`` or ``auto`` (:meth:`FastOptions.for_device`:
    fixed options, the same on every run), or a comma list of :data:`OPTION_NAMES` that may start
    from ``on``: e.g. ``batched_affine,channels_last`` or ``on,bf16``."""
    if isinstance(mode, bool):  # YAML reads `--set fast=on` as True
        mode = "on" if mode else "off"
    mode = str(mode).strip().lower()
    if mode == "off":
        return FastOptions()
    if mode == "auto":
        mode = "on"
    opts, defaults = FastOptions(), FastOptions.for_device(device)
    for name in filter(None, (n.strip() for n in mode.split(","))):
        if name == "on":  # switch on what the device defaults switch on, keep what the list set before
            for f in fields(FastOptions):
                if getattr(defaults, f.name) != f.default:
                    setattr(opts, f.name, getattr(defaults, f.name))
        elif name == "bf16":
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
