"""Checkpoints: the official DF-GAN ``state_epoch_*.pth`` files and dflib's resumable training checkpoints.

The official file is ``{'model': {'netG', 'netD', 'netC'}, 'optimizers': {...}, 'epoch'}``; keys may carry
the ``module.`` prefix of a DistributedDataParallel wrapper. Files are always read with
``torch.load(..., weights_only=True)``, so a checkpoint from the internet cannot run code.

Damage is caught with or without the ``.sha256`` file beside a checkpoint: dflib's checkpoints also store a
checksum of their content inside them (:func:`dflib.weights.content_digest`), and before any network is
built the weights' shapes are compared with the configuration the file claims, on PyTorch's "meta" device
(no memory), so a small crafted file cannot make a loader allocate gigabytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import shutil
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .config import ModelConfig, build_models, config_from_dict
from .weights import (
    CheckpointMismatchError,
    content_digest,
    describe_state_dict,
    load_state_dict_strict,
    read_weights_file,
    state_dict_mismatch,
    strip_module_prefix,
    unwrap,
)

__all__ = [
    "infer_model_config",
    "load_official_checkpoint",
    "nets_from_official",
    "check_weights_fit",
    "atomic_torch_save",
    "rng_state",
    "set_rng_state",
    "save_training_checkpoint",
    "load_training_checkpoint",
    "list_checkpoints",
    "latest_checkpoint",
    "prune_checkpoints",
    "CKPT_PATTERN",
    "CheckpointDamagedError",
    "file_sha256",
    "verify_checksum",
    "clean_stale_temporaries",
    "verify_content",
]


def infer_model_config(netG_state: Mapping[str, Tensor], netD_state: Mapping[str, Tensor] | None = None) -> ModelConfig:
    """Recover ``ModelConfig`` (imsize, ngf, ndf, z_dim, cond_dim) from official state-dict shapes."""
    g = strip_module_prefix(netG_state)
    needed = ("fc.weight", "GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight", "to_rgb.1.weight")
    if any(k not in g or not isinstance(g[k], Tensor) or g[k].dim() < 2 for k in needed):
        raise CheckpointMismatchError(f"netG is not a 2022 DF-GAN generator: this looks like {describe_state_dict(g)}")
    fc_out, z_dim = g["fc.weight"].shape[:2]
    ngf = fc_out // (8 * 16)
    n_blocks = len({k.split(".")[1] for k in g if k.startswith("GBlocks.")})
    imsize = 4 * 2**n_blocks
    cond_dim = g["GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight"].shape[1] - z_dim
    ch_size = g["to_rgb.1.weight"].shape[0]
    ndf = ngf
    if netD_state is not None:
        d = strip_module_prefix(netD_state)
        if "conv_img.weight" in d:
            ndf = d["conv_img.weight"].shape[0]
    return ModelConfig(imsize=imsize, ngf=ngf, ndf=ndf, z_dim=z_dim, cond_dim=cond_dim, ch_size=ch_size)


def load_official_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    config: ModelConfig | None = None,
) -> dict:
    """Build NetG/NetD/NetC and load an official ``state_epoch_*.pth`` (CUB 1220, COCO 290) strictly.

    Returns ``{'netG', 'netD', 'netC', 'config', 'epoch', 'optimizers'}``. The configuration is read from
    the weights' shapes unless ``config`` is given. Works with or without the DDP ``module.`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"official checkpoint {path} not found: download state_epoch_1220.pth (CUB) or "
            "state_epoch_290.pth (COCO) from the links in the official DF-GAN README"
        )
    ckpt = read_weights_file(path, map_location)
    verify_content(ckpt, path)
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        if isinstance(ckpt, Mapping) and all(isinstance(v, Tensor) for v in ckpt.values()):
            raise CheckpointMismatchError(
                f"{path} is a bare state dict ({describe_state_dict(ckpt)}), not the 2022 DF-GAN "
                "{'model': {'netG','netD','netC'}, ...} layout"
            )
        top = list(ckpt)[:6] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointMismatchError(f"{path} is not an official DF-GAN checkpoint (top-level keys: {top})")
    return nets_from_official(ckpt, path, map_location, config)


def nets_from_official(
    ckpt: Mapping, source: str | Path = "checkpoint", map_location: str | torch.device = "cpu",
    config: ModelConfig | None = None,
) -> dict:
    """Build and strictly load NetG/NetD/NetC from an already-read official-layout checkpoint dict."""
    model = ckpt["model"]
    missing = [n for n in ("netG", "netD", "netC") if n not in model]
    if missing:
        raise CheckpointMismatchError(f"{source}: checkpoint['model'] lacks {missing} (has {list(model)})")
    cfg = config or infer_model_config(model["netG"], model["netD"])
    check_weights_fit(cfg, {name: model[name] for name in ("netG", "netD", "netC")}, source)
    netG, netD, netC = build_models(cfg)
    for name, net in (("netG", netG), ("netD", netD), ("netC", netC)):
        load_state_dict_strict(net, model[name], name=name)
        net.to(map_location)
    return {
        "netG": netG,
        "netD": netD,
        "netC": netC,
        "config": cfg,
        "epoch": ckpt.get("epoch"),
        "optimizers": ckpt.get("optimizers"),
    }


def check_weights_fit(cfg: ModelConfig, states: Mapping[str, Mapping[str, Any]], source: str | Path) -> None:
    """Raise :class:`CheckpointMismatchError` (one line) unless every state dict in ``states`` (by network
    name: netG, netD, netC, ema_G) fits the networks ``cfg`` describes. The networks are built on the
    "meta" device, which holds shapes only: nothing is allocated, however large ``cfg`` claims to be."""
    try:
        with torch.device("meta"):
            nets = dict(zip(("netG", "netD", "netC"), build_models(cfg)))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointMismatchError(f"{source}: its model settings cannot build DF-GAN ({exc})") from None
    nets["ema_G"] = nets["netG"]
    for name, state in states.items():
        if name not in nets:
            continue
        if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
            raise CheckpointMismatchError(f"{source}: its {name} entry is not a state dict of tensors; the file is "
                                          "damaged or was edited")
        details = state_dict_mismatch(nets[name], strip_module_prefix(state), name)
        if details:
            raise CheckpointMismatchError(
                f"{source}: its {name} weights do not fit the model its settings describe (imsize {cfg.imsize}, "
                f"ngf {cfg.ngf}, ndf {cfg.ndf}, z_dim {cfg.z_dim}, cond_dim {cfg.cond_dim}); nothing was built "
                f"from it. Check the settings against the file (or the file is damaged or was edited):\n{details}"
            )


# --------------------------------------------------------------------------------------------------
# Training checkpoints: atomic save, keep the last k, exact resume (docs/official_behaviour.md §11 + this project)
# --------------------------------------------------------------------------------------------------

CKPT_PATTERN = re.compile(r"^state_step_(\d+)\.pth$")


class CheckpointDamagedError(CheckpointMismatchError):
    """A checkpoint's bytes differ from the checksum beside it or its content from the checksum inside it
    (or it cannot be read at all)."""


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _sha_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def clean_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete ``.<name>.tmp-<pid>`` files left by interrupted saves of processes that no longer run."""
    folder = Path(folder)
    removed = []
    for tmp in folder.glob(".*.tmp-*") if folder.is_dir() else []:
        pid = tmp.name.rpartition(".tmp-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then ``os.replace`` onto ``path``,
    with ``path.sha256`` written beside it (checked by :func:`load_training_checkpoint`).

    A crash (or exception) while writing leaves any previous ``path`` untouched; the temporary file is
    removed on error, and temporaries of earlier crashed processes are removed first. A full disk is
    reported as such, with the free space, instead of torch's "unexpected pos".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    sha_tmp = path.with_name(f".{path.name}.sha256.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        sha_tmp.write_text(f"{file_sha256(tmp)}  {path.name}\n")
        _sha_path(path).unlink(missing_ok=True)  # a crash between the two renames leaves no stale checksum
        os.replace(tmp, path)
        os.replace(sha_tmp, _sha_path(path))
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        sha_tmp.unlink(missing_ok=True)
        if isinstance(exc, (OSError, RuntimeError)):
            free = shutil.disk_usage(path.parent).free
            if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or free < 64 * 2**20:
                raise OSError(
                    errno.ENOSPC,
                    f"could not write the checkpoint {path}: the disk is full ({free / 2**20:.0f} MiB free). "
                    "Free some space (or pass --out on another disk) and resume from the last checkpoint",
                ) from exc
        raise
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    return path


def verify_checksum(path: str | Path) -> None:
    """Raise :class:`CheckpointDamagedError` if ``path.sha256`` holds a SHA-256 that the file's bytes do not
    match. A missing, empty or unreadable ``.sha256`` says nothing about the file and is passed over (the
    checksum inside dflib's checkpoints is checked after reading: :func:`verify_content`)."""
    path = Path(path)
    sha = _sha_path(path)
    try:
        words = sha.read_text(encoding="ascii").split() if sha.is_file() else []
    except (OSError, UnicodeDecodeError):
        words = []
    want = words[0].lower() if words else ""
    if re.fullmatch(r"[0-9a-f]{64}", want) and want != file_sha256(path):
        raise CheckpointDamagedError(f"{path} is damaged: its bytes do not match {sha.name}")


def verify_content(ckpt: Any, path: str | Path) -> None:
    """Raise :class:`CheckpointDamagedError` if ``ckpt`` (as read from ``path``) carries a ``checksum`` of its
    content (dflib checkpoints and shipped models do) that its content no longer matches."""
    if not isinstance(ckpt, Mapping) or "checksum" not in ckpt:
        return
    want = ckpt["checksum"]
    got = content_digest({k: v for k, v in ckpt.items() if k != "checksum"})
    if want != got:
        raise CheckpointDamagedError(f"{path} is damaged: its content does not match the checksum stored inside it")


def rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict:
    """Python, NumPy, torch CPU (and CUDA) RNG states plus named generators, as weights-only-safe values."""
    py = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }


def set_rng_state(state: Mapping[str, Any], generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Restore what ``rng_state`` stored (CUDA states only if the same number of devices is visible)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    for k, g in (generators or {}).items():
        if k in state.get("generators", {}):
            g.set_state(state["generators"][k].cpu())


def save_training_checkpoint(
    folder: str | Path,
    *,
    netG: nn.Module,
    netD: nn.Module,
    netC: nn.Module,
    optimizer_G: torch.optim.Optimizer,
    optimizer_D: torch.optim.Optimizer,
    epoch: int,
    step: int,
    config: Mapping[str, Any] | None = None,
    vocab: Mapping[str, Any] | None = None,
    data_state: Mapping[str, Any] | None = None,
    rng: Mapping[str, Any] | None = None,
    ema_G: nn.Module | None = None,
    extra: Mapping[str, Any] | None = None,
    keep_last: int = 3,
) -> Path:
    """Write ``folder/state_step_<step>.pth`` atomically in the official layout plus resume state.

    Content: ``{'model': {'netG','netD','netC'}, 'optimizers': {'optimizer_G','optimizer_D'}, 'epoch'}``
    (official keys, no ``module.`` prefix) + ``step``, ``config`` (dict), ``vocab`` (``wordtoix`` dict or
    None), ``data_state``, ``rng`` (see ``rng_state``), optional ``ema_G`` and ``extra``. Everything is
    tensors / dicts / lists / str / numbers, so ``torch.load(weights_only=True)`` reads it. Older files
    beyond the last ``keep_last`` are deleted (0 keeps all).
    """
    payload = {
        "model": {
            "netG": unwrap(netG).state_dict(),
            "netD": unwrap(netD).state_dict(),
            "netC": unwrap(netC).state_dict(),
        },
        "optimizers": {"optimizer_G": optimizer_G.state_dict(), "optimizer_D": optimizer_D.state_dict()},
        "epoch": int(epoch),
        "step": int(step),
        "config": dict(config) if config is not None else None,
        "vocab": dict(vocab) if vocab is not None else None,
        "data_state": dict(data_state) if data_state is not None else None,
        "rng": dict(rng) if rng is not None else None,
        "ema_G": unwrap(ema_G).state_dict() if ema_G is not None else None,
        "extra": dict(extra) if extra is not None else None,
        "format": "dflib-train-1",
    }
    payload["checksum"] = content_digest(payload)
    path = atomic_torch_save(payload, Path(folder) / f"state_step_{int(step):08d}.pth")
    if keep_last > 0:
        prune_checkpoints(folder, keep_last)
    return path


def load_training_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint of ``save_training_checkpoint`` (a file, or a run folder's newest), checked as the module
    docstring says before anything is built; errors name the file and, if damaged, the checkpoint before it."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"no state_step_*.pth checkpoint in {path}")
        path = found
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        verify_checksum(path)
        ckpt = read_weights_file(path, map_location)
        verify_content(ckpt, path)
    except CheckpointMismatchError as exc:
        if "refused to load" in str(exc):
            raise
        older = [p for p in list_checkpoints(path.parent) if p.name < path.name]
        hint = f"; the previous checkpoint is {older[-1]} (pass it to --resume)" if older else ""
        raise CheckpointDamagedError(f"{exc}{hint}") from exc
    if not isinstance(ckpt, Mapping) or "model" not in ckpt or "optimizers" not in ckpt:
        raise CheckpointMismatchError(f"{path} is not a DF-GAN training checkpoint (no 'model'/'optimizers')")
    ckpt = dict(ckpt)
    ckpt.pop("checksum", None)
    _check_own_config(ckpt, path)
    ckpt["path"] = str(path)
    return ckpt


def _check_own_config(ckpt: Mapping[str, Any], path: Path) -> None:
    """A dflib checkpoint's weights must fit the configuration saved with them (checked on the meta device)."""
    saved = ckpt.get("config")
    if not (str(ckpt.get("format", "")).startswith("dflib-train") and isinstance(saved, Mapping) and "model" in saved):
        return
    try:
        cfg = config_from_dict(ckpt["config"])
    except ValueError as exc:
        raise CheckpointMismatchError(f"{path}: the configuration saved in it is not valid ({exc})") from None
    model = ckpt.get("model")
    states = dict(model) if isinstance(model, Mapping) else {"netG": model}
    if ckpt.get("ema_G") is not None:
        states["ema_G"] = ckpt["ema_G"]
    check_weights_fit(cfg.model, states, path)


def list_checkpoints(folder: str | Path) -> list[Path]:
    """``state_step_*.pth`` files in ``folder``, oldest (lowest step) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CKPT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest ``state_step_*.pth`` in ``folder`` or None."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def prune_checkpoints(folder: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints; returns the deleted paths."""
    found = list_checkpoints(folder)
    doomed = found[:-keep_last] if keep_last > 0 else []
    for p in doomed:
        p.unlink(missing_ok=True)
        _sha_path(p).unlink(missing_ok=True)
    return doomed
