"""Run-time switches shared by the notebooks, the CLIs and the tests (no global state but a one-time note).

``DFGAN_QUICK=1`` shrinks every notebook run for CI: notebooks call ``pick(full=..., quick=...)``.
(The speed options of training, ``TrainConfig.fast`` and :mod:`dflib.fast`, are another matter.)
"""

from __future__ import annotations

import functools
import importlib.util
import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "is_quick", "pick", "seed_everything", "default_device", "setup_notebook", "diagnose_environment",
    "check_environment", "physical_cores", "free_cores", "cpu_model",
]

QUICK_ENV = "DFGAN_QUICK"
OLD_QUICK_ENV = "DFGAN_FAST"  # the switch's name until issue #23; still read, with a deprecation note


def is_quick() -> bool:
    """True when the environment variable ``DFGAN_QUICK`` is ``1`` (CI / smoke runs).

    ``DFGAN_FAST``, the old name, counts when ``DFGAN_QUICK`` is not set: it then raises a
    :class:`DeprecationWarning` and prints one line on stderr (once per process) saying what to set instead.
    """
    value = os.environ.get(QUICK_ENV)
    if value is None and OLD_QUICK_ENV in os.environ:
        value = os.environ[OLD_QUICK_ENV].strip()
        note = f"dflib: {OLD_QUICK_ENV} is deprecated, set {QUICK_ENV}={value} instead"
        warnings.warn(note, DeprecationWarning, stacklevel=2)
        _note_once(note)
    return (value or "0").strip() == "1"


@functools.cache
def _note_once(note: str) -> None:
    print(note, file=sys.stderr)


def is_fast() -> bool:
    """The old name of :func:`is_quick`, kept for notebooks written before the rename."""
    return is_quick()


_UNSET = object()


def pick(full, quick=_UNSET, *, fast=_UNSET):
    """``quick`` under ``DFGAN_QUICK=1``, else ``full``: ``steps = pick(full=2000, quick=5)``.

    ``fast=`` is the keyword's old name, kept for notebooks written before the rename."""
    if fast is not _UNSET:
        if quick is not _UNSET:
            raise TypeError("pick() takes quick= or its old name fast=, not both")
        quick = fast
    if quick is _UNSET:
        raise TypeError("pick() needs the quick-mode value: pick(full=..., quick=...)")
    return quick if is_quick() else full


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
    """One call at the top of every notebook: seeds, thread count, quiet warnings, figure defaults (patches nothing)."""
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    if threads is None:
        # quick mode runs in CI beside another notebook (pytest -n 2): one thread each avoids oversubscription
        threads = 1 if is_quick() else int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or free_cores()
    torch.set_num_threads(max(1, threads))
    import matplotlib

    # 100 dpi and 10-pt text: the smallest panel labels stay readable at the site's page width
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (6, 4), "font.size": 10})
    return seed_everything(seed)


def diagnose_environment(
    cwd: str | Path | None = None, prefix: str | Path | None = None, python: tuple[int, int] | None = None
) -> tuple[list[str], list[str]]:
    """Start-up checks a learner needs, as ``(ok, problems)``; every problem says what to run.

    Looks at the kernel's Python, the folder the notebook runs in (it must be ``notebooks/``), and the
    ipywidgets front end in this environment. ``cwd``, ``prefix`` (``sys.prefix``) and ``python`` can be
    given to test the checks. Introduced in ``notebooks/00_setup_and_tour.ipynb``.
    """
    cwd = Path(cwd or Path.cwd()).resolve()
    prefix = Path(prefix or sys.prefix)
    python = python or sys.version_info[:2]
    ok, problems = [], []
    if (3, 11) <= tuple(python) <= (3, 13):
        ok.append(f"kernel: Python {python[0]}.{python[1]} ({sys.executable})")
    else:
        problems.append(
            f"the kernel runs Python {python[0]}.{python[1]} but the project needs 3.11, 3.12 or 3.13: from the "
            "project root run `make lab` (it creates .venv with one of them and starts JupyterLab with it), or "
            "choose such a kernel"
        )
    package_root = Path(__file__).resolve().parents[1]
    if cwd.name == "notebooks" and ((cwd.parent / "dflib").is_dir() or not (package_root / "notebooks").is_dir()):
        ok.append(f"working folder: {cwd}")
    else:
        where = package_root / "notebooks" if (package_root / "notebooks").is_dir() else "the project's notebooks/ folder"
        problems.append(
            f"this notebook runs in {cwd}, not in {where}: relative paths (data, runs, figures) would go astray. "
            "Open the notebook from the notebooks/ folder: from the project root run `make lab`"
        )
    manager = prefix / "share" / "jupyter" / "labextensions" / "@jupyter-widgets" / "jupyterlab-manager"
    has_widgets = importlib.util.find_spec("ipywidgets") is not None
    if has_widgets and manager.is_dir():
        ok.append("ipywidgets with its JupyterLab extension")
    else:
        missing = "ipywidgets" if not has_widgets else f"the ipywidgets JupyterLab extension ({manager})"
        problems.append(
            f"{missing} is missing from this environment, so sliders would show as plain text or "
            "'Error displaying widget': run `make lab` from the project root (or `.venv/bin/pip install -r "
            "requirements.txt`), then reload the browser page"
        )
    return ok, problems


def check_environment() -> str:
    """Human-readable report of :func:`diagnose_environment` (``OK`` lines, then ``PROBLEM`` lines)."""
    ok, problems = diagnose_environment()
    lines = [f"OK       {m}" for m in ok] + [f"PROBLEM  {m}" for m in problems]
    if not problems:
        lines.append("All start-up checks passed.")
    return "\n".join(lines)


def physical_cores() -> int:
    """Physical CPU cores this process may use: distinct (package, core) pairs of ``/proc/cpuinfo`` among
    the logical CPUs in its affinity mask (hyper-threads share a core); ``os.cpu_count()`` elsewhere."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return max(1, len(allowed))
    cores, cpu, pkg = set(), None, "0"
    for line in text.splitlines() + [""]:
        key, _, value = (s.strip() for s in line.partition(":"))
        if key == "processor":
            cpu = int(value)
        elif key == "physical id":
            pkg = value
        elif key == "core id" and cpu in allowed:
            cores.add((pkg, value))
    return max(1, len(cores) or len(allowed))


def free_cores(load: float | None = None, cores: int | None = None) -> int:
    """Physical cores not busy with other work: ``cores`` minus the 1-minute load average (what the
    kernel measured as running or waiting), rounded, at least 1. ``load``/``cores`` may be given (tests)."""
    cores = physical_cores() if cores is None else int(cores)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, int(round(cores - load))))


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for naming the machine a figure came from."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"
