"""Ctrl-C and SIGTERM during training: finish the step, save, stop with one line (nothing is lost).

A signal in the middle of a step would leave D updated and G not; so the first SIGINT or SIGTERM only
raises a flag, and the training loop stops at the next step boundary (:class:`TrainingInterrupted`). A
second Ctrl-C stops at once (``KeyboardInterrupt``) without saving the half-finished step.
:func:`exit_on_interrupt` turns any Ctrl-C a command did not handle (during start-up, or the second one) into
one line and exit status 130; :func:`dflib_command` writes the command to type next with this Python.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["StopFlag", "TrainingInterrupted", "interrupts_as_exceptions", "EXIT_CODES", "dflib_command",
           "resume_command", "exit_on_interrupt"]

# the shell's convention: 128 + signal number
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def dflib_command(*args: str | Path) -> str:
    """``<this python> -m dflib <args>``, quoted for a shell: the Python that runs now (``sys.executable``,
    e.g. ``.venv/bin/python``), so the printed command works outside an activated environment too."""
    return shlex.join([sys.executable or "python3", "-m", "dflib", *map(str, args)])


def resume_command(out_dir: str | Path) -> str:
    """The command that continues the run in ``out_dir`` (or starts it again if it saved no checkpoint)."""
    return dflib_command("train", "--resume", out_dir)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after saving; ``checkpoint`` is the newest saved file (or None)."""

    def __init__(self, signal_name: str, step: int, checkpoint: str | Path | None, out_dir: str | Path) -> None:
        self.signal_name, self.step, self.checkpoint, self.out_dir = signal_name, step, checkpoint, Path(out_dir)
        super().__init__(self.message())

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signal_name, 130)

    def message(self) -> str:
        head, command = f"stopped by {self.signal_name} after step {self.step}", resume_command(self.out_dir)
        if self.checkpoint:
            return f"{head}: saved {self.checkpoint}; continue with {command}"
        return f"{head}: no checkpoint was saved yet, so the run starts again from step 0 with {command}"


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


def exit_on_interrupt(command: str, run: Callable[[], int]) -> int:
    """``run()``, or one line and the shell's exit status when Ctrl-C (or SIGTERM) stops it: a
    :class:`TrainingInterrupted` with its own message, any other ``KeyboardInterrupt`` (start-up, a second
    Ctrl-C) with ``[dflib <command>] stopped by Ctrl-C`` and 130. Further Ctrl-C while the line is printed
    are ignored, so no traceback follows it."""
    try:
        return run()
    except KeyboardInterrupt as exc:
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            if isinstance(exc, TrainingInterrupted):
                print(f"[dflib {command}] {exc.message()}", file=sys.stderr)
                return exc.exit_code
            print(f"[dflib {command}] stopped by Ctrl-C", file=sys.stderr)
            return EXIT_CODES["SIGINT"]
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
