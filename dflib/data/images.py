"""Image loading and the official DF-GAN image transform (docs/official_behaviour.md §12.2),
plus the per-process random generator shared by the datasets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = [
    "load_rgb", "to_rgb", "check_image", "load_first_readable", "pil_to_tensor", "official_transform", "ItemRNG",
    "IMAGE_EXTENSIONS", "BACKGROUND", "MAX_PIXELS", "ImageTooLargeError", "SKIP_BAD_HINT", "without_hint",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")

BACKGROUND = (255, 255, 255)
"""Transparent and translucent pixels are composited onto this colour (white, as the ``emoji`` dataset)."""

MAX_PIXELS: int | None = 89_478_485
"""Images with more pixels (width x height) are refused before they are decoded (decompression-bomb guard;
the value is PIL's own warning threshold, ``Image.MAX_IMAGE_PIXELS``). Set to ``None`` to lift it (PIL then
still refuses images over twice its own ``Image.MAX_IMAGE_PIXELS``)."""

SKIP_BAD_HINT = "use skip_bad=True to skip such images; python -m dflib train: --set data.options.skip_bad=true"

_16BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_ALPHA = ("RGBA", "LA", "PA", "RGBa")


class ImageTooLargeError(OSError):
    """An image over ``MAX_PIXELS`` (or PIL's decompression-bomb limit); an ``OSError``, so ``skip_bad`` skips it."""


def without_hint(exc: BaseException) -> str:
    """The error's message without the ``skip_bad`` advice (for the warning when it is skipped)."""
    return str(exc).replace(f"; {SKIP_BAD_HINT}", "")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _open(path: Path) -> Image.Image:
    """``Image.open`` (lazy: the header only) with the pixel limit applied before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"image {path} refused: {_one_line(exc)} (PIL's Image.MAX_IMAGE_PIXELS); {SKIP_BAD_HINT}") from None
    w, h = im.size
    if MAX_PIXELS is not None and w * h > MAX_PIXELS:
        im.close()
        raise ImageTooLargeError(
            f"image {path} refused: {w}x{h} = {w * h:,} pixels is over the limit of {MAX_PIXELS:,} "
            f"(dflib.data.images.MAX_PIXELS; a decompression bomb?); {SKIP_BAD_HINT}")
    return im


def _check_mode(im: Image.Image, fmt: str | None = None) -> None:
    if im.mode == "F" or (im.mode in ("I", "I;32", "I;32B", "I;32L") and (fmt or im.format) != "PNG"):
        raise ValueError(f"mode {im.mode} (32-bit integer or floating-point pixels) has no fixed range to map to "
                         "8 bits; convert the file to 8- or 16-bit RGB or grayscale")


def to_rgb(im: Image.Image, fmt: str | None = None) -> Image.Image:
    """Any image PIL opens -> 8-bit RGB with the pixel values a viewer shows:

    * transparency (an alpha channel, a palette or colour key ``transparency``) is composited onto
      ``BACKGROUND`` (alpha ``a``: ``round((a * c + (255 - a) * bg) / 255)``), not dropped;
    * 16-bit grayscale keeps its high byte (``v >> 8``, as PIL reads 16-bit RGB PNGs) instead of being clipped
      at 255; 16-bit colour PNGs are already read that way by PIL;
    * everything else (RGB, L, 1, P, CMYK, YCbCr, ...) is ``im.convert('RGB')``, PIL's own conversion (for the
      official datasets' JPEGs this is exactly the official ``Image.open(path).convert('RGB')``);
    * 32-bit integer / floating-point images raise ``ValueError`` (no range to map from);
    * multi-frame files (GIF, APNG, TIFF) give their first frame.

    ``fmt``: the file format when ``im`` is no longer the opened file (e.g. after a transpose).
    """
    _check_mode(im, fmt)
    if im.mode in _16BIT or im.mode == "I":  # 16-bit grayscale (PNG 16-bit reads as "I" on older Pillow)
        arr = np.asarray(im).astype(np.int64)
        grey = Image.fromarray(np.clip(arr >> 8, 0, 255).astype(np.uint8), "L")
        trns = im.info.get("transparency")
        if not isinstance(trns, int):
            return grey.convert("RGB")
        alpha = Image.fromarray(np.where(arr == trns, 0, 255).astype(np.uint8), "L")
        im = Image.merge("LA", (grey, alpha))
    if im.mode in _ALPHA or "transparency" in im.info:
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def _read(path: str | Path, use: Callable[[Image.Image], Any], errors: tuple[type[Exception], ...]) -> Any:
    """``use(image)`` on the opened file; a missing file is a ``FileNotFoundError``, an image over the limit an
    ``ImageTooLargeError`` and any of ``errors`` an ``OSError`` with a one-line message naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with _open(path) as im:
            return use(im)
    except ImageTooLargeError:
        raise
    except errors as exc:
        raise OSError(f"cannot read image {path}: {_one_line(exc)} (corrupt, truncated or unsupported; "
                      f"{SKIP_BAD_HINT})") from exc


def load_rgb(path: str | Path, exif_transpose: bool = False) -> Image.Image:
    """Read ``path`` as an 8-bit RGB image (``to_rgb``: transparency on ``BACKGROUND``, 16-bit scaled, first
    frame). Refuses images over ``MAX_PIXELS`` (``ImageTooLargeError``, an ``OSError``) and raises
    ``OSError`` with a one-line message naming the file for anything unreadable. ``exif_transpose``: turn
    the image upright as its EXIF orientation tag says (camera photos)."""
    errors = (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError)
    if not exif_transpose:
        return _read(path, to_rgb, errors)
    from PIL import ImageOps

    return _read(path, lambda im: to_rgb(ImageOps.exif_transpose(im), im.format), errors)


def check_image(path: str | Path) -> None:
    """Cheap check without decoding every pixel: the file opens as an image, is within ``MAX_PIXELS``, has a
    mode ``to_rgb`` accepts and passes PIL's ``verify()``. Raises ``OSError`` naming the file otherwise."""

    def use(im: Image.Image) -> None:
        _check_mode(im)
        im.verify()

    _read(path, use, (Exception,))  # any decoder error


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
            warnings.warn(f"skip_bad: {without_hint(exc)}; using the next item", stacklevel=3)
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
