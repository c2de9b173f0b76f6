"""CUB-200-2011 and COCO-2014 in the official DF-GAN / AttnGAN layout (docs/official_behaviour.md §12.1).

``root`` is the folder the official code calls ``data_dir`` (``data/birds`` or ``data/coco``)::

    captions_DAMSM.pickle            [train_caps, test_caps, ixtoword, wordtoix]
    train/filenames.pickle           list of keys;  test/filenames.pickle likewise
    CUB_200_2011/images/<key>.jpg    (cub)  + CUB_200_2011/bounding_boxes.txt, images.txt
    images/train2014/<key>.jpg       (coco, train split), images/val2014/<key>.jpg (test split)

Pickles are read only through :func:`dflib.data.vocab.safe_load_pickle`. ``make_fixture`` writes a tiny
dataset in this layout for tests and notebooks.
"""

from __future__ import annotations

import pickle
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .images import load_first_readable, ItemRNG, load_rgb, official_transform
from .vocab import Vocab, load_damsm_pickle, pad_tokens, safe_load_pickle, tokenize

__all__ = [
    "CAPTIONS_PER_IMAGE",
    "OfficialDataset",
    "LayoutReport",
    "check_layout",
    "cub_crop_box",
    "load_cub_bboxes",
    "image_path",
    "make_fixture",
]

CAPTIONS_PER_IMAGE = {"cub": 10, "coco": 5}
_ENCODER_FILE = {"cub": "DAMSMencoder/text_encoder200.pth", "coco": "DAMSMencoder/text_encoder100.pth"}
_NPZ_FILE = {"cub": "npz/bird_val256_FIDK0.npz", "coco": "npz/coco_val256_FIDK0.npz"}


def _kind(kind: str) -> str:
    kind = {"birds": "cub", "bird": "cub"}.get(kind, kind)
    if kind not in CAPTIONS_PER_IMAGE:
        raise ValueError(f"kind must be 'cub' or 'coco', got {kind!r}")
    return kind


def image_path(root: str | Path, kind: str, split: str, key: str) -> Path:
    """Where the official code looks for the image of ``key`` (docs/official_behaviour.md §12.1)."""
    root = Path(root)
    if _kind(kind) == "cub":
        return root / "CUB_200_2011" / "images" / f"{key}.jpg"
    return root / "images" / ("train2014" if split == "train" else "val2014") / f"{key}.jpg"


def cub_crop_box(bbox: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """CUB crop (docs/official_behaviour.md §12.2 step 2): ``r = int(0.75·max(w, h))``, integer centre ``(x + w/2, y + h/2)``,
    box ``(max(0,cx−r), max(0,cy−r), min(W,cx+r), min(H,cy+r))`` as PIL ``(left, upper, right, lower)``."""
    x, y, w, h = bbox
    r = int(0.75 * max(w, h))
    cx, cy = int((2 * x + w) / 2), int((2 * y + h) / 2)
    return max(0, cx - r), max(0, cy - r), min(width, cx + r), min(height, cy + r)


def load_cub_bboxes(cub_dir: str | Path) -> dict[str, tuple[float, float, float, float]]:
    """``{key: (x, y, w, h)}`` from ``images.txt`` (id, relative path) + ``bounding_boxes.txt`` (id, x, y, w, h)."""
    cub_dir = Path(cub_dir)
    names: dict[str, str] = {}
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for fname, width in (("images.txt", 2), ("bounding_boxes.txt", 5)):
        path = cub_dir / fname
        if not path.is_file():
            raise FileNotFoundError(f"CUB file not found: {path} (extract CUB_200_2011.tgz into {cub_dir.parent})")
        for ln, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != width:
                raise ValueError(f"{path}:{ln}: expected {width} fields, got {line!r}")
            if fname == "images.txt":
                names[parts[0]] = parts[1][:-4] if parts[1].endswith(".jpg") else parts[1]
            else:
                try:
                    boxes[parts[0]] = tuple(float(v) for v in parts[1:])  # type: ignore[assignment]
                except ValueError:
                    raise ValueError(f"{path}:{ln}: bbox values must be numbers, got {line!r}") from None
    missing = [i for i in names if i not in boxes]
    if missing:
        raise ValueError(f"{cub_dir / 'bounding_boxes.txt'}: no bbox for image ids {missing[:5]}")
    return {key: boxes[i] for i, key in names.items()}


def _load_filenames(path: Path) -> list[str]:
    keys = safe_load_pickle(path)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"{path}: expected a list of image keys (strings)")
    return keys


@dataclass
class LayoutReport:
    """What :func:`check_layout` found: required items missing, optional items missing, image count."""

    root: Path
    kind: str
    missing: list[str] = field(default_factory=list)
    optional_missing: list[str] = field(default_factory=list)
    n_images: int = 0
    missing_images: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.missing_images

    def __str__(self) -> str:
        lines = [f"{self.kind} layout in {self.root}: {'OK' if self.ok else 'INCOMPLETE'}"]
        lines += [f"  missing (required): {m}" for m in self.missing]
        if self.missing_images:
            lines.append(f"  missing images: {len(self.missing_images)} of {self.n_images}, e.g.")
            lines += [f"    {m}" for m in self.missing_images[:5]]
        elif self.n_images:
            lines.append(f"  all {self.n_images} images present")
        lines += [f"  missing (optional): {m}" for m in self.optional_missing]
        return "\n".join(lines)


def check_layout(root: str | Path, kind: str, check_images: bool = True) -> LayoutReport:
    """List what is missing from an official ``data_dir`` (see module doc); never raises for absences."""
    root, kind = Path(root), _kind(kind)
    rep = LayoutReport(root, kind)
    required = ["captions_DAMSM.pickle", "train/filenames.pickle", "test/filenames.pickle"]
    if kind == "cub":
        required += ["CUB_200_2011/images", "CUB_200_2011/images.txt", "CUB_200_2011/bounding_boxes.txt"]
    else:
        required += ["images/train2014", "images/val2014"]
    rep.missing = [str(root / r) for r in required if not (root / r).exists()]
    optional = [_ENCODER_FILE[kind], _ENCODER_FILE[kind].replace("text_", "image_"), _NPZ_FILE[kind]]
    rep.optional_missing = [str(root / o) for o in optional if not (root / o).exists()]
    if check_images:
        lists = [(s, root / s / "filenames.pickle") for s in ("train", "test")]
        paths = [image_path(root, kind, s, key) for s, fn in lists if fn.is_file() for key in _load_filenames(fn)]
        rep.n_images = len(paths)
        rep.missing_images = [str(p) for p in paths if not p.is_file()]
    return rep


class OfficialDataset(ItemRNG, Dataset):
    """CUB / COCO as DF-GAN reads them (docs/official_behaviour.md §12.2–§12.3): CUB bbox crop, ``Resize(int(imsize·76/64))`` →
    ``RandomCrop`` → ``RandomHorizontalFlip`` → [-1,1]; one of N captions drawn uniformly per access;
    18-token sub-sampling rule. Draws use the dataset's own generator (seeded by ``seed``).

    ``augment=False`` gives a centre crop without flip; ``skip_bad=True`` drops keys whose image is
    missing (with a warning) and skips unreadable images at access time.
    """

    def __init__(
        self,
        root: str | Path,
        kind: str = "cub",
        split: str = "train",
        imsize: int = 256,
        words_num: int = 18,
        seed: int = 0,
        augment: bool = True,
        skip_bad: bool = False,
    ):
        self.root, self.kind = Path(root), _kind(kind)
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split, self.imsize, self.words_num, self.augment, self.skip_bad = split, imsize, words_num, augment, skip_bad
        self.seed = self.draw_seed = seed
        self.captions_per_image = CAPTIONS_PER_IMAGE[self.kind]
        pk = self.root / "captions_DAMSM.pickle"
        if not pk.is_file():
            raise FileNotFoundError(
                f"{pk} not found. Download the DF-GAN metadata for {self.kind} (see data/README.md) and run "
                f"python data/prepare_{self.kind}.py --check {self.root}. Do not rebuild it from text/: a rebuilt "
                "vocabulary does not match the pretrained DAMSM encoder."
            )
        caps = load_damsm_pickle(pk)
        self.vocab = caps.vocab
        all_caps = caps.train if split == "train" else caps.test
        fn = self.root / split / "filenames.pickle"
        keys = _load_filenames(fn)
        n = self.captions_per_image
        if len(all_caps) < len(keys) * n:
            raise ValueError(f"{pk}: {len(all_caps)} {split} captions but {fn} lists {len(keys)} images × "
                             f"{n} captions = {len(keys) * n}")
        entries = [(k, all_caps[i * n : (i + 1) * n]) for i, k in enumerate(keys)]
        self.bboxes = load_cub_bboxes(self.root / "CUB_200_2011") if self.kind == "cub" else {}
        if self.kind == "cub":
            nobox = [k for k, _ in entries if k not in self.bboxes]
            if nobox:
                raise ValueError(f"{self.root / 'CUB_200_2011'}: no bounding box / images.txt entry for keys {nobox[:5]}")
        if skip_bad:
            missing = [k for k, _ in entries if not image_path(self.root, self.kind, split, k).is_file()]
            if missing:
                warnings.warn(
                    f"skip_bad: {len(missing)} of {len(entries)} {split} images missing, skipped, e.g. "
                    f"{image_path(self.root, self.kind, split, missing[0])}",
                    stacklevel=2,
                )
                gone = set(missing)
                entries = [e for e in entries if e[0] not in gone]
        if not entries:
            raise ValueError(f"no {split} items left in {self.root}")
        self.keys = [k for k, _ in entries]
        self._caps = [c for _, c in entries]

    def __len__(self) -> int:
        return len(self.keys)

    def captions(self, i: int) -> list[str]:
        """The N captions of item ``i`` as (tokenised) text."""
        return [self.vocab.decode(c) for c in self._caps[i]]

    def load_image(self, i: int) -> Image.Image:
        """The RGB image of item ``i``, with the CUB bounding-box crop applied."""
        key = self.keys[i]
        img = load_rgb(image_path(self.root, self.kind, self.split, key))
        if self.kind == "cub":
            img = img.crop(cub_crop_box(self.bboxes[key], *img.size))
        return img

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        rng = self._rng()
        j, img = load_first_readable(self.load_image, i, len(self), self.skip_bad, self.root)
        caps = self._caps[j]
        k = int(rng.integers(len(caps)))
        order = [(k + d) % len(caps) for d in range(len(caps))]
        ids = next((caps[m] for m in order if len(caps[m]) > 0), None)  # official: empty captions give length 0
        if ids is None:
            raise ValueError(f"all captions of {self.keys[j]} are empty in {self.root / 'captions_DAMSM.pickle'}")
        tokens, length = pad_tokens(ids, self.words_num, rng)
        return {
            "image": official_transform(img, self.imsize, rng, self.augment),
            "tokens": torch.from_numpy(tokens),
            "length": length,
            "caption": self.vocab.decode(ids),
            "key": self.keys[j],
        }


# ---------------------------------------------------------------------------------------------
_FIXTURE_WORDS = (
    "this bird has a red crown white belly and short pointed beak with grey wings black tail small "
    "yellow eyes long brown feathers the is on branch blue breast orange throat"
).split()


def make_fixture(
    root: str | Path, kind: str = "cub", n_train: int = 4, n_test: int = 2, seed: int = 0
) -> dict:
    """Write a tiny dataset in the official layout under ``root`` (for tests and notebooks).

    Images are small JPEGs of different sizes; CUB bboxes include ones clipped by the image border; some
    captions are longer than 18 words. Returns ``{'root', 'kind', 'keys': {'train', 'test'},
    'bboxes', 'sizes', 'captions'}`` so callers can recompute crops and captions by hand.
    """
    root, kind = Path(root), _kind(kind)
    r = random.Random(seed)
    n_caps = CAPTIONS_PER_IMAGE[kind]
    info: dict = {"root": root, "kind": kind, "keys": {}, "bboxes": {}, "sizes": {}, "captions": {}}
    img_id = 0
    for split, n in (("train", n_train), ("test", n_test)):
        keys = info["keys"][split] = []
        for j in range(n):
            img_id += 1
            if kind == "cub":
                key = f"{1 + j % 3:03d}.Bird_{1 + j % 3}/Bird_{1 + j % 3}_{img_id:04d}_{split}"
            else:
                key = f"COCO_{'train' if split == 'train' else 'val'}2014_{img_id:012d}"
            w, h = r.randint(80, 160), r.randint(70, 140)
            info["sizes"][key] = (w, h)
            arr = np.full((h, w, 3), (r.randrange(256), r.randrange(256), r.randrange(256)), dtype=np.uint8)
            arr[: h // 2, : w // 3] = (255, 0, 0)  # a marker so flips and crops are visible
            if kind == "cub":
                bw, bh = r.randint(20, w // 2), r.randint(20, h // 2)
                if j % 2 == 0:  # near the top-left corner: the crop gets clipped
                    bx, by = r.randint(0, 5), r.randint(0, 5)
                else:
                    bx, by = r.randint(0, w - bw), r.randint(0, h - bh)
                info["bboxes"][key] = (float(bx) + 0.5, float(by), float(bw), float(bh) + 0.5)
            p = image_path(root, kind, split, key)
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(p, quality=95)
            caps = info["captions"][key] = []
            for c in range(n_caps):
                length = r.randint(22, 30) if c == 0 else r.randint(4, 16)
                caps.append(" ".join(r.choice(_FIXTURE_WORDS) for _ in range(length)))
            tp = root / "text" / f"{key}.txt"
            tp.parent.mkdir(parents=True, exist_ok=True)
            tp.write_text("\n".join(caps) + "\n", encoding="utf-8")
            keys.append(key)
        (root / split).mkdir(parents=True, exist_ok=True)
        with open(root / split / "filenames.pickle", "wb") as f:
            pickle.dump(keys, f, protocol=2)
    # vocabulary in first-seen order over train then test (docs/official_behaviour.md §12.4)
    captions = {s: [c for k in info["keys"][s] for c in info["captions"][k]] for s in ("train", "test")}
    vocab = Vocab.from_captions(captions["train"] + captions["test"])
    enc = {s: [[vocab.wordtoix[t] for t in tokenize(c)] for c in caps] for s, caps in captions.items()}
    with open(root / "captions_DAMSM.pickle", "wb") as f:
        pickle.dump([enc["train"], enc["test"], vocab.ixtoword, vocab.wordtoix], f, protocol=2)
    if kind == "cub":
        cub = root / "CUB_200_2011"
        all_keys = info["keys"]["train"] + info["keys"]["test"]
        (cub / "images.txt").write_text("".join(f"{i} {k}.jpg\n" for i, k in enumerate(all_keys, 1)))
        (cub / "bounding_boxes.txt").write_text(
            "".join(f"{i} {' '.join(str(v) for v in info['bboxes'][k])}\n" for i, k in enumerate(all_keys, 1))
        )
    else:
        for sub in ("train2014", "val2014"):
            (root / "images" / sub).mkdir(parents=True, exist_ok=True)
    return info
