"""Attribute accuracy on ``shapes``: does a generated image show what its caption states?

:class:`AttributeClassifier` reads every attribute of the *primary* object of a ``shapes`` image:

* ``color``, ``shape``, ``size``: a small CNN trained on real images, on a crop around the object;
* ``position``: the located object centre (:func:`locate_object`) compared with the dataset's lattice of
  positions (nearest allowed point; no training);
* ``background``: the border colour (:func:`background_colour`) compared with the allowed background
  colours (nearest; no training).

Its predictions on generated images, compared with the attributes their captions state, measure
text-image consistency without any pretrained network (a cheap, exact stand-in for R-precision on this
toy data). An attribute a caption leaves open is not scored here (any value is right); how much it varies
over noise draws is :mod:`dflib.metrics.diversity`. Always report the classifier's accuracy on real
held-out images next to it (``real_*``): that is the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..noise import truncated_noise
from ..weights import state_dict_mismatch

__all__ = [
    "ATTRIBUTES",
    "REQUIRED_ATTRIBUTES",
    "LEARNED_ATTRIBUTES",
    "AttributeClassifier",
    "ClassifierConfig",
    "background_colour",
    "locate_object",
    "crop_at",
    "train_attribute_classifier",
    "predict_attributes",
    "attribute_accuracy",
    "stated_accuracy",
    "real_attribute_accuracy",
    "single_object_indices",
    "eval_items",
    "generate_for_dataset",
    "generate_for_items",
    "evaluate_generator_attributes",
    "generator_attribute_accuracy",
]

ATTRIBUTES = ("color", "shape", "size", "position", "background")
REQUIRED_ATTRIBUTES = ("color", "shape")  # every caption states these
LEARNED_ATTRIBUTES = ("color", "shape", "size")  # CNN heads; position and background are read directly

_GRID32 = tuple((((r + 0.5) * 32 / 3) // 1 + 0.5) / 32 for r in range(3))
_DEFAULT_CENTRES = tuple((_GRID32[p // 3], _GRID32[p % 3]) for p in range(9))  # the 'grid' layout at 32 px


@dataclass(frozen=True)
class ClassifierConfig:
    """Sizes of :class:`AttributeClassifier` and what it reads positions and backgrounds against (stored
    next to its weights). ``position_centres``: 9 (row, col) fractions of the image side
    (``ShapesDataset.position_centres``); ``positions`` / ``backgrounds``: the allowed indices."""

    n_colors: int
    n_shapes: int
    imsize: int = 32
    width: int = 32
    n_sizes: int = 2
    position_centres: tuple[tuple[float, float], ...] = _DEFAULT_CENTRES
    positions: tuple[int, ...] = tuple(range(9))
    backgrounds: tuple[int, ...] = tuple(range(9))


def background_colour(x: Tensor) -> Tensor:
    """(B,C,1,1) per-channel median of the border pixels: the background of a ``shapes`` image (an object
    touching the border covers only a few of them)."""
    border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]], dim=2)
    return border.median(dim=2).values[:, :, None, None]


def locate_object(dev: Tensor, thresh: float = 0.5) -> Tensor:
    """Centre (row, col) per image (B,2) of ``dev (B,H,W)`` = each pixel's distance to the background
    colour, weighting pixels above ``thresh`` × the image's largest distance. The image centre for a
    uniform image."""
    _, h, w = dev.shape
    peak = dev.flatten(1).amax(dim=1).clamp_min(1e-6)[:, None, None]
    wgt = (dev - thresh * peak).clamp_min(0)
    tot = wgt.sum(dim=(1, 2))
    ys = torch.arange(h, dtype=dev.dtype, device=dev.device)
    xs = torch.arange(w, dtype=dev.dtype, device=dev.device)
    cy = (wgt.sum(2) * ys).sum(1) / tot.clamp_min(1e-12)
    cx = (wgt.sum(1) * xs).sum(1) / tot.clamp_min(1e-12)
    empty = tot <= 1e-12
    cy = torch.where(empty, torch.full_like(cy, (h - 1) / 2), cy)
    cx = torch.where(empty, torch.full_like(cx, (w - 1) / 2), cx)
    return torch.stack([cy, cx], dim=1)


def crop_at(x: Tensor, centre: Tensor, size: int) -> Tensor:
    """``size``×``size`` crops of ``x (B,C,H,W)`` centred on ``centre (B,2)`` (row, col), edges replicated."""
    b, c, h, w = x.shape
    start = (centre - (size - 1) / 2).round().long()  # (B,2)
    off = torch.arange(size, device=x.device)
    rows = (start[:, :1] + off).clamp(0, h - 1)  # (B,size)
    cols = (start[:, 1:] + off).clamp(0, w - 1)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = x.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (B,size,size,C)
    return out.permute(0, 3, 1, 2)


def _background_table() -> Tensor:
    from dflib.data.shapes import BACKGROUND_NAMES, BACKGROUND_RGB

    return torch.tensor([BACKGROUND_RGB[b] for b in BACKGROUND_NAMES], dtype=torch.float32) / 127.5 - 1.0


class AttributeClassifier(nn.Module):
    """Locate-then-classify reader of the primary object of a ``shapes`` image: resize to ``imsize`` px,
    find the object (:func:`background_colour`, :func:`locate_object`), crop ``imsize/2`` px around it
    (:func:`crop_at`), then a tiny CNN (3 conv layers, a linear map of the whole feature map plus global
    max+mean pooling) with colour, shape and size heads. Position and background are read without
    training: the logits are minus the squared distance (in px, and in RGB units of [-1, 1]) of the
    located centre to each lattice point and of the border colour to each background colour, with
    positions and backgrounds the data never shows at -1e4. ``forward`` returns logits for every name in
    :data:`ATTRIBUTES`."""

    def __init__(
        self,
        n_colors: int,
        n_shapes: int,
        imsize: int = 32,
        width: int = 32,
        n_sizes: int = 2,
        position_centres: Sequence[Sequence[float]] = _DEFAULT_CENTRES,
        positions: Sequence[int] = tuple(range(9)),
        backgrounds: Sequence[int] = tuple(range(9)),
    ) -> None:
        super().__init__()
        self.config = ClassifierConfig(
            n_colors, n_shapes, imsize, width, n_sizes,
            tuple((float(a), float(b)) for a, b in position_centres), tuple(int(p) for p in positions),
            tuple(int(b) for b in backgrounds),
        )
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(4, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
        )
        # the crop is centred on the object, so a linear map of the whole (2w, imsize/4, imsize/4) feature
        # map is a bank of shape templates: it learns far faster than global pooling alone
        nfeat = 2 * w * (imsize // 4) ** 2 + 4 * w
        self.heads = nn.ModuleDict({
            "color": nn.Linear(nfeat, n_colors), "shape": nn.Linear(nfeat, n_shapes), "size": nn.Linear(nfeat, n_sizes),
        })
        centres = torch.tensor(self.config.position_centres, dtype=torch.float32) * imsize - 0.5  # (9,2) px
        self.register_buffer("_centres", centres, persistent=False)
        pos_off = torch.full((len(centres),), -1e4)
        pos_off[list(self.config.positions)] = 0.0
        self.register_buffer("_pos_offset", pos_off, persistent=False)
        table = _background_table()
        bg_off = torch.full((len(table),), -1e4)
        bg_off[list(self.config.backgrounds)] = 0.0
        self.register_buffer("_bg_table", table, persistent=False)
        self.register_buffer("_bg_offset", bg_off, persistent=False)

    def _prepare(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = self.config.imsize
        x = x.float()
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        bg = background_colour(x)
        dev = (x - bg).square().sum(dim=1).sqrt()  # (B,H,W); faster than .norm(dim=1)
        return x, bg, dev

    def locate(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(centre (B,2) in px of the classifier's imsize, background colour (B,3))`` of images (B,3,H,W)."""
        x, bg, dev = self._prepare(x)
        return locate_object(dev), bg.flatten(1)

    def crops(self, x: Tensor, jitter: Tensor | None = None) -> Tensor:
        """The CNN's input: (B,4,imsize/2,imsize/2) crops (RGB + distance to the background)."""
        x, _, dev = self._prepare(x)
        centre = locate_object(dev)
        if jitter is not None:
            centre = centre + jitter
        return crop_at(torch.cat([x, dev[:, None] - 1.0], dim=1), centre, self.config.imsize // 2)

    def forward(self, x: Tensor, jitter: Tensor | None = None) -> dict[str, Tensor]:
        x, bg, dev = self._prepare(x)
        centre = locate_object(dev)
        shifted = centre if jitter is None else centre + jitter
        h = self.features(crop_at(torch.cat([x, dev[:, None] - 1.0], dim=1), shifted, self.config.imsize // 2))
        z = torch.cat([h.flatten(1), h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)
        out = {k: head(z) for k, head in self.heads.items()}
        out["position"] = -(centre[:, None, :] - self._centres[None]).square().sum(-1) + self._pos_offset
        out["background"] = -(bg.flatten(1)[:, None, :] - self._bg_table[None]).square().sum(-1) + self._bg_offset
        return out


def _shapes_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from dflib.data.shapes import COLOR_NAMES, SHAPE_NAMES

    return COLOR_NAMES, SHAPE_NAMES


def _make_dataset(dataset_or_kwargs: Any) -> Any:
    if isinstance(dataset_or_kwargs, Mapping) or dataset_or_kwargs is None:
        from dflib.data import build_dataset

        kw = {"imsize": 32, "max_objects": 1, **dict(dataset_or_kwargs or {})}
        return build_dataset("shapes", **kw)
    return dataset_or_kwargs


_OPTION_NAMES = ("object_scale", "layout", "background", "size", "jitter", "positions", "supersample")


def _single_object(ds: Any) -> Any:
    """The primary object of a two-object scene cannot be told from the image alone: train on the same
    split/size/seed/options with ``max_objects=1`` instead."""
    if getattr(ds, "max_objects", 1) > 1:
        from dflib.data import build_dataset

        opts = {k: getattr(ds, k) for k in _OPTION_NAMES if hasattr(ds, k)}
        return build_dataset("shapes", split=ds.split, imsize=ds.imsize, seed=ds.seed, max_objects=1, **opts)
    return ds


def _check_attrs(item: Any) -> None:
    if not isinstance(item, Mapping) or "attrs" not in item or not all(k in item["attrs"] for k in REQUIRED_ATTRIBUTES):
        raise ValueError(
            "attribute accuracy needs a `shapes` dataset (items with attrs['color'] and attrs['shape']); "
            "build one with dflib.data.build_dataset('shapes', ...)"
        )


def _batch(dataset: Any, idx: np.ndarray) -> tuple[Tensor, dict[str, Tensor]]:
    items = [dataset[int(i)] for i in idx]
    imgs = torch.stack([it["image"] for it in items])
    names = [k for k in ATTRIBUTES if k in items[0]["attrs"]]
    attrs = {k: torch.tensor([it["attrs"][k] for it in items], dtype=torch.int64) for k in names}
    return imgs, attrs


def _augment(x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Mild augmentation so the classifier tolerates generator artefacts: flips (every shape is left-right
    symmetric), pixel noise, blur on some images, and a ±1 px jitter of the crop centre (returned)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
    blur = torch.rand(b, generator=gen) < 0.3
    k = torch.tensor([0.25, 0.5, 0.25])
    xb = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 3, 3), groups=3)
    x = torch.where(blur.view(b, 1, 1, 1), xb, x)
    x = x + 0.08 * torch.randn(x.shape, generator=gen)
    return x, torch.randint(-1, 2, (b, 2), generator=gen).float()


def _load_cached(path: Path, device: torch.device) -> AttributeClassifier | None:
    if not path.is_file():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is not an attribute-classifier file (delete it to retrain)")
    try:
        clf = AttributeClassifier(**blob["config"])
    except TypeError as exc:
        raise ValueError(f"{path} was written by another dflib version ({exc}); delete it to retrain") from exc
    msg = state_dict_mismatch(clf, blob["state_dict"], "attribute classifier", f"Delete {path} to retrain it.")
    if msg:
        raise ValueError(msg)
    clf.load_state_dict(blob["state_dict"])
    return clf.to(device).eval()


def _reader_config(ds: Any) -> dict[str, Any]:
    """What the position and background readers compare with, from a ``ShapesDataset``."""
    out: dict[str, Any] = {}
    if hasattr(ds, "position_centres"):
        out["position_centres"] = tuple(tuple(float(v) for v in row) for row in ds.position_centres())
    if hasattr(ds, "allowed"):
        out["positions"] = tuple(ds.allowed("position"))
        out["backgrounds"] = tuple(ds.allowed("background"))
    return out


def train_attribute_classifier(
    dataset_or_kwargs: Any = None,
    steps: int = 400,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
    lr: float = 3e-3,
    imsize: int = 32,
    width: int = 16,
    seed: int = 0,
    path: str | Path | None = None,
    progress: bool = True,
) -> AttributeClassifier:
    """Train an :class:`AttributeClassifier` on real single-object ``shapes`` images (a dataset, or kwargs
    for ``build_dataset('shapes', ...)``; defaults ``imsize=32, max_objects=1``) for ``steps`` Adam steps
    (cosine schedule) on random items; 400 steps take about 10 s on a loaded 2-core CPU. Its position and
    background readers take the dataset's lattice and allowed values. With ``path``: load it if the file
    exists (no training), else train and save it there."""
    device = torch.device(device)
    if path is not None:
        cached = _load_cached(Path(path), device)
        if cached is not None:
            return cached
    ds = _single_object(_make_dataset(dataset_or_kwargs))
    _check_attrs(ds[0])
    colors, shapes = _shapes_names()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        clf = AttributeClassifier(len(colors), len(shapes), imsize, width, **_reader_config(ds)).to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    from tqdm.auto import tqdm

    clf.train()
    bar = tqdm(range(steps), desc="attribute classifier", disable=not progress, leave=False)
    for _ in bar:
        x, y = _batch(ds, rng.integers(0, len(ds), size=batch_size))
        x, jitter = _augment(x, gen)
        out = clf(x.to(device), jitter.to(device))
        loss = sum(F.cross_entropy(out[k], y[k].to(device)) for k in LEARNED_ATTRIBUTES if k in y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    clf.eval()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"config": asdict(clf.config), "state_dict": clf.state_dict()}, tmp)
        tmp.replace(path)
    return clf


@torch.no_grad()
def predict_attributes(classifier: nn.Module, images: Tensor, batch_size: int = 256) -> dict[str, Tensor]:
    """Predicted class indices ``{attribute: (N,)}`` (every head of the classifier: colour, shape, size,
    position, background for :class:`AttributeClassifier`) for images (N,3,H,W) in [-1,1]."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (N,3,H,W) in [-1,1], got shape {tuple(images.shape)}")
    was = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    preds: dict[str, list[Tensor]] = {}
    for i in range(0, images.shape[0], batch_size):
        out = classifier(images[i : i + batch_size].to(device, torch.float32))
        for k, v in out.items():
            preds.setdefault(k, []).append(v.argmax(1).cpu())
    classifier.train(was)
    return {k: torch.cat(v) for k, v in preds.items()}


def attribute_accuracy(
    classifier: nn.Module | None,
    images: Tensor | None,
    attrs: Mapping[str, Any],
    predictions: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Fraction of images whose predicted attribute equals ``attrs[name]`` (sequences or (N,) tensors of
    indices): colour and shape (required), plus size, position and background where both ``attrs`` and
    the predictions have them. Pass ``predictions`` instead of classifier + images to score given
    predictions."""
    if predictions is None:
        if classifier is None or images is None:
            raise ValueError("attribute_accuracy needs a classifier and images, or predictions=")
        predictions = predict_attributes(classifier, images)
    acc: dict[str, float] = {}
    for k in ATTRIBUTES:
        if k not in REQUIRED_ATTRIBUTES and (k not in attrs or k not in predictions):
            continue
        if k not in attrs or k not in predictions:
            raise KeyError(f"attribute_accuracy: missing {k!r} (attrs has {sorted(attrs)}, predictions {sorted(predictions)})")
        y = torch.as_tensor(attrs[k]).long().flatten().cpu()
        p = torch.as_tensor(predictions[k]).long().flatten().cpu()
        if y.shape != p.shape or y.numel() == 0:
            raise ValueError(f"{k}: {p.numel()} predictions for {y.numel()} targets (need equal, non-zero)")
        acc[k] = float((y == p).double().mean())
    return acc


def stated_accuracy(
    truth: Mapping[str, Any], predictions: Mapping[str, Any], stated: Mapping[str, Any]
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Per attribute, the accuracy over the images whose caption states it (``stated[name]``: (N,) bools)
    and how many those are; None where no caption states it."""
    acc: dict[str, float | None] = {}
    count: dict[str, int] = {}
    for k in ATTRIBUTES:
        if k not in truth or k not in predictions:
            continue
        y = torch.as_tensor(truth[k]).long().flatten().cpu()
        p = torch.as_tensor(predictions[k]).long().flatten().cpu()
        m = torch.as_tensor(stated[k]).bool().flatten().cpu() if k in stated else torch.ones_like(y, dtype=torch.bool)
        if not y.shape == p.shape == m.shape:
            raise ValueError(f"{k}: {p.numel()} predictions, {y.numel()} targets, {m.numel()} stated flags")
        count[k] = int(m.sum())
        acc[k] = float((y[m] == p[m]).double().mean()) if count[k] else None
    return acc, count


def _iter_items(dataset: Any, indices: list[int], batch_size: int) -> Iterator[list[dict]]:
    for start in range(0, len(indices), batch_size):
        yield [dataset[i] for i in indices[start : start + batch_size]]


def single_object_indices(dataset: Any, n: int) -> list[int]:
    """Indices of the first ``n`` items of a ``shapes`` dataset that show one object (whose caption's
    colour and shape are unambiguous in the image)."""
    if getattr(dataset, "max_objects", 2) == 1:
        return list(range(min(int(n), len(dataset))))
    out: list[int] = []
    for i in range(len(dataset)):
        if len(out) >= n:
            break
        scene = getattr(dataset, "scene", None)
        k = scene(i).n_objects if callable(scene) else int(dataset[i]["attrs"].get("n_objects", 1))
        if k == 1:
            out.append(i)
    return out


def eval_items(dataset: Any, indices: Sequence[int], seed: int = 0) -> list[dict]:
    """The items at ``indices``, each with one caption drawn from ``seed`` (the same every call, unlike
    ``dataset[i]``, which draws a new caption per access)."""
    if not hasattr(dataset, "item"):
        return [dataset[int(i)] for i in indices]
    rng = np.random.default_rng([int(seed) % 2**32, 0x5EED])
    k = rng.integers(dataset.captions_per_image, size=len(indices))
    return [dataset.item(int(i), int(kk), rng) for i, kk in zip(indices, k)]


def _stated_flags(item: Mapping[str, Any]) -> dict[str, bool]:
    if "stated" in item:
        return dict(item["stated"])
    from dflib.data.shapes import stated_attributes

    return stated_attributes(item["caption"])


def real_attribute_accuracy(
    classifier: nn.Module, dataset: Any, n: int = 1000, batch_size: int = 256
) -> dict[str, float]:
    """The classifier's accuracy on the first ``n`` real images of ``dataset`` (use a held-out split/seed),
    for every attribute it predicts and the items carry."""
    n = min(int(n), len(dataset))
    _check_attrs(dataset[0])
    x, y = _batch(dataset, np.arange(n))
    return attribute_accuracy(classifier, x, y)


def _encode(encode_fn: Any, items: list[dict], device: torch.device) -> Tensor:
    """Sentence vectors (B,D) for a list of dataset items: ``encode_batch(batch)`` of a ``dflib.text``
    encoder, or a callable on the list of captions."""
    if hasattr(encode_fn, "encode_batch"):
        from dflib.data import collate

        out = encode_fn.encode_batch(collate(items))
    elif hasattr(encode_fn, "encode"):
        out = encode_fn.encode([it["caption"] for it in items])
    elif callable(encode_fn):
        out = encode_fn([it["caption"] for it in items])
    else:
        raise TypeError(f"encode_fn must be a dflib.text encoder or a callable on captions, got {type(encode_fn).__name__}")
    sent = out[0] if isinstance(out, tuple) else out
    if hasattr(sent, "sent"):
        sent = sent.sent
    return sent.detach().float().to(device)


def _z_dim(netG: nn.Module, z_dim: int | None) -> int:
    if z_dim is not None:
        return int(z_dim)
    return int(getattr(netG, "z_dim", getattr(netG, "nz", 100)))


def _noise(n: int, z_dim: int, truncation: float | None, seed: int) -> Tensor:
    return truncated_noise(n, z_dim, truncation, seed=seed)


@torch.no_grad()
def generate_for_items(
    netG: nn.Module,
    encode_fn: Any,
    items: list[dict],
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    truncation: float | None = None,
    seed: int = 0,
    z_dim: int | None = None,
) -> Iterator[tuple[Tensor, list[dict]]]:
    """Yield ``(fake images (B,3,H,W) on the CPU, items)``: one image per item from its caption, noise of
    batch ``b`` seeded ``seed + b`` (normal, or ``truncnorm(-2,2)·truncation`` when ``truncation`` is
    given, as the official sampler draws)."""
    device = torch.device(device)
    z_dim = _z_dim(netG, z_dim)
    was = netG.training
    netG.eval()
    try:
        for b, start in enumerate(range(0, len(items), batch_size)):
            chunk = items[start : start + batch_size]
            sent = _encode(encode_fn, chunk, device)
            z = _noise(len(chunk), z_dim, truncation, seed + b).to(device)
            yield netG(z, sent).float().cpu(), chunk
    finally:
        netG.train(was)


@torch.no_grad()
def generate_for_dataset(
    netG: nn.Module,
    encode_fn: Any,
    dataset: Any,
    n: int,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    truncation: float | None = None,
    seed: int = 0,
    nz: int | None = None,
    indices: list[int] | None = None,
) -> Iterator[tuple[Tensor, list[dict]]]:
    """Yield ``(fake images (B,3,H,W) on the CPU, dataset items)`` for the first ``n`` items of ``dataset``
    (or the given ``indices``), one image per item from its drawn caption (as the official FID sampling
    does). Noise: normal, or ``truncnorm(-2,2)·truncation`` when ``truncation`` is given."""
    if indices is None:
        indices = list(range(min(int(n), len(dataset))))
    device = torch.device(device)
    z_dim = _z_dim(netG, nz)
    was = netG.training
    netG.eval()
    try:
        for b, items in enumerate(_iter_items(dataset, list(indices), batch_size)):
            sent = _encode(encode_fn, items, device)
            z = _noise(len(items), z_dim, truncation, seed + b).to(device)
            yield netG(z, sent).float().cpu(), items
    finally:
        netG.train(was)


def _default_classifier(dataset: Any, device: Any, seed: int, steps: int, path: Any, progress: bool) -> nn.Module:
    opts = {k: getattr(dataset, k) for k in _OPTION_NAMES if hasattr(dataset, k)}
    kw = dict(split="train", imsize=getattr(dataset, "imsize", 32), seed=getattr(dataset, "seed", 0), **opts)
    return train_attribute_classifier(kw, steps=steps, device=device, seed=seed, path=path, progress=progress)


def evaluate_generator_attributes(
    netG: nn.Module,
    encode_fn: Any,
    dataset: Any,
    n: int = 512,
    classifier: nn.Module | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    truncation: float | None = None,
    seed: int = 0,
    classifier_steps: int = 400,
    classifier_path: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Attribute accuracy of ``netG`` on the captions of the first ``n`` single-object items of
    ``dataset`` (a held-out ``shapes`` split; two-object items are skipped because their primary object
    cannot be told from the image), one caption per item drawn from ``seed``.

    Returns, for each attribute ``a`` of :data:`ATTRIBUTES`: ``a`` = the accuracy on generated images
    whose caption states ``a`` (colour and shape: all; None if no caption states it), ``n_a`` = how many
    those are, ``real_a`` = the classifier's accuracy on the same items' real images (all of them: its
    ceiling); and ``n``. Chance is 1/8 (colour), 1/6 (shape), 1/2 (size), 1/#positions and
    1/#backgrounds. Without ``classifier`` one is trained on the ``train`` split with the dataset's options
    (or loaded from ``classifier_path``)."""
    _check_attrs(dataset[0])
    if classifier is None:
        classifier = _default_classifier(dataset, device, seed, classifier_steps, classifier_path, progress)
    from tqdm.auto import tqdm

    indices = single_object_indices(dataset, int(n))
    n = len(indices)
    if n == 0:
        raise ValueError("evaluate_generator_attributes: the dataset has no single-object items")
    items = eval_items(dataset, indices, seed)
    preds: dict[str, list[Tensor]] = {}
    real: dict[str, list[Tensor]] = {}
    batches = generate_for_items(netG, encode_fn, items, batch_size, device, truncation, seed)
    for fake, chunk in tqdm(batches, total=math.ceil(n / batch_size), desc="attribute accuracy",
                            disable=not progress, leave=False):
        for store, x in ((preds, fake), (real, torch.stack([it["image"] for it in chunk]))):
            for k, v in predict_attributes(classifier, x).items():
                store.setdefault(k, []).append(v)
    names = [k for k in ATTRIBUTES if k in items[0]["attrs"] and k in preds]
    truth = {k: torch.tensor([int(it["attrs"][k]) for it in items]) for k in names}
    flags = [_stated_flags(it) for it in items]
    stated = {k: torch.tensor([bool(f.get(k, k in REQUIRED_ATTRIBUTES)) for f in flags]) for k in names}
    gen_acc, counts = stated_accuracy(truth, {k: torch.cat(preds[k]) for k in names}, stated)
    real_acc = attribute_accuracy(None, None, truth, {k: torch.cat(real[k]) for k in names})
    out: dict[str, Any] = dict(gen_acc)
    out.update({f"n_{k}": counts[k] for k in names if k not in REQUIRED_ATTRIBUTES})
    out.update({f"real_{k}": v for k, v in real_acc.items()})
    out["n"] = n
    return out


def generator_attribute_accuracy(
    netG: nn.Module,
    encode_fn: Any,
    n: int = 512,
    imsize: int = 32,
    device: str | torch.device = "cpu",
    seed: int = 0,
    truncation: float | None = None,
    classifier_path: str | Path | None = None,
    classifier_steps: int = 400,
    dataset_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """:func:`evaluate_generator_attributes` on the ``shapes`` **test** split at ``imsize``;
    ``dataset_kwargs`` (e.g. the training data options) go to ``build_dataset``, default
    ``max_objects=1``."""
    from dflib.data import build_dataset

    kw = {"seed": seed, "max_objects": 1, **{k: v for k, v in dict(dataset_kwargs or {}).items() if k != "length"}}
    test = build_dataset("shapes", split="test", imsize=imsize, **kw)
    clf_kw = {**kw, "split": "train", "imsize": imsize}
    classifier = train_attribute_classifier(clf_kw, steps=classifier_steps, device=device, seed=seed,
                                            path=classifier_path, progress=progress)
    return evaluate_generator_attributes(netG, encode_fn, test, n=n, classifier=classifier, device=device,
                                         truncation=truncation, seed=seed, progress=progress)
