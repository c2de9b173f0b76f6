"""The Trainer: builds a DF-GAN run from its configuration, loops, logs, saves and resumes.

Everything it runs is defined below it: the step (``dflib.step``) and its speed wrappers
(``dflib.fast``), the data order (``dflib.data.order``), the text encoder (``dflib.text``), checkpoints
(``dflib.checkpoint``) and several GPUs (``dflib.distributed``). The command line is ``python -m dflib
train`` (``dflib.cli.train``). From Python (notebook 08)::

    from dflib.train import Trainer
    trainer = Trainer(get_preset("shapes-32-cpu"))
    trainer.run(max_steps=200)
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from .checkpoint import latest_checkpoint, load_training_checkpoint, rng_state, save_training_checkpoint, set_rng_state
from .config import TrainConfig, build_models, config_for_resume, config_from_dict, validate_config
from .data import build_dataset, collate
from .data.order import ResumableBatches
from .distributed import DistInfo, setup_distributed
from .fast import build_step, prepare_networks, resolve_fast, wrap_networks
from .interrupts import StopFlag, TrainingInterrupted, interrupts_as_exceptions
from .noise import truncated_noise
from .run_folder import RunFolderError, check_run_folder, claim_run_folder, new_run_folder
from .runtime import seed_everything
from .sample import generate_images
from .step import Nets, NonFiniteLossError, build_optimizers, draw_noise, losses_to_floats
from .text import SentenceCache, TextEncoder, build_encoder
from .weights import load_state_dict_strict

__all__ = ["Trainer", "TrainingInterrupted", "RunFolderError"]


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
        validate_config(cfg)
        ckpt = load_training_checkpoint(resume) if resume is not None else None
        if ckpt is not None and out_dir is None:
            newest = latest_checkpoint(Path(ckpt["path"]).parent)
            if newest is not None and newest.name != Path(ckpt["path"]).name:
                raise RunFolderError(
                    f"{ckpt['path']} is not the newest checkpoint of its run ({newest.name} is): continuing in "
                    "that folder would mix two runs. Pass --out NEW_FOLDER to branch from it"
                )
        if ckpt is not None and ckpt.get("config"):
            # the saved configuration wins, except for the fields that say where the run stops and how it reports
            cfg = config_for_resume(config_from_dict(ckpt["config"]), cfg)
        self.cfg = cfg
        if dist_info is None:
            dist_info, dev = setup_distributed(str(device) if device is not None else cfg.device)
        else:
            dev = torch.device(device if device is not None else (cfg.device or "cpu"))
        self.dist, self.device = dist_info, torch.device(dev)

        # data and its resumable order
        if dataset is None:
            dataset = build_dataset(
                cfg.data.name, root=cfg.data.root, split="train", imsize=cfg.model.imsize,
                words_num=cfg.data.words_num, seed=cfg.seed, **cfg.data.options,
            )
        self.dataset = dataset
        self.batches = ResumableBatches(
            dataset, cfg.batch_size, collate, seed=cfg.seed, rank=self.dist.rank, world=self.dist.world,
            num_workers=cfg.data.num_workers, pin_memory=self.device.type == "cuda",
        )
        self.vocab = getattr(dataset, "vocab", None)

        # networks: the same initial weights on every rank (the same seed before building; DDP broadcasts too)
        seed_everything(cfg.seed)
        self.nets = Nets(*(n.to(self.device).train() for n in build_models(cfg.model)))
        self.ema_G = copy.deepcopy(self.nets.netG).requires_grad_(False) if cfg.ema else None
        self.fast = resolve_fast(cfg.fast, self.device)
        if self.fast.cuda_graphs and self.dist.enabled:
            raise ValueError(
                f"fast={cfg.fast!r}: cuda_graphs cannot capture DDP's gradient all-reduce; "
                "under torchrun use fast=on (or drop cuda_graphs from the list)"
            )
        prepare_networks(self.fast, list(self.nets))
        self.opts = build_optimizers(
            self.nets, cfg.lr_g, cfg.lr_d, (cfg.beta1, cfg.beta2), fused=self.fast.fused_adam,
            capturable=self.fast.cuda_graphs,
        )
        # what the step runs: speed wrappers (dflib.fast), then DDP; the plain networks are what is saved
        step_nets = wrap_networks(self.fast, *self.nets)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            # no buffers to sync (the networks have none); find_unused_parameters: the unused conv_s of
            # equal-width D blocks (docs/official_behaviour.md §5)
            kw = dict(find_unused_parameters=True, device_ids=ids, output_device=ids[0] if ids else None)
            step_nets = tuple(DDP(n, **kw) for n in step_nets)
        self.step_nets = Nets(*step_nets)
        self._step_fn = build_step(self.step_nets, self.opts, self.fast, k=cfg.magp_k, p=cfg.magp_p)

        # text encoder (built frozen by build_encoder) and optional caption -> sentence cache
        self.encoder = encoder if encoder is not None else build_encoder(cfg, self.vocab, self.device)
        self.cache = SentenceCache(self.encoder) if cfg.text_cache else None

        # different noise on every rank: seed + rank
        self.noise_gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1000 + 1 + self.dist.rank)
        self.step, self.history = 0, []
        self._bad = torch.zeros((), dtype=torch.bool, device=self.device)
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)

        # output folder (one run per folder), resume state
        self.resumed_from = ckpt["path"] if ckpt is not None else None
        self._last_save: Path | None = Path(ckpt["path"]) if ckpt is not None else None
        if ckpt is not None:
            self._load(ckpt)
            out_dir = out_dir or Path(ckpt["path"]).parent
        self._saved_step = self.step
        if out_dir is None:
            out_dir = new_run_folder(Path(cfg.out_dir), cfg.preset) if self.dist.is_main else Path(cfg.out_dir) / "_"
        self.out_dir = Path(out_dir)
        if self.dist.is_main:
            check_run_folder(self.out_dir, resuming=ckpt is not None)
        self._writer = None
        self.sample_captions = sample_captions
        self._fixed: tuple[Tensor, Tensor, list[str]] | None = None

    # -------------------------------------------------------------- state
    def _load(self, ckpt: Mapping[str, Any]) -> None:
        for name, net in zip(("netG", "netD", "netC"), self.nets):
            load_state_dict_strict(net, ckpt["model"][name], name=name)
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
        self._saved_step = self.step
        if not self.dist.is_main:
            return None
        vocab = dict(self.vocab.wordtoix) if self.vocab is not None and hasattr(self.vocab, "wordtoix") else None
        self._last_save = save_training_checkpoint(
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
        return self._last_save

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
                cur = [q.detach() for q in self.nets.netG.parameters()]
                torch._foreach_lerp_(ema, cur, 1.0 - self.cfg.ema_decay)
        bad_now = ~(torch.isfinite(losses["errD"]) & torch.isfinite(losses["errG"]))
        self._bad_step = torch.where(bad_now & ~self._bad, torch.full_like(self._bad_step, self.step), self._bad_step)
        self._bad = self._bad | bad_now
        return losses

    def fixed_inputs(self, n_rows: int | None = None, n_cols: int = 8) -> tuple[Tensor, Tensor, list[str]]:
        """Fixed truncated noise (n_cols) and sentences (n_rows captions) for the sample grids."""
        if self._fixed is None:
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
        rows, cols = sent.shape[0], noise.shape[0]
        return generate_images(self.generator(use_ema), noise.repeat(rows, 1), sent.repeat_interleave(cols, 0))

    def generator(self, use_ema: bool = True) -> nn.Module:
        """The generator to sample from: the EMA copy if the run keeps one (and ``use_ema``), else NetG."""
        return self.ema_G if (use_ema and self.ema_G is not None) else self.nets.netG

    def _write_grid(self) -> Path:
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
    def _epoch_ended(self, every: int) -> bool:
        """True right after the last batch of an epoch whose number (1, 2, ...) is a multiple of ``every``."""
        b = self.batches
        return every > 0 and b.batch == b.batches_per_epoch and (b.epoch + 1) % every == 0

    def total_steps(self) -> int:
        by_epochs = self.cfg.epochs * self.batches.batches_per_epoch
        return min(by_epochs, self.cfg.max_steps) if self.cfg.max_steps > 0 else by_epochs

    def run(self, max_steps: int | None = None) -> dict:
        """Train until ``max_steps`` (absolute step count; default from the config). Returns a summary.

        Saves a checkpoint every ``save_every`` steps (or ``save_every_epochs`` epochs) and at the end, a
        sample grid every ``sample_every`` steps (or ``sample_every_epochs``); raises ``NonFiniteLossError``
        (after logging) if a loss turns NaN/inf. Ctrl-C (SIGINT) and SIGTERM save a checkpoint of the last
        finished step first and then raise :class:`TrainingInterrupted`: nothing since the last save is lost.
        """
        total = int(max_steps) if max_steps is not None else self.total_steps()
        main = self.dist.is_main
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            claim_run_folder(self.out_dir, self.cfg.to_dict(), self.resumed_from)
            if self.cfg.tensorboard and self._writer is None:
                from torch.utils.tensorboard import SummaryWriter  # a slow import: only when logging

                self._writer = SummaryWriter(str(self.out_dir / "tb"))
        bar = None
        if main and self.cfg.progress:
            bar = tqdm(total=total, initial=self.step, desc=f"train {self.cfg.preset}", unit="step", dynamic_ncols=True)
        t0, start = time.time(), self.step
        limit = self.cfg.time_limit_min * 60.0
        pending: list[dict[str, Tensor]] = []
        batches = iter(self.batches)
        self.stopped_by_time = False
        stop = StopFlag()
        try:
            with interrupts_as_exceptions(stop):
                self._loop(total, bar, t0, limit, pending, batches, main, stop)
            if stop.signal_name is not None:  # the signal came during the last step
                raise TrainingInterrupted(stop.signal_name, self.step, self._last_save, self.out_dir)
        except TrainingInterrupted:
            if bar is not None:
                bar.close()
                bar = None
            raise
        except NonFiniteLossError as exc:
            if bar is not None:
                bar.close()
                bar = None
            print(f"[dflib train] {exc}", file=sys.stderr)
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

    def _loop(
        self, total: int, bar: Any, t0: float, limit: float, pending: list, batches: Any, main: bool, stop: StopFlag
    ) -> None:
        """Steps until ``total`` (or the time limit); logs, writes grids and saves on their intervals. A
        signal recorded in ``stop`` ends the loop after the step it came in, with a checkpoint."""
        cfg = self.cfg
        while self.step < total:
            pending.append(self.one_step(next(batches)))
            if stop.signal_name is not None:
                self._check_finite()
                if self.step > self._saved_step:
                    self.save()
                raise TrainingInterrupted(stop.signal_name, self.step, self._last_save, self.out_dir)
            if bar is not None:
                bar.update(1)
            last = self.step >= total
            if limit > 0 and not last and self.step % cfg.log_every == 0:
                over = torch.tensor(float(time.time() - t0 > limit), device=self.device)
                if self.dist.enabled:  # every rank stops at the same step
                    dist.broadcast(over, 0)
                if over.item() > 0:
                    self.stopped_by_time = last = True
            if self.step % cfg.log_every == 0 or last:
                self._check_finite()
                mean = {k: torch.stack([d[k] for d in pending]).mean() for k in pending[0]}
                self._log(losses_to_floats(mean), bar)
                pending.clear()
            if main and self._due(cfg.sample_every, cfg.sample_every_epochs, last):
                self._check_finite(collective=False)
                self._write_grid()
            if self._due(cfg.save_every, cfg.save_every_epochs, last, always_last=True):
                self.save()
            if self.stopped_by_time:
                break

    def _due(self, every_steps: int, every_epochs: int, last: bool, always_last: bool = False) -> bool:
        """Whether an interval falls on this step: in epochs if ``every_epochs`` > 0, else in steps."""
        if last and (always_last or every_steps > 0 or every_epochs > 0):
            return True
        if every_epochs > 0:
            return self._epoch_ended(every_epochs)
        return every_steps > 0 and self.step % every_steps == 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
