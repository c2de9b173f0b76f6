"""Ctrl-C and SIGTERM during training: finish the step, save, stop with one line (nothing is lost).

A signal in the middle of a step would leave D updated and G not; so the first SIGINT or SIGTERM only
raises a flag, and the training loop stops at the next step boundary (:class:`TrainingInterrupted`). A
second Ctrl-C stops at once (``KeyboardInterrupt``) without saving the half-finished step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["StopFlag", "TrainingInterrupted", "interrupts_as_exceptions", "EXIT_CODES"]

# the shell's convention: 128 + signal number
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after saving; ``checkpoint`` is the newest saved file (or None)."""

    def __init__(self, signal_name: str, step: int, checkpoint: str | Path | None, out_dir: str | Path) -> None:
        self.signal_name, self.step, self.checkpoint, self.out_dir = signal_name, step, checkpoint, Path(out_dir)
        super().__init__(self.message())

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signal_name, 130)

    def message(self) -> str:
        saved = f"saved {self.checkpoint}" if self.checkpoint else "nothing to save yet"
        return (f"stopped by {self.signal_name} after step {self.step}: {saved}; continue with "
                f"python -m dflib train --resume {self.out_dir}")


class StopFlag:
    """Which signal asked the loop to stop (None: none yet)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None


@contextlib.contextmanager
def interrupts_as_exceptions(flag: StopFlag) -> Iterator[StopFlag]:
    """While inside, SIGINT/SIGTERM set ``flag`` (a second SIGINT raises ``KeyboardInterrupt``). Only in
    the main thread (Python delivers signals there); elsewhere the handlers stay as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        if flag.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.signal_name = signal.Signals(signum).name

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)
