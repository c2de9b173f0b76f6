"""``shapes`` scenes and their drawing: attribute names and colours, :class:`Scene`, anti-aliased shape masks
and :func:`render_scene` (numpy only). The dataset is :mod:`dflib.data.shapes`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "SHAPE_NAMES", "COLOR_NAMES", "COLOR_RGB", "BACKGROUND_NAMES", "BACKGROUND_RGB", "SIZE_NAMES", "LAYOUTS",
    "POSITION_NAMES", "CAPTION_ATTRIBUTES", "ATTRIBUTE_VALUES", "SIZE_RADIUS", "Scene",
    "shape_alpha", "render_scene",
]

SHAPE_NAMES = ("circle", "square", "triangle", "star", "heart", "cross")
COLOR_NAMES = ("red", "green", "blue", "yellow", "purple", "cyan", "white", "black")
COLOR_RGB = {
    "red": (220, 30, 30),
    "green": (30, 160, 40),
    "blue": (30, 60, 220),
    "yellow": (250, 220, 30),
    "purple": (130, 40, 170),
    "cyan": (40, 210, 230),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
# a background may also be plain gray (``background='gray'``): mid-range values, so G's tanh output is not
# pushed into saturation as it is by a black or white background; gray is never an object colour
BACKGROUND_NAMES = COLOR_NAMES + ("gray",)
SIZE_NAMES = ("small", "big")
# objects in the cells of a 3x3 grid; one object in the middle; one object on a 3x3 lattice inset from the border
LAYOUTS = ("grid", "center", "spread")
POSITION_NAMES = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)  # index = 3 * row + col
# the attributes of the primary object a caption may state; colour and shape are always stated
CAPTION_ATTRIBUTES = ("color", "shape", "size", "position", "background")
ATTRIBUTE_VALUES = {
    "color": COLOR_NAMES, "shape": SHAPE_NAMES, "size": SIZE_NAMES, "position": POSITION_NAMES,
    "background": BACKGROUND_NAMES,
}
BACKGROUND_RGB = {**COLOR_RGB, "gray": (128, 128, 128)}

# half-extent of an object as a fraction of the image side (a design choice of this library, not from the paper)
SIZE_RADIUS = {"small": 0.085, "big": 0.145}


@dataclass(frozen=True)
class Scene:
    """Attributes of one image; ``*2`` fields are -1 when there is a single object."""

    shape: int
    color: int
    size: int
    position: int
    background: int
    n_objects: int
    shape2: int = -1
    color2: int = -1
    size2: int = -1
    position2: int = -1
    jitter: tuple[int, int, int, int] = (0, 0, 0, 0)  # (dx, dy) of object 1, then object 2

    def attrs(self) -> dict[str, int]:
        """Ground truth for evaluation (indices into the *_NAMES tuples)."""
        return {k: v for k, v in asdict(self).items() if k != "jitter"}


def _in_polygon(x: np.ndarray, y: np.ndarray, poly: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points."""
    inside = np.zeros(x.shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1]):
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        xint = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        inside ^= crosses & (x < xint)
    return inside


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit-radius shapes, centred on (0,0), v pointing down (image rows)."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.82
    if shape == "triangle":
        return _in_polygon(u, v, [(0.0, -0.95), (0.97, 0.72), (-0.97, 0.72)])
    if shape == "star":
        rad_ang = [(1.0 if k % 2 == 0 else 0.45, -math.pi / 2 + k * math.pi / 5) for k in range(10)]
        return _in_polygon(u, v, [(rad * math.cos(ang), rad * math.sin(ang) + 0.08) for rad, ang in rad_ang])
    if shape == "heart":  # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up
        x, y = u * 1.2, 0.12 - 1.15 * v
        return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPE_NAMES}")


@lru_cache(maxsize=512)
def shape_alpha(shape: str, radius: float, supersample: int = 4) -> np.ndarray:
    """Coverage (n, n) float32 in [0,1] of ``shape`` with half-extent ``radius`` pixels, centred on the
    middle pixel, anti-aliased by ``supersample``² sub-pixel samples. Read-only (cached)."""
    half = int(math.ceil(radius))
    n = 2 * half + 1
    ss = max(1, int(supersample))
    c = (np.arange(n * ss, dtype=np.float64) + 0.5) / ss - (half + 0.5)
    v, u = np.meshgrid(c / radius, c / radius, indexing="ij")
    alpha = _inside(shape, u, v).reshape(n, ss, n, ss).mean(axis=(1, 3)).astype(np.float32)
    alpha.setflags(write=False)
    return alpha


_COLOR_TABLE = np.array([COLOR_RGB[c] for c in COLOR_NAMES], dtype=np.float32) / 127.5 - 1.0
_BACKGROUND_TABLE = np.array([BACKGROUND_RGB[c] for c in BACKGROUND_NAMES], dtype=np.float32) / 127.5 - 1.0


def _radius(size: int, imsize: int, scale: float = 1.0) -> float:
    """Half-extent in pixels of an object of size index ``size``."""
    return SIZE_RADIUS[SIZE_NAMES[size]] * imsize * scale


def _max_jitter(size: int, imsize: int, scale: float = 1.0) -> int:
    return max(0, int(imsize / 6 - _radius(size, imsize, scale) - 1))


def _max_jitter_centre(size: int, imsize: int, scale: float = 1.0) -> int:
    """Jitter of a lone centred object (``layout='center'``): up to imsize/8, object kept inside."""
    return max(0, min(imsize // 8, int(imsize / 2 - _radius(size, imsize, scale) - 1)))


def render_scene(scene: Scene, imsize: int, supersample: int = 4, scale: float = 1.0) -> np.ndarray:
    """Float32 (3, imsize, imsize) image in [-1,1] of ``scene`` (numpy masks, no PIL); ``scale``
    multiplies every object's radius (objects near the border are then clipped)."""
    img = np.empty((3, imsize, imsize), dtype=np.float32)
    img[:] = _BACKGROUND_TABLE[scene.background][:, None, None]
    objs = [(scene.shape, scene.color, scene.size, scene.position, scene.jitter[0], scene.jitter[1])]
    if scene.n_objects > 1:
        objs.append((scene.shape2, scene.color2, scene.size2, scene.position2, scene.jitter[2], scene.jitter[3]))
    for shape, color, size, position, dx, dy in objs:
        row, col = divmod(position, 3)  # the centre of its grid cell, shifted by (dx, dy)
        cx, cy = int((col + 0.5) * imsize / 3) + dx, int((row + 0.5) * imsize / 3) + dy
        alpha = shape_alpha(SHAPE_NAMES[shape], _radius(size, imsize, scale), supersample)
        half = alpha.shape[0] // 2
        y0, x0 = cy - half, cx - half
        ys, xs = max(0, y0), max(0, x0)
        ye, xe = min(imsize, y0 + alpha.shape[0]), min(imsize, x0 + alpha.shape[1])
        a = alpha[ys - y0 : ye - y0, xs - x0 : xe - x0]
        region = img[:, ys:ye, xs:xe]
        region *= 1.0 - a
        region += _COLOR_TABLE[color][:, None, None] * a
    return img
