"""A shipped generator for a web page: NetG as ONNX, and what the page needs to turn a caption into a sentence.

``python -m dflib export shapes-32 --onnx OUT_DIR`` (``dfexport.cli``) writes into ``OUT_DIR``:

- ``generator.onnx``: ``images = netG(noise, sentence)``, inputs ``noise (n, z_dim)`` and ``sentence
  (n, cond_dim)`` float32, output ``images (n, 3, imsize, imsize)`` in [-1, 1]; the batch size is free.
- ``model.json`` (:data:`FORMAT`): the sizes, the sampling defaults, a few example captions and the text
  encoder in a form JavaScript can run. For the bag-of-words encoder (``dflib.text.bow``) that is the
  vocabulary of the model's training captions with every word's vector (float32, written with the digits
  that round-trip), ``words_num`` and the scale: the page tokenises a caption as
  :func:`dflib.data.vocab.tokenize` does, keeps the first ``words_num`` tokens, sums their vectors and
  divides by the square root of their number, then multiplies by the scale (``kind: "bag-of-words"``).
  An encoder that cannot run in a page (MiniLM, DAMSM) is replaced by the sentence vectors of a fixed list
  of captions (``kind: "precomputed"``), and the page says so.

The page draws its noise with :func:`page_noise`'s generator (a seeded 32-bit PRNG, Box-Muller, values
outside ``[-bound, bound]`` drawn again, then scaled by the truncation), which JavaScript repeats exactly; it
is not the SciPy stream of :func:`dflib.noise.truncated_noise`, so the same seed gives other images there.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dflib.config import config_from_dict
from dflib.data import build_dataset, tokenize
from dflib.data.vocab import END_TOKEN, Vocab
from dflib.pretrained import PRETRAINED_DIR, load_pretrained
from dflib.text import BagOfWordsEncoder, ScaledTextEncoder, TextEncoder, build_encoder

__all__ = [
    "FORMAT",
    "OPSET",
    "export_onnx",
    "bag_of_words_table",
    "precomputed_table",
    "example_captions",
    "export_for_page",
    "page_noise",
    "table_sentence",
]

FORMAT = "dfgan-page-1"
OPSET = 17
_MASK = 0xFFFFFFFF


def export_onnx(netG: nn.Module, path: str | Path, opset: int = OPSET) -> Path:
    """Write ``netG`` (eval mode, float32, CPU) as ONNX with a free batch size: inputs ``noise`` and
    ``sentence``, output ``images``. Uses PyTorch's TorchScript-based exporter (no extra packages)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = netG.float().cpu().eval()
    noise, sent = torch.zeros(2, int(net.z_dim)), torch.zeros(2, int(net.cond_dim))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice and NetG's shape check
        torch.onnx.export(
            net, (noise, sent), str(path), input_names=["noise", "sentence"], output_names=["images"],
            dynamic_axes={"noise": {0: "n"}, "sentence": {0: "n"}, "images": {0: "n"}},
            opset_version=int(opset), dynamo=False,
        )
    return path


def _f32(values: torch.Tensor | np.ndarray) -> list[float]:
    """float32 values as the shortest decimals that give back the same float32 (``Math.fround`` in JS)."""
    arr = np.asarray(values, dtype=np.float32).ravel()
    return [float(np.format_float_positional(v, unique=True, trim="-")) for v in arr]


def _inner_bow(encoder: TextEncoder) -> tuple[BagOfWordsEncoder, float] | None:
    """``(bag-of-words encoder, scale)`` if ``encoder`` is one (scaled or not), else None."""
    if isinstance(encoder, ScaledTextEncoder) and isinstance(encoder.inner, BagOfWordsEncoder):
        return encoder.inner, encoder.scale
    if isinstance(encoder, BagOfWordsEncoder):
        return encoder, 1.0
    return None


def bag_of_words_table(encoder: TextEncoder, words: Sequence[str]) -> dict[str, Any]:
    """The page's form of a (scaled) bag-of-words encoder: each word's vector (``<end>``, the vector of an
    empty caption, included), ``words_num``, ``dim`` and ``scale``."""
    found = _inner_bow(encoder)
    if found is None:
        raise TypeError(f"{type(encoder).__name__} is not a bag-of-words encoder")
    bow, scale = found
    vocab = list(dict.fromkeys([END_TOKEN, *words]))
    return {
        "kind": "bag-of-words",
        "dim": int(bow.dim),
        "words_num": int(bow.words_num),
        "scale": _f32([scale])[0],
        "end_token": END_TOKEN,
        "vectors": {w: _f32(bow._word(w)) for w in vocab},
    }


def precomputed_table(encoder: TextEncoder, captions: Sequence[str], name: str) -> dict[str, Any]:
    """The page's stand-in for an encoder it cannot run: the sentence vectors of ``captions``."""
    captions = list(dict.fromkeys(captions))
    if not captions:
        raise ValueError("a precomputed text table needs at least one caption")
    with torch.no_grad():
        sent = torch.cat([encoder.encode([c]).sent.float() for c in captions])  # one at a time: no padding effects
    return {"kind": "precomputed", "encoder": name, "dim": int(sent.shape[1]),
            "sentences": {c: _f32(v) for c, v in zip(captions, sent)}}


def example_captions(data: Mapping[str, Any], imsize: int, limit: int = 12, split: str = "test") -> list[str]:
    """Up to ``limit`` distinct captions of the model's data: the first caption of each item, then the others."""
    ds = build_dataset(data["name"], root=data.get("root"), split=split, imsize=imsize,
                       words_num=int(data.get("words_num", 18)), seed=0, **dict(data.get("options") or {}))
    items = range(len(ds))  # type: ignore[arg-type]
    firsts = (ds.captions(i)[0] for i in items)  # type: ignore[attr-defined]
    # then, for a small data set, the other captions of each item
    others = (c for i in items for c in ds.captions(i)[1:])  # type: ignore[attr-defined]
    found: dict[str, None] = {}
    for caption in itertools.chain(firsts, others):  # read lazily: only as many items as needed
        found.setdefault(caption, None)
        if len(found) >= limit:
            break
    return list(found)


def table_sentence(table: Mapping[str, Any], caption: str) -> tuple[np.ndarray | None, list[str]]:
    """What the page computes for ``caption`` from a bag-of-words table: ``(sentence float32, unknown
    words)``. Unknown words are left out (the page names them; None when no word is known); a caption
    with no token at all gives ``<end>``'s vector, as the encoder does. Sums in float32, word by word, as
    JavaScript does with ``Math.fround``."""
    tokens = tokenize(caption)[: int(table["words_num"])]
    unknown = [t for t in tokens if t not in table["vectors"]]
    known = [t for t in tokens if t in table["vectors"]] or ([table["end_token"]] if not tokens else [])
    if not known:
        return None, unknown
    acc = np.zeros(int(table["dim"]), np.float32)
    for w in known:
        acc = (acc + np.asarray(table["vectors"][w], np.float32)).astype(np.float32)
    acc = (acc / np.float32(math.sqrt(len(known)))).astype(np.float32)
    return (acc * np.float32(table["scale"])).astype(np.float32), unknown


def _mulberry32(state: int) -> tuple[int, int]:
    """One step of the page's PRNG: ``(new state, 32-bit output)`` (``mulberry32``, all arithmetic mod 2**32)."""
    state = (state + 0x6D2B79F5) & _MASK
    t = ((state ^ (state >> 15)) * (state | 1)) & _MASK
    t = ((t + (((t ^ (t >> 7)) * (t | 61)) & _MASK)) & _MASK) ^ t
    return state, (t ^ (t >> 14)) & _MASK


def page_noise(seed: int, n: int, z_dim: int, truncation: float = 0.88, bound: float = 2.0) -> torch.Tensor:
    """``(n, z_dim)`` float32: the noise the demo page draws for ``seed`` (book/_static/demo/dfgan-core.js).

    Uniforms ``(u + 0.5) / 2**32`` from a mulberry32 stream seeded with ``seed``; Box-Muller turns each pair
    into two normals, used in turn; a normal outside ``[-bound, bound]`` is dropped (the truncated normal
    by resampling); the kept values fill the rows in order and are multiplied by ``truncation``."""
    if bound <= 0:
        raise ValueError(f"truncation bound must be > 0, got {bound}")
    state, out = int(seed) & _MASK, []
    while len(out) < n * z_dim:
        state, a = _mulberry32(state)
        state, b = _mulberry32(state)
        r = math.sqrt(-2.0 * math.log((a + 0.5) / 4294967296.0))
        theta = 2.0 * math.pi * ((b + 0.5) / 4294967296.0)
        for z in (r * math.cos(theta), r * math.sin(theta)):
            if abs(z) <= bound and len(out) < n * z_dim:
                out.append(z)
    values = np.asarray(out, dtype=np.float64).reshape(n, z_dim) * float(truncation)
    return torch.from_numpy(values.astype(np.float32))


def _card_summary(card: Mapping[str, Any] | None) -> dict[str, Any]:
    """The few fields of a model card the page shows."""
    if not card:
        return {}
    keep = ("steps", "wall_time", "hardware", "text_encoder", "note")
    out = {k: card[k] for k in keep if k in card}
    shapes = (card.get("metrics") or {}).get("shapes") or {}
    if shapes.get("accuracy"):
        out["accuracy"] = shapes["accuracy"]
    return out


def export_for_page(
    name: str,
    out_dir: str | Path,
    root: Path = PRETRAINED_DIR,
    captions: Sequence[str] | None = None,
    max_captions: int = 64,
) -> dict[str, Any]:
    """Write ``generator.onnx`` and ``model.json`` of the shipped model ``name`` into ``out_dir``; returns
    the ``model.json`` content. ``captions``: the captions of a precomputed table (default: up to
    ``max_captions`` of the model's test data) and the page's examples (default: 12 of them)."""
    netG, info = load_pretrained(name, root=root)
    cfg = config_from_dict(info["config"])
    words = [w for w, _ in sorted(dict(info.get("vocab") or {}).items(), key=lambda kv: kv[1])]
    encoder = build_encoder(cfg, Vocab(words) if words else None, "cpu")
    data = dict(info["config"]["data"])
    examples = list(captions) if captions else example_captions(data, cfg.model.imsize, limit=12)
    if _inner_bow(encoder) is not None:
        if not words:
            raise ValueError(f"{name}: a bag-of-words model must carry its vocabulary to be exported for a page")
        text = bag_of_words_table(encoder, words)
    else:
        listed = list(captions) if captions else example_captions(data, cfg.model.imsize, limit=max_captions)
        text = precomputed_table(encoder, listed, cfg.text_encoder)
    out = Path(out_dir)
    export_onnx(netG, out / "generator.onnx")
    meta = {
        "format": FORMAT,
        "name": name,
        "onnx": "generator.onnx",
        "inputs": {"noise": ["n", int(netG.z_dim)], "sentence": ["n", int(netG.cond_dim)]},
        "output": {"images": ["n", int(netG.to_rgb[1].out_channels), int(netG.imsize), int(netG.imsize)]},
        "z_dim": int(netG.z_dim),
        "cond_dim": int(netG.cond_dim),
        "imsize": int(netG.imsize),
        "truncation": float(cfg.truncation),
        "bound": 2.0,
        "text_encoder": cfg.text_encoder,
        "text": text,
        "examples": examples,
        "card": _card_summary(info.get("card")),
    }
    (out / "model.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n", encoding="utf-8")
    return meta
