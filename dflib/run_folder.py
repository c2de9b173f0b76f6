"""A run folder belongs to one run: a new run never writes into another run's folder, and a resumed run
continues only from its folder's newest checkpoint. ``run.json`` names the run that owns the folder."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from .checkpoint import list_checkpoints

__all__ = ["RunFolderError", "new_run_folder", "check_run_folder", "claim_run_folder"]


class RunFolderError(RuntimeError):
    """The folder holds another run (or resuming from it would mix two runs)."""


def new_run_folder(parent: Path, preset: str) -> Path:
    """Create and return ``parent/<preset>-<date>-<time>`` (``-2``, ``-3``, ... if taken, even by a run that
    started in the same second: ``mkdir`` is atomic)."""
    parent.mkdir(parents=True, exist_ok=True)
    stem = f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in range(1, 10_000):
        path = parent / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunFolderError(f"could not create a new run folder under {parent}")  # pragma: no cover


def check_run_folder(folder: Path, resuming: bool) -> None:
    """Refuse to start a *new* run in a folder that already holds a run's checkpoints or ``run.json``."""
    if resuming or not folder.is_dir():
        return
    found = list_checkpoints(folder)
    if found or (folder / "run.json").is_file():
        what = f"{len(found)} checkpoint(s) of another run" if found else "another run (run.json)"
        raise RunFolderError(
            f"{folder} already holds {what}: a new run would delete or mix them. Continue that run with "
            f"--resume {folder}, or choose another --out"
        )


def claim_run_folder(folder: Path, config: dict[str, Any], resumed_from: str | None) -> dict[str, Any]:
    """Write ``run.json`` (kept across resumes: the same run id, a list of sessions) and ``config.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.json"
    info: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"run_id": uuid.uuid4().hex, "sessions": []}
    info["sessions"].append({"started": time.strftime("%Y-%m-%d %H:%M:%S"), "pid": os.getpid(), "resumed_from": resumed_from})
    path.write_text(json.dumps(info, indent=2))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return info
