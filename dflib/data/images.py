"""Image loading and the official DF-GAN image transform (docs/official_behaviour.md §12.2),
plus the per-process random generator shared by the datasets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = ["load_rgb", "load_first_readable", "pil_to_tensor", "official_transform", "ItemRNG", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")


def load_rgb(path: str | Path) -> Image.Image:
    """``Image.open(path).convert('RGB')`` with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise OSError(f"cannot read image {path}: {exc} (corrupt or not an image; use skip_bad=True to skip)") from exc


def load_first_readable(
    load: Callable[[int], Image.Image], i: int, n: int, skip_bad: bool, where: str | Path
) -> tuple[int, Image.Image]:
    """``(j, load(j))`` for ``j = i``; with ``skip_bad`` an unreadable image is skipped with a warning and
    the next item (cyclically) is used instead, otherwise its error (naming the file) is raised."""
    for attempt in range(n):
        j = (i + attempt) % n
        try:
            return j, load(j)
        except OSError as exc:
            if not skip_bad:
                raise
            warnings.warn(f"skip_bad: {exc}; using the next item", stacklevel=3)
    raise OSError(f"no readable image in {where}")


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 (3,H,W) in [-1,1] (``ToTensor`` then ``Normalize(0.5, 0.5)``)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).div_(127.5).sub_(1.0)


def official_transform(
    img: Image.Image, imsize: int, rng: np.random.Generator | None, augment: bool = True
) -> torch.Tensor:
    """``Resize(int(imsize*76/64))`` (shorter side, PIL bilinear) -> ``RandomCrop(imsize)`` ->
    ``RandomHorizontalFlip`` -> [-1,1] (docs/official_behaviour.md §12.2). With ``augment=False``: centre crop, no flip."""
    import torchvision.transforms.functional as TF  # lazy: torchvision is slow to import

    img = TF.resize(img, int(imsize * 76 / 64), interpolation=TF.InterpolationMode.BILINEAR)
    w, h = img.size
    if augment:
        rng = np.random.default_rng() if rng is None else rng
        top = int(rng.integers(0, h - imsize + 1))
        left = int(rng.integers(0, w - imsize + 1))
    else:
        top, left = (h - imsize) // 2, (w - imsize) // 2
    img = img.crop((left, top, left + imsize, top + imsize))
    if augment and rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return pil_to_tensor(img)


class ItemRNG:
    """Mixin: ``self._rng()`` is a numpy Generator seeded from ``self.draw_seed`` in the main process and
    from ``(self.draw_seed, worker seed)`` inside each DataLoader worker, so workers never repeat each other's
    draws and runs are reproducible under ``torch.manual_seed``."""

    draw_seed: int = 0
    _rng_state: tuple | None = None

    def _rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        owner = None if info is None else int(info.seed)
        if self._rng_state is None or self._rng_state[0] != owner:
            base = int(self.draw_seed) % (2**63)
            key = [base] if owner is None else [base, owner]
            self._rng_state = (owner, np.random.default_rng(key))
        return self._rng_state[1]

    def reseed(self, seed: int) -> None:
        """Restart the caption / augmentation draws (not the data itself) from ``seed``."""
        self.draw_seed = seed
        self._rng_state = None
