"""Tokeniser, vocabulary and a restricted unpickler (docs/official_behaviour.md §12.4).

The tokeniser follows the official DF-GAN/AttnGAN rule: replace ``"\\ufffd\\ufffd"`` by a space,
lower-case, split into ``\\w+`` runs, drop non-ASCII characters inside every token and drop tokens that
become empty. Index 0 is ``'<end>'`` (also the padding id); words are numbered from 1 in first-seen
order over train + test captions, with no frequency threshold.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "END_TOKEN",
    "WORDS_NUM",
    "UnsafePickleError",
    "tokenize",
    "safe_load_pickle",
    "pad_tokens",
    "Vocab",
    "DamsmCaptions",
    "load_damsm_pickle",
]

END_TOKEN = "<end>"
WORDS_NUM = 18  # docs/official_behaviour.md §12.3: tokens per caption fed to the text encoder
_WORD_RE = re.compile(r"\w+")


class UnsafePickleError(pickle.UnpicklingError):
    """Raised by :func:`safe_load_pickle` when a pickle asks for anything but plain data."""


def tokenize(text: str) -> list[str]:
    """Official tokeniser (docs/official_behaviour.md §12.4): ``"a Red-bird!"`` -> ``['a', 'red', 'bird']``."""
    words = _WORD_RE.findall(text.replace("\ufffd\ufffd", " ").lower())
    return [tok for tok in (w.encode("ascii", "ignore").decode("ascii") for w in words) if tok]


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickler that builds only the types pickle creates without globals (list, dict, tuple, set,
    int, float, str, bytes, bool, None). Every ``find_class`` (classes, functions such as ``os.system``
    reached through ``__reduce__``) and every persistent id is refused."""

    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle hook
        raise UnsafePickleError(
            f"refused to load {self._path}: it asks for the global '{module}.{name}'. Only plain lists, "
            "dicts, tuples, numbers, strings, bytes and None are allowed, because a pickle that imports "
            "globals can run arbitrary code. Do not open this file with pickle.load; if you made it "
            "yourself, re-save it with plain Python containers only."
        )

    def persistent_load(self, pid):  # pragma: no cover - rare
        raise UnsafePickleError(f"refused to load {self._path}: it contains a persistent id ({pid!r}).")


def safe_load_pickle(path: str | Path):
    """Load a pickle that may only contain plain data (docs/official_behaviour.md §12.4 pickles: captions, filenames).

    Raises :class:`UnsafePickleError` naming the file and the refused global for anything else, and
    ``FileNotFoundError`` naming the file when it is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle file not found: {path}")
    data = path.read_bytes()
    try:
        return _PlainDataUnpickler(io.BytesIO(data), str(path)).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated / not a pickle
        raise pickle.UnpicklingError(f"could not read {path} as a pickle: {exc}") from exc


def pad_tokens(
    ids: Sequence[int], words_num: int = WORDS_NUM, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, int]:
    """Official 18-token rule (docs/official_behaviour.md §12.3): returns ``(tokens int64 (words_num,), length)``.

    Shorter captions are zero padded. Longer ones keep ``words_num`` positions drawn at random without
    replacement, in their original order (re-drawn on every call); length = ``min(len(ids), words_num)``.
    ``rng`` defaults to a fresh unseeded generator: pass one for reproducibility.
    """
    n = len(ids)
    if n == 0:
        raise ValueError("pad_tokens: the caption has no tokens (length must be >= 1)")
    arr = np.asarray(ids, dtype=np.int64)
    if n <= words_num:
        return np.pad(arr, (0, words_num - n)), n
    rng = np.random.default_rng() if rng is None else rng
    return arr[np.sort(rng.choice(n, size=words_num, replace=False))], words_num


class Vocab:
    """Word <-> id mapping with index 0 = ``'<end>'`` (docs/official_behaviour.md §12.4).

    ``wordtoix: dict[str, int]`` and ``ixtoword: dict[int, str]`` mirror the official pickle.
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if not words or words[0] != END_TOKEN:
            raise ValueError(f"Vocab: index 0 must be {END_TOKEN!r}, got {words[:1]!r}")
        if len(set(words)) != len(words):
            dup = sorted({w for w in words if words.count(w) > 1})[:5]
            raise ValueError(f"Vocab: duplicated words {dup}")
        self.ixtoword: dict[int, str] = dict(enumerate(words))
        self.wordtoix: dict[str, int] = {w: i for i, w in enumerate(words)}

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_captions(cls, texts: Iterable[str]) -> "Vocab":
        """Every word of ``texts`` (train then test captions), numbered from 1 in first-seen order."""
        seen = dict.fromkeys(tok for text in texts for tok in tokenize(text))
        seen.pop(END_TOKEN, None)
        return cls([END_TOKEN, *seen])

    @classmethod
    def from_ixtoword(cls, ixtoword: dict[int, str]) -> "Vocab":
        """From an official ``ixtoword`` dict (ids must be 0..n-1, 0 = '<end>')."""
        n = len(ixtoword)
        if sorted(ixtoword) != list(range(n)):
            raise ValueError("Vocab.from_ixtoword: ids must be exactly 0..n-1")
        return cls([ixtoword[i] for i in range(n)])

    @classmethod
    def from_damsm_pickle(cls, path: str | Path) -> "Vocab":
        """Vocabulary of an official ``captions_DAMSM.pickle`` (loaded with :func:`safe_load_pickle`)."""
        return load_damsm_pickle(path).vocab

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            words = obj["ixtoword"]
        except FileNotFoundError:
            raise FileNotFoundError(f"vocabulary file not found: {path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a vocabulary JSON written by Vocab.save ({exc})") from exc
        return cls(words)

    def save(self, path: str | Path) -> None:
        """Write ``{"ixtoword": [word0, word1, ...]}`` as JSON (index = list position)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"ixtoword": list(self.ixtoword.values())}, indent=0), encoding="utf-8")

    # ---- use ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ixtoword)

    def __contains__(self, word: str) -> bool:
        return word in self.wordtoix

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.ixtoword == other.ixtoword

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words)"

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """See :func:`tokenize`."""
        return tokenize(text)

    def encode(self, text: str, warn: bool = True) -> list[int]:
        """Word ids of ``text``; unknown words are dropped (named in a warning, as the official
        sampler drops them). Empty or all-unknown text raises ``ValueError``."""
        known, unknown = self.split_known(text)
        if not known and not unknown:
            raise ValueError(f"prompt {text!r} contains no words (after lower-casing and keeping \\w+ ASCII tokens)")
        if not known:
            raise ValueError(
                f"none of the words of {text!r} is in the vocabulary ({len(self)} words); unknown: {unknown}"
            )
        if unknown and warn:
            warnings.warn(f"unknown words dropped from {text!r}: {unknown}", stacklevel=2)
        return [self.wordtoix[t] for t in known]

    def split_known(self, text: str) -> tuple[list[str], list[str]]:
        """``(known, unknown)``: the words of ``text`` (tokenised as captions are) that are in the vocabulary
        and those that are not (``'<end>'`` counts as unknown: it is padding, not a word)."""
        known, unknown = [], []
        for t in tokenize(text):
            (known if self.wordtoix.get(t, 0) != 0 else unknown).append(t)
        return known, unknown

    def close_words(self, word: str, n: int = 1) -> list[str]:
        """Up to ``n`` vocabulary words spelled most like ``word`` (for "did you mean" hints)."""
        import difflib

        return difflib.get_close_matches(word, [w for w in self.wordtoix if w != END_TOKEN], n=n)

    def decode(self, ids: Iterable[int]) -> str:
        """Words of ``ids`` joined by spaces; padding zeros are skipped."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if i not in self.ixtoword]
        if bad:
            raise ValueError(f"id {bad[0]} is outside the vocabulary (size {len(self)})")
        return " ".join(self.ixtoword[i] for i in ids if i != 0)


@dataclass
class DamsmCaptions:
    """Content of ``captions_DAMSM.pickle``: image-major caption id lists + the vocabulary."""

    train: list[list[int]]
    test: list[list[int]]
    vocab: Vocab


def load_damsm_pickle(path: str | Path) -> DamsmCaptions:
    """Read ``[train_caps, test_caps, ixtoword, wordtoix]`` (docs/official_behaviour.md §12.4) safely and check its layout."""
    path = Path(path)
    obj = safe_load_pickle(path)
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise ValueError(
            f"{path}: expected a 4-element list [train_captions, test_captions, ixtoword, wordtoix], "
            f"got {type(obj).__name__} of length {len(obj) if hasattr(obj, '__len__') else '?'}"
        )
    train, test, ixtoword, wordtoix = obj
    if not isinstance(ixtoword, dict) or not isinstance(wordtoix, dict):
        raise ValueError(f"{path}: items 3 and 4 must be the dicts ixtoword and wordtoix")
    for name, caps in (("train", train), ("test", test)):
        if not isinstance(caps, list) or not all(isinstance(c, (list, tuple)) for c in caps):
            raise ValueError(f"{path}: {name} captions must be a list of lists of word ids")
    try:
        vocab = Vocab.from_ixtoword({int(k): str(v) for k, v in ixtoword.items()})
    except ValueError as exc:
        raise ValueError(f"{path}: bad ixtoword ({exc})") from exc
    bad = [w for w, i in wordtoix.items() if vocab.wordtoix.get(w) != i]
    if bad:
        raise ValueError(f"{path}: wordtoix disagrees with ixtoword for {bad[:5]}")
    n = len(vocab)
    for name, caps in (("train", train), ("test", test)):
        for c in caps:
            if any((not isinstance(i, int)) or i < 0 or i >= n for i in c):
                raise ValueError(f"{path}: a {name} caption has ids outside 0..{n - 1}: {list(c)[:20]}")
    return DamsmCaptions([list(c) for c in train], [list(c) for c in test], vocab)
