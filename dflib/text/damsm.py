"""DAMSM: the BiLSTM text encoder DF-GAN conditions on, two image encoders, the matching losses and
the pretraining loop (notebook 07).

References: ``dfgan_spec.md`` Sec. 5.1 (encoder architecture and state-dict keys), Sec. 5.2 (DAMSM
pretraining), Sec. 4.1 (how DF-GAN uses the frozen encoder); AttnGAN (Xu et al., CVPR 2018), Sec. 3.2
"Deep Attentional Multimodal Similarity Model" (word-level attention matching score and the
sentence-level cosine score, each turned into a posterior over the batch with a softmax of temperature
gamma3). Written from the specification; no code is taken from the AttnGAN or DF-GAN repositories.

Run as a program to pretrain an encoder pair on any dataset of ``dflib.data.build_dataset``::

    python -m dflib.text.pretrain --dataset shapes --epochs 20 --out runs/damsm_shapes
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..checkpoint import CheckpointMismatchError, strip_module_prefix
from .base import TextEncoder, TextFeatures, check_captions, write_state_dict_error

__all__ = [
    "RNNEncoder",
    "load_state_dict_file",
    "load_text_encoder",
    "InceptionImageEncoder",
    "SmallImageEncoder",
    "INCEPTION_TRUNK",
    "DAMSMGammas",
    "DAMSMLoss",
    "cosine_matrix",
    "same_class_mask",
    "class_ids_from_batch",
    "masked_scores",
    "sentence_loss",
    "word_attention",
    "word_region_scores",
    "words_loss",
    "damsm_loss",
    "DAMSMConfig",
    "lr_for_epoch",
    "damsm_step",
    "train_damsm",
    "retrieval_at_1",
    "pretrain_damsm",
    "load_damsm_run",
    "main",
]


# ----------------------------------------------------------------------------------------------------
# Loading plain state-dict files
# ----------------------------------------------------------------------------------------------------


def load_state_dict_file(path: str | Path, what: str = "encoder") -> dict[str, Tensor]:
    """Read a plain state dict with ``torch.load(weights_only=True)`` and strip a ``module.`` prefix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise CheckpointMismatchError(f"could not read {path} as a weights-only PyTorch file: {exc}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        top = list(state)[:6] if isinstance(state, Mapping) else type(state).__name__
        raise CheckpointMismatchError(f"{path} is not a plain state dict of tensors (top level: {top})")
    return strip_module_prefix(state)


def _load_strict(module: nn.Module, state: Mapping[str, Tensor], what: str, hint: str = "") -> None:
    msg = write_state_dict_error(module, state, what, hint)
    if msg is not None:
        raise CheckpointMismatchError(msg)
    module.load_state_dict(state, strict=True)


# ----------------------------------------------------------------------------------------------------
# Text encoder (spec Sec. 5.1)
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
    """DAMSM bidirectional LSTM text encoder (spec Sec. 5.1; AttnGAN Sec. 3.2 "text encoder").

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
        ids = [list(self.vocab.encode(c)) for c in captions]
        T = max(len(x) for x in ids)
        tokens = torch.zeros(len(ids), T, dtype=torch.int64)
        for i, x in enumerate(ids):
            tokens[i, : len(x)] = torch.tensor(x, dtype=torch.int64)
        return self.encode_tokens(tokens, torch.tensor([len(x) for x in ids]))

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        """Encode a collated dataset batch through its ``tokens`` (B, T) and ``length`` (B,) entries."""
        if "tokens" not in batch or "length" not in batch:
            raise KeyError(f"a DAMSM batch needs 'tokens' and 'length'; this batch has {sorted(batch)}")
        return self.encode_tokens(batch["tokens"], batch["length"])

    def load_weights(self, path: str | Path) -> "RNNEncoder":
        """Load a plain state dict (official ``text_encoder*.pth`` or ours) strictly."""
        _load_strict(self, load_state_dict_file(path, "text encoder"), "text encoder", _hint_for(self))
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
        _load_strict(enc, state, "text encoder", _hint_for(enc))
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


# ----------------------------------------------------------------------------------------------------
# Image encoders
# ----------------------------------------------------------------------------------------------------

INCEPTION_TRUNK = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
    "Mixed_7a", "Mixed_7b", "Mixed_7c",
)  # fmt: skip


def _init_projection(module: nn.Module) -> None:
    """U(-0.1, 0.1) on the trainable projection weights, as the DAMSM image encoder does (Sec. 5.2)."""
    nn.init.uniform_(module.weight, -0.1, 0.1)


class InceptionImageEncoder(nn.Module):
    """DAMSM image encoder (spec Sec. 5.1 "Image encoder", Sec. 5.2; AttnGAN Sec. 3.2 "image encoder").

    A torchvision Inception-v3 trunk (``Conv2d_1a_3x3`` ... ``Mixed_7c``, attribute names as in the
    official ``image_encoder*.pth``), frozen; ``emb_features`` = Conv2d(768, dim, 1) on the 17x17
    ``Mixed_6e`` map gives 289 region features, ``emb_cnn_code`` = Linear(2048, dim) on the average-pooled
    ``Mixed_7c`` map gives the global code. Inputs in [-1, 1] are resized bilinearly to 299x299.

    Weights are read only from local files: ``trunk_weights`` = torchvision's ImageNet Inception-v3
    state dict (``inception_v3_google-*.pth``, downloaded by the user), or ``load_weights`` for a whole
    DAMSM ``image_encoder*.pth``. Nothing is ever downloaded. As in the official pretraining the trunk's
    BatchNorm statistics still update in train mode; ``trunk_bn_eval=True`` keeps them fixed instead.
    """

    def __init__(self, dim: int = 256, trunk_weights: str | Path | None = None, trunk_bn_eval: bool = False) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=False, init_weights=False)
        for name in INCEPTION_TRUNK:
            setattr(self, name, getattr(net, name))
        self.dim = int(dim)
        self.trunk_bn_eval = trunk_bn_eval
        self.emb_features = nn.Conv2d(768, dim, kernel_size=1, bias=False)
        self.emb_cnn_code = nn.Linear(2048, dim)
        _init_projection(self.emb_features)
        _init_projection(self.emb_cnn_code)
        if trunk_weights is not None:
            self.load_trunk(trunk_weights)
        for name in INCEPTION_TRUNK:
            getattr(self, name).requires_grad_(False)

    def load_trunk(self, path: str | Path) -> "InceptionImageEncoder":
        """Load the trunk from torchvision's ImageNet Inception-v3 state dict (fc / AuxLogits ignored)."""
        state = load_state_dict_file(path, "Inception-v3")
        trunk = {k: v for k, v in state.items() if k.split(".")[0] in INCEPTION_TRUNK}
        own = {k: v for k, v in self.state_dict().items() if k.split(".")[0] in INCEPTION_TRUNK}
        missing = [k for k in own if k not in trunk]
        misshaped = [k for k in own if k in trunk and trunk[k].shape != own[k].shape]
        if missing or misshaped:
            raise CheckpointMismatchError(
                f"{path} is not a torchvision Inception-v3 state dict: {len(missing)} trunk keys missing "
                f"(e.g. {missing[:3]}), mis-shaped: {misshaped[:3]}. Download torchvision's "
                "inception_v3_google-*.pth yourself and pass its path."
            )
        self.load_state_dict(trunk, strict=False)
        return self

    def load_weights(self, path: str | Path) -> "InceptionImageEncoder":
        """Load a whole DAMSM image encoder (official ``image_encoder*.pth`` or ours) strictly."""
        _load_strict(self, load_state_dict_file(path, "image encoder"), "image encoder")
        return self

    def train(self, mode: bool = True) -> "InceptionImageEncoder":
        super().train(mode)
        if self.trunk_bn_eval:
            for name in INCEPTION_TRUNK:
                getattr(self, name).eval()
        return self

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, 3, H, W)`` in [-1, 1] -> ``regions (B, dim, 17, 17)``, ``code (B, dim)``."""
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # 147x147
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 73x73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # 71x71
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # 35x35
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        regions = self.emb_features(x)  # (B, dim, 17, 17)
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # (B, 2048, 8, 8)
        code = self.emb_cnn_code(x.mean(dim=(2, 3)))
        return regions, code


class SmallImageEncoder(nn.Module):
    """A small CNN image encoder trained from scratch, for the bundled low-resolution datasets.

    Same outputs as the Inception encoder (region features + global code, named ``emb_features`` /
    ``emb_cnn_code``), but light enough for CPU training: stride-2 4x4 convolutions with LeakyReLU(0.2)
    take ``imsize`` down to a ``regions x regions`` grid (channels ``ch, 2ch, ...`` capped at 256); one more
    stride-2 stage and global average pooling give the code. Inputs of another size are resized.
    """

    def __init__(self, dim: int = 256, imsize: int = 64, ch: int = 32, regions: int = 8) -> None:
        super().__init__()
        n_down = math.log2(imsize / regions) if imsize >= regions > 0 else -1
        if n_down < 1 or n_down != int(n_down):
            raise ValueError(
                f"imsize / regions must be a power of two >= 2; got imsize={imsize}, regions={regions} "
                "(e.g. imsize 64 with regions 8, or imsize 32 with regions 4)"
            )
        self.dim, self.imsize, self.regions, self.ch = int(dim), int(imsize), int(regions), int(ch)
        chs = [min(ch * 2**i, 256) for i in range(int(n_down) + 2)]
        layers: list[nn.Module] = [nn.Conv2d(3, chs[0], 3, 1, 1), nn.LeakyReLU(0.2)]
        for cin, cout in zip(chs[: int(n_down)], chs[1 : int(n_down) + 1]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.global_branch = nn.Sequential(nn.Conv2d(chs[int(n_down)], chs[-1], 4, 2, 1), nn.LeakyReLU(0.2))
        self.emb_features = nn.Conv2d(chs[int(n_down)], dim, kernel_size=1, bias=False)
        self.emb_cnn_code = nn.Linear(chs[-1], dim)
        _init_projection(self.emb_features)
        _init_projection(self.emb_cnn_code)

    def config(self) -> dict[str, int]:
        """Constructor arguments, saved in ``damsm.json`` so that ``load_damsm_run`` can rebuild it."""
        return {"dim": self.dim, "imsize": self.imsize, "ch": self.ch, "regions": self.regions}

    def load_weights(self, path: str | Path) -> "SmallImageEncoder":
        """Load a state dict saved by ``pretrain_damsm`` strictly."""
        _load_strict(self, load_state_dict_file(path, "image encoder"), "image encoder")
        return self

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``images (B, 3, H, W)`` in [-1, 1] -> ``regions (B, dim, r, r)``, ``code (B, dim)``."""
        if images.shape[-2:] != (self.imsize, self.imsize):
            images = F.interpolate(images, size=(self.imsize, self.imsize), mode="bilinear", align_corners=False)
        x = self.features(images)
        regions = self.emb_features(x)
        code = self.emb_cnn_code(self.global_branch(x).mean(dim=(2, 3)))
        return regions, code


# ----------------------------------------------------------------------------------------------------
# DAMSM losses (spec Sec. 5.2; AttnGAN Sec. 3.2)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DAMSMGammas:
    """Temperatures: gamma1 (attention over regions), gamma2 (word pooling), gamma3 (posterior)."""

    gamma1: float = 4.0
    gamma2: float = 5.0
    gamma3: float = 10.0


@dataclass
class DAMSMLoss:
    """The four DAMSM terms, their sum, and the score matrices (rows = images, columns = captions)."""

    total: Tensor
    w_loss0: Tensor
    w_loss1: Tensor
    s_loss0: Tensor
    s_loss1: Tensor
    word_scores: Tensor
    sent_scores: Tensor
    attn: Tensor  # (B, T, h, w): attention of each caption's words over its own image's regions

    def items(self) -> dict[str, float]:
        """Plain floats for logging."""
        return {k: float(getattr(self, k).detach()) for k in ("total", "w_loss0", "w_loss1", "s_loss0", "s_loss1")}


def cosine_matrix(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """``(N, D), (M, D) -> (N, M)`` cosine similarities, denominator clamped at ``eps``."""
    num = a @ b.t()
    den = a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True).t()
    return num / den.clamp(min=eps)


def same_class_mask(class_ids: Tensor | None, batch_size: int | None = None) -> Tensor | None:
    """``(B,) -> (B, B)`` bool, True where item j is a *different* item of the same class as item i.

    These entries are set to -inf before the softmax (spec Sec. 5.2): another image of the same class is
    not counted as a wrong answer. The diagonal is always False. ``None`` (no classes) gives ``None``.
    """
    if class_ids is None:
        return None
    class_ids = torch.as_tensor(class_ids).reshape(-1)
    if batch_size is not None and class_ids.numel() != batch_size:
        raise ValueError(f"class_ids has {class_ids.numel()} entries for a batch of {batch_size}")
    same = class_ids[:, None] == class_ids[None, :]
    return same & ~torch.eye(len(class_ids), dtype=torch.bool, device=class_ids.device)


def class_ids_from_batch(batch: Mapping[str, Any], keys: Sequence[str] = ("shape", "color")) -> Tensor | None:
    """Class ids for same-class masking: ``batch['class_id']`` if present, else the combination of the
    ``attrs`` named by ``keys`` (shapes: the (shape, color) pair), else ``None`` (mask only the diagonal)."""
    if "class_id" in batch and batch["class_id"] is not None:
        return torch.as_tensor(batch["class_id"]).reshape(-1)
    attrs = batch.get("attrs")
    if not attrs or not all(k in attrs for k in keys):
        return None
    cols = torch.stack([torch.as_tensor(attrs[k]).reshape(-1).long() for k in keys], dim=1)
    return torch.unique(cols, dim=0, return_inverse=True)[1]


def masked_scores(scores: Tensor, class_ids: Tensor | None) -> Tensor:
    """Set the same-class, off-diagonal entries of a square score matrix to -inf."""
    mask = same_class_mask(class_ids, scores.shape[0])
    if mask is None:
        return scores
    return scores.masked_fill(mask.to(scores.device), float("-inf"))


def _two_way_ce(scores: Tensor) -> tuple[Tensor, Tensor]:
    labels = torch.arange(scores.shape[0], device=scores.device)
    return F.cross_entropy(scores, labels), F.cross_entropy(scores.t(), labels)


def sentence_loss(
    code: Tensor, sent: Tensor, class_ids: Tensor | None = None, gamma3: float = 10.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Sentence-level DAMSM terms (spec Sec. 5.2; AttnGAN Sec. 3.2, the cosine score of the global image
    code and the sentence vector): ``S[i, j] = gamma3 * cos(code_i, sent_j)``, same-class entries masked;
    returns ``(CE(S, arange), CE(S^T, arange), S)``."""
    if code.shape != sent.shape:
        raise ValueError(f"image code {tuple(code.shape)} and sentence {tuple(sent.shape)} must have equal shapes")
    scores = masked_scores(gamma3 * cosine_matrix(code, sent), class_ids)
    loss0, loss1 = _two_way_ce(scores)
    return loss0, loss1, scores


def word_attention(regions: Tensor, words: Tensor, mask: Tensor, gamma1: float = 4.0) -> tuple[Tensor, Tensor]:
    """Word-to-region attention for every (caption i, image j) pair (AttnGAN Sec. 3.2; spec Sec. 5.2).

    ``regions (Bj, D, h, w)`` or ``(Bj, D, N)``, ``words (Bi, D, T)``, ``mask (Bi, T)``. The dot products
    ``s = v_r . e_t`` are normalised with a softmax over the caption's words for each region, scaled by
    ``gamma1`` and normalised with a softmax over the regions for each word. Returns the region-context
    vectors ``c (Bi, Bj, D, T)`` and the attention ``alpha (Bi, Bj, T, N)`` (rows sum to 1 over N).
    """
    v = regions.flatten(2)  # (Bj, D, N)
    if v.shape[1] != words.shape[1]:
        raise ValueError(f"region features have {v.shape[1]} channels, word features {words.shape[1]}")
    s = torch.einsum("jdn,idt->ijnt", v, words)  # (Bi, Bj, N, T)
    s = s.masked_fill(~mask[:, None, None, :].to(s.device), float("-inf"))
    s = torch.softmax(s, dim=3)  # over the caption's words, for each region
    alpha = torch.softmax(gamma1 * s, dim=2).transpose(2, 3)  # over regions -> (Bi, Bj, T, N)
    context = torch.einsum("jdn,ijtn->ijdt", v, alpha)
    return context, alpha


def word_region_scores(
    regions: Tensor, words: Tensor, mask: Tensor, gamma1: float = 4.0, gamma2: float = 5.0
) -> tuple[Tensor, Tensor]:
    """Attention-driven matching score ``R(image j, caption i) = log sum_t exp(gamma2 cos(c_t, e_t))``
    over each caption's valid words (AttnGAN Sec. 3.2; spec Sec. 5.2). Returns ``R (Bj, Bi)`` (rows =
    images) and the attention ``(Bi, Bj, T, N)``."""
    context, alpha = word_attention(regions, words, mask, gamma1)
    e = words[:, None]  # (Bi, 1, D, T)
    cos = (context * e).sum(2) / (context.norm(dim=2) * e.norm(dim=2)).clamp(min=1e-8)  # (Bi, Bj, T)
    cos = cos.masked_fill(~mask[:, None, :].to(cos.device), float("-inf"))
    return torch.logsumexp(gamma2 * cos, dim=2).t(), alpha


def words_loss(
    regions: Tensor,
    words: Tensor,
    mask: Tensor,
    class_ids: Tensor | None = None,
    gammas: DAMSMGammas = DAMSMGammas(),
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Word-level DAMSM terms: ``M = gamma3 * R`` (rows images, columns captions), same-class masking,
    ``(CE(M, arange), CE(M^T, arange), M, attention of matched pairs (B, T, h, w))``."""
    if regions.shape[0] != words.shape[0]:
        raise ValueError(f"{regions.shape[0]} images but {words.shape[0]} captions: DAMSM needs matched pairs")
    R, alpha = word_region_scores(regions, words, mask, gammas.gamma1, gammas.gamma2)
    scores = masked_scores(gammas.gamma3 * R, class_ids)
    loss0, loss1 = _two_way_ce(scores)
    idx = torch.arange(words.shape[0], device=alpha.device)
    attn = alpha[idx, idx]  # (B, T, N)
    if regions.dim() == 4:
        attn = attn.reshape(*attn.shape[:2], *regions.shape[2:])
    return loss0, loss1, scores, attn


def damsm_loss(
    regions: Tensor,
    code: Tensor,
    text: TextFeatures | tuple[Tensor, Tensor, Tensor],
    class_ids: Tensor | None = None,
    gammas: DAMSMGammas = DAMSMGammas(),
) -> DAMSMLoss:
    """The full DAMSM objective ``w_loss0 + w_loss1 + s_loss0 + s_loss1`` (spec Sec. 5.2)."""
    sent, words, mask = text
    w0, w1, wsc, attn = words_loss(regions, words, mask, class_ids, gammas)
    s0, s1, ssc = sentence_loss(code, sent, class_ids, gammas.gamma3)
    return DAMSMLoss(w0 + w1 + s0 + s1, w0, w1, s0, s1, wsc, ssc, attn)


# ----------------------------------------------------------------------------------------------------
# Pretraining (spec Sec. 5.2)
# ----------------------------------------------------------------------------------------------------


@dataclass
class DAMSMConfig:
    """DAMSM pretraining settings; defaults are the AttnGAN bird/coco values of spec Sec. 5.2."""

    epochs: int = 600
    batch_size: int = 48
    lr: float = 0.002
    lr_decay: float = 0.98  # applied after each epoch while lr > lr_min
    lr_min: float = 0.0002
    betas: tuple[float, float] = (0.5, 0.999)
    clip_norm: float = 0.25  # on the text encoder only
    gammas: DAMSMGammas = field(default_factory=DAMSMGammas)
    use_classes: bool = True
    class_keys: tuple[str, ...] = ("shape", "color")
    max_steps_per_epoch: int | None = None


def lr_for_epoch(epoch: int, cfg: DAMSMConfig) -> float:
    """Learning rate of epoch ``epoch`` (0-based): ``lr * decay`` after each epoch while ``lr > lr_min``."""
    lr = cfg.lr
    for _ in range(epoch):
        if lr > cfg.lr_min:
            lr *= cfg.lr_decay
    return lr


def _trainable(modules: Iterable[nn.Module]) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]


def damsm_step(
    text_encoder: RNNEncoder,
    image_encoder: nn.Module,
    batch: Mapping[str, Any],
    optimizer: torch.optim.Optimizer,
    cfg: DAMSMConfig,
) -> DAMSMLoss:
    """One DAMSM update: encode, loss, backward, clip the text encoder's gradient norm, step."""
    device = text_encoder.device
    images = batch["image"].to(device)
    text = text_encoder.encode_batch(batch)
    regions, code = image_encoder(images)
    class_ids = class_ids_from_batch(batch, cfg.class_keys) if cfg.use_classes else None
    out = damsm_loss(regions, code, text, class_ids, cfg.gammas)
    optimizer.zero_grad(set_to_none=True)
    out.total.backward()
    torch.nn.utils.clip_grad_norm_(text_encoder.parameters(), cfg.clip_norm)
    optimizer.step()
    return out


def train_damsm(
    text_encoder: RNNEncoder,
    image_encoder: nn.Module,
    loader: Iterable[Mapping[str, Any]],
    cfg: DAMSMConfig,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train both encoders for ``cfg.epochs`` epochs; returns one dict of mean losses per epoch.

    Adam(lr, betas=(0.5, 0.999)) is re-created at the start of every epoch (its moments reset), with the
    learning rate of ``lr_for_epoch`` (spec Sec. 5.2). Both encoders must already be on the same device.
    """
    from tqdm.auto import tqdm

    params = _trainable([text_encoder, image_encoder])
    history: list[dict[str, float]] = []
    for epoch in range(cfg.epochs):
        lr = lr_for_epoch(epoch, cfg)
        optimizer = torch.optim.Adam(params, lr=lr, betas=cfg.betas)
        text_encoder.train()
        image_encoder.train()
        sums: dict[str, float] = {}
        n = 0
        bar = tqdm(loader, desc=f"DAMSM epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not progress)
        for step, batch in enumerate(bar):
            if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                break
            logs = damsm_step(text_encoder, image_encoder, batch, optimizer, cfg).items()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            bar.set_postfix(loss=f"{logs['total']:.3f}")
        if n == 0:
            raise ValueError("the data loader gave no batches: is the dataset smaller than one batch with drop_last?")
        history.append({"epoch": epoch + 1, "lr": lr, **{k: v / n for k, v in sums.items()}})
    return history


@torch.no_grad()
def retrieval_at_1(
    text_encoder: RNNEncoder,
    image_encoder: nn.Module,
    loader: Iterable[Mapping[str, Any]],
    max_batches: int | None = None,
    gammas: DAMSMGammas = DAMSMGammas(),
) -> dict[str, float]:
    """Within-batch image-to-caption recall@1 with the sentence score and with the word score.

    For each image the highest-scoring caption of its batch must be its own (ties with captions naming
    the same class count as misses). ``chance`` = mean 1/B. Runs in eval mode, restores the modes.
    """
    modes = (text_encoder.training, image_encoder.training)
    text_encoder.eval()
    image_encoder.eval()
    hits_s = hits_w = total = 0
    chance = 0.0
    n_batches = 0
    for b, batch in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
        device = text_encoder.device
        sent, words, mask = text_encoder.encode_batch(batch)
        regions, code = image_encoder(batch["image"].to(device))
        target = torch.arange(sent.shape[0], device=device)
        hits_s += int((cosine_matrix(code, sent).argmax(1) == target).sum())
        R, _ = word_region_scores(regions, words, mask, gammas.gamma1, gammas.gamma2)
        hits_w += int((R.argmax(1) == target).sum())
        total += sent.shape[0]
        chance += 1.0 / sent.shape[0]
        n_batches += 1
    text_encoder.train(modes[0])
    image_encoder.train(modes[1])
    if total == 0:
        raise ValueError("retrieval_at_1 got no batches")
    return {"sent_r1": hits_s / total, "word_r1": hits_w / total, "chance": chance / n_batches, "n": total}


def _build_image_encoder(kind: str, dim: int, imsize: int, inception_weights: str | None) -> nn.Module:
    if kind == "small":
        return SmallImageEncoder(dim=dim, imsize=imsize, regions=min(8, imsize // 4))
    if kind == "inception":
        if not inception_weights:
            raise ValueError(
                "--image-encoder inception needs --inception-weights PATH: torchvision's ImageNet "
                "inception_v3_google-*.pth, downloaded by you (dflib never downloads weights)"
            )
        return InceptionImageEncoder(dim=dim, trunk_weights=inception_weights)
    raise ValueError(f"unknown image encoder {kind!r}: use 'small' or 'inception'")


def pretrain_damsm(
    dataset: str,
    out_dir: str | Path,
    root: str | None = None,
    imsize: int = 64,
    words_num: int = 18,
    cfg: DAMSMConfig | None = None,
    image_encoder: str = "small",
    inception_weights: str | None = None,
    emb_dim: int = 300,
    hidden: int = 256,
    device: str | torch.device = "cpu",
    seed: int = 0,
    num_workers: int = 0,
    progress: bool = True,
    **dataset_kw: Any,
) -> dict[str, Any]:
    """Pretrain a DAMSM text/image encoder pair on ``dflib.data.build_dataset(dataset, ...)``.

    Saves ``text_encoder.pth`` and ``image_encoder.pth`` (plain state dicts), ``vocab.json`` and
    ``damsm.json`` (settings, per-epoch losses, retrieval) in ``out_dir``; returns the same summary plus
    the trained encoders under ``'text_encoder'`` / ``'image_encoder'``.
    """
    from torch.utils.data import DataLoader

    from ..data import build_dataset, collate

    cfg = cfg or DAMSMConfig()
    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_set = build_dataset(dataset, root=root, split="train", imsize=imsize, words_num=words_num, seed=seed, **dataset_kw)
    if len(train_set) < cfg.batch_size:
        raise ValueError(
            f"the {dataset} train split has {len(train_set)} items, fewer than one batch of {cfg.batch_size}: "
            "lower --batch-size"
        )
    vocab = train_set.vocab
    text_enc = RNNEncoder(len(vocab), emb_dim=emb_dim, hidden=hidden, vocab=vocab).to(device)
    img_enc = _build_image_encoder(image_encoder, hidden, imsize, inception_weights).to(device)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True, collate_fn=collate,
        num_workers=num_workers, generator=gen,
    )  # fmt: skip
    t0 = time.time()
    history = train_damsm(text_enc, img_enc, loader, cfg, progress=progress)
    seconds = time.time() - t0
    eval_split = "test"
    try:
        test_set = build_dataset(dataset, root=root, split="test", imsize=imsize, words_num=words_num, seed=seed, **dataset_kw)
    except (ValueError, FileNotFoundError, KeyError):  # no test split: evaluate on the train split
        test_set = None
    if test_set is None or len(test_set) < 2 or test_set.vocab != vocab:  # ids must mean the same words
        test_set, eval_split = train_set, "train"
    eval_bs = min(cfg.batch_size, len(test_set))
    eval_loader = DataLoader(test_set, batch_size=eval_bs, shuffle=False, drop_last=True, collate_fn=collate)
    retrieval = retrieval_at_1(text_enc, img_enc, eval_loader, max_batches=20, gammas=cfg.gammas)
    torch.save(text_enc.state_dict(), out / "text_encoder.pth")
    torch.save(img_enc.state_dict(), out / "image_encoder.pth")
    vocab.save(out / "vocab.json")
    summary = {
        "dataset": dataset,
        "imsize": imsize,
        "words_num": words_num,
        "image_encoder_kind": image_encoder,
        "image_encoder_args": img_enc.config() if isinstance(img_enc, SmallImageEncoder) else {"dim": hidden},
        "n_words": len(vocab),
        "emb_dim": emb_dim,
        "hidden": hidden,
        "config": {**asdict(cfg), "gammas": asdict(cfg.gammas)},
        "history": history,
        "retrieval": {**retrieval, "split": eval_split},
        "seconds": seconds,
        "files": {n: str(out / n) for n in ("text_encoder.pth", "image_encoder.pth", "vocab.json", "damsm.json")},
    }
    (out / "damsm.json").write_text(json.dumps(summary, indent=2))
    return {**summary, "text_encoder": text_enc, "image_encoder": img_enc}


def load_damsm_run(
    out_dir: str | Path, device: str | torch.device = "cpu", frozen: bool = True
) -> tuple[RNNEncoder, nn.Module]:
    """Rebuild the text encoder (with its vocabulary) and the image encoder saved by ``pretrain_damsm``."""
    from ..data.vocab import Vocab
    from .base import freeze

    out = Path(out_dir)
    meta_path = out / "damsm.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: is {out} a folder written by python -m dflib.text.pretrain?")
    meta = json.loads(meta_path.read_text())
    text_enc = load_text_encoder(out / "text_encoder.pth", vocab=Vocab.load(out / "vocab.json"))
    if meta.get("image_encoder_kind") == "inception":
        img_enc: nn.Module = InceptionImageEncoder(**meta["image_encoder_args"])
    else:
        img_enc = SmallImageEncoder(**meta["image_encoder_args"])
    img_enc.load_weights(out / "image_encoder.pth")
    text_enc, img_enc = text_enc.to(device), img_enc.to(device)
    if frozen:
        freeze(text_enc)
        freeze(img_enc)
    return text_enc, img_enc


def _format_summary(s: Mapping[str, Any]) -> str:
    h0, h1 = s["history"][0], s["history"][-1]
    r = s["retrieval"]
    return "\n".join(
        [
            f"DAMSM pretraining on '{s['dataset']}' ({s['n_words']} words, {s['image_encoder_kind']} image encoder, "
            f"{len(s['history'])} epochs, {s['seconds']:.0f} s)",
            f"  loss {h0['total']:.3f} (epoch 1) -> {h1['total']:.3f} (epoch {h1['epoch']}); "
            f"w {h1['w_loss0'] + h1['w_loss1']:.3f}, s {h1['s_loss0'] + h1['s_loss1']:.3f}",
            f"  image->caption R@1 within batches of the {r['split']} split: sentence {r['sent_r1']:.3f}, "
            f"words {r['word_r1']:.3f} (chance {r['chance']:.3f}, {r['n']} images)",
            *[f"  saved {p}" for p in s["files"].values()],
        ]
    )


def _parse_kw(items: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``["length=64", "name=x"]`` -> ``{"length": 64, "name": "x"}`` (values read as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--dataset-kw expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python -m dflib.text.pretrain --dataset shapes --epochs 20 --out runs/damsm``."""
    p = argparse.ArgumentParser(
        prog="python -m dflib.text.pretrain",
        description="Pretrain a DAMSM text + image encoder pair (AttnGAN Sec. 3.2; dfgan_spec Sec. 5.2).",
    )
    p.add_argument("--dataset", required=True, help="shapes | emoji | cub | coco | folder")
    p.add_argument("--root", default=None, help="dataset root folder (cub / coco / folder)")
    p.add_argument("--out", required=True, help="output folder for text_encoder.pth, image_encoder.pth, vocab.json")
    p.add_argument("--imsize", type=int, default=64)
    p.add_argument("--words-num", type=int, default=18)
    p.add_argument("--epochs", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=48)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--image-encoder", choices=("small", "inception"), default="small")
    p.add_argument("--inception-weights", default=None, help="local torchvision inception_v3_google-*.pth")
    p.add_argument("--emb-dim", type=int, default=300)
    p.add_argument("--hidden", type=int, default=256, help="text feature size (DF-GAN cond_dim)")
    p.add_argument("--no-classes", action="store_true", help="mask only the diagonal, not same-class pairs")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument(
        "--dataset-kw", action="append", default=[], metavar="KEY=VALUE",
        help="extra build_dataset keyword, repeatable (e.g. --dataset-kw length=2000 --dataset-kw max_objects=1)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    dataset_kw = _parse_kw(a.dataset_kw, p)
    from ..runtime import default_device

    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = DAMSMConfig(
        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, max_steps_per_epoch=a.max_steps_per_epoch,
        use_classes=not a.no_classes,
    )  # fmt: skip
    result = pretrain_damsm(
        a.dataset, a.out, root=a.root, imsize=a.imsize, words_num=a.words_num, cfg=cfg,
        image_encoder=a.image_encoder, inception_weights=a.inception_weights, emb_dim=a.emb_dim,
        hidden=a.hidden, device=default_device(a.device), seed=a.seed, num_workers=a.num_workers,
        progress=not a.quiet, **dataset_kw,
    )  # fmt: skip
    print(_format_summary(result))
    return result


if __name__ == "__main__":
    main()
