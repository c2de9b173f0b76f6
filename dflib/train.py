"""The Trainer: one DF-GAN run from its configuration to a trained, evaluated generator.

Read top to bottom, the way a run goes (``make train`` = ``python -m dflib train`` = :func:`train`):

1. ``Trainer.__init__`` builds everything once: device (and process group), data order, networks +
   optimisers + step (one builder, :func:`dflib.fast.build_training`), EMA copy, text encoder, noise.
2. ``Trainer.run`` is the loop: draw a batch, run one DF-GAN iteration (:func:`dflib.step.train_step`),
   log, write sample grids, save checkpoints; it stops after ``max_steps`` (or ``time_limit_min``).
3. ``Trainer.evaluate`` scores the generator (:func:`dflib.metrics.evaluate_run`) for ``metrics.json``.

From Python (notebook 08)::

    from dflib.train import Trainer
    trainer = Trainer(get_preset("shapes-32-cpu"))
    trainer.run(max_steps=200)
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchvision.utils import make_grid
from tqdm.auto import tqdm

from .checkpoint import latest_checkpoint, load_training_checkpoint, rng_state, save_training_checkpoint, set_rng_state
from .config import TrainConfig, config_for_resume, config_from_dict, validate_config
from .data import build_dataset, collate
from .data.options import check_dataset_options
from .data.order import ResumableBatches
from .distributed import DistInfo, setup_distributed
from .fast import build_training, resolve_fast
from .interrupts import StopFlag, TrainingInterrupted, interrupts_as_exceptions
from .metrics import evaluate_run
from .noise import truncated_noise
from .run_folder import RunFolderError, check_run_folder, claim_run_folder, new_run_folder, nonfinite_message
from .runtime import physical_cores, seed_everything
from .sample import generate_images, save_grid
from .step import NonFiniteLossError, draw_noise, losses_to_floats, real_pair_grad_norms
from .text import SentenceCache, TextEncoder, build_encoder
from .weights import load_state_dict_strict

__all__ = ["Trainer", "train", "TrainingInterrupted", "RunFolderError"]


def _read_checkpoint(resume: str | Path | Mapping[str, Any] | None, out_dir: str | Path | None) -> dict | None:
    """The checkpoint to continue from (a file, a run folder = its newest file, or one already loaded)."""
    if resume is None:
        return None
    ckpt = dict(resume) if isinstance(resume, Mapping) else load_training_checkpoint(resume)
    if out_dir is None:  # continuing in the same folder: only from its newest checkpoint
        newest = latest_checkpoint(Path(ckpt["path"]).parent)
        if newest is not None and newest.name != Path(ckpt["path"]).name:
            raise RunFolderError(
                f"{ckpt['path']} is not the newest checkpoint of its run ({newest.name} is): continuing in "
                "that folder would mix two runs. Pass --out NEW_FOLDER to branch from it"
            )
    return ckpt


class Trainer:
    """Owns networks, optimisers, data order, text encoder, logging and checkpoints for one run.

    ``Trainer(cfg)`` builds everything from the configuration; tests and notebooks may pass ``dataset``,
    ``encoder`` and ``out_dir``. ``resume`` = a checkpoint file, a run folder (its newest checkpoint) or a
    checkpoint already loaded: the saved configuration is used, except the fields that say where the run
    stops and how it reports (:data:`dflib.config.RESUME_FIELDS`), which come from ``cfg``.
    Under ``torchrun`` the networks are wrapped in ``DistributedDataParallel``; rank 0 logs and saves.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        dataset: torch.utils.data.Dataset | None = None,
        encoder: TextEncoder | None = None,
        out_dir: str | Path | None = None,
        resume: str | Path | Mapping[str, Any] | None = None,
        dist_info: DistInfo | None = None,
        device: str | torch.device | None = None,
        sample_captions: list[str] | None = None,
    ) -> None:
        ckpt = _read_checkpoint(resume, out_dir)  # the one read of the checkpoint
        if ckpt is not None and ckpt.get("config"):
            cfg = config_for_resume(config_from_dict(ckpt["config"]), cfg)
        self.cfg = cfg = validate_config(cfg)

        # 1. device: one process, or one of several under torchrun (which sets up the process group)
        if dist_info is None:
            dist_info, dev = setup_distributed(str(device) if device is not None else cfg.device)
        else:
            dev = torch.device(device if device is not None else (cfg.device or "cpu"))
        self.dist, self.device = dist_info, torch.device(dev)

        # 2. data and its resumable order (each rank its own slice of every epoch)
        if dataset is None:
            check_dataset_options(cfg.data.name, cfg.data.options)  # a mistyped option: one line, not a TypeError
            dataset = build_dataset(
                cfg.data.name, root=cfg.data.root, split="train", imsize=cfg.model.imsize,
                words_num=cfg.data.words_num, seed=cfg.seed, **cfg.data.options,
            )
        self.dataset, self.vocab = dataset, getattr(dataset, "vocab", None)
        self.batches = ResumableBatches(
            dataset, cfg.batch_size, collate, seed=cfg.seed, rank=self.dist.rank, world=self.dist.world,
            num_workers=cfg.data.num_workers, pin_memory=self.device.type == "cuda",
        )

        # 3. networks, optimisers and the step, with the speed options resolved once for this device.
        #    The same seed before building gives every rank the same initial weights.
        fast = resolve_fast(cfg.fast, self.device)
        if fast.cuda_graphs and self.dist.enabled:
            raise ValueError(f"fast={cfg.fast!r}: cuda_graphs cannot capture DDP's gradient all-reduce; "
                             "under torchrun use fast=on (or drop cuda_graphs from the list)")
        seed_everything(cfg.seed)
        built = build_training(cfg, fast, self.device, ddp=self._ddp_wrapper())
        self.nets, self.step_nets, self.opts, self.step_fn, self.fast = (
            built.nets, built.step_nets, built.opts, built.step, built.fast)
        self.ema_G = copy.deepcopy(self.nets.netG).requires_grad_(False) if cfg.ema else None

        # 4. the frozen text encoder, and a caption -> sentence-vector cache for deterministic encoders
        self.encoder = encoder if encoder is not None else build_encoder(cfg, self.vocab, self.device)
        self.cache = SentenceCache(self.encoder) if cfg.text_cache else None

        # 5. training noise: a different stream on every rank
        self.noise_gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1000 + 1 + self.dist.rank)

        # 6. where we are: step 0, or the checkpoint's step with its weights, optimiser, data and RNG state
        self.step, self.history = 0, []
        self._bad = torch.zeros((), dtype=torch.bool, device=self.device)  # a NaN/inf seen, without syncing
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self.resumed_from = ckpt["path"] if ckpt is not None else None
        self._last_save: Path | None = None
        if ckpt is not None:
            self._restore(ckpt)
            self._last_save = Path(ckpt["path"])
            out_dir = out_dir or Path(ckpt["path"]).parent
        self._saved_step = self.step

        # 7. the run folder: one run per folder
        if out_dir is None:
            out_dir = new_run_folder(Path(cfg.out_dir), cfg.preset) if self.dist.is_main else Path(cfg.out_dir) / "_"
        self.out_dir = Path(out_dir)
        if self.dist.is_main:  # never into another run's folder, resumed or not (--resume A --out B)
            check_run_folder(self.out_dir, resuming=ckpt is not None, resume_from=self.resumed_from)
        self._writer = None
        self.sample_captions = sample_captions
        self._fixed: tuple[Tensor, Tensor, list[str]] | None = None
        self._last_batch: tuple[Tensor, Tensor] | None = None
        self.stopped_by_time = False

    def _ddp_wrapper(self):
        """None on one process; else a function wrapping a module in DDP (``find_unused_parameters``: the
        unused ``conv_s`` of equal-width D blocks, docs/official_behaviour.md §5)."""
        if not self.dist.enabled:
            return None
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return lambda n: DDP(n, find_unused_parameters=True, device_ids=ids, output_device=ids[0] if ids else None)

    # -------------------------------------------------------------- checkpoints
    def _restore(self, ckpt: Mapping[str, Any]) -> None:
        """Weights, optimiser moments, EMA, step, this rank's data order and RNG streams: the run goes on exactly."""
        for name, net in zip(("netG", "netD", "netC"), self.nets):
            load_state_dict_strict(net, ckpt["model"][name], name=name)
        self.opts.optimizer_G.load_state_dict(ckpt["optimizers"]["optimizer_G"])
        self.opts.optimizer_D.load_state_dict(ckpt["optimizers"]["optimizer_D"])
        if self.ema_G is not None and ckpt.get("ema_G") is not None:
            self.ema_G.load_state_dict(ckpt["ema_G"])
        self.step = int(ckpt.get("step", 0))
        # this rank's data order and noise stream (rank 0's are also stored at the top level)
        mine = ((ckpt.get("extra") or {}).get("rank_states") or {}).get(str(self.dist.rank)) or {}
        data_state = mine.get("data_state") or ckpt.get("data_state")
        if data_state:
            self.batches.load_state_dict(data_state)
        rng = mine.get("rng") or ckpt.get("rng")
        if rng:
            set_rng_state(rng, {"noise": self.noise_gen})

    def save(self) -> Path | None:
        """Atomic checkpoint of the current state (rank 0 writes; every rank's RNG and data state included)."""
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
            self.out_dir, netG=self.nets.netG, netD=self.nets.netD, netC=self.nets.netC,
            optimizer_G=self.opts.optimizer_G, optimizer_D=self.opts.optimizer_D,
            epoch=self.batches.epoch, step=self.step, config=self.cfg.to_dict(), vocab=vocab,
            data_state=states["data_state"], rng=states["rng"], ema_G=self.ema_G,
            extra={"rank_states": rank_states, "world": self.dist.world}, keep_last=self.cfg.keep_last,
        )
        return self._last_save

    def _check_finite(self, collective: bool = True) -> None:
        """Raise :class:`NonFiniteLossError` if any loss so far was NaN/inf (one host sync, all ranks agree)."""
        bad = self._bad
        if collective and self.dist.enabled:
            bad = bad.to(torch.int32)
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bool(bad.item()):  # the message says what the run folder holds, never a checkpoint it lacks
            raise NonFiniteLossError(nonfinite_message(int(self._bad_step.item()), self.out_dir))

    # -------------------------------------------------------------- one step
    def sentences(self, batch: Mapping[str, Any]) -> Tensor:
        """Frozen sentence vectors of a batch, on the training device."""
        if self.cache is not None:
            return self.cache(batch).to(self.device, non_blocking=True)
        with torch.no_grad():
            return self.encoder.encode_batch(batch).sent.detach().to(self.device)

    def one_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """One DF-GAN iteration on a collated batch, then the EMA update; NaN/inf is noted without a sync."""
        images = self.fast.prepare_images(batch["image"].to(self.device, non_blocking=True))
        sent = self.sentences(batch)
        # D step (hinge loss with mismatched pairs + MA-GP, Eq. 1-2), then G step against the new D
        losses = self.step_fn(images, sent, draw_noise(self.nets.netG, sent, self.noise_gen))
        self.step += 1
        self._last_batch = (images, sent)
        if self.ema_G is not None:  # ema <- ema + (1 - decay) * (G - ema)
            with torch.no_grad():
                ema = list(self.ema_G.parameters())
                torch._foreach_lerp_(ema, [q.detach() for q in self.nets.netG.parameters()], 1.0 - self.cfg.ema_decay)
        bad_now = ~(torch.isfinite(losses["errD"]) & torch.isfinite(losses["errG"]))
        self._bad_step = torch.where(bad_now & ~self._bad, torch.full_like(self._bad_step, self.step), self._bad_step)
        self._bad = self._bad | bad_now
        return losses

    # -------------------------------------------------------------- samples
    def generator(self, use_ema: bool = True) -> nn.Module:
        """The generator to sample from: the EMA copy if the run keeps one (and ``use_ema``), else NetG."""
        return self.ema_G if (use_ema and self.ema_G is not None) else self.nets.netG

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

    def _write_grid(self) -> Path:
        """``samples/samples_step_<step>.png`` (and ``captions.txt``, one line per row; TensorBoard if open)."""
        imgs = self.sample_grid()
        noise, _, caps = self.fixed_inputs()
        cols = noise.shape[0]
        path = save_grid(imgs, self.out_dir / "samples" / f"samples_step_{self.step:08d}.png", nrow=cols)
        (path.parent / "captions.txt").write_text("".join(f"row {i}: {c}\n" for i, c in enumerate(caps)))
        if self._writer is not None:
            self._writer.add_image("fixed_samples", make_grid(imgs, nrow=cols, normalize=True, value_range=(-1, 1)), self.step)
        return path

    # -------------------------------------------------------------- logs
    def _log(self, pending: list[dict[str, Tensor]], bar: Any) -> None:
        """Mean losses since the last log (one host sync), plus D's gradient norms at real pairs if asked."""
        self._check_finite()
        record = losses_to_floats({k: torch.stack([d[k] for d in pending]).mean() for k in pending[0]})
        if self.cfg.log_grad_norms and self._last_batch is not None:
            record.update(losses_to_floats(real_pair_grad_norms(self.nets.netD, self.nets.netC, *self._last_batch)))
        self.history.append({"step": self.step, **record})
        if bar is not None:
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k in ("errD", "errG", "errD_magp")})
        if self._writer is not None:
            for k, v in record.items():
                self._writer.add_scalar(f"loss/{k}", v, self.step)

    def _due(self, every_steps: int, every_epochs: int, last: bool, always_last: bool = False) -> bool:
        """Whether an interval falls on this step: in epochs if ``every_epochs`` > 0, else in steps."""
        if last and (always_last or every_steps > 0 or every_epochs > 0):
            return True
        if every_epochs > 0:  # right after the last batch of an epoch whose number is a multiple
            b = self.batches
            return b.batch == b.batches_per_epoch and (b.epoch + 1) % every_epochs == 0
        return every_steps > 0 and self.step % every_steps == 0

    def _out_of_time(self, deadline: float) -> bool:
        """Past ``time_limit_min`` (checked on log steps only; every rank stops at the same step)."""
        if not math.isfinite(deadline) or self.step % self.cfg.log_every != 0:
            return False
        over = torch.tensor(float(time.time() > deadline), device=self.device)
        if self.dist.enabled:
            dist.broadcast(over, 0)
        return bool(over.item() > 0)

    def total_steps(self) -> int:
        """Where the run stops: ``max_steps`` if set, else the end of ``epochs``."""
        by_epochs = self.cfg.epochs * self.batches.batches_per_epoch
        return min(by_epochs, self.cfg.max_steps) if self.cfg.max_steps > 0 else by_epochs

    # -------------------------------------------------------------- the loop
    def run(self, max_steps: int | None = None) -> dict:
        """Train until step ``max_steps`` (absolute; default :meth:`total_steps`). Returns a summary.

        Saves every ``save_every`` steps (or ``save_every_epochs``) and at the end; writes a sample grid every
        ``sample_every`` steps (or ``sample_every_epochs``). A NaN/inf loss raises ``NonFiniteLossError``.
        Ctrl-C or SIGTERM: the step in progress finishes, a checkpoint is saved, then
        :class:`TrainingInterrupted` is raised: nothing since the last save is lost.
        """
        cfg = self.cfg
        total = int(max_steps) if max_steps is not None else self.total_steps()
        self._open_outputs()
        bar = self._progress_bar(total)
        t0, start = time.time(), self.step
        deadline = t0 + 60.0 * cfg.time_limit_min if cfg.time_limit_min > 0 else math.inf
        pending: list[dict[str, Tensor]] = []  # losses since the last log, still on the device
        batches = iter(self.batches)
        stop = StopFlag()
        try:
            with interrupts_as_exceptions(stop):
                while self.step < total:
                    pending.append(self.one_step(next(batches)))
                    if bar is not None:
                        bar.update(1)
                    if stop.signal_name is not None:  # Ctrl-C / SIGTERM came during the step: save it, stop
                        self._stop_on_signal(stop.signal_name)
                    self.stopped_by_time = self._out_of_time(deadline)
                    last = self.step >= total or self.stopped_by_time
                    if self.step % cfg.log_every == 0 or last:
                        self._log(pending, bar)
                        pending.clear()
                    if self.dist.is_main and self._due(cfg.sample_every, cfg.sample_every_epochs, last):
                        self._check_finite(collective=False)
                        self._write_grid()
                    if self._due(cfg.save_every, cfg.save_every_epochs, last, always_last=True):
                        self.save()
                    if last:
                        break
            if stop.signal_name is not None:  # the signal came after the last step
                self._stop_on_signal(stop.signal_name)
        except NonFiniteLossError as exc:
            print(f"[dflib train] {exc}", file=sys.stderr)
            raise
        finally:
            if bar is not None:
                bar.close()
            if self._writer is not None:
                self._writer.flush()
        return {
            "steps": self.step,
            "steps_this_run": self.step - start,
            "seconds": time.time() - t0,
            "stopped_by_time_limit": self.stopped_by_time,
            "out_dir": str(self.out_dir),
            "last_losses": self.history[-1] if self.history else {},
        }

    def _stop_on_signal(self, signal_name: str) -> None:
        self._check_finite()
        if self.step > self._saved_step:
            self.save()
        raise TrainingInterrupted(signal_name, self.step, self._last_save, self.out_dir)

    def _open_outputs(self) -> None:
        """Claim the run folder (rank 0) and open TensorBoard if asked."""
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        claim_run_folder(self.out_dir, self.cfg.to_dict(), self.resumed_from)
        if self.cfg.tensorboard and self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # a slow import: only when logging

            self._writer = SummaryWriter(str(self.out_dir / "tb"))

    def _progress_bar(self, total: int) -> Any:
        """Steps done / total, steps per second and the time left; redrawn rarely when not on a terminal."""
        if not (self.dist.is_main and self.cfg.progress):
            return None
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        return tqdm(total=total, initial=self.step, desc=f"train {self.cfg.preset}", unit="step",
                    dynamic_ncols=True, mininterval=0.1 if interactive else 30.0)

    # -------------------------------------------------------------- after training
    def evaluate(self) -> dict[str, Any]:
        """What ``metrics.json`` reports about the generator (EMA weights if kept): see
        :func:`dflib.metrics.evaluate_run`."""
        encode = self.cache if self.cache is not None else self.encoder
        return evaluate_run(self.generator(), encode, self.cfg, self.device)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def train(cfg: TrainConfig, out_dir: str | Path | None = None, resume: str | Path | Mapping[str, Any] | None = None,
          threads: int | None = None) -> dict[str, Any]:
    """What ``python -m dflib train`` does: train, evaluate, write ``metrics.json``; returns the metrics.

    ``threads`` overrides ``cfg.threads``. Raises :class:`TrainingInterrupted` on Ctrl-C / SIGTERM (after
    saving) and ``NonFiniteLossError`` on NaN/inf, like :meth:`Trainer.run`.
    """
    t0 = time.time()
    threads = cfg.threads if threads is None else threads
    # 0 = all physical cores: the same on every run of a machine, so the same seed gives the same weights
    n_threads = int(threads) if threads > 0 else physical_cores()
    torch.set_num_threads(n_threads)
    print(f"[dflib train] {n_threads} CPU thread(s), 1-min load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    trainer = Trainer(cfg, out_dir=out_dir, resume=resume)
    try:
        summary = trainer.run()
        metrics: dict[str, Any] = {"preset": trainer.cfg.preset, **summary, "threads": n_threads,
                                   "fast": trainer.fast.enabled()}
        if trainer.dist.is_main:
            try:
                metrics.update(trainer.evaluate())
            except (ImportError, FileNotFoundError) as exc:  # an optional asset (e.g. the FID Inception)
                print(f"[dflib train] evaluation skipped: {exc}", file=sys.stderr)
            metrics["wall_seconds"] = time.time() - t0
            (trainer.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        return metrics
    finally:
        trainer.close()
        if trainer.dist.enabled:
            dist.destroy_process_group()


if __name__ == "__main__":  # the old entry point: python -m dflib.train ... runs python -m dflib train ...
    print("[dflib] python -m dflib.train is now python -m dflib train; running that", file=sys.stderr)
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dflib", "train", *sys.argv[1:]])
