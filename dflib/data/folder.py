"""``folder``: bring your own captioned images.

Two caption formats (see ``data/README.md``):

* one ``<image stem>.txt`` next to every image, one caption per line (blank lines ignored);
* a ``captions.jsonl`` in ``root``: one JSON object per line, ``{"image": "sub/dir/x.jpg", "caption": "..."}``
  or ``{"image": ..., "captions": ["...", "..."]}`` (several lines may name the same image).

Keys are image paths relative to ``root`` without extension. The split is either a JSON ``split_file``
``{"train": [keys], "test": [keys]}`` or a deterministic hash of the key (``test_fraction`` of them go to
test). The vocabulary is built over train + test captions (docs/official_behaviour.md §12.4 rule) unless ``vocab`` is given.

Images must lie inside ``root``: a ``captions.jsonl`` path that is absolute, climbs out with ``..`` or
resolves through a symlink to a file outside ``root`` (and, in the ``.txt`` format, an image symlinked from
outside) is refused with an error naming the line (file), unless ``allow_outside_root=True``.
Images are read by ``dflib.data.images.load_rgb`` (transparency on white, 16-bit scaled, EXIF orientation
applied, over ``MAX_PIXELS`` refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .images import IMAGE_EXTENSIONS, ItemRNG, check_image, load_first_readable, load_rgb, official_transform, without_hint
from .vocab import Vocab, pad_tokens, tokenize

__all__ = ["FolderDataset", "hash_split", "read_captions"]


def hash_split(key: str, test_fraction: float = 0.1) -> str:
    """'test' for a deterministic ``test_fraction`` of keys (SHA-256 of the key), else 'train'."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64
    return "test" if h < test_fraction else "train"


def _key(rel: Path) -> str:
    return rel.with_suffix("").as_posix()


def _bad(msg: str, skip_bad: bool, exc_type: type[Exception] = ValueError) -> None:
    if not skip_bad:
        raise exc_type(msg + " (use skip_bad=True to skip such entries)")
    warnings.warn(f"skip_bad: {msg}; skipped", stacklevel=3)


_OUTSIDE_HINT = ("refused; pass allow_outside_root=True if you mean it "
                 "(python -m dflib train: --set data.options.allow_outside_root=true)")


def _outside(image: str, path: Path, root: Path) -> str | None:
    """Why ``path`` (``root / image``) is not inside ``root``, or None if it is."""
    if Path(image).is_absolute():
        return f"image path {image!r} is absolute, not relative to the dataset root {root}"
    real, real_root = path.resolve(), root.resolve()
    if real.is_relative_to(real_root):
        return None
    lexical = Path(os.path.normpath(os.path.abspath(path)))
    how = "through a symlink" if lexical.is_relative_to(os.path.abspath(root)) else "with '..'"
    return f"image path {image!r} leaves the dataset root {real_root} {how} (it resolves to {real})"


def read_captions(
    root: str | Path, fmt: str = "auto", skip_bad: bool = False, allow_outside_root: bool = False
) -> dict[str, tuple[Path, list[str]]]:
    """``{key: (image path, captions)}`` for every captioned image under ``root``. Images outside ``root``
    (see the module doc) are refused unless ``allow_outside_root``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    jsonl = root / "captions.jsonl"
    if fmt == "auto":
        fmt = "jsonl" if jsonl.is_file() else "txt"
    out: dict[str, tuple[Path, list[str]]] = {}
    if fmt == "jsonl":
        if not jsonl.is_file():
            raise FileNotFoundError(f"captions file not found: {jsonl}")
        for ln, raw in enumerate(jsonl.read_bytes().splitlines(), 1):
            where = f"{jsonl}:{ln}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                _bad(f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                     "save the file as UTF-8", skip_bad)
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                image = obj["image"]
                caps = obj["captions"] if "captions" in obj else [obj["caption"]]
                if isinstance(caps, str):
                    caps = [caps]
                if not isinstance(image, str) or not all(isinstance(c, str) for c in caps):
                    raise TypeError("'image' must be a string and 'caption(s)' string(s)")
            except (ValueError, KeyError, TypeError) as exc:
                _bad(f'{where}: expected {{"image": ..., "caption": ...}} or "captions": [...] ({exc})', skip_bad)
                continue
            path = root / image
            why = None if allow_outside_root else _outside(image, path, root)
            if why:
                _bad(f"{where}: {why}; {_OUTSIDE_HINT}", skip_bad, ValueError)
                continue
            if not path.is_file():
                _bad(f"{where}: image file not found: {path}", skip_bad, FileNotFoundError)
                continue
            key = _key(Path(image))
            out.setdefault(key, (path, []))[1].extend(caps)
    elif fmt == "txt":
        images = sorted(
            p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not images:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")
        for path in images:
            why = None if allow_outside_root else _outside(path.relative_to(root).as_posix(), path, root)
            if why:
                _bad(f"{path}: {why}; {_OUTSIDE_HINT}", skip_bad, ValueError)
                continue
            txt = path.with_suffix(".txt")
            if not txt.is_file():
                _bad(f"caption file not found: {txt} (one caption per line for {path.name})", skip_bad, FileNotFoundError)
                continue
            try:
                lines = [ln.strip() for ln in txt.read_text(encoding="utf-8").splitlines()]
            except UnicodeDecodeError as exc:
                line = txt.read_bytes()[: exc.start].count(b"\n") + 1
                _bad(f"{txt}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8", skip_bad)
                continue
            out[_key(path.relative_to(root))] = (path, [ln for ln in lines if ln])
    else:
        raise ValueError(f"captions format must be 'auto', 'txt' or 'jsonl', got {fmt!r}")
    return out


class FolderDataset(ItemRNG, Dataset):
    """Captioned images from a folder (see module doc). Items: image, tokens, length, caption, key.
    Images go through the official transform (``augment=False``: centre crop, no flip)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        imsize: int = 64,
        words_num: int = 18,
        seed: int = 0,
        captions: str = "auto",
        split_file: str | Path | None = None,
        test_fraction: float = 0.1,
        vocab: Vocab | str | Path | None = None,
        augment: bool = True,
        skip_bad: bool = False,
        allow_outside_root: bool = False,
    ):
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        self.root, self.split, self.imsize, self.words_num = Path(root), split, imsize, words_num
        self.seed = self.draw_seed = seed
        self.augment, self.skip_bad = augment, skip_bad
        entries = read_captions(self.root, captions, skip_bad, allow_outside_root)
        fmt = captions if captions != "auto" else ("jsonl" if (self.root / "captions.jsonl").is_file() else "txt")
        for key, (path, caps) in list(entries.items()):
            caps = [c for c in caps if tokenize(c)]
            if caps:
                entries[key] = (path, caps)
                continue
            del entries[key]
            src = self.root / "captions.jsonl" if fmt == "jsonl" else path.with_suffix(".txt")
            _bad(f"no usable caption (no words) for {path} in {src}", skip_bad)
        if skip_bad:
            for key, (path, _) in list(entries.items()):
                try:
                    check_image(path)
                except OSError as exc:
                    _bad(without_hint(exc), True)
                    del entries[key]
        splits = self._splits(sorted(entries), split_file, test_fraction)
        if vocab is None:
            self.vocab = Vocab.from_captions(c for s in ("train", "test") for k in splits[s] for c in entries[k][1])
        else:
            self.vocab = vocab if isinstance(vocab, Vocab) else Vocab.load(vocab)
        keys = splits["train"] + splits["test"] if split == "all" else splits[split]
        self.keys, self.paths, self._text, self._ids = [], [], [], []
        n_unknown = 0
        for k in keys:
            path, caps = entries[k]
            ids = [[self.vocab.wordtoix[t] for t in tokenize(c) if t in self.vocab.wordtoix and t != "<end>"] for c in caps]
            kept = [(c, i) for c, i in zip(caps, ids) if i]
            n_unknown += len(caps) - len(kept)
            if kept:
                self.keys.append(k)
                self.paths.append(path)
                self._text.append([c for c, _ in kept])
                self._ids.append([i for _, i in kept])
        if n_unknown:
            warnings.warn(f"{n_unknown} captions have no word in the given vocabulary and were dropped", stacklevel=2)
        if not self.keys:
            raise ValueError(f"no {split} items in {self.root} (found {len(entries)} captioned images in all)")
        self.captions_per_image = max(len(c) for c in self._text)

    @staticmethod
    def _splits(keys: list[str], split_file, test_fraction: float) -> dict[str, list[str]]:
        if split_file is None:
            return {s: [k for k in keys if hash_split(k, test_fraction) == s] for s in ("train", "test")}
        path = Path(split_file)
        try:
            obj = json.loads(path.read_bytes().decode("utf-8"))
            listed = {s: [_key(Path(k)) if Path(k).suffix.lower() in IMAGE_EXTENSIONS else k for k in obj[s]]
                      for s in ("train", "test")}
        except FileNotFoundError:
            raise FileNotFoundError(f"split file not found: {path}") from None
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f'{path}: expected JSON {{"train": [keys], "test": [keys]}} ({exc})') from exc
        known = set(keys)
        unknown = [k for s in listed.values() for k in s if k not in known]
        if unknown:
            warnings.warn(f"{path}: {len(unknown)} keys have no captioned image, e.g. {unknown[:3]}", stacklevel=3)
        return {s: [k for k in v if k in known] for s, v in listed.items()}

    def __len__(self) -> int:
        return len(self.keys)

    def captions(self, i: int) -> list[str]:
        """All captions of item ``i``."""
        return list(self._text[i])

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        rng = self._rng()
        load = lambda j: load_rgb(self.paths[j], exif_transpose=True)  # noqa: E731
        j, img = load_first_readable(load, i, len(self), self.skip_bad, self.root)
        k = int(rng.integers(len(self._ids[j])))
        tokens, length = pad_tokens(self._ids[j][k], self.words_num, rng)
        return {
            "image": official_transform(img, self.imsize, rng, self.augment),
            "tokens": torch.from_numpy(tokens),
            "length": length,
            "caption": self._text[j][k],
            "key": self.keys[j],
        }
