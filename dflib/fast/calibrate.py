"""Pick CPU threads and exact speed options by timing them, not from CPU flags (``fast=auto``, ``threads=0``).

Which settings are fastest on a CPU depends on the chip, the load from other programs and the network size:
on the 2-core build machine ``channels_last`` is about 1.1x faster at 32 px, but the foreach Adam kernels
and batched Affines are slower there, and two threads lose to one when another job holds a core. So
``python -m dflib train`` times a few real training steps of the run's own networks for each candidate,
interleaved round by round so that a change of load hits every candidate alike, and keeps a candidate only
when it beats the reference by a clear margin. Only exact options are candidates: an approximate option
(bf16) is never chosen for the user. The calibration costs a few seconds; a preset whose single step
already takes longer than ``max_step_s`` (a 256 px model on a CPU) is not calibrated at all.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from ..config import ModelConfig
from .options import FastOptions
from .step import build_fast_step

__all__ = ["Calibration", "calibrate_cpu", "pick_fastest"]


@dataclass
class Calibration:
    """What :func:`calibrate_cpu` measured and chose."""

    threads: int
    options: FastOptions
    seconds_per_step: dict[str, float] = field(default_factory=dict)  # "t<threads> <options>" -> median s/step
    cost_s: float = 0.0  # wall time the calibration itself took
    skipped: str = ""  # why nothing was timed (then threads/options are the safe defaults)

    def describe(self) -> str:
        """One line for the training log."""
        if self.skipped:
            return f"not calibrated ({self.skipped}): {self.threads} thread(s), {self.options.describe()}"
        times = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in self.seconds_per_step.items())
        return (f"calibrated in {self.cost_s:.1f} s ({times}): {self.threads} thread(s), "
                f"{self.options.describe()}")


def _label(threads: int, opts: FastOptions) -> str:
    return f"t{threads} " + ("+".join(opts.enabled()) or "reference")


def pick_fastest(times: dict[tuple[int, int], float], margin: float = 0.05) -> tuple[int, int]:
    """The (thread index, option index) to use, given median seconds per step of every candidate.

    Index 0 of each axis is the safe default (fewest threads, reference step). A candidate replaces the
    current choice only when it is faster by more than ``margin`` (5%: below that, timing noise on a
    loaded machine decides), so a setting that is not clearly faster is never picked.
    """
    best = (0, 0)
    for key in sorted(times):
        if times[key] < times[best] * (1.0 - margin):
            best = key
    return best


def calibrate_cpu(
    model_cfg: ModelConfig,
    batch_size: int,
    thread_choices: list[int],
    option_choices: list[FastOptions],
    rounds: int = 3,
    max_step_s: float = 1.5,
    margin: float = 0.05,
) -> Calibration:
    """Time ``rounds`` training steps of every (threads, options) pair and return the fastest clear winner.

    ``thread_choices[0]`` and ``option_choices[0]`` are the defaults kept unless another pair is faster by
    ``margin``. Runs on fresh networks with random data; the global RNG and the thread count are restored,
    so a training run that follows is the same with or without calibration (apart from what was chosen).
    """
    thread_choices = list(dict.fromkeys(max(1, int(t)) for t in thread_choices))
    t_start = time.perf_counter()
    threads_before = torch.get_num_threads()
    cpu = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        images = torch.rand(batch_size, 3, model_cfg.imsize, model_cfg.imsize) * 2 - 1
        sent = torch.randn(batch_size, model_cfg.cond_dim)
        noise = torch.randn(batch_size, model_cfg.z_dim)
        steps = []
        for opts in option_choices:
            _, _, step = build_fast_step(model_cfg, opts, cpu, seed=0)
            steps.append((step, opts.prepare_images(images)))
        # one untimed step per candidate (allocations, oneDNN primitive creation); the first one, the
        # reference at the fewest threads, also tells whether a step is too slow to calibrate at all
        for ti, t in enumerate(thread_choices):
            torch.set_num_threads(t)
            for oi, (step, imgs) in enumerate(steps):
                t0 = time.perf_counter()
                step(imgs, sent, noise)
                first = time.perf_counter() - t0
                if (ti, oi) == (0, 0) and first > max_step_s:
                    torch.set_num_threads(threads_before)
                    return Calibration(thread_choices[0], option_choices[0], cost_s=time.perf_counter() - t_start,
                                       skipped=f"one step takes {first:.1f} s > {max_step_s} s")
        samples: dict[tuple[int, int], list[float]] = {
            (ti, oi): [] for ti in range(len(thread_choices)) for oi in range(len(steps))}
        for _ in range(rounds):
            for ti, t in enumerate(thread_choices):
                torch.set_num_threads(t)
                for oi, (step, imgs) in enumerate(steps):
                    t0 = time.perf_counter()
                    step(imgs, sent, noise)
                    samples[(ti, oi)].append(time.perf_counter() - t0)
    torch.set_num_threads(threads_before)
    med = {k: statistics.median(v) for k, v in samples.items()}
    ti, oi = pick_fastest(med, margin)
    table = {_label(thread_choices[a], option_choices[b]): s for (a, b), s in sorted(med.items())}
    return Calibration(thread_choices[ti], option_choices[oi], table, time.perf_counter() - t_start)
