"""``shapes`` captions: word tables, templates, :func:`make_caption` (the original templates),
:func:`make_stated_caption` (captions that state exactly the chosen attributes), :func:`parse_caption`
(reads the attributes back) and :func:`shapes_vocab`. The dataset is :mod:`dflib.data.shapes`."""

from __future__ import annotations

import random
from functools import lru_cache

from .shapes_draw import BACKGROUND_NAMES, CAPTION_ATTRIBUTES, COLOR_NAMES, SHAPE_NAMES, SIZE_NAMES, Scene
from .vocab import Vocab, tokenize

__all__ = [
    "SHAPE_WORDS", "COLOR_WORDS", "BACKGROUND_WORDS", "SIZE_WORDS", "SINGLE_TEMPLATES", "PAIR_TEMPLATES",
    "STATED_TEMPLATES", "make_caption", "make_stated_caption", "stated_attributes", "parse_caption", "shapes_vocab",
]

SHAPE_WORDS = {
    "circle": ("circle", "disc", "disk"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "star": ("star",),
    "heart": ("heart",),
    "cross": ("cross", "plus"),
}
COLOR_WORDS = {
    "red": ("red", "scarlet"),
    "green": ("green",),
    "blue": ("blue",),
    "yellow": ("yellow",),
    "purple": ("purple", "violet"),
    "cyan": ("cyan", "turquoise"),
    "white": ("white",),
    "black": ("black",),
}
BACKGROUND_WORDS = {**COLOR_WORDS, "gray": ("gray", "grey")}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "big": ("big", "large", "huge")}
_VERT_WORDS = {0: ("top", "upper"), 2: ("bottom", "lower")}
_HORIZ_WORDS = {0: ("left",), 2: ("right",)}
_CENTER_WORDS = ("center", "middle", "centre")
_SEPARATORS = ("and", "with")  # split a caption into one clause per object


# {obj}/{obj2}: "a small red circle"; {pos}/{pos2}: "in the top left"; {bg}: "yellow"; {bg_np}: "a yellow"
SINGLE_TEMPLATES = (
    "{obj} {pos}",
    "there is {obj} {pos}",
    "{obj} {pos} on {bg_np} background",
    "{obj} on {bg_np} background",
    "{pos} there is {obj}",
    "{obj} {pos}, the background is {bg}",
    "a picture of {obj} {pos}",
    "this image shows {obj} on {bg_np} background",
    "{obj} is drawn {pos}",
    "{obj} sits {pos} against {bg_np} background",
)
PAIR_TEMPLATES = (
    "{obj} {pos} and {obj2} {pos2}",
    "{obj} {pos} with {obj2} {pos2} on {bg_np} background",
    "there is {obj} {pos} and {obj2}",
    "{obj} and {obj2}, the background is {bg}",
)
_OBJECT_FORMS = ("a {size} {color} {shape}", "a {color} {shape}", "a {size} {shape} colored {color}")
_CORNER_FORMS = ("in the {v} {h}", "at the {v} {h}", "in the {v} {h} corner")
_SIDE_FORMS = ("on the {h}", "at the {h} side", "in the middle {h}")
_EDGE_FORMS = ("at the {v}", "near the {v}", "in the {v} center")
_CENTER_FORMS = ("in the {c}", "at the {c}")
# captions built per attribute (``state_*`` options): keyed by (states position, states background); no new words
STATED_TEMPLATES = {
    (False, False): ("{obj}", "there is {obj}", "a picture of {obj}", "this image shows {obj}"),
    (True, False): ("{obj} {pos}", "there is {obj} {pos}", "{pos} there is {obj}", "a picture of {obj} {pos}",
                    "{obj} is drawn {pos}"),
    (False, True): ("{obj} on {bg_np} background", "this image shows {obj} on {bg_np} background",
                    "{obj}, the background is {bg}"),
    (True, True): ("{obj} {pos} on {bg_np} background", "{obj} {pos}, the background is {bg}",
                   "{obj} sits {pos} against {bg_np} background"),
}
_SIZED_FORMS = ("a {size} {color} {shape}", "a {size} {shape} colored {color}")
_UNSIZED_FORMS = ("a {color} {shape}", "a {shape} colored {color}")


def _position_phrase(position: int, r: random.Random) -> str:
    row, col = divmod(position, 3)
    if row != 1 and col != 1:
        return r.choice(_CORNER_FORMS).format(v=r.choice(_VERT_WORDS[row]), h=_HORIZ_WORDS[col][0])
    if row == 1 and col == 1:
        return r.choice(_CENTER_FORMS).format(c=r.choice(_CENTER_WORDS))
    if row == 1:
        return r.choice(_SIDE_FORMS).format(h=_HORIZ_WORDS[col][0])
    return r.choice(_EDGE_FORMS).format(v=_VERT_WORDS[row][0])


def _object_phrase(shape: int, color: int, size: int, r: random.Random) -> str:
    return r.choice(_OBJECT_FORMS).format(
        size=r.choice(SIZE_WORDS[SIZE_NAMES[size]]),
        color=r.choice(COLOR_WORDS[COLOR_NAMES[color]]),
        shape=r.choice(SHAPE_WORDS[SHAPE_NAMES[shape]]),
    )


def make_caption(scene: Scene, r: random.Random) -> str:
    """One caption of ``scene``; the primary object (colour + shape) always comes first."""
    templates = SINGLE_TEMPLATES + (PAIR_TEMPLATES if scene.n_objects > 1 else ())
    template = r.choice(templates)
    bg = r.choice(BACKGROUND_WORDS[BACKGROUND_NAMES[scene.background]])
    slots = {
        "obj": _object_phrase(scene.shape, scene.color, scene.size, r),
        "pos": _position_phrase(scene.position, r),
        "bg": bg,
        "bg_np": f"a {bg}",
    }
    if scene.n_objects > 1:
        slots["obj2"] = _object_phrase(scene.shape2, scene.color2, scene.size2, r)
        slots["pos2"] = _position_phrase(scene.position2, r)
    return template.format(**slots)


def make_stated_caption(scene: Scene, stated: dict[str, bool], r: random.Random) -> str:
    """One caption of a one-object ``scene`` that states colour, shape and exactly the attributes in
    ``stated`` that are true (size, position, background)."""
    word = {
        "size": r.choice(SIZE_WORDS[SIZE_NAMES[scene.size]]),
        "color": r.choice(COLOR_WORDS[COLOR_NAMES[scene.color]]),
        "shape": r.choice(SHAPE_WORDS[SHAPE_NAMES[scene.shape]]),
    }
    obj = r.choice(_SIZED_FORMS if stated.get("size") else _UNSIZED_FORMS).format(**word)
    template = r.choice(STATED_TEMPLATES[(bool(stated.get("position")), bool(stated.get("background")))])
    pos = _position_phrase(scene.position, r) if stated.get("position") else ""
    bg = r.choice(BACKGROUND_WORDS[BACKGROUND_NAMES[scene.background]])
    return template.format(obj=obj, pos=pos, bg=bg, bg_np=f"a {bg}")


def stated_attributes(caption: str) -> dict[str, bool]:
    """Which of :data:`CAPTION_ATTRIBUTES` the caption states for its primary object (via
    :func:`parse_caption`)."""
    parsed = parse_caption(caption)
    return {k: k in parsed for k in CAPTION_ATTRIBUTES}


def _lookup(table: dict[str, tuple[str, ...]], names: tuple[str, ...]) -> dict[str, int]:
    return {w: names.index(name) for name, words in table.items() for w in words}


_SHAPE_IX = _lookup(SHAPE_WORDS, SHAPE_NAMES)
_COLOR_IX = _lookup(COLOR_WORDS, COLOR_NAMES)
_BACKGROUND_IX = _lookup(BACKGROUND_WORDS, BACKGROUND_NAMES)
_SIZE_IX = _lookup(SIZE_WORDS, SIZE_NAMES)
_VERT_IX = {w: row for row, ws in _VERT_WORDS.items() for w in ws}
_HORIZ_IX = {w: col for col, ws in _HORIZ_WORDS.items() for w in ws}


def _parse_clause(tokens: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tokens:
        if t in _SHAPE_IX and "shape" not in out:
            out["shape"] = _SHAPE_IX[t]
        elif t in _COLOR_IX and "color" not in out:
            out["color"] = _COLOR_IX[t]
        elif t in _SIZE_IX and "size" not in out:
            out["size"] = _SIZE_IX[t]
    row = next((_VERT_IX[t] for t in tokens if t in _VERT_IX), None)
    col = next((_HORIZ_IX[t] for t in tokens if t in _HORIZ_IX), None)
    centre = any(t in _CENTER_WORDS for t in tokens)
    if row is not None or col is not None or centre:
        out["position"] = 3 * (1 if row is None else row) + (1 if col is None else col)
    return out


def parse_caption(caption: str) -> dict[str, int]:
    """Attributes named by a ``shapes`` caption: 'shape', 'color' (always) and, when mentioned, 'size',
    'position', 'background' and the second object's 'shape2', 'color2', 'size2', 'position2'.

    >>> parse_caption("there is a big blue square on a yellow background")
    {'shape': 1, 'color': 2, 'size': 1, 'background': 3}
    """
    toks = tokenize(caption)
    out: dict[str, int] = {}
    keep = [True] * len(toks)
    for j, t in enumerate(toks):
        if t != "background":
            continue
        keep[j] = False
        if j > 0 and toks[j - 1] in _BACKGROUND_IX:
            out["background"] = _BACKGROUND_IX[toks[j - 1]]
            keep[j - 1] = False
        elif j + 2 < len(toks) and toks[j + 1] == "is" and toks[j + 2] in _BACKGROUND_IX:
            out["background"] = _BACKGROUND_IX[toks[j + 2]]
            keep[j + 2] = False
    clauses: list[list[str]] = [[]]
    for t, k in zip(toks, keep):
        if not k:
            continue
        if t in _SEPARATORS:
            clauses.append([])
        else:
            clauses[-1].append(t)
    objects = [c for c in (_parse_clause(c) for c in clauses) if "shape" in c]
    if not objects or "color" not in objects[0]:
        raise ValueError(f"caption {caption!r} names no coloured shape (shapes: {SHAPE_NAMES})")
    primary = objects[0]
    out = {**{k: primary[k] for k in ("shape", "color", "size", "position") if k in primary}, **out}
    if len(objects) > 1:
        out.update({f"{k}2": v for k, v in objects[1].items()})
    return out


@lru_cache(maxsize=1)
def shapes_vocab() -> Vocab:
    """The vocabulary of every word any template can produce, in a fixed order (seed independent)."""
    stated = tuple(t for ts in STATED_TEMPLATES.values() for t in ts) + _SIZED_FORMS + _UNSIZED_FORMS
    forms = SINGLE_TEMPLATES + PAIR_TEMPLATES + _OBJECT_FORMS + _CORNER_FORMS + _SIDE_FORMS + _EDGE_FORMS + _CENTER_FORMS
    # the stated templates come last and add no word: the vocabulary is unchanged
    texts = [" ".join(w for w in t.replace("{", " {").replace("}", "} ").split() if "{" not in w)
             for t in forms + stated]
    texts.append("a")
    for table in (SHAPE_WORDS, BACKGROUND_WORDS, SIZE_WORDS, _VERT_WORDS, _HORIZ_WORDS):
        texts.extend(w for words in table.values() for w in words)
    texts.extend(_CENTER_WORDS)
    return Vocab.from_captions(texts)
