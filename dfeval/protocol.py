"""The FID evaluation protocols of DF-GAN, end to end: sample the test captions, generate, extract, compare.

Users of the official repository keep failing to reproduce its FID because of the details below; every
one of them is part of a :class:`Protocol` here, and ``python -m dflib evaluate`` runs one.

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
   extractor (:mod:`dfeval.official`: ``(x+1)/2``, bilinear resize to 299 without antialiasing,
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

Library use (:func:`dfeval.evaluate.evaluate_checkpoint` reads the files)::

    from dfeval.evaluate import evaluate_checkpoint
    res = evaluate_checkpoint("state_epoch_1220.pth", "official-cub", data_root="data/birds",
                              inception_weights="inception_v3_google-0cc3c7bd.pth", device="cuda")
    print(res.fid_official, res.fid_standard, res.to_dict())

:func:`run_protocol` does the same with networks and extractors you built yourself (tests use small
stand-ins for the Inception networks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dflib.data import collate
from dflib.noise import truncated_noise
from dflib.sample import generate_images
from dflib.metrics.fid import fid_of_features
from dflib.metrics.retrieval import r_precision

__all__ = [
    "Protocol",
    "PROTOCOLS",
    "get_protocol",
    "EvaluationError",
    "EvaluationResult",
    "sampling_plan",
    "generate_protocol_batches",
    "fid_from_features",
    "blockwise_r_precision",
    "run_protocol",
]

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
    if not isinstance(name, Protocol) and name not in PROTOCOLS:
        raise EvaluationError(f"unknown protocol {name!r}: choose one of {', '.join(PROTOCOLS)}")
    proto = name if isinstance(name, Protocol) else PROTOCOLS[name]
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

    def __getitem__(self, key: tuple[int, int, int]) -> dict:
        _, index, seed = key
        if hasattr(self.dataset, "reseed"):
            self.dataset.reseed(int(seed))
        item = dict(self.dataset[int(index)])
        item["index"], item["pass"] = int(index), int(key[0])
        return item


def _collate(items: list[dict]) -> dict:
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
    plan = sampling_plan(len(dataset), protocol, seed, n)
    z_dim = int(z_dim if z_dim is not None else getattr(netG, "z_dim"))
    total = sum(len(b) for b in plan)
    noise = truncated_noise(total, z_dim, protocol.truncation, seed=seed, bound=protocol.bound)
    loader = torch.utils.data.DataLoader(
        _SeededTestItems(dataset), batch_sampler=plan, collate_fn=_collate, num_workers=workers,
        generator=torch.Generator().manual_seed(int(seed)),  # fixes the workers' seeds
    )
    for batch, z in zip(loader, noise.split([len(b) for b in plan])):
        sent = text_encoder.encode_batch(batch).sent.float()
        fake = generate_images(netG, z, sent, batch=max(1, len(z)), on_cpu=False).float()
        yield fake, sent, z, batch


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
    return fid_of_features(f, mu, sigma)


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
        return {k: v for k, v in asdict(self).items() if k not in ("keys", "captions", "indices", "features")}


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
    :class:`~dfeval.official.OfficialInception`, :class:`~dflib.metrics.fid.StandardInception`),
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
