"""The DAMSM text encoder DF-GAN conditions on: a bidirectional LSTM over word embeddings.

Sentence vector = the last hidden states of both directions; word features = every step's hidden states
(AttnGAN, Xu et al. CVPR 2018, Sec. 3.2; DF-GAN uses the encoder frozen, docs/official_behaviour.md).
State-dict keys match the official ``text_encoder*.pth`` files, so they load strictly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from ..weights import (CheckpointMismatchError, describe_state_dict, load_state_dict_strict, read_weights_file,
                       strip_module_prefix)
from .base import TextEncoder, TextFeatures, check_captions

__all__ = ["RNNEncoder", "load_state_dict_file", "load_text_encoder"]


# ----------------------------------------------------------------------------------------------------
# Loading plain state-dict files
# ----------------------------------------------------------------------------------------------------


def load_state_dict_file(path: str | Path, what: str = "encoder", describe: bool = False) -> dict[str, Tensor]:
    """Read a plain state dict (weights only: :func:`dflib.weights.read_weights_file`, whose refusals are
    one line in our words) and strip a ``module.`` prefix. Anything else is a one-line
    :class:`CheckpointMismatchError` naming its top level, or with ``describe`` saying what the file is instead."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights {path} not found")
    state = read_weights_file(path)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        top = list(state)[:6] if isinstance(state, Mapping) else type(state).__name__
        if not describe:
            raise CheckpointMismatchError(f"{path} is not a plain state dict of tensors (top level: {top})")
        inner = state.get("model") if isinstance(state, Mapping) else None
        holds = describe_state_dict(inner.get("netG", {})) if isinstance(inner, Mapping) else (
            f"top-level keys {top}" if isinstance(state, Mapping) else top)
        raise CheckpointMismatchError(f"{path} is not a {what} file (a plain state dict of tensors): it holds {holds}")
    return strip_module_prefix(state)


# ----------------------------------------------------------------------------------------------------
# Text encoder (docs/official_behaviour.md §13)
# ----------------------------------------------------------------------------------------------------


def _check_tokens(tokens: Tensor, lengths: Tensor | Sequence[int], n_words: int) -> tuple[Tensor, Tensor]:
    tokens = torch.as_tensor(tokens)
    if tokens.dim() == 3 and tokens.shape[-1] == 1:  # the official (B, T, 1) caption layout
        tokens = tokens[..., 0]
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (B, T) word ids, got shape {tuple(tokens.shape)}")
    if tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"tokens must be an integer tensor of word ids, got {tokens.dtype}")
    lengths = torch.as_tensor(lengths).reshape(-1).to("cpu", torch.int64)
    B, T = tokens.shape
    if lengths.numel() != B:
        raise ValueError(f"lengths has {lengths.numel()} entries for a batch of {B} token rows")
    if B and (int(lengths.min()) < 1 or int(lengths.max()) > T):
        raise ValueError(
            f"every caption length must be in 1..{T} (the token width); got min {int(lengths.min())}, "
            f"max {int(lengths.max())}. An empty caption cannot be encoded."
        )
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= n_words):
        raise ValueError(
            f"word ids must be in 0..{n_words - 1} (the encoder has {n_words} words); got ids "
            f"{int(tokens.min())}..{int(tokens.max())}: was the caption encoded with another vocabulary?"
        )
    return tokens.long(), lengths


class RNNEncoder(TextEncoder):
    """DAMSM bidirectional LSTM text encoder (docs/official_behaviour.md §13; AttnGAN Sec. 3.2 "text encoder").

    ``encoder`` = Embedding(n_words, 300) initialised U(-0.1, 0.1), dropout 0.5 on the embeddings (train
    mode only), one bidirectional LSTM layer with ``hidden // 2`` units per direction, zero initial state.
    Word features are the LSTM outputs (B, hidden, T); the sentence vector is the concatenation of the
    last forward and the last backward hidden states (forward first). The state dict matches the official
    ``text_encoder200.pth`` / ``text_encoder100.pth`` (keys ``encoder.weight``, ``rnn.*_l0[_reverse]``).

    Batches need not be sorted by length: packing with ``enforce_sorted=False`` gives each caption exactly
    what it would get alone (the official code sorts, encodes and un-sorts; same result).
    """

    def __init__(
        self,
        n_words: int,
        emb_dim: int = 300,
        hidden: int = 256,
        drop_prob: float = 0.5,
        vocab: Any = None,
    ) -> None:
        super().__init__()
        if n_words < 2:
            raise ValueError(f"n_words must be >= 2 (index 0 is '<end>'), got {n_words}")
        if hidden % 2:
            raise ValueError(f"hidden must be even (two LSTM directions of hidden // 2), got {hidden}")
        self.n_words = int(n_words)
        self.emb_dim = int(emb_dim)
        self.dim = int(hidden)
        self.encoder = nn.Embedding(n_words, emb_dim)
        self.drop = nn.Dropout(drop_prob)
        # The official LSTM also passes dropout=0.5, which does nothing with one layer (PyTorch warns).
        self.rnn = nn.LSTM(emb_dim, hidden // 2, num_layers=1, batch_first=True, bidirectional=True)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        self.vocab = None
        if vocab is not None:
            self.set_vocab(vocab)

    def set_vocab(self, vocab: Any) -> None:
        """Attach the ``Vocab`` that ``encode(captions)`` uses; its size must equal ``n_words``."""
        if len(vocab) != self.n_words:
            raise ValueError(
                f"encoder has {self.n_words} words, vocabulary has {len(vocab)}: use the captions_DAMSM.pickle "
                "(or vocab JSON) shipped with this encoder, or pretrain a new encoder for this vocabulary"
            )
        self.vocab = vocab

    def extra_repr(self) -> str:
        return f"n_words={self.n_words}, emb_dim={self.emb_dim}, dim={self.dim}"

    def encode_tokens(self, tokens: Tensor, lengths: Tensor | Sequence[int]) -> TextFeatures:
        """Encode zero-padded word ids ``tokens (B, T)`` with ``lengths (B,)`` -> ``TextFeatures``.

        ``words`` is (B, dim, T) with T = ``tokens.shape[1]`` (zeros after each caption's end); ``mask``
        marks the first ``length`` positions.
        """
        tokens, lengths = _check_tokens(tokens, lengths, self.n_words)
        device = self.encoder.weight.device
        tokens = tokens.to(device)
        B, T = tokens.shape
        emb = self.drop(self.encoder(tokens))  # (B, T, emb_dim)
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        h0 = emb.new_zeros(2, B, self.dim // 2)
        out, (h_n, _) = self.rnn(packed, (h0, torch.zeros_like(h0)))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, dim)
        words = out.transpose(1, 2).contiguous()
        sent = h_n.transpose(0, 1).reshape(B, self.dim)  # [h_fwd_last ; h_bwd_last]
        mask = torch.arange(T, device=device)[None, :] < lengths.to(device)[:, None]
        return TextFeatures(sent, words, mask)

    forward = encode_tokens

    def encode(self, captions: list[str]) -> TextFeatures:
        """Tokenise ``captions`` with the attached ``Vocab`` and encode them (T = longest caption)."""
        captions = check_captions(captions)
        if self.vocab is None:
            raise RuntimeError(
                "this RNNEncoder has no vocabulary: pass vocab= to build_text_encoder / RNNEncoder, or call "
                "set_vocab(vocab) (the Vocab the encoder was trained with), or use encode_tokens()"
            )
        ids = [torch.tensor(list(self.vocab.encode(c)), dtype=torch.int64) for c in captions]
        return self.encode_tokens(pad_sequence(ids, batch_first=True), torch.tensor([len(x) for x in ids]))

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        """Encode a collated dataset batch through its ``tokens`` (B, T) and ``length`` (B,) entries."""
        if "tokens" not in batch or "length" not in batch:
            raise KeyError(f"a DAMSM batch needs 'tokens' and 'length'; this batch has {sorted(batch)}")
        return self.encode_tokens(batch["tokens"], batch["length"])

    def load_weights(self, path: str | Path) -> "RNNEncoder":
        """Load a plain state dict (official ``text_encoder*.pth`` or ours) strictly."""
        load_state_dict_strict(self, load_state_dict_file(path, "text encoder"), "text encoder", _hint_for(self))
        return self

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Tensor], vocab: Any = None, drop_prob: float = 0.5) -> "RNNEncoder":
        """Build an encoder whose sizes are read from ``state`` and load it strictly."""
        state = strip_module_prefix(state)
        if "encoder.weight" not in state or "rnn.weight_hh_l0" not in state:
            raise CheckpointMismatchError(
                "not a DAMSM text encoder state dict: expected keys encoder.weight and rnn.weight_hh_l0, "
                f"got {sorted(state)[:8]}"
            )
        n_words, emb_dim = state["encoder.weight"].shape
        hidden = 2 * state["rnn.weight_hh_l0"].shape[1]
        if vocab is not None and len(vocab) != n_words:
            raise ValueError(
                f"encoder has {n_words} words, vocabulary has {len(vocab)}: use the captions_DAMSM.pickle "
                "(or vocab JSON) shipped with this encoder"
            )
        enc = cls(n_words, emb_dim=emb_dim, hidden=hidden, drop_prob=drop_prob, vocab=vocab)
        load_state_dict_strict(enc, state, "text encoder", _hint_for(enc))
        return enc


def _hint_for(enc: RNNEncoder) -> str:
    return (
        f"This encoder has {enc.n_words} words, {enc.emb_dim}-d embeddings and {enc.dim}-d features; a file "
        "with another vocabulary size needs the captions pickle / vocab JSON it was trained with "
        "(RNNEncoder.from_state_dict reads the sizes from the file)."
    )


def load_text_encoder(path: str | Path, vocab: Any = None, device: str | torch.device = "cpu") -> RNNEncoder:
    """Read ``text_encoder*.pth`` and build a matching ``RNNEncoder`` (sizes from the file), on ``device``."""
    return RNNEncoder.from_state_dict(load_state_dict_file(path, "text encoder"), vocab=vocab).to(device)
