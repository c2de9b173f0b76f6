"""One evaluation of a ``shapes`` generator for ``metrics.json``: accuracy on what captions state, the
classifier's ceiling on real images, and diversity on what captions leave open."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .attributes import ATTRIBUTES, evaluate_generator_attributes, train_attribute_classifier
from .diversity import attribute_diversity

__all__ = ["evaluate_shapes_generator", "eval_options", "shapes_classifier"]


def eval_options(dataset_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run's ``data.options`` as the evaluation uses them: one object, no ``length``, no ``imsize``."""
    opts = {"max_objects": 1, **{k: v for k, v in dict(dataset_options or {}).items() if k != "length"}}
    opts.pop("imsize", None)
    return opts


def shapes_classifier(
    dataset_options: Mapping[str, Any] | None, imsize: int = 32, seed: int = 0, steps: int = 400,
    device: str | torch.device = "cpu", path: str | Path | None = None, progress: bool = False,
) -> nn.Module:
    """The attribute classifier of :func:`evaluate_shapes_generator`, trained on the train split of the
    run's data (or loaded from ``path``): one recipe for ``metrics.json``, model cards and learning curves."""
    return train_attribute_classifier({**eval_options(dataset_options), "split": "train", "imsize": imsize,
                                       "seed": seed}, steps=steps, device=device, seed=seed, path=path,
                                      progress=progress)


def evaluate_shapes_generator(
    netG: nn.Module,
    encode_fn: Any,
    dataset_options: Mapping[str, Any] | None = None,
    n: int = 512,
    device: str | torch.device = "cpu",
    seed: int = 0,
    truncation: float | None = 0.88,
    imsize: int | None = None,
    classifier: nn.Module | None = None,
    classifier_path: str | Path | None = None,
    classifier_steps: int = 400,
    diversity_captions: int = 64,
    draws: int = 16,
    real_draws: int | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """Everything ``metrics.json`` reports about a ``shapes`` generator, on the **test** split built with
    ``dataset_options`` (the run's ``data.options``; ``length`` is ignored) at ``imsize`` (default
    ``netG.imsize``). Returns a JSON-ready dict:

    * ``accuracy``: per attribute, the accuracy on the ``n`` generated images whose caption states it
      (None where none does), with ``n_stated`` the counts;
    * ``real_accuracy``: the classifier on the real images of the same items (its ceiling);
    * ``chance``: 1 / the number of values each attribute takes in these data;
    * ``diversity``: per attribute the data leave free and some caption leaves open,
      :func:`dflib.metrics.diversity.attribute_diversity` (spread over noise draws / spread in the real
      data for the same caption; 1 = as varied as the data, 0 = one image per caption), ``diversity_mean``
      its mean over those attributes, ``diversity_pixels`` the pixel-distance ratio, ``diversity_captions``
      how many captions each was averaged over; ``draws`` noise draws per caption;
    * ``n``, ``seed``, ``truncation``, ``free_attributes``, ``classifier_steps``.

    The classifier is trained on the train split with the same options (or loaded from
    ``classifier_path``)."""
    from dflib.data import build_dataset

    given = dict(dataset_options or {})
    imsize = int(imsize if imsize is not None else given.get("imsize", getattr(netG, "imsize", 32)))
    opts = eval_options(given)
    test = build_dataset("shapes", split="test", imsize=imsize, seed=seed, **opts)
    if classifier is None:
        classifier = shapes_classifier(opts, imsize, seed=seed, steps=classifier_steps, device=device,
                                       path=classifier_path, progress=progress)
    acc = evaluate_generator_attributes(netG, encode_fn, test, n=n, classifier=classifier, batch_size=batch_size,
                                        device=device, truncation=truncation, seed=seed, progress=progress)
    names = [k for k in ATTRIBUTES if k in acc]
    div = attribute_diversity(netG, encode_fn, test, classifier, n_captions=diversity_captions, draws=draws,
                              real_draws=real_draws, device=device, seed=seed, truncation=truncation,
                              batch_size=batch_size)
    return {
        "accuracy": {k: acc[k] for k in names},
        "n_stated": {k: acc.get(f"n_{k}", acc["n"]) for k in names},
        "real_accuracy": {k: acc[f"real_{k}"] for k in names},
        "chance": {k: 1.0 / len(test.allowed(k)) for k in names},
        "diversity": div["diversity"],
        "diversity_mean": div["mean"],
        "diversity_pixels": div["pixels"],
        "diversity_captions": div["n_captions"],
        "draws": div["draws"],
        "n": acc["n"],
        "seed": int(seed),
        "truncation": truncation,
        "free_attributes": list(test.free_attributes()),
        "classifier_steps": int(classifier_steps),
    }
