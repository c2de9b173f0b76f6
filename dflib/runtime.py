"""Run-time switches shared by the notebooks, the CLIs and the tests (no global state is kept).

``DFGAN_FAST=1`` shrinks every run for CI: notebooks call ``pick(full=..., fast=...)``.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["is_fast", "pick", "seed_everything", "default_device", "setup_notebook"]


def is_fast() -> bool:
    """True when the environment variable ``DFGAN_FAST`` is ``1`` (CI / smoke runs)."""
    return os.environ.get("DFGAN_FAST", "0").strip() == "1"


def pick(full, fast):
    """``fast`` under ``DFGAN_FAST=1``, else ``full``: ``steps = pick(full=2000, fast=5)``."""
    return fast if is_fast() else full


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a torch CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given, else CUDA when available, else the CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup_notebook(seed: int = 0, threads: int | None = None) -> torch.Generator:
    """One call at the top of every notebook: seeds, thread count, quiet warnings, figure defaults."""
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    if threads is None:
        threads = min(2, os.cpu_count() or 1) if is_fast() else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, threads))
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (6, 4)})
    except ImportError:  # pragma: no cover - matplotlib is a hard dependency
        pass
    return seed_everything(seed)
