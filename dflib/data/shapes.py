"""``shapes``: procedural captioned shapes, generated on the fly from a seed (no files).

Each image shows one or two objects (shape, colour, size, 3x3 grid position) on a coloured background,
with ``captions_per_image`` captions built from varied templates and synonyms. Every caption names the
*primary* object's colour and shape, first; ground-truth attributes come back in ``item['attrs']``,
which of them the drawn caption states in ``item['stated']``, and :func:`parse_caption` reads them back
from a caption, so a generator can be scored by attribute accuracy (on what a caption states) and by
diversity (on what it leaves open). Item ``i`` depends only on ``(seed, split, i)``: the same seed gives
the same bytes.

Data with freedom (one object whose position, size and background vary, captions that state some of
them and leave the rest open)::

    ShapesDataset(imsize=32, max_objects=1, layout="spread", object_scale=1.5,
                  background=["gray", "black", "white"], state_size=0.5, state_position=0.5, state_background=0.5)

``layout='spread'`` puts the object on a 3x3 lattice inset from the border so that every object, big ones
in the corners included, lies wholly inside the image; ``positions`` restricts the lattice points drawn.
``state_*`` switch to captions built per attribute: of the ``captions_per_image`` captions of an image,
exactly ``state_size * captions_per_image`` (rounded stochastically when not whole) state the size, and
so on for position and background, independently of the attribute values, so the images that go with a
caption are the data distribution with the stated attributes fixed (:meth:`ShapesDataset.sample_scene`).
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torch.utils.data import Dataset

from .images import ItemRNG
from .shapes_draw import (
    BACKGROUND_NAMES,
    BACKGROUND_RGB,
    CAPTION_ATTRIBUTES,
    COLOR_NAMES,
    COLOR_RGB,
    LAYOUTS,
    POSITION_NAMES,
    SHAPE_NAMES,
    SIZE_NAMES,
    SIZE_RADIUS,
    Scene,
    _max_jitter,
    _max_jitter_centre,
    _radius,
    render_scene,
    shape_alpha,
)
from .shapes_text import (
    make_caption,
    make_stated_caption,
    parse_caption,
    shapes_vocab,
    stated_attributes,
)
from .vocab import pad_tokens

__all__ = [
    "SHAPE_NAMES",
    "COLOR_NAMES",
    "COLOR_RGB",
    "SIZE_NAMES",
    "SIZE_RADIUS",
    "BACKGROUND_NAMES",
    "BACKGROUND_RGB",
    "LAYOUTS",
    "POSITION_NAMES",
    "CAPTION_ATTRIBUTES",
    "Scene",
    "ShapesDataset",
    "shapes_vocab",
    "parse_caption",
    "stated_attributes",
    "render_scene",
    "shape_alpha",
]

_STATE_OPTIONS = ("size", "position", "background")  # state_<name> options
_PLAN_STREAM = 0xFFFF  # random stream of the per-image statement plan (captions use streams 1..64)

_SPLIT_ID = {"train": 0, "test": 1}


def _item_seed(seed: int, split: str, index: int, stream: int) -> int:
    """An integer that identifies (seed, split, item, stream) without collisions."""
    return (((int(seed) % 2**32) * 2 + _SPLIT_ID[split]) << 72) | (int(index) << 16) | int(stream)


def _position_index(p: int | str) -> int:
    if isinstance(p, str):
        name = " ".join(p.replace("_", " ").replace("-", " ").split()).lower()
        name = "center" if name in ("centre", "middle") else name
        if name not in POSITION_NAMES:
            raise ValueError(f"shapes: unknown position {p!r}; choose from {POSITION_NAMES}")
        return POSITION_NAMES.index(name)
    if not 0 <= int(p) < len(POSITION_NAMES):
        raise ValueError(f"shapes: position index {p!r} out of range 0..8")
    return int(p)


def _stochastic_count(p: float, k: int, r: random.Random) -> int:
    """``p * k`` rounded down or up at random so that its mean is ``p * k`` (exact when whole)."""
    x = p * k
    m = math.floor(x + 1e-9)
    return m + (1 if r.random() < x - m - 1e-9 else 0)


class ShapesDataset(ItemRNG, Dataset):
    """Procedural captioned shapes (see module doc). Items are dicts (image, tokens, length, caption,
    key, attrs, stated); ``captions(i)`` lists all captions of item ``i``; ``scene(i)`` its attributes;
    ``item(i, k)`` the item with caption ``k``.

    Options (all keyword): ``max_objects`` 1 or 2; ``layout`` 'grid' (3x3 cells, objects jittered inside
    their cell), 'center' (one object in the middle) or 'spread' (one object on a 3x3 lattice inset from
    the border, every object inside the image; jitter ``jitter`` px, default 1); ``positions`` the lattice
    points drawn (names of :data:`POSITION_NAMES` or indices; grid and spread); ``background`` None
    (random: any object colour but the object's), a name, or a list of names (each image draws one that
    differs from its object's colour); ``size`` None (random) or 'small'/'big'; ``object_scale`` multiplies
    every radius; ``jitter`` caps the shift in px; ``state_size``, ``state_position``, ``state_background``
    (fractions in [0, 1]; setting any switches to captions built per attribute, one object only; an unset
    one is 0.5): the fraction of captions that state that attribute.
    """

    def __init__(
        self,
        split: str = "train",
        imsize: int = 64,
        words_num: int = 18,
        seed: int = 0,
        max_objects: int = 2,
        captions_per_image: int = 10,
        length: int | None = None,
        supersample: int = 4,
        object_scale: float = 1.0,
        layout: str = "grid",
        background: str | list[str] | tuple[str, ...] | None = None,
        size: str | None = None,
        jitter: int | None = None,
        positions: list[str | int] | tuple[str | int, ...] | None = None,
        state_size: float | None = None,
        state_position: float | None = None,
        state_background: float | None = None,
    ):
        if split not in _SPLIT_ID:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not 32 <= imsize <= 256:
            raise ValueError(f"shapes: imsize must be in 32..256, got {imsize}")
        if max_objects not in (1, 2):
            raise ValueError(f"shapes: max_objects must be 1 or 2, got {max_objects}")
        if not 1 <= captions_per_image <= 64:
            raise ValueError(f"shapes: captions_per_image must be in 1..64, got {captions_per_image}")
        self.split, self.imsize, self.words_num, self.seed = split, imsize, words_num, seed
        self.draw_seed = seed
        self.max_objects, self.captions_per_image = max_objects, captions_per_image
        self.length = length if length is not None else (20_000 if split == "train" else 2_000)
        self.supersample = supersample
        if not 0.5 <= object_scale <= 2.0:
            raise ValueError(f"shapes: object_scale must be in 0.5..2.0, got {object_scale}")
        self.object_scale = float(object_scale)  # bigger objects are easier to learn at 32 px
        if layout not in LAYOUTS:
            raise ValueError(f"shapes: layout must be one of {LAYOUTS}, got {layout!r}")
        if layout in ("center", "spread") and max_objects != 1:
            raise ValueError(f"shapes: layout={layout!r} draws one object; set max_objects=1")
        self.layout = layout
        if isinstance(background, (list, tuple)):
            bad = [b for b in background if b not in BACKGROUND_NAMES]
            if bad or not background:
                raise ValueError(f"shapes: background must be None (random), one of {BACKGROUND_NAMES} or a "
                                 f"non-empty list of them, got {background!r}")
            background = tuple(dict.fromkeys(background))  # de-duplicated, in the given order
            if len(background) == 1:
                background = background[0]
        elif background is not None and background not in BACKGROUND_NAMES:
            raise ValueError(f"shapes: background must be None (random), one of {BACKGROUND_NAMES} or a "
                             f"list of them, got {background!r}")
        self.background = background
        if size is not None and size not in SIZE_NAMES:
            raise ValueError(f"shapes: size must be None (random) or one of {SIZE_NAMES}, got {size!r}")
        self.size = size
        if jitter is not None and not 0 <= int(jitter) <= imsize // 4:
            raise ValueError(f"shapes: jitter must be None (the layout's default) or 0..{imsize // 4} px, got {jitter!r}")
        self.jitter = None if jitter is None else int(jitter)  # caps the random shift of every object
        self.positions: tuple[int, ...] | None = None
        if positions is not None:
            if isinstance(positions, (str, int)):
                positions = [positions]
            self.positions = tuple(dict.fromkeys(_position_index(p) for p in positions))
            if not self.positions:
                raise ValueError("shapes: positions must name at least one position")
            if layout == "center" and self.positions != (4,):
                raise ValueError("shapes: layout='center' draws the center only; use layout='spread' for positions")
        states = {"size": state_size, "position": state_position, "background": state_background}
        for k, v in states.items():
            if v is not None and not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"shapes: state_{k} must be a fraction in [0, 1], got {v!r}")
        self.stated_captions = any(v is not None for v in states.values())
        if self.stated_captions and max_objects != 1:
            raise ValueError("shapes: state_size/state_position/state_background describe one object; set max_objects=1")
        self.state = {k: (0.5 if v is None else float(v)) for k, v in states.items()} if self.stated_captions else None
        # the original draws (grid or center, a fixed or random background, all positions) keep their bytes
        self._legacy = layout in ("grid", "center") and not isinstance(background, tuple) and self.positions is None
        if not self._legacy and max_objects != 1:
            raise ValueError("shapes: a list of backgrounds or of positions draws one object; set max_objects=1")
        # pixel centres of the 3x3 positions along each axis: the grid cells, or the inset 'spread' lattice
        self._grid_axis = self._axis = [int((k + 0.5) * imsize / 3) for k in range(3)]
        if layout == "spread":
            self._spread_jitter = 1 if self.jitter is None else self.jitter
            half = max(int(math.ceil(_radius(z, imsize, self.object_scale))) for z in self.allowed("size"))
            step = imsize // 2 - 1 - self._spread_jitter - half
            if step < 2 * self._spread_jitter + 2:
                raise ValueError(
                    f"shapes: layout='spread' at {imsize} px has no room for {len(POSITION_NAMES)} separable positions "
                    f"(object_scale={self.object_scale}, jitter={self._spread_jitter}); use a smaller object_scale "
                    f"or jitter, or a larger imsize")
            self._axis = [imsize // 2 + (k - 1) * step for k in range(3)]
        self.vocab = shapes_vocab()

    # ----------------------------------------------------------------------------------------------
    # what the options allow
    def allowed(self, attribute: str) -> tuple[int, ...]:
        """The values (indices into the ``*_NAMES`` tuples) that ``attribute`` of the primary object takes
        in this dataset."""
        if attribute == "shape":
            return tuple(range(len(SHAPE_NAMES)))
        if attribute == "size":
            return tuple(range(len(SIZE_NAMES))) if self.size is None else (SIZE_NAMES.index(self.size),)
        if attribute == "position":
            if self.layout == "center":
                return (4,)
            return tuple(range(len(POSITION_NAMES))) if self.positions is None else self.positions
        bgs = self._background_pool()
        if attribute == "background":
            return tuple(sorted(bgs))
        if attribute == "color":
            return tuple(c for c in range(len(COLOR_NAMES)) if any(b != c for b in bgs))
        raise ValueError(f"unknown attribute {attribute!r}; choose one of {CAPTION_ATTRIBUTES}")

    def _background_pool(self) -> tuple[int, ...]:
        if self.background is None:
            return tuple(range(len(COLOR_NAMES)))
        if isinstance(self.background, tuple):
            return tuple(BACKGROUND_NAMES.index(b) for b in self.background)
        return (BACKGROUND_NAMES.index(self.background),)

    def free_attributes(self) -> tuple[str, ...]:
        """Attributes that take more than one value in this dataset (what a caption can leave open)."""
        return tuple(a for a in CAPTION_ATTRIBUTES if len(self.allowed(a)) > 1)

    def position_centres(self) -> np.ndarray:
        """(9, 2) float64: the (row, col) pixel where an unjittered object at each position is centred,
        as a fraction ``(pixel + 0.5) / imsize`` of the image side (what a position reader compares with)."""
        ax = np.array(self._axis, dtype=np.float64)
        rows, cols = np.divmod(np.arange(len(POSITION_NAMES)), 3)
        return np.stack([(ax[rows] + 0.5) / self.imsize, (ax[cols] + 0.5) / self.imsize], axis=1)

    # ----------------------------------------------------------------------------------------------
    # scenes
    def __len__(self) -> int:
        return self.length

    def _check(self, i: int, k: int = 0) -> int:
        """Item index ``i`` (negative counts from the end) after checking it and caption index ``k``."""
        if not 0 <= k < self.captions_per_image:
            raise IndexError(f"caption index {k} out of range (captions_per_image={self.captions_per_image})")
        if not -self.length <= i < self.length:
            raise IndexError(f"shapes: index {i} out of range for {self.length} items")
        return i % self.length

    def scene(self, i: int) -> Scene:
        """Attributes of item ``i`` (depends only on seed, split and i)."""
        r = random.Random(_item_seed(self.seed, self.split, self._check(i), 0))
        if not self._legacy:
            return self.sample_scene(r)
        n = 1 if self.max_objects == 1 else r.choice((1, 2))
        ncol = len(COLOR_NAMES)
        if self.background is None:
            shape, color, size = r.randrange(len(SHAPE_NAMES)), r.randrange(ncol), r.randrange(2)
            background = r.choice([c for c in range(ncol) if c != color])
        else:
            background = BACKGROUND_NAMES.index(self.background)
            shape, size = r.randrange(len(SHAPE_NAMES)), r.randrange(2)
            color = r.choice([c for c in range(ncol) if c != background])
        if self.size is not None:
            size = SIZE_NAMES.index(self.size)  # drawn above all the same, so other attributes do not change
        position = 4 if self.layout == "center" else r.randrange(9)
        j1 = self._max_shift(size)
        jitter = [r.randint(-j1, j1), r.randint(-j1, j1), 0, 0]
        if n == 1:
            return Scene(shape, color, size, position, background, 1, jitter=tuple(jitter))
        shape2, size2 = r.randrange(len(SHAPE_NAMES)), r.randrange(2)
        if self.size is not None:
            size2 = size
        color2 = r.choice([c for c in range(ncol) if c != background])
        position2 = r.choice([p for p in range(9) if p != position])
        j2 = self._max_shift(size2)
        jitter[2:] = [r.randint(-j2, j2), r.randint(-j2, j2)]
        return Scene(shape, color, size, position, background, 2, shape2, color2, size2, position2, tuple(jitter))

    def sample_scene(self, r: random.Random, fixed: dict[str, int] | None = None) -> Scene:
        """A one-object scene drawn from this dataset's distribution with the attributes in ``fixed``
        (names of :data:`CAPTION_ATTRIBUTES` -> indices) held at the given values: the real images that
        go with a caption stating exactly those attributes. The distribution: shape, size and position
        uniform over :meth:`allowed`; colour uniform over the allowed colours; the background uniform over
        the allowed backgrounds that differ from the colour; each axis of the shift uniform in
        [-jitter, jitter]. (Items of the 'grid' and 'center' layouts with one object follow the same
        distribution, drawn in another order.)"""
        fixed = dict(fixed or {})
        for k, v in fixed.items():
            if k not in CAPTION_ATTRIBUTES:
                raise ValueError(f"sample_scene: unknown attribute {k!r}; choose from {CAPTION_ATTRIBUTES}")
            if int(v) not in self.allowed(k):
                raise ValueError(f"sample_scene: {k}={v} never occurs in this dataset (allowed: {self.allowed(k)})")
        pool = self._background_pool()
        if "color" in fixed:
            color = int(fixed["color"])
        elif "background" in fixed:  # P(colour | background) ∝ P(background | colour)
            b = int(fixed["background"])
            cands = [c for c in self.allowed("color") if c != b]
            color = r.choices(cands, weights=[1.0 / sum(1 for x in pool if x != c) for c in cands])[0]
        else:
            color = r.choice(self.allowed("color"))
        shape, size, position = (int(fixed[a]) if a in fixed else r.choice(self.allowed(a))
                                 for a in ("shape", "size", "position"))
        if "background" in fixed:
            background = int(fixed["background"])
            if background == color:
                raise ValueError("sample_scene: the object colour never equals the background")
        else:
            background = r.choice([b for b in pool if b != color])
        j = self._max_shift(size)
        row, col = divmod(position, 3)
        dx = self._axis[col] - self._grid_axis[col] + r.randint(-j, j)
        dy = self._axis[row] - self._grid_axis[row] + r.randint(-j, j)
        return Scene(shape, color, size, position, background, 1, jitter=(dx, dy, 0, 0))

    def _max_shift(self, size: int) -> int:
        """The largest shift (px, each axis) of an object of size index ``size`` in this layout."""
        if self.layout == "spread":
            return self._spread_jitter
        j = (_max_jitter_centre if self.layout == "center" else _max_jitter)(size, self.imsize, self.object_scale)
        return j if self.jitter is None else min(j, self.jitter)

    # ----------------------------------------------------------------------------------------------
    # captions
    def statement_plan(self, i: int) -> list[dict[str, bool]]:
        """For each caption ``k`` of item ``i``, which of :data:`CAPTION_ATTRIBUTES` it states. With the
        ``state_*`` options: of the ``captions_per_image`` captions, ``state_a * captions_per_image``
        (rounded stochastically when not whole) state attribute ``a``, chosen at random independently per
        attribute and of the values; otherwise read from the template-drawn captions."""
        i = self._check(i)
        if not self.stated_captions:
            return [stated_attributes(c) for c in self.captions(i)]
        k = self.captions_per_image
        r = random.Random(_item_seed(self.seed, self.split, i, _PLAN_STREAM))
        chosen = {a: set(r.sample(range(k), _stochastic_count(self.state[a], k, r))) for a in _STATE_OPTIONS}
        return [{a: a not in chosen or j in chosen[a] for a in CAPTION_ATTRIBUTES} for j in range(k)]

    def _caption(self, i: int, k: int, scene: Scene) -> tuple[str, dict[str, bool]]:
        r = random.Random(_item_seed(self.seed, self.split, i, k + 1))
        if self.stated_captions:
            stated = self.statement_plan(i)[k]
            return make_stated_caption(scene, stated, r), stated
        caption = make_caption(scene, r)
        return caption, stated_attributes(caption)

    def caption(self, i: int, k: int) -> str:
        """Caption ``k`` of item ``i``."""
        i = self._check(i, k)
        return self._caption(i, k, self.scene(i))[0]

    def captions(self, i: int) -> list[str]:
        """All ``captions_per_image`` captions of item ``i``."""
        return [self.caption(i, k) for k in range(self.captions_per_image)]

    def image(self, i: int) -> torch.Tensor:
        """Float32 (3,H,W) image of item ``i`` in [-1,1]."""
        return self.render(self.scene(i))

    def render(self, scene: Scene) -> torch.Tensor:
        """Float32 (3,H,W) image of ``scene`` at this dataset's size and object scale."""
        return torch.from_numpy(render_scene(scene, self.imsize, self.supersample, self.object_scale))

    def item(self, i: int, k: int, rng: np.random.Generator | None = None) -> dict:
        """Item ``i`` with caption ``k`` (``rng`` draws the token padding; default: this dataset's draws)."""
        i = self._check(int(i), k)
        scene = self.scene(i)
        caption, stated = self._caption(i, k, scene)
        tokens, length = pad_tokens(self.vocab.encode(caption), self.words_num, self._rng() if rng is None else rng)
        return {
            "image": self.render(scene),
            "tokens": torch.from_numpy(tokens),
            "length": length,
            "caption": caption,
            "key": f"shapes-{self.split}-{self.seed}-{i:06d}",
            "attrs": scene.attrs(),
            "stated": stated,
        }

    def __getitem__(self, i: int) -> dict:
        i = self._check(int(i))
        rng = self._rng()
        k = int(rng.integers(self.captions_per_image))
        return self.item(i, k, rng)
