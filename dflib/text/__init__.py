"""Text encoders for DF-GAN: the DAMSM BiLSTM, an offline MiniLM sentence encoder, a bag-of-words test
encoder. Every encoder is used frozen (eval mode, no gradients), as DF-GAN does; pretraining a DAMSM pair
is the sibling package ``dfdamsm``.

- ``base``: the interface (``TextEncoder``, ``TextFeatures``, ``freeze``)
- ``rnn``: the DAMSM BiLSTM text encoder
- ``minilm``: all-MiniLM-L6-v2 from a PyPI package (offline); ``bow``: the bag-of-words test encoder
- ``cache``: scaled and memoised sentence vectors; ``factory``: encoders by name and by configuration
"""

from __future__ import annotations

from typing import Any

from .base import TextEncoder, TextFeatures, check_captions, freeze
from .bow import BagOfWordsEncoder
from .cache import ScaledTextEncoder, SentenceCache
from .factory import TEXT_ENCODERS, build_encoder, build_text_encoder
from .rnn import RNNEncoder, load_text_encoder

__all__ = [
    "TextEncoder",
    "TextFeatures",
    "check_captions",
    "freeze",
    "BagOfWordsEncoder",
    "ScaledTextEncoder",
    "SentenceCache",
    "RNNEncoder",
    "load_text_encoder",
    "TEXT_ENCODERS",
    "build_text_encoder",
    "build_encoder",
    "MiniLMEncoder",
]


def __getattr__(name: str) -> Any:
    if name == "MiniLMEncoder":  # imported lazily: transformers is a heavy import
        from .minilm import MiniLMEncoder

        return MiniLMEncoder
    raise AttributeError(f"module 'dflib.text' has no attribute {name!r}")
