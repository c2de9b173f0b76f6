"""Probing a text encoder: which captions it finds similar, what its word features look like, and which
caption it retrieves for an image.

DF-GAN conditions the generator on the sentence vector of a pretrained text encoder (paper Sec. 3.1); these
helpers compare encoders (untrained bag of words, DAMSM-pretrained LSTM, MiniLM) by the cosine similarity of
their sentence vectors and show image-to-caption retrieval. The meaning probe separates meaning from word
overlap: same meaning with no content word in common (synonyms) against shared words with another meaning.

Introduced in ``notebooks/07_text_encoder.ipynb``; :func:`shapes_damsm` is used in ``09`` for R-precision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from dflib.data.vocab import tokenize

from .plots import COLORS

__all__ = [
    "shapes_damsm",
    "pair_cosines",
    "PAIR_PROBE",
    "cosine_similarities",
    "nearest_neighbours",
    "plot_similarity_matrices",
    "plot_word_features",
    "plot_retrieval",
    "FUNCTION_WORDS",
    "content_words",
    "Triplet",
    "meaning_triplets",
    "ProbeResult",
    "score_triplets",
    "plot_meaning_probe",
]


def cosine_similarities(sent: Tensor) -> Tensor:
    """``(B, B)`` cosine similarities between the rows of ``sent`` (sentence vectors)."""
    x = F.normalize(sent.detach().double(), dim=1)
    return (x @ x.T).float()


def nearest_neighbours(sim: Tensor) -> list[int]:
    """For each row of a square similarity matrix, the index of the most similar *other* row."""
    if sim.dim() != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] < 2:
        raise ValueError(f"nearest_neighbours needs a square (N, N) matrix with N >= 2, got {tuple(sim.shape)}")
    masked = sim.clone().float()
    masked.fill_diagonal_(float("-inf"))
    return masked.argmax(dim=1).tolist()


def plot_similarity_matrices(mats: Mapping[str, Tensor], labels: Sequence[str], max_chars: int = 28) -> Figure:
    """Side-by-side heat maps of :func:`cosine_similarities` (one per encoder), values written in the cells."""
    fig, axes = plt.subplots(1, len(mats), figsize=(2.2 + 2.6 * len(mats), 0.9 + 0.42 * len(labels)), squeeze=False)
    short = [lab if len(lab) <= max_chars else lab[: max_chars - 3] + "..." for lab in labels]
    for k, (ax, (name, m)) in enumerate(zip(axes[0], mats.items())):
        m = m.cpu().numpy()
        ax.imshow(m, cmap="viridis", vmin=-1 if m.min() < 0 else 0, vmax=1)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if m[i, j] > 0.6 else "white")
        ax.set_yticks(range(len(labels)), short if k == 0 else [""] * len(labels), fontsize=7)
        ax.set_xticks(range(len(labels)), [str(i) for i in range(len(labels))], fontsize=7)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def plot_word_features(words: Tensor, tokens: Sequence[str], dims: int = 32, title: str = "") -> Figure:
    """Heat map of one caption's word features ``words (D, T)``: first ``dims`` feature dimensions x tokens."""
    w = words[:dims, : len(tokens)].detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(tokens), 2.6))
    lim = max(float(np.abs(w).max()), 1e-6)
    ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right", fontsize=7)
    ax.set_xlabel("token")
    ax.set_ylabel(f"feature (first {dims})")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_retrieval(images: Tensor, ranked: Sequence[Sequence[str]], truth: Sequence[str], size: float = 1.1) -> Figure:
    """One row per image: the image, then its top captions (green when it is the image's own caption)."""
    n = images.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(6.5, size * n), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 5]})
    imgs = ((images.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        axes[i, 0].imshow(imgs[i], interpolation="nearest")
        axes[i, 0].axis("off")
        ax = axes[i, 1]
        ax.axis("off")
        for r, cap in enumerate(ranked[i]):
            ax.text(0, 1 - (r + 0.5) / max(len(ranked[i]), 1), f"{r + 1}. {cap}", fontsize=7, va="center",
                    color=COLORS["real"] if cap == truth[i] else "black", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Meaning against word overlap
# --------------------------------------------------------------------------------------------------

FUNCTION_WORDS = frozenset({"a", "an", "the", "of", "in", "on", "at", "is", "there", "this", "colored"})



# caption pairs that differ in one attribute each: what the `make train` data asks the generator to follow
PAIR_PROBE: dict[str, tuple[str, str]] = {
    "position (left / right)": ("a red circle on the left", "a red circle on the right"),
    "size (small / big)": ("a small red circle", "a big red circle"),
    "shape (circle / square)": ("a red circle", "a red square"),
    "colour (red / blue)": ("a red circle", "a blue circle"),
}


def pair_cosines(encode: Callable[[list[str]], Tensor], pairs: Mapping[str, tuple[str, str]] = PAIR_PROBE) -> dict[str, float]:
    """Cosine of the two sentence vectors of every caption pair (``encode``: captions -> ``(B, D)``).
    Near 1: the encoder hardly tells the pair apart, so a generator conditioned on it cannot either."""
    names = list(pairs)
    flat = [c for n in names for c in pairs[n]]
    sent = F.normalize(encode(flat).float(), dim=1)
    return {n: float(sent[2 * i] @ sent[2 * i + 1]) for i, n in enumerate(names)}

def content_words(caption: str) -> set[str]:
    """The tokens of ``caption`` that carry content (everything but :data:`FUNCTION_WORDS`)."""
    return set(tokenize(caption)) - FUNCTION_WORDS


@dataclass(frozen=True)
class Triplet:
    """An anchor caption and three others: ``same_meaning`` (synonyms, **no** content word in common),
    ``overlap`` (shares a word, means something else; ``changed``: ``'colour'`` or ``'shape'``) and
    ``unrelated`` (other colour and other shape, no word in common: the baseline)."""

    anchor: str
    same_meaning: str
    overlap: str
    changed: str
    unrelated: str


def _next_key(words: Mapping[str, Sequence[str]], key: str) -> str:
    keys = list(words)
    return keys[(keys.index(key) + 1) % len(keys)]


def meaning_triplets(colors: Mapping[str, Sequence[str]], shapes: Mapping[str, Sequence[str]]) -> list[Triplet]:
    """Probe captions from word tables ``{name: (name, synonym, ...)}`` (e.g. ``dflib.data.shapes_text``).

    For every colour and every shape that have a synonym: anchor ``'a red circle'``, same meaning
    ``'a scarlet disc'`` (first synonyms), overlap ``'a red square'`` (next shape) or ``'a green circle'``
    (next colour), unrelated ``'a green square'``. Raises ``ValueError`` if a same-meaning or unrelated
    caption shares a content word with its anchor or an overlap caption shares none.
    """
    out = []
    for c, c_words in colors.items():
        for sh, s_words in shapes.items():
            if len(c_words) < 2 or len(s_words) < 2:
                continue
            anchor, same = f"a {c} {sh}", f"a {c_words[1]} {s_words[1]}"
            c2, s2 = _next_key(colors, c), _next_key(shapes, sh)
            for changed, other in (("shape", f"a {c} {s2}"), ("colour", f"a {c2} {sh}")):
                t = Triplet(anchor, same, other, changed, f"a {c2} {s2}")
                for cap in (t.same_meaning, t.unrelated):
                    if content_words(t.anchor) & content_words(cap):
                        raise ValueError(f"{cap!r} shares a content word with {t.anchor!r}")
                if not content_words(t.anchor) & content_words(t.overlap):
                    raise ValueError(f"{t.overlap!r} shares no content word with {t.anchor!r}")
                out.append(t)
    if not out:
        raise ValueError("meaning_triplets: no colour and shape with a synonym")
    return out


@dataclass(frozen=True)
class ProbeResult:
    """Cosines of each triplet's anchor with its same-meaning, overlap and unrelated captions."""

    same: np.ndarray
    overlap: np.ndarray
    unrelated: np.ndarray

    @property
    def n(self) -> int:
        return len(self.same)

    @property
    def beats_overlap(self) -> int:
        """Triplets where the same-meaning caption is closer to the anchor than the one sharing a word."""
        return int((self.same > self.overlap).sum())

    @property
    def beats_unrelated(self) -> int:
        """Triplets where the same-meaning caption is closer than the unrelated one (neither shares a word)."""
        return int((self.same > self.unrelated).sum())

    def summary(self) -> str:
        return (f"mean cos: same meaning {self.same.mean():.2f}, shared word {self.overlap.mean():.2f}, "
                f"unrelated {self.unrelated.mean():.2f} | same meaning closer than shared word "
                f"{self.beats_overlap}/{self.n}, than unrelated {self.beats_unrelated}/{self.n}")


def score_triplets(encode: Callable[[list[str]], Tensor], triplets: Sequence[Triplet]) -> ProbeResult:
    """``encode(captions) -> (B, D)`` sentence vectors; returns the three cosines of every triplet."""
    caps = sorted({c for t in triplets for c in (t.anchor, t.same_meaning, t.overlap, t.unrelated)})
    sim = cosine_similarities(encode(caps)).cpu().numpy()
    idx = {c: i for i, c in enumerate(caps)}

    def col(attr):
        return np.array([sim[idx[t.anchor], idx[getattr(t, attr)]] for t in triplets], dtype=float)

    return ProbeResult(col("same_meaning"), col("overlap"), col("unrelated"))


def plot_meaning_probe(results: Mapping[str, ProbeResult]) -> Figure:
    """One panel per encoder: the anchor's cosine with its same-meaning (no shared word), shared-word (other
    meaning) and unrelated captions, one dot per triplet, the mean as a bar; panels share the y axis."""
    fig, axes = plt.subplots(1, len(results), figsize=(0.6 + 2.7 * len(results), 3.0), squeeze=False,
                             sharey=True)
    groups = (("same\nmeaning", "same", COLORS["real"]), ("shared\nword", "overlap", COLORS["mismatch"]),
              ("unrelated", "unrelated", "#888888"))
    rng = np.random.default_rng(0)
    for ax, (name, r) in zip(axes[0], results.items()):
        for k, (_, attr, colour) in enumerate(groups):
            v = getattr(r, attr)
            ax.bar(k, v.mean(), color=colour, alpha=0.35, width=0.7)
            ax.scatter(k + rng.uniform(-0.2, 0.2, len(v)), v, s=9, color=colour)
        ax.set_xticks(range(3), [g[0] for g in groups], fontsize=7)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{name}\nbeats shared word {r.beats_overlap}/{r.n}, unrelated {r.beats_unrelated}/{r.n}",
                     fontsize=8)
        ax.set_xlabel("caption compared with the anchor", fontsize=7)
    axes[0, 0].set_ylabel("cosine with the anchor", fontsize=8)
    fig.tight_layout()
    return fig


def shapes_damsm(data_options: Mapping, epochs: int = 3, length: int = 3200, batch_size: int = 32, seed: int = 0,
                 max_steps_per_epoch: int | None = None):
    """A DAMSM text/image encoder pair pretrained on ``shapes`` with the recipe of notebook 07 (BiLSTM text
    encoder, ``SmallImageEncoder(256, 32 px, 8 regions)``, 32-image batches, the class mask), on the training
    split of the data options given (e.g. a shipped model's). Returns ``(text_encoder, image_encoder,
    history)`` in eval mode. Used by notebook 09 for R-precision."""
    import torch
    from torch.utils.data import DataLoader

    from dflib.data import build_dataset, collate
    from dfdamsm import DAMSMConfig, SmallImageEncoder, train_damsm
    from dflib.text import RNNEncoder

    opts = {k: v for k, v in dict(data_options).items() if k != "length"}
    torch.manual_seed(seed)
    train = build_dataset("shapes", split="train", imsize=32, seed=seed, length=length, **opts)
    text_enc = RNNEncoder(len(train.vocab), vocab=train.vocab)
    img_enc = SmallImageEncoder(dim=256, imsize=32, regions=8)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, drop_last=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed))
    cfg = DAMSMConfig(epochs=epochs, batch_size=batch_size, max_steps_per_epoch=max_steps_per_epoch)
    history = train_damsm(text_enc, img_enc, loader, cfg, progress=False)
    return text_enc.eval(), img_enc.eval(), history
