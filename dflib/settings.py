"""One check for every value a person types, shared by the commands and the Python API.

A value that mirrors a training setting (``--device``, ``--threads``, ``--seed``, ``--batch-size``, ...) is
checked by :func:`check_setting`, which runs the training configuration's own check
(:func:`dflib.config.validate_config`), so ``--threads -3`` and ``--set threads=-3`` get the same answer.
Values only one command has (``sample --n``, ``--bound``, an output folder) have the small checks below.
Every refusal is a :class:`SettingError` (a ``ValueError``) with one line naming the setting, the value and
what is allowed; mistyped names get the closest known one (:func:`suggest`).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import math
import re
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

import torch

from .config import TrainConfig, apply_overrides, validate_config
from .runtime import default_device

__all__ = [
    "SettingError",
    "suggest",
    "check_setting",
    "check_device",
    "check_threads",
    "check_seed",
    "check_int",
    "check_number",
    "check_choice",
    "check_output_folder",
    "OneLineParser",
]


class SettingError(ValueError):
    """A value that cannot work; the message is one line: the setting, the value, what is allowed."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to ``word``, or ``''`` if none is close."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_setting(key: str, value: Any, flag: str | None = None) -> Any:
    """``value`` as the training setting ``key`` takes it (type and range as ``--set key=value``); the
    refusal names ``flag`` (e.g. ``--threads``) if given. Returns the value in its setting's type."""
    try:
        cfg = validate_config(apply_overrides(TrainConfig(), {key: value}))
    except ValueError as exc:
        text = str(exc)
        if flag:
            text = re.sub(r", e\.g\. --set \S+$", "", text).replace(f"{key}=", f"{flag} ", 1)
        raise SettingError(text) from None
    return functools.reduce(getattr, key.split("."), cfg)


def check_device(spec: str | None, flag: str = "--device") -> torch.device:
    """The device ``spec`` names (``None``: CUDA if there is a GPU, else the CPU), refused in one line when
    it is not a device or this machine does not have it (``cuda`` without a GPU, ``cuda:3`` with two)."""
    if spec is None or spec == "":
        return default_device(None)
    return torch.device(check_setting("device", str(spec), flag))


def check_threads(n: int | None, flag: str = "--threads") -> int | None:
    """CPU threads: a whole number >= 0 (0 or ``None``: let the command decide)."""
    return None if n is None else check_setting("threads", n, flag)


def check_seed(seed: int | None, flag: str = "--seed") -> int | None:
    """A random seed: a whole number from 0 to 2**32 - 1 (``None``: fresh randomness)."""
    return None if seed is None else check_setting("seed", seed, flag)


def check_int(flag: str, value: Any, low: int, high: int | None = None, why: str = "") -> int:
    """A whole number ``low <= value <= high`` (``high`` None: no upper end); ``why`` says what the end guards."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not whole or value < low or (high is not None and value > high):
        allowed = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"
        raise SettingError(f"{flag} {value!r} is not allowed: {flag} must be {allowed}{why}")
    return int(value)


def check_number(flag: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """A finite number ``low <(=) value <= high`` (``low_open``: ``low`` itself is not allowed)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        ends = [f"> {low:g}" if low_open else f">= {low:g}"] if low is not None else []
        ends += [f"<= {high:g}"] if high is not None else []
        raise SettingError(f"{flag} {value!r} is not allowed: {flag} must be a finite number"
                           + (f" {' and '.join(ends)}" if ends else ""))
    return float(value)


def check_choice(flag: str, value: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else one line with the closest choice and all of them."""
    choices = list(choices)
    if value not in choices:
        raise SettingError(f"{flag} {value!r} is not allowed{suggest(value, choices)}: choose one of {', '.join(choices)}")
    return value


def check_output_folder(path: str | Path, flag: str = "--out") -> Path:
    """Create ``path`` (and its parents) if needed and make sure files can be written in it, before any
    work starts: a path that is a file, a folder that cannot be created, or one that refuses writing is
    one line, not a traceback after the work is done."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise SettingError(f"{flag} {folder} is a file, not a folder: give a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".dflib-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SettingError(f"{flag} {folder} cannot be written to ({exc.strerror or exc}): choose a folder you "
                           "can write to") from None
    return folder


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` whose usage errors are one line (what is wrong and where to read more), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
