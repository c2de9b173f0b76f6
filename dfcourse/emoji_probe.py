"""Reading generated emoji (notebook 09, section 10): what the emoji classifier sees in each image, and
which of a few real emoji an image is closest to.

The classifier is :func:`dflib.metrics.emoji_eval.emoji_classifier` (the one ``metrics.json`` and the model
card use); its labels are Unicode's group and subgroup, the skin tone and the colour word of the colour
families. Two emoji of one subgroup ("cat face" and "dog face" are both ``animal-mammal``) look the same to
it, so :func:`nearest_real` compares pixels with the real drawings instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dflib.data.emoji import list_emoji, load_emoji_image
from dflib.metrics.classifier import predict_attributes
from dflib.metrics.emoji_eval import label_names

__all__ = ["read_emoji", "count_labels", "real_emoji", "nearest_real"]


def read_emoji(classifier: nn.Module, images: Tensor) -> dict[str, list[str]]:
    """The classifier's reading of each image: ``{"group": [...], "subgroup": [...], "skin_tone": [...],
    "colour": [...]}`` (class names, one per image)."""
    names = label_names()
    pred = predict_attributes(classifier, images.float())
    return {k: [names[k][int(i)] for i in v] for k, v in pred.items() if k in names}


def count_labels(labels: Sequence[str], top: int = 3) -> str:
    """``"face-smiling 6, face-affection 2"``: the ``top`` most common labels with their counts."""
    return ", ".join(f"{k} {n}" for k, n in Counter(labels).most_common(top))


def real_emoji(names: Sequence[str], imsize: int = 32) -> Tensor:
    """``(len(names), 3, imsize, imsize)`` in [-1, 1]: the default drawing of each named emoji (its
    everyday name, as captions use it: "cat face", "red heart")."""
    by_name = {}
    for e in list_emoji():
        if e.skin_tone is None:
            by_name.setdefault(e.name, e)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise KeyError(f"no emoji named {missing}; names are everyday names such as 'red heart'")
    imgs = [torch.from_numpy(load_emoji_image(by_name[n].path, imsize).copy()).permute(2, 0, 1) for n in names]
    return torch.stack(imgs).float() / 127.5 - 1


def nearest_real(images: Tensor, names: Sequence[str]) -> list[str]:
    """For each image, the name (of ``names``) whose real drawing is closest in mean squared pixel
    distance, at the images' size."""
    real = real_emoji(names, images.shape[-1])
    d = ((images.float()[:, None] - real[None]) ** 2).flatten(2).mean(-1)  # (N, len(names))
    return [names[int(i)] for i in d.argmin(1)]
