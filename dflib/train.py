"""The DF-GAN training engine: one step exactly as the official code (spec Sec. 4.1), a resumable trainer
for CPU, one GPU, or several GPUs under ``torchrun`` (DistributedDataParallel, spec Sec. 4.4), atomic
checkpoints with exact resume (spec Sec. 4.5 + ``dflib.checkpoint``), sample grids, TensorBoard, NaN guard.

Command line (``python -m dflib.train --help``)::

    python -m dflib.train --preset shapes-32-cpu                      # = make train, ~15 min on 2 cores
    python -m dflib.train --preset birds-256 --set data.root=data/birds
    torchrun --nproc_per_node=4 -m dflib.train --preset coco-256      # DDP, one process per GPU
    python -m dflib.train --resume runs/shapes-32-cpu-20250101-120000  # continue exactly

From Python (notebook 08)::

    from dflib.train import Trainer
    trainer = Trainer(get_preset("shapes-32-cpu"))
    trainer.run(max_steps=200)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .checkpoint import (
    latest_checkpoint,
    load_state_dict_strict,
    load_training_checkpoint,
    rng_state,
    save_training_checkpoint,
    set_rng_state,
)
from .fast import OPTION_NAMES, FastOptions, GraphedStep, apply_fast_options, autocast_context, compile_fake_path, resolve_fast
from .config import TrainConfig, apply_overrides, build_models, config_from_dict, get_preset, TRAIN_PRESETS
from .losses import hinge_fake, hinge_real, ma_gp, roll_mismatch
from .text.base import TextEncoder, TextFeatures, check_captions, freeze

__all__ = [
    "Nets",
    "Optimizers",
    "build_optimizers",
    "train_step",
    "losses_to_floats",
    "NonFiniteLossError",
    "BagOfWordsEncoder",
    "ScaledTextEncoder",
    "SentenceCache",
    "build_encoder",
    "ResumableBatches",
    "DistInfo",
    "setup_distributed",
    "Trainer",
    "main",
]


# --------------------------------------------------------------------------------------------------
# The training step (spec Sec. 3 and 4.1)
# --------------------------------------------------------------------------------------------------


@dataclass
class Nets:
    """The three networks (possibly DistributedDataParallel-wrapped)."""

    netG: nn.Module
    netD: nn.Module
    netC: nn.Module

    def __iter__(self):
        return iter((self.netG, self.netD, self.netC))


@dataclass
class Optimizers:
    """``optimizer_G`` over netG, ``optimizer_D`` over ``list(netD.parameters()) + list(netC.parameters())``."""

    optimizer_G: torch.optim.Optimizer
    optimizer_D: torch.optim.Optimizer


def build_optimizers(
    nets: Nets,
    lr_g: float = 1e-4,
    lr_d: float = 4e-4,
    betas: tuple[float, float] = (0.0, 0.9),
    fused: bool = False,
    capturable: bool = False,
) -> Optimizers:
    """Adam(0, 0.9) with lr 1e-4 for G and 4e-4 for D+C in one optimiser (spec Sec. 4.2; order matters).

    ``fused``: the fused CUDA kernel (or the foreach one on a CPU); same update rule (``dflib.fast``).
    ``capturable``: keep Adam's step counters on the device so a CUDA graph can capture the update.
    """
    kw: dict[str, Any] = {}
    if fused:
        on_cuda = next(nets.netG.parameters()).is_cuda
        kw = {"fused": True} if on_cuda else {"foreach": True}
    if capturable:
        kw["capturable"] = True
    opt_g = torch.optim.Adam(nets.netG.parameters(), lr=lr_g, betas=betas, **kw)
    opt_d = torch.optim.Adam(list(nets.netD.parameters()) + list(nets.netC.parameters()), lr=lr_d, betas=betas, **kw)
    return Optimizers(opt_g, opt_d)


def _z_dim(netG: nn.Module) -> int:
    return int(getattr(netG, "module", netG).nz)


def draw_noise(netG: nn.Module, sent: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Training noise: plain N(0, 1) of shape (batch, z_dim), on ``sent``'s device and dtype (no truncation)."""
    return torch.randn(sent.shape[0], _z_dim(netG), device=sent.device, dtype=sent.dtype, generator=generator)


def train_step(
    nets: Nets | Sequence[nn.Module],
    opts: Optimizers | Sequence[torch.optim.Optimizer],
    images: Tensor,
    sent: Tensor,
    noise: Tensor | None = None,
    k: float = 2.0,
    p: float = 6.0,
    generator: torch.Generator | None = None,
    autocast: str = "off",
    fake_nets: tuple[nn.Module, nn.Module] | None = None,
    autocast_cache: bool = True,
) -> dict[str, Tensor]:
    """One DF-GAN iteration (spec Sec. 4.1): a D+C step on hinge + MA-GP, then a G step with the new D.

    ``errD = relu(1 - D(x, s)) + (relu(1 + D(G(z, s), s)) + relu(1 + C(roll(NetD(x)), s))) / 2
    + k * mean ||[grad_x D(x, s); grad_s D(x, s)]||^p``; ``errG = -mean C(NetD(G(z, s)), s)``.
    ``noise`` defaults to plain N(0, 1) drawn with ``generator``. Returns detached 0-d tensors (no host
    synchronisation): ``errD, errD_real, errD_fake, errD_mis, errD_magp, errG`` (see ``losses_to_floats``).
    ``autocast`` ("off", "bf16", "fp16"; ``dflib.fast``) runs the network forwards in lower precision; the
    logits, losses and the MA-GP norm and power stay in fp32. "off" is the reference (official) step.
    ``fake_nets``: modules computing the same functions as ``(netG, netD)`` with the same parameters (e.g.
    ``dflib.fast.compile_fake_path``), used for the generator and for NetD on fake images; real images
    always go through ``netD`` itself, since MA-GP differentiates that pass twice.
    """
    amp = autocast_context(autocast, images.device, cache=autocast_cache)
    netG, netD, netC = nets if not isinstance(nets, Nets) else (nets.netG, nets.netD, nets.netC)
    genG, fakeD = fake_nets if fake_nets is not None else (netG, netD)
    opt_g, opt_d = (opts.optimizer_G, opts.optimizer_D) if isinstance(opts, Optimizers) else opts
    # 2. leaf tensors with requires_grad for MA-GP (the image batch and the detached sentence vectors)
    images = images.detach().requires_grad_()
    sent = sent.detach().requires_grad_()
    # 3. real matched pairs and mismatched pairs (real features rolled by one, NetD forward reused)
    with amp:
        real_features = netD(images)
        pred_real = _full(netC(real_features, sent))
        pred_mis = _full(netC(roll_mismatch(real_features), sent))
    err_real = hinge_real(pred_real)
    err_mis = hinge_fake(pred_mis)
    # 4. fakes from plain normal noise (no truncation in training)
    if noise is None:
        noise = draw_noise(netG, sent, generator)
    with amp:
        fake = genG(noise, sent)
        pred_fake = _full(netC(fakeD(fake.detach()), sent))
    err_fake = hinge_fake(pred_fake)
    # 5. MA-GP on the real matched pairs, one backward for the whole D loss
    with amp:
        err_magp = ma_gp(pred_real, images, sent, k=k, p=p)
    err_d = err_real + (err_fake + err_mis) / 2.0 + err_magp
    opt_d.zero_grad(set_to_none=True)
    err_d.backward()
    opt_d.step()
    # 6. generator step against the just-updated discriminator
    with amp:
        pred_g = _full(netC(fakeD(fake), sent))
    err_g = -pred_g.mean()
    opt_g.zero_grad(set_to_none=True)
    err_g.backward()
    opt_g.step()
    return {
        "errD": err_d.detach(),
        "errD_real": err_real.detach(),
        "errD_fake": err_fake.detach(),
        "errD_mis": err_mis.detach(),
        "errD_magp": err_magp.detach(),
        "errG": err_g.detach(),
    }


StepFn = Callable[[Tensor, Tensor, Tensor], dict[str, Tensor]]


def build_step(nets: Nets, opts: Optimizers, fast: FastOptions, k: float = 2.0, p: float = 6.0, graph_warmup: int = 3) -> StepFn:
    """``step(images, sent, noise) -> losses``: :func:`train_step` with ``fast``'s step-level options.

    ``compile`` routes the fake-image passes through compiled wrappers; ``cuda_graphs`` wraps the step in a
    :class:`dflib.fast.GraphedStep` (``opts`` must then be built with ``capturable=True``). The module-level
    options (batched Affines, channels_last) are applied by :func:`dflib.fast.apply_fast_options`.
    """
    fake_nets = compile_fake_path(nets.netG, nets.netD) if fast.compile else None

    def step(images: Tensor, sent: Tensor, noise: Tensor) -> dict[str, Tensor]:
        return train_step(
            nets, opts, images, sent, noise, k=k, p=p, autocast=fast.autocast, fake_nets=fake_nets,
            autocast_cache=not fast.cuda_graphs,
        )

    return GraphedStep(step, warmup=graph_warmup) if fast.cuda_graphs else step


def _full(t: Tensor) -> Tensor:
    """Logits back to fp32 after an autocast forward (fp32 and fp64 tensors are returned as they are)."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def losses_to_floats(losses: Mapping[str, Tensor]) -> dict[str, float]:
    """Python floats of a ``train_step`` result (one host synchronisation for all values)."""
    keys = list(losses)
    if not keys:
        return {}
    values = torch.stack([losses[k].double() for k in keys]).cpu().tolist()
    return dict(zip(keys, values))


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


# --------------------------------------------------------------------------------------------------
# Text: a tiny test encoder and a sentence cache
# --------------------------------------------------------------------------------------------------


class BagOfWordsEncoder(TextEncoder):
    """Fixed random word vectors (from a hash of the word), averaged: a 0-parameter encoder for tests and
    quick smoke runs. Not DAMSM, not MiniLM: it knows nothing about meaning, but is deterministic."""

    def __init__(self, dim: int = 32, words_num: int = 18, seed: int = 0) -> None:
        super().__init__()
        self.dim, self.words_num, self.seed = int(dim), int(words_num), int(seed)
        freeze(self)

    def _word(self, w: str) -> Tensor:
        h = int.from_bytes(hashlib.sha256(f"{self.seed}:{w}".encode()).digest()[:8], "little")
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(h % 2**63))

    def encode(self, captions: list[str]) -> TextFeatures:
        from .data.vocab import tokenize

        captions = check_captions(captions)
        toks = [tokenize(c)[: self.words_num] or ["<end>"] for c in captions]
        T = max(len(t) for t in toks)
        words = torch.zeros(len(toks), self.dim, T)
        mask = torch.zeros(len(toks), T, dtype=torch.bool)
        for i, t in enumerate(toks):
            for j, w in enumerate(t):
                words[i, :, j] = self._word(w)
            mask[i, : len(t)] = True
        sent = words.sum(2) / mask.sum(1, keepdim=True).clamp(min=1).sqrt()
        return TextFeatures(sent, words, mask)

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        return self.encode(list(batch["caption"]))


class ScaledTextEncoder(TextEncoder):
    """Multiplies the sentence vectors of a frozen encoder by ``scale`` (``TrainConfig.text_scale``).

    DF-GAN's affines read ``cat([z, s])``: with a unit-norm sentence vector (MiniLM) next to a
    ``z_dim``-dimensional N(0, 1) noise the text is a small part of the condition; scaling it up makes the
    generator pick up the caption sooner. Word features are left as they are.
    """

    def __init__(self, encoder: TextEncoder, scale: float) -> None:
        super().__init__()
        self.inner, self.scale, self.dim = encoder, float(scale), int(encoder.dim)
        freeze(self)

    def _scaled(self, f: TextFeatures) -> TextFeatures:
        return TextFeatures(f.sent * self.scale, f.words, f.mask)

    def encode(self, captions: list[str]) -> TextFeatures:
        return self._scaled(self.inner.encode(captions))

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        return self._scaled(self.inner.encode_batch(batch))


class SentenceCache:
    """Sentence vectors memoised per caption (CPU tensors); valid for deterministic frozen encoders.

    Each new caption is encoded on its own (a batch of one): a padded batch changes the order of
    floating-point sums (MiniLM differs by ~1e-7 with the batch around a caption), so this way a caption's
    vector does not depend on which captions it first came with, and a resumed run, which rebuilds the
    cache in another order, gets bit-identical vectors.
    """

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.table: dict[str, Tensor] = {}

    def __call__(self, batch: Mapping[str, Any]) -> Tensor:
        caps = list(batch["caption"])
        missing = sorted({c for c in caps if c not in self.table})
        for c in missing:
            row = caps.index(c)  # first row of the new caption
            sub: dict[str, Any] = {"caption": [c]}
            for key in ("tokens", "length"):  # token-based encoders (DAMSM) read these
                if key in batch:
                    sub[key] = batch[key][row : row + 1]
            with torch.no_grad():
                self.table[c] = self.encoder.encode_batch(sub).sent[0].detach().float().cpu()
        return torch.stack([self.table[c] for c in caps])

    def encode_batch(self, batch: Mapping[str, Any]) -> TextFeatures:
        """Encoder-like access (sentence vectors only; ``words``/``mask`` are None)."""
        return TextFeatures(self(batch), None, None)  # type: ignore[arg-type]


def build_encoder(cfg: TrainConfig, vocab: Any = None, device: str | torch.device = "cpu") -> TextEncoder:
    """The frozen text encoder named by ``cfg.text_encoder``; checks its size against ``model.cond_dim``."""
    name = cfg.text_encoder.lower()
    if name == "bow":
        enc: TextEncoder = BagOfWordsEncoder(cfg.model.cond_dim, cfg.data.words_num, seed=cfg.seed)
    else:
        from .text import build_text_encoder

        path = cfg.text_encoder_path
        if name == "damsm" and path is not None and not Path(path).is_file():
            raise FileNotFoundError(
                f"DAMSM text encoder {path} not found: set text_encoder_path=... (official text_encoder*.pth or "
                "one pretrained with python -m dflib.text.pretrain), or use --set text_encoder=minilm"
            )
        enc = build_text_encoder(name, vocab=vocab, path=path, device=device)
    freeze(enc)
    enc.to(device)
    if cfg.text_scale != 1.0:
        enc = ScaledTextEncoder(enc, cfg.text_scale)
    if int(enc.dim) != int(cfg.model.cond_dim):
        raise ValueError(
            f"text encoder {cfg.text_encoder!r} gives {enc.dim}-d sentences but model.cond_dim={cfg.model.cond_dim}: "
            f"use --set model.cond_dim={enc.dim}"
        )
    return enc


# --------------------------------------------------------------------------------------------------
# Resumable data order
# --------------------------------------------------------------------------------------------------


class _SeededItems(torch.utils.data.Dataset):
    """Wraps a dataset so that item ``(index, seed)`` re-seeds its per-item draws (caption choice,
    augmentation) first: the draws then depend only on the data order, which makes resume exact."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        if hasattr(self.dataset, "reseed"):
            self.dataset.reseed(int(seed))
        return self.dataset[int(index)]


class ResumableBatches:
    """Epoch-wise shuffled batches whose position can be saved and restored exactly.

    Epoch ``e`` uses the permutation of ``torch.randperm(N, generator=seed + e)`` split across ``world``
    ranks like ``DistributedSampler`` (rank ``r`` takes positions ``r, r + world, ...``; ``drop_last``).
    Each item is drawn with its own seed, a function of (seed, epoch, position). ``state_dict()`` =
    ``{'epoch', 'batch', 'seed'}``; with ``num_workers > 0`` caption draws after a mid-epoch resume may
    differ (worker seeds), everything else is exact.
    """

    def __init__(
        self,
        dataset: torch.utils.data.Dataset,
        batch_size: int,
        collate_fn,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        self.per_rank = n // world
        self.batches_per_epoch = self.per_rank // batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"dataset of {n} items is too small for batch_size={batch_size} on {world} process(es): "
                "lower batch_size"
            )
        self.dataset, self.items = dataset, _SeededItems(dataset)
        self.batch_size, self.collate_fn, self.seed = batch_size, collate_fn, int(seed)
        self.rank, self.world = rank, world
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.epoch, self.batch = 0, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.epoch, self.batch, self.seed = int(state["epoch"]), int(state["batch"]), int(state["seed"])

    def _keys(self, epoch: int) -> list[list[tuple[int, int]]]:
        n = len(self.dataset)  # type: ignore[arg-type]
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch)).tolist()
        mine = perm[self.rank :: self.world][: self.per_rank]
        base = (self.seed * 1_000_003 + epoch * 7_919) * 1_048_576
        out = []
        for b in range(self.batches_per_epoch):
            pos = range(b * self.batch_size, (b + 1) * self.batch_size)
            out.append([(mine[i], (base + i * self.world + self.rank) % 2**62) for i in pos])
        return out

    def __iter__(self) -> Iterator[dict]:
        """Endless: yields batches, advancing ``(epoch, batch)`` after each."""
        while True:
            keys = self._keys(self.epoch)[self.batch :]
            if self.num_workers > 0:
                loader = torch.utils.data.DataLoader(
                    self.items,
                    batch_sampler=keys,
                    collate_fn=self.collate_fn,
                    num_workers=self.num_workers,
                    pin_memory=self.pin_memory,
                    generator=torch.Generator().manual_seed(self.seed + self.epoch),
                    persistent_workers=False,
                )
                source: Any = iter(loader)
            else:
                source = (self.collate_fn([self.items[k] for k in ks]) for ks in keys)
            for batch in source:
                self.batch += 1
                yield batch
            self.epoch, self.batch = self.epoch + 1, 0


# --------------------------------------------------------------------------------------------------
# Distributed set-up (spec Sec. 4.4, without the need for a process group on one device)
# --------------------------------------------------------------------------------------------------


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Read torchrun's ``RANK/WORLD_SIZE/LOCAL_RANK``; with >1 process start the process group (NCCL on
    CUDA, gloo on CPU) and pick ``cuda:<local_rank>``. One process: no process group at all."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return DistInfo(), dev
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    if torch.cuda.is_available() and (device is None or str(device).startswith("cuda")):
        torch.cuda.set_device(info.local_rank)
        return info, torch.device("cuda", info.local_rank)
    return info, torch.device(device or "cpu")


# --------------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------------


def _unwrap(net: nn.Module) -> nn.Module:
    return net.module if hasattr(net, "module") else net


class Trainer:
    """Owns networks, optimisers, data order, text encoder, logging and checkpoints for one run.

    ``Trainer(cfg)`` builds everything from the configuration; tests and notebooks may pass ``dataset``,
    ``encoder`` and ``out_dir``. ``resume`` = a checkpoint file or a run folder (its newest checkpoint).
    On several processes (``torchrun``) the nets are wrapped in ``DistributedDataParallel``
    (``find_unused_parameters=True``: the unused ``conv_s`` of equal-width D blocks); rank 0 logs and saves.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        dataset: torch.utils.data.Dataset | None = None,
        encoder: TextEncoder | None = None,
        out_dir: str | Path | None = None,
        resume: str | Path | None = None,
        dist_info: DistInfo | None = None,
        device: str | torch.device | None = None,
        sample_captions: list[str] | None = None,
    ) -> None:
        from .runtime import seed_everything

        ckpt = load_training_checkpoint(resume) if resume is not None else None
        if ckpt is not None and ckpt.get("config"):
            # the saved configuration wins, except for where the run stops and how it reports
            saved = config_from_dict(ckpt["config"])
            for keep in ("epochs", "max_steps", "time_limit_min", "progress", "tensorboard", "device", "log_every"):
                setattr(saved, keep, getattr(cfg, keep))
            cfg = saved
        self.cfg = cfg
        if dist_info is None:
            dist_info, dev = setup_distributed(str(device) if device is not None else cfg.device)
        else:
            dev = torch.device(device if device is not None else (cfg.device or "cpu"))
        self.dist, self.device = dist_info, torch.device(dev)

        # data (spec Sec. 4.6) and vocabulary
        if dataset is None:
            from .data import build_dataset

            dataset = build_dataset(
                cfg.data.name,
                root=cfg.data.root,
                split="train",
                imsize=cfg.model.imsize,
                words_num=cfg.data.words_num,
                seed=cfg.seed,
                **cfg.data.options,
            )
        self.dataset = dataset
        from .data import collate

        self.batches = ResumableBatches(
            dataset,
            cfg.batch_size,
            collate,
            seed=cfg.seed,
            rank=self.dist.rank,
            world=self.dist.world,
            num_workers=cfg.data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.vocab = getattr(dataset, "vocab", None)

        # same initial weights on every rank: the same seed before building (DDP also broadcasts)
        seed_everything(cfg.seed)
        netG, netD, netC = build_models(cfg.model)
        self.ema_G = None
        if cfg.ema:
            self.ema_G = copy.deepcopy(netG).requires_grad_(False).to(self.device)
        netG, netD, netC = (n.to(self.device).train() for n in (netG, netD, netC))
        self.fast = resolve_fast(cfg.fast, self.device)
        if self.fast.cuda_graphs and self.dist.enabled:
            raise ValueError(
                f"fast={cfg.fast!r}: cuda_graphs cannot capture DDP's gradient all-reduce; "
                "under torchrun use fast=on (or drop cuda_graphs from the list)"
            )
        apply_fast_options(self.fast, netG, netD, netC)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            kw = dict(broadcast_buffers=False, find_unused_parameters=True, device_ids=ids, output_device=ids[0] if ids else None)
            netG, netD, netC = DDP(netG, **kw), DDP(netD, **kw), DDP(netC, **kw)
        self.nets = Nets(netG, netD, netC)
        self.opts = build_optimizers(
            self.nets, cfg.lr_g, cfg.lr_d, (cfg.beta1, cfg.beta2), fused=self.fast.fused_adam,
            capturable=self.fast.cuda_graphs,
        )
        self._step_fn = build_step(self.nets, self.opts, self.fast, k=cfg.magp_k, p=cfg.magp_p)

        # text encoder (frozen) and optional caption -> sentence cache
        self.encoder = encoder if encoder is not None else build_encoder(cfg, self.vocab, self.device)
        freeze(self.encoder)
        self.cache = SentenceCache(self.encoder) if cfg.text_cache else None

        # different noise on every rank: seed + rank
        self.noise_gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1000 + 1 + self.dist.rank)
        self.step, self.history = 0, []
        self._bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)

        # output folder, resume state
        if ckpt is not None:
            self._load(ckpt)
            out_dir = out_dir or Path(ckpt["path"]).parent
        if out_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out_dir = Path(cfg.out_dir) / f"{cfg.preset}-{stamp}"
        self.out_dir = Path(out_dir)
        self._writer = None
        self.sample_captions = sample_captions
        self._fixed: tuple[Tensor, Tensor, list[str]] | None = None

    # -------------------------------------------------------------- state
    def _load(self, ckpt: Mapping[str, Any]) -> None:
        for name, net in zip(("netG", "netD", "netC"), self.nets):
            load_state_dict_strict(_unwrap(net), ckpt["model"][name], name=name)
        self.opts.optimizer_G.load_state_dict(ckpt["optimizers"]["optimizer_G"])
        self.opts.optimizer_D.load_state_dict(ckpt["optimizers"]["optimizer_D"])
        if self.ema_G is not None and ckpt.get("ema_G") is not None:
            self.ema_G.load_state_dict(ckpt["ema_G"])
        self.step = int(ckpt.get("step", 0))
        extra = ckpt.get("extra") or {}
        per_rank = extra.get("rank_states", {})
        mine = per_rank.get(str(self.dist.rank)) if per_rank else None
        data_state = (mine or {}).get("data_state") or ckpt.get("data_state")
        if data_state:
            self.batches.load_state_dict(data_state)
        rng = (mine or {}).get("rng") or ckpt.get("rng")
        if rng:
            set_rng_state(rng, {"noise": self.noise_gen})

    def save(self) -> Path | None:
        """Atomic checkpoint of the current state (rank 0 writes; other ranks' RNG/data states included)."""
        self._check_finite()
        states = {"data_state": self.batches.state_dict(), "rng": rng_state({"noise": self.noise_gen})}
        rank_states = {"0": states}
        if self.dist.enabled:
            gathered: list[Any] = [None] * self.dist.world
            dist.all_gather_object(gathered, states)
            rank_states = {str(r): s for r, s in enumerate(gathered)}
        if not self.dist.is_main:
            return None
        vocab = dict(self.vocab.wordtoix) if self.vocab is not None and hasattr(self.vocab, "wordtoix") else None
        return save_training_checkpoint(
            self.out_dir,
            netG=self.nets.netG,
            netD=self.nets.netD,
            netC=self.nets.netC,
            optimizer_G=self.opts.optimizer_G,
            optimizer_D=self.opts.optimizer_D,
            epoch=self.batches.epoch,
            step=self.step,
            config=self.cfg.to_dict(),
            vocab=vocab,
            data_state=states["data_state"],
            rng=states["rng"],
            ema_G=self.ema_G,
            extra={"rank_states": rank_states, "world": self.dist.world},
            keep_last=self.cfg.keep_last,
        )

    # -------------------------------------------------------------- pieces
    def sentences(self, batch: Mapping[str, Any]) -> Tensor:
        """Frozen sentence vectors of a batch, on the training device."""
        if self.cache is not None:
            return self.cache(batch).to(self.device, non_blocking=True)
        with torch.no_grad():
            return self.encoder.encode_batch(batch).sent.detach().to(self.device)

    def _check_finite(self, collective: bool = True) -> None:
        bad = self._bad
        if collective and self.dist.enabled:
            bad = bad.to(torch.int32)
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bool(bad.item()):
            step = int(self._bad_step.item())
            raise NonFiniteLossError(
                f"non-finite loss (NaN/inf) at step {step}: training stopped; the last good checkpoint in "
                f"{self.out_dir} is kept. Try a lower learning rate or check the data."
            )

    def one_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Run ``train_step`` on a collated batch (plus EMA), track non-finite losses without syncing."""
        images = batch["image"].to(self.device, non_blocking=True)
        images = self.fast.prepare_images(images)
        sent = self.sentences(batch)
        losses = self._step_fn(images, sent, draw_noise(self.nets.netG, sent, self.noise_gen))
        self.step += 1
        if self.ema_G is not None:
            with torch.no_grad():
                ema = list(self.ema_G.parameters())
                cur = [q.detach() for q in _unwrap(self.nets.netG).parameters()]
                torch._foreach_lerp_(ema, cur, 1.0 - self.cfg.ema_decay)
        bad_now = ~(torch.isfinite(losses["errD"]) & torch.isfinite(losses["errG"]))
        self._bad_step = torch.where(bad_now & ~self._bad, torch.full_like(self._bad_step, self.step), self._bad_step)
        self._bad = self._bad | bad_now
        return losses

    def fixed_inputs(self, n_rows: int | None = None, n_cols: int = 8) -> tuple[Tensor, Tensor, list[str]]:
        """Fixed truncated noise (n_cols) and sentences (n_rows captions) for the sample grids."""
        if self._fixed is None:
            from .sample import truncated_noise

            n_rows = n_rows or self.cfg.n_sample_rows
            caps = self.sample_captions
            if caps is None:
                caps = [self.dataset[i]["caption"] for i in range(min(n_rows, len(self.dataset)))]
            caps = list(caps)[:n_rows]
            with torch.no_grad():
                sent = self.encoder.encode(caps).sent.detach().float().cpu()
            noise = truncated_noise(n_cols, self.cfg.model.z_dim, self.cfg.truncation, seed=self.cfg.seed)
            self._fixed = (noise, sent, caps)
        return self._fixed

    @torch.no_grad()
    def sample_grid(self, use_ema: bool = True) -> Tensor:
        """Images (rows = captions, columns = fixed noises) in [-1, 1], on the CPU."""
        noise, sent, _ = self.fixed_inputs()
        netG = self.ema_G if (use_ema and self.ema_G is not None) else _unwrap(self.nets.netG)
        rows, cols = sent.shape[0], noise.shape[0]
        z = noise.repeat(rows, 1).to(self.device)
        s = sent.repeat_interleave(cols, 0).to(self.device)
        was = netG.training
        netG.eval()
        out = torch.cat([netG(z[i : i + 64], s[i : i + 64]) for i in range(0, z.shape[0], 64)])
        netG.train(was)
        return out.cpu()

    def _write_grid(self) -> Path:
        from torchvision.utils import make_grid, save_image

        imgs = self.sample_grid()
        noise, _, caps = self.fixed_inputs()
        cols = noise.shape[0]
        path = self.out_dir / "samples" / f"samples_step_{self.step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "captions.txt").write_text("".join(f"row {i}: {c}\n" for i, c in enumerate(caps)))
        save_image(imgs, path, nrow=cols, normalize=True, value_range=(-1, 1))
        if self._writer is not None:
            self._writer.add_image("fixed_samples", make_grid(imgs, nrow=cols, normalize=True, value_range=(-1, 1)), self.step)
        return path

    def _log(self, losses: Mapping[str, float], bar: Any) -> None:
        self.history.append({"step": self.step, **losses})
        if bar is not None:
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items() if k in ("errD", "errG", "errD_magp")})
        if self._writer is not None:
            for k, v in losses.items():
                self._writer.add_scalar(f"loss/{k}", v, self.step)

    # -------------------------------------------------------------- the loop
    def total_steps(self) -> int:
        by_epochs = self.cfg.epochs * self.batches.batches_per_epoch
        return min(by_epochs, self.cfg.max_steps) if self.cfg.max_steps > 0 else by_epochs

    def run(self, max_steps: int | None = None) -> dict:
        """Train until ``max_steps`` (absolute step count; default from the config). Returns a summary.

        Saves a checkpoint every ``save_every`` steps and at the end, a sample grid every
        ``sample_every``; raises ``NonFiniteLossError`` (after logging) if a loss turns NaN/inf.
        """
        total = int(max_steps) if max_steps is not None else self.total_steps()
        main = self.dist.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
            if self.cfg.tensorboard and self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.out_dir / "tb"))
        bar = None
        if main and self.cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=self.step, desc=f"train {self.cfg.preset}", unit="step", dynamic_ncols=True)
        t0, start = time.time(), self.step
        limit = self.cfg.time_limit_min * 60.0
        pending: list[dict[str, Tensor]] = []
        batches = iter(self.batches)
        self.stopped_by_time = False
        try:
            while self.step < total:
                pending.append(self.one_step(next(batches)))
                if bar is not None:
                    bar.update(1)
                last = self.step >= total
                if limit > 0 and not last and self.step % self.cfg.log_every == 0:
                    over = torch.tensor(float(time.time() - t0 > limit), device=self.device)
                    if self.dist.enabled:  # every rank stops at the same step
                        dist.broadcast(over, 0)
                    if over.item() > 0:
                        self.stopped_by_time = last = True
                if self.step % self.cfg.log_every == 0 or last:
                    self._check_finite()
                    mean = {k: torch.stack([d[k] for d in pending]).mean() for k in pending[0]}
                    self._log(losses_to_floats(mean), bar)
                    pending = []
                if main and self.cfg.sample_every > 0 and (self.step % self.cfg.sample_every == 0 or last):
                    self._check_finite(collective=False)
                    self._write_grid()
                if self.cfg.save_every > 0 and (self.step % self.cfg.save_every == 0) or last:
                    self.save()
                if self.stopped_by_time:
                    break
        except NonFiniteLossError as exc:
            if bar is not None:
                bar.close()
                bar = None
            print(f"[dflib.train] {exc}", file=sys.stderr)
            raise
        finally:
            if bar is not None:
                bar.close()
            if self._writer is not None:
                self._writer.flush()
        seconds = time.time() - t0
        return {
            "steps": self.step,
            "steps_this_run": self.step - start,
            "seconds": seconds,
            "stopped_by_time_limit": self.stopped_by_time,
            "out_dir": str(self.out_dir),
            "last_losses": self.history[-1] if self.history else {},
        }

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# --------------------------------------------------------------------------------------------------
# Evaluation hook (shapes attribute accuracy, via dflib.metrics)
# --------------------------------------------------------------------------------------------------


def evaluate_shapes(trainer: Trainer, n: int, classifier_path: str | Path | None = None) -> dict:
    """Attribute accuracy (colour, shape; plus the classifier's ceiling on real images) of images
    generated for ``n`` single-object ``shapes`` test captions, via ``dflib.metrics``."""
    from .metrics.attributes import generator_attribute_accuracy

    opts = {k: v for k, v in trainer.cfg.data.options.items() if k != "length"}
    netG = trainer.ema_G if trainer.ema_G is not None else _unwrap(trainer.nets.netG)
    return generator_attribute_accuracy(
        netG,
        trainer.cache if trainer.cache is not None else trainer.encoder,
        n=n,
        imsize=trainer.cfg.model.imsize,
        device=trainer.device,
        seed=trainer.cfg.seed,
        truncation=trainer.cfg.truncation,
        classifier_path=classifier_path,
        dataset_kwargs=opts,
        progress=trainer.cfg.progress,
    )


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------

_FLAT = {
    "batch_size": int,
    "max_steps": int,
    "time_limit_min": float,
    "epochs": int,
    "lr_g": float,
    "lr_d": float,
    "seed": int,
    "device": str,
    "out_dir": str,
    "fast": str,
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dflib.train",
        description=(
            "Train DF-GAN (Tao et al. 2022). Presets: " + ", ".join(sorted(TRAIN_PRESETS)) + ". "
            "Any configuration field can be changed with --set NAME=VALUE (dotted names, YAML values), e.g. "
            "--set batch_size=8 --set model.ngf=32 --set data.options.max_objects=2 --set text_encoder=damsm "
            "--set text_encoder_path=data/birds/DAMSMencoder/text_encoder200.pth. Several GPUs: "
            "torchrun --nproc_per_node=N -m dflib.train ..."
        ),
    )
    ap.add_argument("--preset", default="shapes-32-cpu", choices=sorted(TRAIN_PRESETS))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="override a configuration field (repeatable)")
    helps = {"fast": "speed options (dflib.fast): off (the reference step) | on | auto (on for GPUs) | a comma list of "
                     + ", ".join(OPTION_NAMES) + ", optionally starting with on, e.g. on,cuda_graphs"}
    for name, typ in _FLAT.items():
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None,
                        help=helps.get(name, f"shortcut for --set {name}=..."))
    ap.add_argument("--out", default=None, help="run folder (default: <out_dir>/<preset>-<timestamp>)")
    ap.add_argument("--resume", default=None, help="checkpoint file or run folder to continue exactly")
    ap.add_argument("--eval-samples", type=int, default=None, help="images for the final attribute accuracy (shapes)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the config's threads; 0 = all cores)")
    ap.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    return ap


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    cfg = get_preset(args.preset)
    flat = {k: getattr(args, k) for k in _FLAT if getattr(args, k) is not None}
    if args.eval_samples is not None:
        flat["eval_samples"] = args.eval_samples
    cfg = apply_overrides(cfg, list(args.overrides))
    return apply_overrides(cfg, flat)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg = resolve_config(args)
    try:  # a bad fast option is reported before the data and the text encoder are built
        from .runtime import default_device

        resolve_fast(cfg.fast, default_device(cfg.device))
    except ValueError as exc:
        parser.error(str(exc))
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    threads = args.threads or cfg.threads
    if threads:
        torch.set_num_threads(threads)
    resume = args.resume
    if resume is not None and Path(resume).is_dir() and latest_checkpoint(resume) is None:
        print(f"[dflib.train] no checkpoint in {resume}", file=sys.stderr)
        return 2
    t0 = time.time()
    trainer = Trainer(cfg, out_dir=args.out, resume=resume)
    try:
        summary = trainer.run()
    except NonFiniteLossError:
        return 1
    finally:
        trainer.close()
    if trainer.dist.is_main:
        metrics: dict[str, Any] = {"preset": trainer.cfg.preset, **summary}
        if trainer.cfg.eval_samples > 0 and trainer.cfg.data.name == "shapes":
            try:
                metrics["attribute_accuracy"] = evaluate_shapes(trainer, trainer.cfg.eval_samples)
            except (ImportError, AttributeError) as exc:
                metrics["attribute_accuracy"] = None
                print(f"[dflib.train] attribute accuracy skipped: {exc}", file=sys.stderr)
        metrics["wall_seconds"] = time.time() - t0
        path = trainer.out_dir / "metrics.json"
        path.write_text(json.dumps(metrics, indent=2))
        print(json.dumps(metrics, indent=2))
        print(f"[dflib.train] run folder: {trainer.out_dir}")
    if trainer.dist.enabled:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
