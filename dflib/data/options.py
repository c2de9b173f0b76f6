"""Dataset names and options (``data.name``, ``data.options``, ``pretrain --dataset-kw``) checked against the
dataset class they go to, before any data is read: an unknown or mistyped option is one line naming it, the
closest known name and the names the class takes, instead of a ``TypeError`` from deep inside the loader.

The names are read from the class's constructor signature, so a new option is known as soon as the class
takes it; values are checked against its annotations where they are plain types (whole numbers, numbers,
flags, text, lists), and a nested mapping where the option takes no mapping is refused with its full path.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DATASET_NAMES", "dataset_class", "check_dataset_options"]

DATASET_NAMES = ("shapes", "emoji", "cub", "coco", "folder", "birds")
# arguments that build_dataset passes itself: not options
_GIVEN = frozenset({"self", "root", "kind", "split", "imsize", "words_num", "seed"})


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def dataset_class(name: str) -> type:
    """The class ``build_dataset(name)`` builds; an unknown name is a ``ValueError`` with the closest one."""
    if name == "shapes":
        from .shapes import ShapesDataset as cls
    elif name == "emoji":
        from .emoji import EmojiDataset as cls
    elif name in ("cub", "coco", "birds"):
        from .official import OfficialDataset as cls
    elif name == "folder":
        from .folder import FolderDataset as cls
    else:
        raise ValueError(f"data.name={name!r} is not a dataset{_did_you_mean(name, DATASET_NAMES)}: choose one of "
                         f"{', '.join(DATASET_NAMES[:-1])}")
    return cls


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (read from YAML) fits the annotation ``hint``; unknown kinds of annotation fit."""
    if hint is Any or hint is None:
        return True
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    kind = typing.get_origin(hint) or hint
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (str, Path) or (isinstance(kind, type) and issubclass(kind, Path)):
        return isinstance(value, str)
    if kind in (list, tuple):
        return isinstance(value, (list, tuple))
    if kind in (dict, Mapping):
        return isinstance(value, Mapping)
    return True  # a class of dflib (e.g. a Vocab object) passed from Python


def _words(hint: Any) -> str:
    plain = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
    if hint in plain:
        return plain[hint]
    text = str(hint).replace("typing.", "").replace("NoneType", "null").replace("pathlib.", "")
    return text.replace("<class '", "").replace("'>", "")


def check_dataset_options(name: str, options: Mapping[str, Any], prefix: str = "data.options") -> None:
    """Raise a one-line ``ValueError`` unless ``name`` is a dataset and every key of ``options`` is an option
    of its class with a value of the annotated type (``prefix`` names them as the user typed them:
    ``data.options`` for ``--set``, ``--dataset-kw`` for pretrain)."""
    cls = dataset_class(name)
    if not isinstance(options, Mapping):
        raise ValueError(f"{prefix}={options!r} must be a mapping of option names to values, e.g. {{max_objects: 1}}")
    params = [n for n, p in inspect.signature(cls.__init__).parameters.items()
              if n not in _GIVEN and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved: names are still checked
        hints = {}
    for key, value in options.items():
        if key not in params:
            what = f"{prefix} {key}" if prefix.startswith("--") else f"setting {prefix}.{key}"
            raise ValueError(f"unknown {what}{_did_you_mean(key, params)}: the {name} dataset "
                             f"({cls.__name__}) takes {', '.join(params) or 'no options'}")
        hint = hints.get(key)
        if hint is None or _fits(value, hint):
            continue
        if isinstance(value, Mapping):
            inner = next(iter(value), "")
            raise ValueError(f"unknown setting {prefix}.{key}.{inner}: {key} is not a section; it takes {_words(hint)}")
        raise ValueError(f"{prefix}.{key}={value!r} is not allowed: {cls.__name__} takes {key} as {_words(hint)}")
