"""A run folder belongs to one run: a new run never writes into another run's folder, and a resumed run
continues only from its folder's newest checkpoint. ``run.json`` names the run that owns the folder.

A folder whose run stopped before its first checkpoint (only ``run.json``, ``config.json``, logs) is not
a dead end: a run may start in it again (:func:`check_run_folder`), and :func:`restart_config` gives the
settings ``--resume`` restarts it with. ``run.json`` also records a fingerprint of the data folder
(:func:`data_fingerprint`: the names and sizes of its image and caption files), so a run whose data
folder was moved can resume from the new place once :func:`check_moved_data` finds the same files there.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .checkpoint import latest_checkpoint, list_checkpoints
from .data.images import IMAGE_EXTENSIONS
from .interrupts import dflib_command, resume_command

__all__ = [
    "RunFolderError",
    "new_run_folder",
    "check_run_folder",
    "claim_run_folder",
    "restart_config",
    "resume_command",
    "nonfinite_message",
    "data_fingerprint",
    "check_moved_data",
]

# the files of a dataset that the fingerprint covers (images and captions; not caches or statistics)
DATA_SUFFIXES = frozenset(IMAGE_EXTENSIONS) | {".txt", ".jsonl", ".json", ".pickle"}


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


def _home_of(checkpoint: str | Path) -> Path:
    """The run folder of a checkpoint file (or the folder itself)."""
    path = Path(checkpoint)
    return path if path.is_dir() else path.parent


def check_run_folder(folder: Path, resuming: bool = False, *, resume_from: str | Path | None = None,
                     overwrite: bool = False) -> None:
    """Refuse a folder that holds another run's checkpoints; call it before anything is written.

    Accepted: a folder that does not exist or holds no checkpoint (a run that stopped before its first one
    may start there again), and the folder of the checkpoint being resumed (``resume_from``). Refused
    unless ``overwrite``: another run's checkpoints, for a new run and for ``--resume A --out B`` alike
    (the run would delete B's oldest checkpoints and replace its ``config.json``). ``resuming`` without
    ``resume_from`` (older callers) cannot tell the two apart and accepts the folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder} is a file, not a folder: choose a folder for the run")
    if not folder.is_dir() or overwrite:
        return
    if resume_from is not None and _home_of(resume_from).resolve() == folder.resolve():
        return
    found = list_checkpoints(folder)
    if not found or (resuming and resume_from is None):
        return
    if resume_from is not None:
        raise RunFolderError(
            f"{folder} holds {len(found)} checkpoint(s) of another run: continuing {resume_from} there would "
            f"delete its oldest checkpoints and replace its config.json. Choose an empty --out (or continue "
            f"that run with {resume_command(folder)})"
        )
    raise RunFolderError(
        f"{folder} already holds {len(found)} checkpoint(s) of another run: a new run would delete or mix them. "
        f"Continue that run with {resume_command(folder)}, or choose another --out"
    )


def restart_config(folder: str | Path) -> dict[str, Any] | None:
    """The settings (``config.json``) of a run in ``folder`` that stopped before its first checkpoint, so
    ``--resume FOLDER`` can start it again from step 0 with them; ``None`` if the folder holds a checkpoint
    or no such run."""
    folder = Path(folder)
    path = folder / "config.json"
    if not folder.is_dir() or latest_checkpoint(folder) is not None or not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({exc}): start a new run instead") from None
    return config if isinstance(config, dict) else None


def _read_claim(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path} cannot be read ({exc}): it names the run that owns the folder") from None
    if not isinstance(info, dict) or not isinstance(info.get("sessions"), list):
        raise RunFolderError(f"{path} is not a dflib run.json (no list of sessions)")
    return info


def claim_run_folder(folder: Path, config: dict[str, Any], resumed_from: str | None,
                     overwrite: bool = False) -> dict[str, Any]:
    """Write ``run.json`` (kept across resumes: the same run id, a list of sessions, the data's fingerprint)
    and ``config.json``. Refuses (:class:`RunFolderError`) a folder with checkpoints of another run (not
    the one ``resumed_from`` comes from, not one this process already claimed) unless ``overwrite``. A
    ``config.json`` that differs from ``config`` is kept in the new session's record, not lost."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.json"
    info: dict[str, Any] = _read_claim(path) if path.is_file() else {"run_id": uuid.uuid4().hex, "sessions": []}
    continuing = resumed_from is not None and _home_of(resumed_from).resolve() == folder.resolve()
    # the last session is this process's, started from the same place: the same run, claiming again
    last = info["sessions"][-1] if info["sessions"] and isinstance(info["sessions"][-1], Mapping) else {}
    again = last.get("pid") == os.getpid() and last.get("resumed_from") == resumed_from
    if list_checkpoints(folder) and not (continuing or overwrite or again):
        check_run_folder(folder, resume_from=resumed_from)
    session: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "pid": os.getpid(),
                               "resumed_from": resumed_from}
    old_config = folder / "config.json"
    if old_config.is_file():
        try:
            before = json.loads(old_config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            before = old_config.read_text(encoding="utf-8", errors="replace")
        if before != config:
            session["replaced_config"] = before
    data = config.get("data") if isinstance(config, Mapping) else None
    root = data.get("root") if isinstance(data, Mapping) else None
    if root and Path(root).is_dir() and info.get("data", {}).get("root") != str(root):
        info["data"] = {"root": str(root), **_fingerprint_record(Path(root))}
    info["sessions"].append(session)
    path.write_text(json.dumps(info, indent=2))
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return info


def nonfinite_message(step: int, out_dir: str | Path) -> str:
    """What to say when a loss turned NaN/inf at ``step``, true to what ``out_dir`` holds: the last good
    checkpoint if one was saved (training never saves a non-finite state), else that nothing was kept."""
    found = latest_checkpoint(out_dir)
    head = f"non-finite loss (NaN/inf) at step {step}: training stopped"
    if found is None:
        return (f"{head} before its first checkpoint, so nothing was kept. Start a new run with a lower learning "
                f"rate (e.g. {dflib_command('train', '--set', 'lr_g=...', '--set', 'lr_d=...')}) or check the data")
    return (f"{head}; the last good checkpoint is {found}. Try a lower learning rate in a new run (--resume "
            "keeps the saved settings) or check the data")


def _fingerprint_record(root: Path) -> dict[str, Any]:
    """:func:`data_fingerprint` of ``root`` with the number and bytes of its image and caption files."""
    files = []  # (path relative to root, size); hidden files and folders skipped
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(here) / name
            if name.startswith(".") or path.suffix.lower() not in DATA_SUFFIXES:
                continue
            try:
                files.append((path.relative_to(root).as_posix(), path.stat().st_size))
            except OSError:  # a broken link: not part of the data
                continue
    files.sort()
    h = hashlib.sha256()
    for rel, size in files:
        h.update(f"{rel}\0{size}\n".encode())
    return {"fingerprint": h.hexdigest(), "files": len(files), "bytes": sum(size for _, size in files)}


def data_fingerprint(root: str | Path) -> str:
    """SHA-256 over the sorted relative paths and sizes of the image and caption files under ``root``
    (:data:`DATA_SUFFIXES`; hidden files, caches and statistics left out). It does not depend on where the
    folder lies, so a moved copy of the same data has the same fingerprint; reading only names and sizes
    keeps it fast on a large dataset (a file edited in place to the same size is not noticed)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} not found")
    return _fingerprint_record(root)["fingerprint"]


def check_moved_data(run: str | Path, new_root: str | Path) -> str:
    """Whether the run in ``run`` (its folder or a checkpoint in it) may resume with ``data.root=new_root``.

    Compares :func:`data_fingerprint` of ``new_root`` with the one ``run.json`` recorded when the run
    started: the same files mean the same data, so the saved ``data.root`` may be replaced. Returns a line
    to print; raises :class:`RunFolderError` naming both counts when the files differ. A run that recorded
    no fingerprint cannot be checked: the line says so and the move is accepted."""
    folder, new_root = _home_of(run), Path(new_root)
    if not new_root.is_dir():
        raise RunFolderError(f"data.root={str(new_root)!r} is not a folder")
    claim = folder / "run.json"
    saved = _read_claim(claim).get("data") if claim.is_file() else None
    if not isinstance(saved, Mapping) or "fingerprint" not in saved:
        return (f"data.root is now {new_root}; this run recorded no fingerprint of its data, so dflib cannot "
                "check that it is the same data")
    now = _fingerprint_record(new_root)
    if now["fingerprint"] != saved["fingerprint"]:
        raise RunFolderError(
            f"{new_root} is not the data this run was trained on: it has {now['files']} image and caption files "
            f"({now['bytes']:,} bytes), the run's data ({saved.get('root')}) had {saved.get('files')} "
            f"({saved.get('bytes', 0):,} bytes) with other names or sizes. Point data.root at the same data, or "
            "start a new run"
        )
    return f"data.root moved from {saved.get('root')} to {new_root}: the same {now['files']} image and caption files"
