"""The DAMSM matching losses (AttnGAN, Xu et al. CVPR 2018, Sec. 3.2): a word-level attention score and
a sentence-level cosine score, each turned into a posterior over the batch (softmax with temperature
gamma3) and scored by cross-entropy in both directions (image -> text and text -> image)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dflib.text.base import TextFeatures

__all__ = [
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
]


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

    These entries are set to -inf before the softmax (docs/official_behaviour.md §14): another image of the same class is
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
    """Sentence-level DAMSM terms (docs/official_behaviour.md §14; AttnGAN Sec. 3.2, the cosine score of the global image
    code and the sentence vector): ``S[i, j] = gamma3 * cos(code_i, sent_j)``, same-class entries masked;
    returns ``(CE(S, arange), CE(S^T, arange), S)``."""
    if code.shape != sent.shape:
        raise ValueError(f"image code {tuple(code.shape)} and sentence {tuple(sent.shape)} must have equal shapes")
    scores = masked_scores(gamma3 * cosine_matrix(code, sent), class_ids)
    loss0, loss1 = _two_way_ce(scores)
    return loss0, loss1, scores


def word_attention(regions: Tensor, words: Tensor, mask: Tensor, gamma1: float = 4.0) -> tuple[Tensor, Tensor]:
    """Word-to-region attention for every (caption i, image j) pair (AttnGAN Sec. 3.2; docs/official_behaviour.md §14).

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
    over each caption's valid words (AttnGAN Sec. 3.2; docs/official_behaviour.md §14). Returns ``R (Bj, Bi)`` (rows =
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
    """The full DAMSM objective ``w_loss0 + w_loss1 + s_loss0 + s_loss1`` (docs/official_behaviour.md §14)."""
    sent, words, mask = text
    w0, w1, wsc, attn = words_loss(regions, words, mask, class_ids, gammas)
    s0, s1, ssc = sentence_loss(code, sent, class_ids, gammas.gamma3)
    return DAMSMLoss(w0 + w1 + s0 + s1, w0, w1, s0, s1, wsc, ssc, attn)
