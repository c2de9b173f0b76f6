"""Pretraining a DAMSM text/image encoder pair on any dataset of ``dflib.data.build_dataset`` (AttnGAN's
recipe: Adam, the learning rate decayed every few epochs, gradient clipping; docs/official_behaviour.md),
retrieval accuracy to check it, and loading a pretrained run. The command line is ``python -m dflib
pretrain`` (``dfdamsm.cli``).

A finished pretraining is never replaced silently: training runs point at its ``text_encoder.pth``, so
``pretrain_damsm`` refuses an output folder that already holds one unless ``overwrite=True``, and writes
each file whole (a temporary file, then a rename)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dflib.data import build_dataset, collate
from dflib.data.options import check_dataset_options
from dflib.data.vocab import Vocab
from dflib.text.base import freeze
from dflib.text.factory import read_text_encoder
from dflib.text.rnn import RNNEncoder, load_state_dict_file
from dflib.weights import load_state_dict_strict

from .image_encoders import InceptionImageEncoder, SmallImageEncoder
from .loss import DAMSMGammas, DAMSMLoss, class_ids_from_batch, cosine_matrix, damsm_loss, word_region_scores

OUTPUT_FILES = ("text_encoder.pth", "image_encoder.pth", "vocab.json", "damsm.json")

__all__ = ["OUTPUT_FILES", "check_output_free", "NonFiniteDAMSMError", "DAMSMConfig", "lr_for_epoch", "damsm_step", "train_damsm", "retrieval_at_1", "pretrain_damsm", "load_damsm_run", "format_summary"]


@dataclass
class DAMSMConfig:
    """DAMSM pretraining settings; defaults are the AttnGAN bird/coco values of docs/official_behaviour.md §14."""

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
    learning rate of ``lr_for_epoch`` (docs/official_behaviour.md §14). Both encoders must already be on the same device.
    """
    from tqdm.auto import tqdm

    params = [p for m in (text_encoder, image_encoder) for p in m.parameters() if p.requires_grad]
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
            if not math.isfinite(logs["total"]):
                raise NonFiniteDAMSMError(
                    f"DAMSM loss became {logs['total']} at epoch {epoch + 1}, step {step + 1}: nothing was saved. "
                    f"Lower the learning rate (now {lr:g})"
                )
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            bar.set_postfix(loss=f"{logs['total']:.3f}")
        if n == 0:
            raise ValueError("the data loader gave no batches: is the dataset smaller than one batch with drop_last?")
        history.append({"epoch": epoch + 1, "lr": lr, **{k: v / n for k, v in sums.items()}})
    return history


class NonFiniteDAMSMError(FloatingPointError):
    """A DAMSM pretraining loss became NaN or infinite (no encoder is saved)."""


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
    device = text_encoder.device
    for b, batch in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
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


def check_output_free(out_dir: str | Path, overwrite: bool = False) -> None:
    """Refuse (``FileExistsError``) an ``out_dir`` that already holds a pretrained encoder (any of
    :data:`OUTPUT_FILES`) unless ``overwrite``: training runs that point at its ``text_encoder.pth`` would
    silently change."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder")
    taken = [n for n in OUTPUT_FILES if (out / n).exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"{out} already holds a pretrained DAMSM encoder ({', '.join(taken)}): runs that use its "
            "text_encoder.pth would change without notice. Choose another --out, or pass --overwrite to replace it"
        )


def _save_whole(write: Any, path: Path) -> None:
    """``write(temporary path)``, then rename it onto ``path``: the old file stays whole if writing fails."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    overwrite: bool = False,
    **dataset_kw: Any,
) -> dict[str, Any]:
    """Pretrain a DAMSM text/image encoder pair on ``dflib.data.build_dataset(dataset, ...)``.

    Saves ``text_encoder.pth`` and ``image_encoder.pth`` (plain state dicts), ``vocab.json`` and
    ``damsm.json`` (settings, per-epoch losses, retrieval) in ``out_dir``; returns the same summary plus
    the trained encoders under ``'text_encoder'`` / ``'image_encoder'``. An ``out_dir`` that already holds
    a pretrained encoder is refused before any work unless ``overwrite`` (:func:`check_output_free`);
    ``dataset_kw`` are checked against the dataset class first (:mod:`dflib.data.options`).
    """
    from torch.utils.data import DataLoader

    cfg = cfg or DAMSMConfig()
    check_output_free(out_dir, overwrite)
    check_dataset_options(dataset, dataset_kw, prefix="--dataset-kw")
    torch.manual_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build = partial(build_dataset, dataset, root=root, imsize=imsize, words_num=words_num, seed=seed, **dataset_kw)
    train_set = build(split="train")
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
        test_set = build(split="test")
    except (ValueError, FileNotFoundError, KeyError):  # no test split: evaluate on the train split
        test_set = None
    if test_set is None or len(test_set) < 2 or test_set.vocab != vocab:  # ids must mean the same words
        test_set, eval_split = train_set, "train"
    eval_bs = min(cfg.batch_size, len(test_set))
    eval_loader = DataLoader(test_set, batch_size=eval_bs, shuffle=False, drop_last=True, collate_fn=collate)
    retrieval = retrieval_at_1(text_enc, img_enc, eval_loader, max_batches=20, gammas=cfg.gammas)
    _save_whole(lambda p: torch.save(text_enc.state_dict(), p), out / "text_encoder.pth")
    _save_whole(lambda p: torch.save(img_enc.state_dict(), p), out / "image_encoder.pth")
    _save_whole(vocab.save, out / "vocab.json")
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
        "files": {n: str(out / n) for n in OUTPUT_FILES},
    }
    _save_whole(lambda p: p.write_text(json.dumps(summary, indent=2)), out / "damsm.json")
    return {**summary, "text_encoder": text_enc, "image_encoder": img_enc}


def load_damsm_run(
    out_dir: str | Path, device: str | torch.device = "cpu", frozen: bool = True
) -> tuple[RNNEncoder, nn.Module]:
    """Rebuild the text encoder (with its vocabulary) and the image encoder saved by ``pretrain_damsm``."""

    out = Path(out_dir)
    meta_path = out / "damsm.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: is {out} a folder written by python -m dflib pretrain?")
    meta = json.loads(meta_path.read_text())
    text_enc = read_text_encoder(out / "text_encoder.pth", vocab=Vocab.load(out / "vocab.json"))
    kind = InceptionImageEncoder if meta.get("image_encoder_kind") == "inception" else SmallImageEncoder
    img_enc: nn.Module = kind(**meta["image_encoder_args"])
    state = load_state_dict_file(out / "image_encoder.pth", "DAMSM image encoder", describe=True)
    load_state_dict_strict(img_enc, state, "image encoder", hint="")
    text_enc, img_enc = text_enc.to(device), img_enc.to(device)
    if frozen:
        freeze(text_enc)
        freeze(img_enc)
    return text_enc, img_enc


def format_summary(s: Mapping[str, Any]) -> str:
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
