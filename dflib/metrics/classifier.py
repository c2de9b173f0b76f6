"""The ``shapes`` attribute classifier: reads colour, shape, size, position and background of the primary
object of a ``shapes`` image (see :mod:`dflib.metrics.attributes` for how it scores generators).

* ``color``, ``shape``, ``size``: a small CNN trained on real images, on a crop around the object;
* ``position``: the located object centre (:func:`locate_object`) compared with the dataset's lattice of
  positions (nearest allowed point; no training);
* ``background``: the border colour (:func:`background_colour`) compared with the allowed background
  colours (nearest; no training).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
        from dflib.data.shapes import BACKGROUND_NAMES, BACKGROUND_RGB

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
        table = torch.tensor([BACKGROUND_RGB[b] for b in BACKGROUND_NAMES], dtype=torch.float32) / 127.5 - 1.0
        bg_off = torch.full((len(table),), -1e4)
        bg_off[list(self.config.backgrounds)] = 0.0
        self.register_buffer("_bg_table", table, persistent=False)
        self.register_buffer("_bg_offset", bg_off, persistent=False)

    def forward(self, x: Tensor, jitter: Tensor | None = None) -> dict[str, Tensor]:
        s = self.config.imsize
        x = x.float()
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        bg = background_colour(x)
        dev = (x - bg).square().sum(dim=1).sqrt()  # (B,H,W); faster than .norm(dim=1)
        centre = locate_object(dev)
        shifted = centre if jitter is None else centre + jitter
        h = self.features(crop_at(torch.cat([x, dev[:, None] - 1.0], dim=1), shifted, s // 2))
        z = torch.cat([h.flatten(1), h.amax(dim=(2, 3)), h.mean(dim=(2, 3))], dim=1)
        out = {k: head(z) for k, head in self.heads.items()}
        out["position"] = -(centre[:, None, :] - self._centres[None]).square().sum(-1) + self._pos_offset
        out["background"] = -(bg.flatten(1)[:, None, :] - self._bg_table[None]).square().sum(-1) + self._bg_offset
        return out


_OPTION_NAMES = ("object_scale", "layout", "background", "size", "jitter", "positions", "supersample")


def _options(ds: Any) -> dict[str, Any]:
    """The drawing options of a ``ShapesDataset`` (what the classifier's training split must share)."""
    return {k: getattr(ds, k) for k in _OPTION_NAMES if hasattr(ds, k)}


def _training_dataset(dataset_or_kwargs: Any) -> Any:
    """The dataset, or one built by ``build_dataset('shapes', ...)`` from kwargs. The primary object of a
    two-object scene cannot be told from the image alone: train on the same split/size/seed/options with
    ``max_objects=1`` instead."""
    from dflib.data import build_dataset

    ds = dataset_or_kwargs
    if isinstance(ds, Mapping) or ds is None:
        ds = build_dataset("shapes", **{"imsize": 32, "max_objects": 1, **dict(ds or {})})
    if getattr(ds, "max_objects", 1) > 1:
        ds = build_dataset("shapes", split=ds.split, imsize=ds.imsize, seed=ds.seed, max_objects=1, **_options(ds))
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


def _save_classifier(clf: nn.Module, path: Path, **extra: Any) -> None:
    """Write ``{'config', **extra, 'state_dict'}`` of a classifier to ``path`` (a temporary file, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"config": asdict(clf.config), **extra, "state_dict": clf.state_dict()}, tmp)
    tmp.replace(path)


def _load_classifier(path: Path, cls: type, what: str, device: torch.device) -> Any:
    """The ``cls`` classifier that :func:`_save_classifier` wrote to ``path`` (with its ``settings`` if
    saved), in eval mode on ``device``; None if there is no file. A file that does not fit raises a
    ValueError that says to delete it."""
    if not path.is_file():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is not an {what.replace(' ', '-')} file (delete it to retrain)")
    try:
        clf = cls(**blob["config"])
    except TypeError as exc:
        raise ValueError(f"{path} was written by another dflib version ({exc}); delete it to retrain") from exc
    msg = state_dict_mismatch(clf, blob["state_dict"], what, f"Delete {path} to retrain it.")
    if msg:
        raise ValueError(msg)
    clf.load_state_dict(blob["state_dict"])
    if "settings" in blob:
        clf.settings = dict(blob["settings"])
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
    (cosine schedule) on random items. Its position and background readers take the dataset's lattice and
    allowed values. With ``path``: load it if the file exists (no training), else train and save it there."""
    device = torch.device(device)
    if path is not None:
        cached = _load_classifier(Path(path), AttributeClassifier, "attribute classifier", device)
        if cached is not None:
            return cached
    from dflib.data.shapes import COLOR_NAMES, SHAPE_NAMES

    ds = _training_dataset(dataset_or_kwargs)
    _check_attrs(ds[0])
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        clf = AttributeClassifier(len(COLOR_NAMES), len(SHAPE_NAMES), imsize, width, **_reader_config(ds)).to(device)
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
        _save_classifier(clf, Path(path))
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
