"""Attribute accuracy on ``shapes``: does a generated image show what its caption states?

:class:`~dflib.metrics.classifier.AttributeClassifier` reads every attribute of the *primary* object of a
``shapes`` image (colour, shape and size by a small CNN trained on real images; position and background
by comparing the located object and the border colour with what the data allow). Its predictions on
generated images, compared with the attributes their captions state, measure text-image consistency
without any pretrained network (a cheap, exact stand-in for R-precision on this toy data). An attribute a
caption leaves open is not scored here (any value is right); how much it varies over noise draws is
:mod:`dflib.metrics.diversity`. Always report the classifier's accuracy on real held-out images next to
it (``real_*``): that is the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..noise import truncated_noise
from .classifier import (
    ATTRIBUTES,
    REQUIRED_ATTRIBUTES,
    AttributeClassifier,
    _batch,
    _check_attrs,
    _options,
    predict_attributes,
    train_attribute_classifier,
)

__all__ = [
    "ATTRIBUTES",
    "REQUIRED_ATTRIBUTES",
    "AttributeClassifier",
    "train_attribute_classifier",
    "predict_attributes",
    "attribute_accuracy",
    "stated_accuracy",
    "real_attribute_accuracy",
    "single_object_indices",
    "eval_items",
    "generate_for_dataset",
    "generate_for_items",
    "evaluate_generator_attributes",
]


def attribute_accuracy(
    classifier: nn.Module | None,
    images: Tensor | None,
    attrs: Mapping[str, Any],
    predictions: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Fraction of images whose predicted attribute equals ``attrs[name]`` (sequences or (N,) tensors of
    indices): colour and shape (required), plus size, position and background where both ``attrs`` and
    the predictions have them. Pass ``predictions`` instead of classifier + images to score given
    predictions."""
    if predictions is None:
        if classifier is None or images is None:
            raise ValueError("attribute_accuracy needs a classifier and images, or predictions=")
        predictions = predict_attributes(classifier, images)
    acc: dict[str, float] = {}
    for k in ATTRIBUTES:
        if k not in REQUIRED_ATTRIBUTES and (k not in attrs or k not in predictions):
            continue
        if k not in attrs or k not in predictions:
            raise KeyError(f"attribute_accuracy: missing {k!r} (attrs has {sorted(attrs)}, predictions {sorted(predictions)})")
        y = torch.as_tensor(attrs[k]).long().flatten().cpu()
        p = torch.as_tensor(predictions[k]).long().flatten().cpu()
        if y.shape != p.shape or y.numel() == 0:
            raise ValueError(f"{k}: {p.numel()} predictions for {y.numel()} targets (need equal, non-zero)")
        acc[k] = float((y == p).double().mean())
    return acc


def stated_accuracy(
    truth: Mapping[str, Any], predictions: Mapping[str, Any], stated: Mapping[str, Any]
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Per attribute, the accuracy over the images whose caption states it (``stated[name]``: (N,) bools)
    and how many those are; None where no caption states it."""
    acc: dict[str, float | None] = {}
    count: dict[str, int] = {}
    for k in ATTRIBUTES:
        if k not in truth or k not in predictions:
            continue
        y = torch.as_tensor(truth[k]).long().flatten().cpu()
        p = torch.as_tensor(predictions[k]).long().flatten().cpu()
        m = torch.as_tensor(stated[k]).bool().flatten().cpu() if k in stated else torch.ones_like(y, dtype=torch.bool)
        if not y.shape == p.shape == m.shape:
            raise ValueError(f"{k}: {p.numel()} predictions, {y.numel()} targets, {m.numel()} stated flags")
        count[k] = int(m.sum())
        acc[k] = float((y[m] == p[m]).double().mean()) if count[k] else None
    return acc, count


def single_object_indices(dataset: Any, n: int) -> list[int]:
    """Indices of the first ``n`` items of a ``shapes`` dataset that show one object (whose caption's
    colour and shape are unambiguous in the image)."""
    if getattr(dataset, "max_objects", 2) == 1:
        return list(range(min(int(n), len(dataset))))
    out: list[int] = []
    for i in range(len(dataset)):
        if len(out) >= n:
            break
        scene = getattr(dataset, "scene", None)
        k = scene(i).n_objects if callable(scene) else int(dataset[i]["attrs"].get("n_objects", 1))
        if k == 1:
            out.append(i)
    return out


def eval_items(dataset: Any, indices: Sequence[int], seed: int = 0) -> list[dict]:
    """The items at ``indices``, each with one caption drawn from ``seed`` (the same every call, unlike
    ``dataset[i]``, which draws a new caption per access)."""
    if not hasattr(dataset, "item"):
        return [dataset[int(i)] for i in indices]
    rng = np.random.default_rng([int(seed) % 2**32, 0x5EED])
    k = rng.integers(dataset.captions_per_image, size=len(indices))
    return [dataset.item(int(i), int(kk), rng) for i, kk in zip(indices, k)]


def _stated_flags(item: Mapping[str, Any]) -> dict[str, bool]:
    if "stated" in item:
        return dict(item["stated"])
    from dflib.data.shapes import stated_attributes

    return stated_attributes(item["caption"])


def real_attribute_accuracy(
    classifier: nn.Module, dataset: Any, n: int = 1000, batch_size: int = 256
) -> dict[str, float]:
    """The classifier's accuracy on the first ``n`` real images of ``dataset`` (use a held-out split/seed),
    for every attribute it predicts and the items carry."""
    n = min(int(n), len(dataset))
    _check_attrs(dataset[0])
    x, y = _batch(dataset, np.arange(n))
    return attribute_accuracy(classifier, x, y)


def _encode(encode_fn: Any, items: list[dict], device: torch.device) -> Tensor:
    """Sentence vectors (B,D) for a list of dataset items: ``encode_batch(batch)`` of a ``dflib.text``
    encoder, or a callable on the list of captions."""
    if hasattr(encode_fn, "encode_batch"):
        from dflib.data import collate

        out = encode_fn.encode_batch(collate(items))
    elif hasattr(encode_fn, "encode"):
        out = encode_fn.encode([it["caption"] for it in items])
    elif callable(encode_fn):
        out = encode_fn([it["caption"] for it in items])
    else:
        raise TypeError(f"encode_fn must be a dflib.text encoder or a callable on captions, got {type(encode_fn).__name__}")
    sent = out[0] if isinstance(out, tuple) else out
    if hasattr(sent, "sent"):
        sent = sent.sent
    return sent.detach().float().to(device)


def _z_dim(netG: nn.Module, z_dim: int | None) -> int:
    return int(z_dim) if z_dim is not None else int(getattr(netG, "z_dim", getattr(netG, "nz", 100)))


def generate_for_items(
    netG: nn.Module,
    encode_fn: Any,
    items: list[dict],
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    truncation: float | None = None,
    seed: int = 0,
    z_dim: int | None = None,
) -> Iterator[tuple[Tensor, list[dict]]]:
    """Yield ``(fake images (B,3,H,W) on the CPU, items)``: one image per item from its caption, noise of
    batch ``b`` seeded ``seed + b`` (normal, or ``truncnorm(-2,2)·truncation`` when ``truncation`` is
    given, as the official sampler draws)."""
    chunks = (items[start : start + batch_size] for start in range(0, len(items), batch_size))
    return _generate_batches(netG, encode_fn, chunks, device, truncation, seed, _z_dim(netG, z_dim))


def generate_for_dataset(
    netG: nn.Module,
    encode_fn: Any,
    dataset: Any,
    n: int,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    truncation: float | None = None,
    seed: int = 0,
    nz: int | None = None,
    indices: list[int] | None = None,
) -> Iterator[tuple[Tensor, list[dict]]]:
    """:func:`generate_for_items` for the first ``n`` items of ``dataset`` (or the given ``indices``), each
    with the caption it draws when read (as the official FID sampling does)."""
    indices = list(range(min(int(n), len(dataset)))) if indices is None else list(indices)
    batches = ([dataset[i] for i in indices[s : s + batch_size]] for s in range(0, len(indices), batch_size))
    return _generate_batches(netG, encode_fn, batches, device, truncation, seed, _z_dim(netG, nz))


def _generate_batches(
    netG: nn.Module, encode_fn: Any, batches: Iterable[list[dict]], device: str | torch.device,
    truncation: float | None, seed: int, z_dim: int,
) -> Iterator[tuple[Tensor, list[dict]]]:
    from ..sample import generate_images

    device = torch.device(device)
    for b, items in enumerate(batches):
        with torch.no_grad():
            sent = _encode(encode_fn, items, device)
        z = truncated_noise(len(items), z_dim, truncation, seed=seed + b)
        yield generate_images(netG, z, sent, batch=max(1, len(items))).float(), items


def evaluate_generator_attributes(
    netG: nn.Module,
    encode_fn: Any,
    dataset: Any,
    n: int = 512,
    classifier: nn.Module | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    truncation: float | None = None,
    seed: int = 0,
    classifier_steps: int = 400,
    classifier_path: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Attribute accuracy of ``netG`` on the captions of the first ``n`` single-object items of
    ``dataset`` (a held-out ``shapes`` split; two-object items are skipped because their primary object
    cannot be told from the image), one caption per item drawn from ``seed``.

    Returns, for each attribute ``a`` of :data:`ATTRIBUTES`: ``a`` = the accuracy on generated images
    whose caption states ``a`` (colour and shape: all; None if no caption states it), ``n_a`` = how many
    those are, ``real_a`` = the classifier's accuracy on the same items' real images (all of them: its
    ceiling); and ``n``. Chance is 1/8 (colour), 1/6 (shape), 1/2 (size), 1/#positions and
    1/#backgrounds. Without ``classifier`` one is trained on the ``train`` split with the dataset's options
    (or loaded from ``classifier_path``)."""
    _check_attrs(dataset[0])
    if classifier is None:
        kw = dict(split="train", imsize=getattr(dataset, "imsize", 32), seed=getattr(dataset, "seed", 0),
                  **_options(dataset))
        classifier = train_attribute_classifier(kw, steps=classifier_steps, device=device, seed=seed,
                                                path=classifier_path, progress=progress)
    from tqdm.auto import tqdm

    indices = single_object_indices(dataset, int(n))
    n = len(indices)
    if n == 0:
        raise ValueError("evaluate_generator_attributes: the dataset has no single-object items")
    items = eval_items(dataset, indices, seed)
    preds: dict[str, list[Tensor]] = {}
    real: dict[str, list[Tensor]] = {}
    batches = generate_for_items(netG, encode_fn, items, batch_size, device, truncation, seed)
    for fake, chunk in tqdm(batches, total=math.ceil(n / batch_size), desc="attribute accuracy",
                            disable=not progress, leave=False):
        for store, x in ((preds, fake), (real, torch.stack([it["image"] for it in chunk]))):
            for k, v in predict_attributes(classifier, x).items():
                store.setdefault(k, []).append(v)
    names = [k for k in ATTRIBUTES if k in items[0]["attrs"] and k in preds]
    truth = {k: torch.tensor([int(it["attrs"][k]) for it in items]) for k in names}
    flags = [_stated_flags(it) for it in items]
    stated = {k: torch.tensor([bool(f.get(k, k in REQUIRED_ATTRIBUTES)) for f in flags]) for k in names}
    gen_acc, counts = stated_accuracy(truth, {k: torch.cat(preds[k]) for k in names}, stated)
    real_acc = attribute_accuracy(None, None, truth, {k: torch.cat(real[k]) for k in names})
    out: dict[str, Any] = dict(gen_acc)
    out.update({f"n_{k}": counts[k] for k in names if k not in REQUIRED_ATTRIBUTES})
    out.update({f"real_{k}": v for k, v in real_acc.items()})
    out["n"] = n
    return out
